"""``ppomania verify-replay``: judge a real replay and compare with the counts osu! wrote."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ppomania.cli import CliError
from ppomania.game import Beatmap, BeatmapError, judge_play, load_beatmap
from ppomania.game.replay import Replay, ReplayError, load_replay
from ppomania.game.rules import JUDGEMENT_KEYS
from ppomania.game.score import accuracy
from ppomania.text import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify-replay",
        help="judge a replay's key presses and compare with its header",
        description="Judge the key presses of an osu!mania .osr replay on its beatmap with "
        "ppomania's osu!stable rules and print our counts, score, accuracy and max combo "
        "beside the ones osu! wrote into the replay. A play that fails (health 0 without "
        "NoFail) is judged up to the fail, and the table says when it failed.",
    )
    parser.add_argument("replay", type=Path, help="the .osr replay")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--map", type=Path, help="the beatmap (.osu) the replay was played on")
    where.add_argument(
        "--songs", type=Path, help="a folder (e.g. osu!'s Songs) to find the map in by its MD5"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object (with "failed" and "failed_at_ms" when the play fails)',
    )
    parser.set_defaults(func=run)


def _find_by_md5(folder: Path, md5: str) -> Path:
    if not folder.is_dir():
        raise CliError(f"{folder}: not a folder")
    for path in sorted(folder.rglob("*.osu")):
        try:
            if hashlib.md5(path.read_bytes()).hexdigest() == md5:
                return path
        except OSError:
            continue
    raise CliError(f"no beatmap with MD5 {printable(md5)} under {folder}")


def summary(counts: Sequence[int], score: int, max_combo: int) -> dict[str, float | int]:
    """The ``{max, 300, 200, 100, 50, miss, score, accuracy, max_combo}`` object of ``--json``."""
    result: dict[str, float | int] = {key: int(n) for key, n in zip(JUDGEMENT_KEYS, counts)}
    result["score"] = int(score)
    result["accuracy"] = round(100 * accuracy(counts), 4)
    result["max_combo"] = int(max_combo)
    return result


def verify(replay: Replay, beatmap: Beatmap) -> dict[str, Any]:
    """Judge ``replay`` on ``beatmap``: ``{"header": {...}, "ours": {...}}``.

    A play that fails (health 0 without NoFail) is judged up to the fail, where osu! stops too;
    then ``"failed": true`` and ``"failed_at_ms"`` (map time) follow, absent for a play that
    does not fail.
    """
    play = judge_play(beatmap, replay.key_events(beatmap.keys), replay.mods)
    result: dict[str, Any] = {
        "header": summary(replay.counts, replay.score, replay.max_combo),
        "ours": summary(play.state.counts, play.state.score, play.state.max_combo),
    }
    if play.failed_at_ms is not None:
        result.update(failed=True, failed_at_ms=play.failed_at_ms)
    return result


def run(args: argparse.Namespace) -> int:
    try:
        replay = load_replay(args.replay)
    except ReplayError as exc:
        raise CliError(str(exc)) from None
    map_path = args.map if args.map is not None else _find_by_md5(args.songs, replay.beatmap_md5)
    try:
        beatmap = load_beatmap(map_path)
    except BeatmapError as exc:
        raise CliError(str(exc)) from None
    if beatmap.md5 != replay.beatmap_md5:
        print(
            f"warning: the replay is for beatmap MD5 {printable(replay.beatmap_md5)}, "
            f"{printable(str(map_path))} has "
            f"{beatmap.md5}; judging anyway",
            file=sys.stderr,
        )
    result = verify(replay, beatmap)
    if args.json:
        print(json.dumps(result))
        return 0
    player = printable(replay.player) or "(unknown)"
    print(f"{printable(beatmap.display_name)}  played by {player}  mods {replay.mods.acronyms}")
    header, ours = result["header"], result["ours"]
    print(f"{'':10}{'header':>10}{'ours':>10}{'diff':>8}")
    for key in (*JUDGEMENT_KEYS, "score", "accuracy", "max_combo"):
        diff = ours[key] - header[key]
        fmt = ".2f" if key == "accuracy" else "d"
        print(f"{key:10}{header[key]:>10{fmt}}{ours[key]:>10{fmt}}{diff:>+8{fmt}}")
    if "failed" in result:
        print(f"failed at {result['failed_at_ms']} ms: ours are the counts up to the fail")
    return 0
