"""How the tools write the modelled values: JSON numbers, mods, grades, and what they show of a
play in each state (gosumemory zeroes ``gameplay`` outside a few states, tosu resets it).

Shared by the builders of :mod:`ppomania.protocol.build_v1` and :mod:`ppomania.protocol.build_v2`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppomania.game.rules import Mods
from ppomania.game.score import GameState, grade
from ppomania.protocol.snapshot import GOSUMEMORY, STATE_RESULTS, BeatmapInfo, GameSnapshot

# States in which gosumemory keeps `gameplay`; elsewhere it zeroes it every cycle (spec §2.7).
_GOSU_KEEPS_PLAY = (0, 1, 2, 7)
# States in which tosu keeps `gameplay` (spec §3.8).
_TOSU_KEEPS_PLAY = (0, 1, 2, 7, 11, 12, 15, 22)


def json_num(x: float) -> int | float:
    """A JSON number as Go and JavaScript print it: integral values without ``.0``."""
    x = float(x)
    return int(x) if x.is_integer() else x


def round_ms(t: float) -> int:
    """A time as the tools send it: whole milliseconds."""
    return round(t)


def with_mods(value: float, mods: int) -> float:
    """AR/OD/HP after HR (×1.4, at most 10) or EZ (×0.5)."""
    if mods & Mods.HARD_ROCK:
        return min(10.0, value * 1.4)
    if mods & Mods.EASY:
        return value * 0.5
    return value


def mods_rate(mods: int) -> float:
    """Playback rate of the mods (1.5 with DT/NC, 0.75 with HT)."""
    return Mods(mods).rate


def unstable_rate(hit_errors: Sequence[int], mods: int = 0) -> float:
    """10 × the population standard deviation of the hit errors, in real time (÷ rate)."""
    if not hit_errors:
        return 0.0
    return float(10 * np.asarray(hit_errors, dtype=np.float64).std() / mods_rate(mods))


def mods_name(mods: int, gosumemory: bool) -> str:
    """``menu.mods.str``: ``"NM"`` for no mod in gosumemory, ``""`` in tosu."""
    return "" if mods == 0 and not gosumemory else Mods(mods).acronyms


def tosu_mods(mods: int) -> dict[str, Any]:
    """tosu's ``{checksum, number, name, array, rate}``; checksum = MD5 of the array's JSON."""
    name = mods_name(mods, gosumemory=False)
    array = [{"acronym": name[i : i + 2]} for i in range(0, len(name), 2)]
    checksum = hashlib.md5(json.dumps(array, separators=(",", ":")).encode()).hexdigest()
    return {
        "checksum": checksum,
        "number": mods,
        "name": name,
        "array": array,
        "rate": json_num(mods_rate(mods)),
    }


def letter_grade(state: GameState, mods: int) -> str:
    """The grade (SS, S, A, …) of the play with these mods."""
    return grade(state.counts, Mods(mods))


@dataclass(frozen=True)
class ShownPlay:
    """The play as one tool shows it in ``gameplay``/``play``: zeroed or reset in some states."""

    state: GameState
    name: str
    mode: int
    hit_errors: tuple[int, ...]
    hp_smooth: float


def shown_play(snap: GameSnapshot, source: str) -> ShownPlay:
    """The play as ``source`` shows it for ``snap``'s state code."""
    s = snap.state
    if source == GOSUMEMORY and snap.code not in _GOSU_KEEPS_PLAY:  # Go zero value
        return ShownPlay(
            GameState(time_ms=s.time_ms, phase=s.phase, accuracy=0.0, hp=0.0), "", 0, (), 0.0
        )
    if source != GOSUMEMORY and snap.code not in _TOSU_KEEPS_PLAY:  # tosu's reset values
        reset = GameState(time_ms=s.time_ms, phase=s.phase, accuracy=1.0, hp=0.0)
        return ShownPlay(reset, snap.player_name, snap.mode, (), 0.0)
    smooth = s.hp if snap.hp_smooth is None else snap.hp_smooth
    return ShownPlay(s, snap.player_name, snap.mode, snap.hit_errors, smooth)


@dataclass(frozen=True)
class ResultsScreen:
    """The results screen: the final play in state 7, zeros elsewhere."""

    filled: bool
    state: GameState
    name: str
    mods: int
    mode: int


def results_screen(snap: GameSnapshot) -> ResultsScreen:
    """The results screen of ``snap``."""
    if snap.code == STATE_RESULTS:
        return ResultsScreen(True, snap.state, snap.player_name, snap.mods, snap.mode)
    return ResultsScreen(False, GameState(accuracy=0.0), "", 0, 0)


def hit_counts(counts: np.ndarray, tosu: bool) -> dict[str, int]:
    """The judgement counts under the tools' hit keys, in gosumemory's or tosu's key order."""
    c = [int(x) for x in counts]
    if tosu:  # JavaScript order: integer-like keys first, ascending
        return {"0": c[5], "50": c[4], "100": c[3], "300": c[1], "geki": c[0], "katu": c[2]}
    return {"300": c[1], "geki": c[0], "100": c[3], "katu": c[2], "50": c[4], "0": c[5]}


def win_path(*parts: str) -> str:
    """The non-empty parts joined with ``\\``, as osu! (on Windows) gives paths."""
    return "\\".join(p for p in parts if p)


def stars_live(snap: GameSnapshot) -> float:
    """Star rating of the part played so far (the full rating where ``snap`` has none)."""
    return snap.beatmap.stars if snap.stars_live is None else snap.stars_live


def bpm_stats(b: BeatmapInfo) -> dict[str, int | float]:
    """tosu's ``{realtime, common, min, max}`` BPM object."""
    return {
        "realtime": json_num(b.bpm),
        "common": json_num(b.bpm),
        "min": json_num(b.bpm_min),
        "max": json_num(b.bpm_max),
    }
