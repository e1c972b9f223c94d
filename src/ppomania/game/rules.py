"""osu!stable mania rules (ScoreV1): mods, hit windows and judgements.

How sure each rule is (tags of ``specs/mania-rules.md``):

- Tap-note windows, the late-100 exclusive edge, no late 50 and the early-miss window: checked against
  real replays (every judgement of the MAGiCVLGiRL and He He He replays reproduces exactly).
- HR/EZ/DT/HT scaling: lazer's stable-emulation tests (no replay in the data uses them).
- Hold-note combined judgement: YAVSRG's parity tables, close but not exact on LN-heavy replays.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Mods(enum.IntFlag):
    """The bits of the osu! mods bitmask that matter to mania."""

    NONE = 0
    NO_FAIL = 1
    EASY = 2
    HIDDEN = 8
    HARD_ROCK = 16
    SUDDEN_DEATH = 32
    DOUBLE_TIME = 64
    HALF_TIME = 256
    NIGHTCORE = 512
    FLASHLIGHT = 1024
    PERFECT = 16384
    FADE_IN = 1 << 20
    RANDOM = 1 << 21
    SCORE_V2 = 1 << 29
    MIRROR = 1 << 30

    @classmethod
    def parse(cls, text: str) -> Mods:
        """Mods from acronyms, e.g. ``"HRDT"``, ``"HR,MR"`` or ``""``."""
        names = {
            "NF": cls.NO_FAIL,
            "EZ": cls.EASY,
            "HD": cls.HIDDEN,
            "HR": cls.HARD_ROCK,
            "SD": cls.SUDDEN_DEATH,
            "DT": cls.DOUBLE_TIME,
            "HT": cls.HALF_TIME,
            "NC": cls.NIGHTCORE | cls.DOUBLE_TIME,
            "FL": cls.FLASHLIGHT,
            "PF": cls.PERFECT | cls.SUDDEN_DEATH,
            "FI": cls.FADE_IN,
            "RD": cls.RANDOM,
            "V2": cls.SCORE_V2,
            "MR": cls.MIRROR,
        }
        cleaned = text.upper().replace(",", "").replace("+", "").replace(" ", "")
        if cleaned in ("", "NM", "NONE"):
            return cls.NONE
        if len(cleaned) % 2:
            raise ValueError(f"bad mods {text!r}: expected two-letter acronyms such as HR, DT, MR")
        mods = cls.NONE
        for i in range(0, len(cleaned), 2):
            acronym = cleaned[i : i + 2]
            if acronym not in names:
                raise ValueError(f"unknown mod {acronym!r} (known: {', '.join(names)})")
            mods |= names[acronym]
        return mods

    @property
    def acronyms(self) -> str:
        """The mods as osu! shows them, e.g. ``"HRDT"`` (``"NM"`` for none)."""
        order = [
            (Mods.NO_FAIL, "NF"),
            (Mods.EASY, "EZ"),
            (Mods.HIDDEN, "HD"),
            (Mods.HARD_ROCK, "HR"),
            (Mods.PERFECT, "PF"),
            (Mods.NIGHTCORE, "NC"),
            (Mods.HALF_TIME, "HT"),
            (Mods.FLASHLIGHT, "FL"),
            (Mods.FADE_IN, "FI"),
            (Mods.RANDOM, "RD"),
            (Mods.SCORE_V2, "V2"),
            (Mods.MIRROR, "MR"),
        ]
        text = ""
        for flag, name in order:
            if self & flag:
                text += name
        if self & Mods.SUDDEN_DEATH and not self & Mods.PERFECT:
            text += "SD"
        if self & Mods.DOUBLE_TIME and not self & Mods.NIGHTCORE:
            text += "DT"
        return text or "NM"

    @property
    def rate(self) -> float:
        """Playback rate: 1.5 with DT/NC, 0.75 with HT, else 1."""
        if self & (Mods.DOUBLE_TIME | Mods.NIGHTCORE):
            return 1.5
        if self & Mods.HALF_TIME:
            return 0.75
        return 1.0


#: osu!mania's default column bindings per key count (key names as pynput and pygame spell them).
DEFAULT_BINDINGS: dict[int, tuple[str, ...]] = {
    1: ("space",),
    2: ("f", "j"),
    3: ("f", "space", "j"),
    4: ("d", "f", "j", "k"),
    5: ("d", "f", "space", "j", "k"),
    6: ("s", "d", "f", "j", "k", "l"),
    7: ("s", "d", "f", "space", "j", "k", "l"),
    8: ("a", "s", "d", "f", "j", "k", "l", ";"),
    9: ("a", "s", "d", "f", "space", "j", "k", "l", ";"),
}


class Judgement(enum.IntEnum):
    """A judgement, in osu!mania's names. The values index count arrays."""

    MAX = 0
    GREAT = 1
    GOOD = 2
    OK = 3
    MEH = 4
    MISS = 5

    @property
    def label(self) -> str:
        return ("MAX", "300", "200", "100", "50", "miss")[self]


#: Column labels of count tables, in :class:`Judgement` order.
JUDGEMENT_LABELS = ("MAX", "300", "200", "100", "50", "miss")

#: Keys of the judgement counts in JSON output (``eval``, ``play``, ``verify-replay``) and the
#: TensorBoard tags ``judgements/<key>``, in :class:`Judgement` order.
JUDGEMENT_KEYS = ("max", "300", "200", "100", "50", "miss")


@dataclass(frozen=True)
class HitWindows:
    """Integer hit windows in map time (ms). A hit error ``e`` is inside a window ``w`` iff
    ``abs(e) <= w``, except the late side of :attr:`ok` for tap notes, which is exclusive."""

    max: int
    great: int
    good: int
    ok: int
    meh: int
    miss: int
    od: float = 5.0

    def tap_judgement(self, error: int) -> Judgement | None:
        """Judgement of a tap-note press with hit error ``error`` (None: the press does not reach it).

        Early presses beyond MEH but within MISS consume the note as a MISS; late presses at or past
        the OK edge and early presses before the MISS edge hit nothing.
        """
        if error >= self.ok or error < -self.miss:
            return None
        magnitude = -error if error < 0 else error
        if magnitude <= self.max:
            return Judgement.MAX
        if magnitude <= self.great:
            return Judgement.GREAT
        if magnitude <= self.good:
            return Judgement.GOOD
        if magnitude <= self.ok:
            return Judgement.OK
        if magnitude <= self.meh:
            return Judgement.MEH
        return Judgement.MISS

    def hold_judgement(self, head_error: int, release_error: int) -> Judgement:
        """The combined judgement of a hold pressed at ``head_error`` and released at
        ``release_error`` inside the tail window (YAVSRG's stable-parity rule)."""
        head = abs(head_error)
        total = head + abs(release_error)
        if head <= math.floor(1.2 * self.max) and total <= 2.4 * self.max:
            return Judgement.MAX
        if head <= math.floor(1.1 * self.great) and total <= 2.2 * self.great:
            return Judgement.GREAT
        if head <= self.good and total <= 2 * self.good:
            return Judgement.GOOD
        if head <= self.ok and total <= 2 * self.ok:
            return Judgement.OK
        return Judgement.MEH

    def overhold_judgement(self, head_error: int) -> Judgement:
        """Judgement of a hold still held after its tail window closed: from the head alone."""
        head = abs(head_error)
        if head <= 2 * self.good - self.meh:
            return Judgement.GOOD
        if head <= 2 * self.ok - self.meh:
            return Judgement.OK
        return Judgement.MEH


def _scaled(raw: float, speed: float, difficulty: float) -> int:
    # lazer's Classic branch: floor(w * speed / difficulty) in doubles, in this order.
    return math.floor(raw * speed / difficulty)


def hit_windows(od: float, mods: Mods = Mods.NONE, convert: bool = False) -> HitWindows:
    """osu!stable ScoreV1 windows for a mania map, in map time.

    :param od: OverallDifficulty, clamped to [0, 10].
    :param mods: HR divides every window by 1.4, EZ multiplies by 1.4; DT/NC/HT scale by the rate
        because replay and simulator times are map times. ScoreV2 uses the OD-dependent MAX window.
    :param convert: fixed windows of maps converted from osu!standard (default False).
    """
    od = min(10.0, max(0.0, od))
    if convert:
        great, good = (34.0, 67.0) if round(od) > 4 else (47.0, 77.0)
        raw = (16.0, great, good, 97.0, 121.0, 158.0)
    else:
        raw = (16.0, 64 - 3 * od, 97 - 3 * od, 127 - 3 * od, 151 - 3 * od, 188 - 3 * od)
    if mods & Mods.SCORE_V2 and not convert:
        perfect = 22.4 - 0.6 * od if od <= 5 else 24.9 - 1.1 * od
        raw = (perfect, *raw[1:])
    difficulty = 1.0
    if mods & Mods.HARD_ROCK:
        difficulty = 1.4
    elif mods & Mods.EASY:
        difficulty = 1 / 1.4
    speed = mods.rate
    scaled = [_scaled(w, speed, difficulty) for w in raw]
    return HitWindows(*scaled, od=od)
