"""The game without RL or I/O: beatmaps, osu!stable mania rules, ScoreV1, GameState, replays."""

from ppomania.game.beatmap import Beatmap, BeatmapError, TimingPoint, load_beatmap, parse_beatmap
from ppomania.game.judge import HitResult, Judge, JudgedPlay, KeyEvent, counts_of, judge_play
from ppomania.game.rules import (
    JUDGEMENT_KEYS,
    JUDGEMENT_LABELS,
    HitWindows,
    Judgement,
    Mods,
    hit_windows,
)
from ppomania.game.score import GameState, Phase, ScoreProcessor, accuracy, grade

__all__ = [
    "JUDGEMENT_KEYS",
    "JUDGEMENT_LABELS",
    "Beatmap",
    "BeatmapError",
    "GameState",
    "HitResult",
    "HitWindows",
    "Judge",
    "JudgedPlay",
    "Judgement",
    "KeyEvent",
    "Mods",
    "Phase",
    "ScoreProcessor",
    "TimingPoint",
    "accuracy",
    "counts_of",
    "grade",
    "hit_windows",
    "judge_play",
    "load_beatmap",
    "parse_beatmap",
]
