"""Seeded osu!mania pattern generator: the bundled maps, made rather than copied.

A map is one uninherited timing point (constant bpm) and a run of sections (2–16 beats each), each
one pattern kind at one snap (1/1, 1/2 or 1/4 beat) chosen so the map reaches its target density:

- ``stream``: single notes, no column twice in a row (rolls and random runs);
- ``jump``: jumpstream, two-note rows on the beat between singles;
- ``chord``: chordstream, rows of three or more on the beat between one- and two-note rows;
- ``jack``: the same columns repeated two to four times;
- ``chordjack``: rows of two or more notes, each sharing at least one column with the row before;
- ``trill``: two column groups alternating (one- or two-handed trills);
- ``holds``: a long-note section, every note a hold of 1/4 to 2 beats;
- ``inverse``: inverse long notes, every note a hold that lasts until 1/4 beat (or, where the ms
  rounding needs it, a little more; 1/2 beat now and then) before the next head in its column;
- ``hold_taps``: a long hold of 1 to 4 beats in one column (two from 6K) at a time while the
  other columns carry a stream.

Outside the long-note kinds a note becomes a short hold with probability ``hold_fraction``. A
share ``ln_maps`` of the maps are long-note maps: their sections are mostly long-note kinds, so
that 60–85% of their objects are holds, like the real LN maps (66–81%).

Every head starts on the 1/4-beat grid and every tail ends on the 1/12-beat grid (hold lengths in
1/4 and 1/3 beats), both rounded to integer ms; columns never overlap, and a hold's tail comes at
least a 1/4 beat (in ms, rounded up) before the next object in its column. The default config
gives 4K maps of about 1–7 stars (rosu-pp).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace

import numpy as np

from ppomania.game.beatmap import Beatmap, TimingPoint
from ppomania.game.osu_writer import beatmap_to_osu

PATTERN_KINDS = (
    "stream",
    "jump",
    "chord",
    "jack",
    "chordjack",
    "trill",
    "holds",
    "inverse",
    "hold_taps",
)
LN_KINDS = ("holds", "inverse", "hold_taps")

# Mean notes per row of each kind (before key-count limits), to pick the snap for a density.
_NOTES_PER_ROW = {
    "stream": 1.0,
    "jump": 1.5,
    "chord": 2.0,
    "jack": 1.5,
    "chordjack": 2.7,
    "trill": 1.5,
    "holds": 1.3,
    "inverse": 1.3,
    "hold_taps": 1.3,
}
_TICKS_PER_BEAT = 12  # the grid of tails: 1/12 beat holds 1/4 and 1/3 beat lengths
_HEAD_TICKS = 3  # heads sit on the 1/4-beat grid
_SNAPS = (1, 2, 4)  # rows per beat a section may use
_SECTION_BEATS = (2, 4, 4, 8, 8, 16)
_LEAD_IN_MS = 1000
# Hold lengths in ticks: short holds in tap sections (1/4 to 1 beat), ``holds`` sections (1/4 to
# 2 beats), and the long holds of ``hold_taps`` (1 to 4 beats).
_SHORT_HOLDS = (3, 4, 6, 8, 9, 12)
_LN_HOLDS = (3, 4, 6, 6, 8, 9, 12, 18, 24)
_LONG_HOLDS = (12, 18, 24, 36, 48)
_INVERSE_GAPS = (3, 3, 3, 6)  # tail to next head: mostly 1/4 beat, as in real inverse maps
_INVERSE_MAX = 48  # an inverse hold with no head close after it ends within 4 beats
_INVERSE_MIN = 2  # shorter than 1/6 beat: a tap
# How much more often an LN map picks the long-note kinds, and its hold chance elsewhere.
_LN_MAP_BOOST = 12.0
_LN_MAP_HOLD_SCALE = 5.0


def _default_weights() -> dict[str, float]:
    return {
        "stream": 2.0,
        "jump": 2.5,
        "chord": 1.5,
        "jack": 1.0,
        "chordjack": 1.5,
        "trill": 1.0,
        "holds": 1.0,
        "inverse": 1.0,
        "hold_taps": 1.0,
    }


@dataclass
class PatternConfig:
    """What :func:`generate_map` makes. Ranges are ``(low, high)``, drawn uniformly per map.

    :param keys: key count, 1–10. Default 4.
    :param bpm: tempo range. Default (100, 240).
    :param density: notes per second. Default (1.5, 28.0).
    :param od: overall difficulty (rounded to 0.1). Default (7.0, 9.0).
    :param hp: HP drain rate. Default 8.0.
    :param duration_s: length of the playable part. Default 60.
    :param hold_fraction: chance that a note outside the long-note kinds is a short hold.
        Default 0.1.
    :param ln_maps: share of the maps that are long-note maps (the long-note kinds
        :data:`LN_KINDS` weighted 12 times more, other notes holds 5 times as often). Default 0.25.
    :param weights: relative frequency of each pattern kind (:data:`PATTERN_KINDS`). Default
        stream 2, jump 2.5, chord 1.5, jack 1, chordjack 1.5, trill 1, holds 1, inverse 1,
        hold_taps 1.
    :param seed: seed used when :func:`generate_map` gets none. Default 0.
    """

    keys: int = 4
    bpm: tuple[float, float] = (100.0, 240.0)
    density: tuple[float, float] = (1.5, 28.0)
    od: tuple[float, float] = (7.0, 9.0)
    hp: float = 8.0
    duration_s: float = 60.0
    hold_fraction: float = 0.1
    ln_maps: float = 0.25
    weights: dict[str, float] = field(default_factory=_default_weights)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.keys <= 10:
            raise ValueError(f"keys must be in [1, 10], got {self.keys}")
        for name in ("bpm", "density", "od"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be a range (low, high) with 0 <= low <= high")
        if self.bpm[0] <= 0 or self.density[0] <= 0 or self.duration_s <= 0:
            raise ValueError("bpm, density and duration_s must be positive")
        if not 0 <= self.hold_fraction <= 1:
            raise ValueError("hold_fraction must be in [0, 1]")
        if not 0 <= self.ln_maps <= 1:
            raise ValueError("ln_maps must be in [0, 1]")
        unknown = set(self.weights) - set(PATTERN_KINDS)
        if unknown or not any(w > 0 for w in self.weights.values()):
            raise ValueError(
                f"weights need a positive value among {PATTERN_KINDS}, got {self.weights}"
            )

    def at_difficulty(self, difficulty: float) -> PatternConfig:
        """This config narrowed to a difficulty in [0, 1], for a curriculum.

        Density and bpm become a 30%-wide part of their ranges, sliding from the bottom (0) to the
        top (1) with ``difficulty``.
        """
        if not 0 <= difficulty <= 1:
            raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
        low = difficulty * 0.7
        return replace(
            self,
            density=_sub_range(self.density, low, low + 0.3),
            bpm=_sub_range(self.bpm, low, low + 0.3),
        )


def _sub_range(bounds: tuple[float, float], a: float, b: float) -> tuple[float, float]:
    lo, hi = bounds
    return (lo + (hi - lo) * a, lo + (hi - lo) * b)


class _Builder:
    """Places rows of notes on the grid, keeping every column valid."""

    def __init__(
        self, keys: int, offset: int, beat: float, end_ms: float, rng: np.random.Generator
    ) -> None:
        self.keys = keys
        self.offset = offset
        self.beat = beat
        self.rng = rng
        # At least 1/4 beat between a hold's tail and the next object of its column.
        self.gap_ms = math.ceil(beat / 4)
        self.free_at = np.full(keys, -(2**62), dtype=np.int64)
        self.previous: list[int] = []
        self.objects: list[tuple[int, int, int]] = []  # (start, end, column)
        self.end_ms = end_ms  # no head at or after it
        # No tail more than a beat after the end.
        self.last_tick = math.ceil((end_ms - offset) * _TICKS_PER_BEAT / beat) + _TICKS_PER_BEAT

    def time(self, tick: int) -> int:
        return self.offset + round(tick * self.beat / _TICKS_PER_BEAT)

    def tail_before(self, head: int, gap: int) -> int:
        """The latest tick at least ``gap`` ticks and :attr:`gap_ms` before the tick ``head``."""
        tick = head - gap
        while self.time(tick) + self.gap_ms > self.time(head):
            tick -= 1
        return tick

    def place(self, tick: int, wanted: list[int], hold_ticks: list[int]) -> None:
        """Place notes at ``tick`` in ``wanted`` columns; a blocked one moves to a free column or
        is dropped."""
        start = self.time(tick)
        free = [c for c in range(self.keys) if self.free_at[c] <= start]
        row: list[int] = []
        for column, wanted_ticks in zip(wanted, hold_ticks, strict=True):
            ticks = min(wanted_ticks, self.last_tick - tick)
            if column not in free:
                spare = [c for c in free if c not in row and c not in wanted]
                fresh = [c for c in spare if c not in self.previous]
                choices = fresh or spare
                if not choices:
                    continue
                column = int(self.rng.choice(choices))
            if column in row:
                continue
            row.append(column)
            end = self.time(tick + ticks) if ticks > 0 else start
            self.objects.append((start, end, column))
            self.free_at[column] = end + self.gap_ms if end > start else start + 1
        self.previous = row or self.previous


def _row_size(kind: str, keys: int, slot: int, on_beat: bool, rng: np.random.Generator) -> int:
    if kind == "jump":
        size = 2 if on_beat else 1
    elif kind == "chord":
        size = max(3, keys - 1) if on_beat else 1 + slot % 2
    elif kind == "chordjack":
        size = int(rng.integers(2, max(3, keys // 2 + 2)))  # jumps and hands; quads on 4K
    elif kind in LN_KINDS:
        size = 2 if on_beat and slot % 4 == 0 else 1
    else:
        size = 1
    return min(size, keys)


class _Pattern:
    """Chooses the columns of each row of one section."""

    def __init__(self, kind: str, keys: int, rng: np.random.Generator, previous: list[int]) -> None:
        self.kind = kind
        self.keys = keys
        self.rng = rng
        self.previous = previous
        self.roll = int(rng.choice((-1, 1))) if kind == "stream" and rng.random() < 0.4 else 0
        self.jack_left = 0
        order = rng.permutation(keys).tolist()
        half = int(rng.integers(1, 3)) if keys >= 4 else 1
        self.trill = (order[:half], order[half : 2 * half] or order[:half])

    def row(self, slot: int, on_beat: bool, held: frozenset[int] = frozenset()) -> list[int]:
        """The columns of the next row, avoiding the ``held`` ones where it can."""
        if self.kind == "trill":
            row = self.trill[slot % 2]
        elif self.jack_left > 0 and self.previous:
            self.jack_left -= 1
            row = self.previous
        elif self.roll and self.previous:
            row = [(self.previous[-1] + self.roll) % self.keys]
        elif self.kind == "chordjack" and self.previous:
            size = _row_size(self.kind, self.keys, slot, on_beat, self.rng)
            kept = int(self.rng.integers(1, min(size, len(self.previous)) + 1))
            row = [int(c) for c in self.rng.choice(self.previous, size=kept, replace=False)]
            others = [c for c in range(self.keys) if c not in row]
            row += [int(c) for c in self.rng.choice(others, size=size - kept, replace=False)]
            row.sort()
        else:
            size = _row_size(self.kind, self.keys, slot, on_beat, self.rng)
            open_columns = [c for c in range(self.keys) if c not in held] or list(range(self.keys))
            pool = [c for c in open_columns if c not in self.previous]  # no accidental jacks
            if len(pool) < size:
                pool = open_columns if len(open_columns) >= size else list(range(self.keys))
            size = min(size, len(pool))
            row = sorted(int(c) for c in self.rng.choice(pool, size=size, replace=False))
            if self.kind == "jack":
                self.jack_left = int(self.rng.integers(1, 4))
        self.previous = list(row)
        return self.previous


@dataclass
class _Section:
    """One section's rhythm: ``beats`` beats from ``first_tick`` at ``snap`` rows per beat, every
    off-beat row kept with chance ``off_beat``, a note added to a row with chance ``extra``."""

    kind: str
    first_tick: int
    beats: int
    snap: int
    off_beat: float
    extra: float
    hold_fraction: float
    max_hold: int


def _plan_section(
    section: _Section, pattern: _Pattern, builder: _Builder
) -> list[tuple[int, list[int], list[int]]]:
    """The rows of a section as (tick, columns, hold ticks per column)."""
    rng, keys, kind = builder.rng, builder.keys, section.kind
    anchors = 2 if keys >= 6 else 1  # long holds at a time in ``hold_taps``
    held_until: dict[int, int] = {}  # column -> tick it is free again (``hold_taps``)
    plan: list[tuple[int, list[int], list[int]]] = []
    for slot in range(section.beats * section.snap):
        on_beat = slot % section.snap == 0
        if rng.random() >= (1.0 if on_beat and section.snap > 1 else section.off_beat):
            continue
        tick = section.first_tick + slot * (_TICKS_PER_BEAT // section.snap)
        if builder.time(tick) >= builder.end_ms:
            break
        held = frozenset(c for c, free in held_until.items() if free > tick)
        row = pattern.row(slot, on_beat, held)
        if section.extra > 0 and len(row) + len(held) < keys and rng.random() < section.extra:
            row = [
                *row,
                int(rng.choice([c for c in range(keys) if c not in row and c not in held])),
            ]
        holds = [_hold_ticks(kind, section, rng) for _ in row]
        if kind == "hold_taps" and on_beat and len(held) < anchors:
            for index, column in enumerate(row):
                if column not in held:
                    holds[index] = int(rng.choice(_LONG_HOLDS))
                    held_until[column] = tick + holds[index] + _HEAD_TICKS
                    break
        plan.append((tick, row, holds))
    if kind == "inverse":
        _fill_inverse(plan, builder)
    return plan


def _fill_inverse(plan: list[tuple[int, list[int], list[int]]], builder: _Builder) -> None:
    """Make every hold of ``plan`` last until a short gap before the next head in its column."""
    next_head: dict[int, int] = {}
    for tick, row, holds in reversed(plan):
        for index, column in enumerate(row):
            if column in next_head:
                gap = int(builder.rng.choice(_INVERSE_GAPS))
                length = min(builder.tail_before(next_head[column], gap) - tick, _INVERSE_MAX)
                holds[index] = length if length >= _INVERSE_MIN else 0
            next_head[column] = tick


def generate_map(config: PatternConfig | None = None, seed: int | None = None) -> Beatmap:
    """One generated map.

    :param config: what to generate. Default :class:`PatternConfig()`.
    :param seed: overrides ``config.seed``. The same config and seed give the same map.
    """
    config = config or PatternConfig()
    seed = config.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    keys = config.keys
    bpm = round(float(rng.uniform(*config.bpm)))
    beat = 60000.0 / max(bpm, 1)
    nps = float(rng.uniform(*config.density))
    od = round(float(rng.uniform(*config.od)), 1)
    offset = _LEAD_IN_MS + int(rng.integers(0, 1000))
    ln_map = bool(rng.random() < config.ln_maps)
    builder = _Builder(keys, offset, beat, offset + config.duration_s * 1000.0, rng)
    kinds = [k for k in PATTERN_KINDS if config.weights.get(k, 0) > 0]
    boost = [_LN_MAP_BOOST if ln_map and k in LN_KINDS else 1.0 for k in kinds]
    weights = np.array([config.weights[k] for k in kinds], dtype=np.float64) * boost
    hold_fraction = min(1.0, config.hold_fraction * (_LN_MAP_HOLD_SCALE if ln_map else 1.0))

    beat_index = 0
    while builder.time(beat_index * _TICKS_PER_BEAT) < builder.end_ms:
        kind = str(rng.choice(kinds, p=weights / weights.sum()))
        per_row = min(_NOTES_PER_ROW[kind], float(keys))
        rows_per_beat = nps * beat / 1000.0 / per_row
        snap = next((s for s in _SNAPS if s >= rows_per_beat), _SNAPS[-1])
        fill = min(1.0, rows_per_beat / snap)
        section = _Section(
            kind=kind,
            first_tick=beat_index * _TICKS_PER_BEAT,
            beats=int(rng.choice(_SECTION_BEATS)),
            snap=snap,
            # The on-beat row is always there (unless the snap is 1/1): the rhythm keeps its pulse.
            off_beat=(fill * snap - 1) / (snap - 1) if snap > 1 else fill,
            # Denser than 1/4 rows of this kind carry: add a note to some rows (a stream stays
            # single notes; the jump and chord kinds carry the denser maps).
            extra=0.0
            if kind in ("stream", "jack", "trill")
            else min(1.0, rows_per_beat / snap - 1),
            hold_fraction=hold_fraction,
            # Holds shorter than a column's time between notes, or a dense map loses its notes.
            max_hold=max(_HEAD_TICKS, round(_TICKS_PER_BEAT * keys / (nps * beat / 1000.0)) - 3),
        )
        pattern = _Pattern(kind, keys, rng, builder.previous)
        for tick, row, holds in _plan_section(section, pattern, builder):
            builder.place(tick, row, holds)
        beat_index += section.beats

    objects = np.array(sorted(builder.objects, key=lambda o: (o[0], o[2])), dtype=np.int64)
    objects = objects.reshape(-1, 3)
    beatmap = Beatmap(
        keys=keys,
        od=od,
        hp=round(float(config.hp), 1),
        starts=objects[:, 0].copy(),
        ends=objects[:, 1].copy(),
        columns=objects[:, 2].copy(),
        timing_points=[TimingPoint(float(offset), beat, True)],
        title=f"Generated {nps:.1f} nps",
        artist="ppomania",
        creator="ppomania",
        version=f"{keys}K {bpm} bpm seed {seed}",
    )
    beatmap.md5 = hashlib.md5(beatmap_to_osu(beatmap)).hexdigest()
    return beatmap


def _hold_ticks(kind: str, section: _Section, rng: np.random.Generator) -> int:
    if kind in ("holds", "inverse"):  # ``inverse`` sets its own lengths but for section ends
        return min(int(rng.choice(_LN_HOLDS)), section.max_hold)
    if rng.random() < section.hold_fraction:
        return min(int(rng.choice(_SHORT_HOLDS)), section.max_hold)
    return 0


def generate_maps(
    config: PatternConfig | None = None, n: int = 1, seed: int | None = None
) -> list[Beatmap]:
    """``n`` maps with independent seeds derived from ``seed`` (default ``config.seed``)."""
    config = config or PatternConfig()
    root = np.random.SeedSequence(config.seed if seed is None else seed)
    return [generate_map(config, int(child.generate_state(1)[0])) for child in root.spawn(n)]
