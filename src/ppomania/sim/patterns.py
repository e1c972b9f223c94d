"""Seeded osu!mania pattern generator: the bundled maps, made rather than copied.

A map is one uninherited timing point (constant bpm) and a run of sections (2–16 beats each), each
one pattern kind at one snap (1/1, 1/2 or 1/4 beat) chosen so the map reaches its target density:

- ``stream``: single notes, no column twice in a row (rolls and random runs);
- ``jump``: jumpstream, two-note rows on the beat between singles;
- ``chord``: chordstream, rows of three or more on the beat between one- and two-note rows;
- ``jack``: the same columns repeated two to four times;
- ``trill``: two column groups alternating (one- or two-handed trills);
- ``holds``: a long-note section, every note a hold of 1/2 to 2 beats.

Outside ``holds`` sections a note becomes a short hold with probability ``hold_fraction``. Every
object starts on the 1/4-beat grid (integer ms), columns never overlap, and a hold's tail comes at
least a 1/4 beat before the next object in its column. The default config gives 4K maps of about
1–4.5 stars (rosu-pp).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace

import numpy as np

from ppomania.game.beatmap import Beatmap, TimingPoint
from ppomania.game.osu_writer import beatmap_to_osu

PATTERN_KINDS = ("stream", "jump", "chord", "jack", "trill", "holds")

# Mean notes per row of each kind (before key-count limits), to pick the snap for a density.
_NOTES_PER_ROW = {"stream": 1.0, "jump": 1.5, "chord": 2.0, "jack": 1.5, "trill": 1.5, "holds": 1.3}
_TICKS_PER_BEAT = 4  # the grid: 1/4 beat
_SNAPS = (1, 2, 4)  # rows per beat a section may use
_SECTION_BEATS = (2, 4, 4, 8, 8, 16)
_LEAD_IN_MS = 1000


def _default_weights() -> dict[str, float]:
    return {"stream": 3.0, "jump": 2.0, "chord": 1.0, "jack": 1.0, "trill": 1.5, "holds": 1.0}


@dataclass
class PatternConfig:
    """What :func:`generate_map` makes. Ranges are ``(low, high)``, drawn uniformly per map.

    :param keys: key count, 1–10. Default 4.
    :param bpm: tempo range. Default (100, 200).
    :param density: notes per second. Default (1.5, 13.0).
    :param od: overall difficulty (rounded to 0.1). Default (7.0, 9.0).
    :param hp: HP drain rate. Default 8.0.
    :param duration_s: length of the playable part. Default 60.
    :param hold_fraction: chance that a note outside ``holds`` sections is a short hold.
        Default 0.1.
    :param weights: relative frequency of each pattern kind (:data:`PATTERN_KINDS`). Default
        stream 3, jump 2, chord 1, jack 1, trill 1.5, holds 1.
    :param seed: seed used when :func:`generate_map` gets none. Default 0.
    """

    keys: int = 4
    bpm: tuple[float, float] = (100.0, 200.0)
    density: tuple[float, float] = (1.5, 13.0)
    od: tuple[float, float] = (7.0, 9.0)
    hp: float = 8.0
    duration_s: float = 60.0
    hold_fraction: float = 0.1
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

    def __init__(self, keys: int, offset: int, beat: float, rng: np.random.Generator) -> None:
        self.keys = keys
        self.offset = offset
        self.beat = beat
        self.rng = rng
        # At least 1/4 beat between a hold's tail and the next object of its column.
        self.gap_ms = math.ceil(beat / _TICKS_PER_BEAT)
        self.free_at = np.full(keys, -(2**62), dtype=np.int64)
        self.previous: list[int] = []
        self.objects: list[tuple[int, int, int]] = []  # (start, end, column)

    def time(self, tick: int) -> int:
        return self.offset + round(tick * self.beat / _TICKS_PER_BEAT)

    def place(self, tick: int, wanted: list[int], hold_ticks: list[int]) -> None:
        """Place notes at ``tick`` in ``wanted`` columns; a blocked one moves to a free column or
        is dropped."""
        start = self.time(tick)
        free = [c for c in range(self.keys) if self.free_at[c] <= start]
        row: list[int] = []
        for column in wanted:
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
        for column, ticks in zip(row, hold_ticks, strict=False):
            end = self.time(tick + ticks) if ticks > 0 else start
            self.objects.append((start, end, column))
            self.free_at[column] = end + self.gap_ms if end > start else start + 1
        self.previous = row or self.previous


def _row_size(kind: str, keys: int, slot: int, on_beat: bool) -> int:
    if kind == "jump":
        size = 2 if on_beat else 1
    elif kind == "chord":
        size = max(3, keys - 1) if on_beat else 1 + slot % 2
    elif kind == "holds":
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

    def row(self, slot: int, on_beat: bool) -> list[int]:
        if self.kind == "trill":
            row = self.trill[slot % 2]
        elif self.jack_left > 0 and self.previous:
            self.jack_left -= 1
            row = self.previous
        elif self.roll and self.previous:
            row = [(self.previous[-1] + self.roll) % self.keys]
        else:
            size = _row_size(self.kind, self.keys, slot, on_beat)
            pool = [c for c in range(self.keys) if c not in self.previous]  # no accidental jacks
            if len(pool) < size:
                pool = list(range(self.keys))
            row = sorted(int(c) for c in self.rng.choice(pool, size=size, replace=False))
            if self.kind == "jack":
                self.jack_left = int(self.rng.integers(1, 4))
        self.previous = list(row)
        return self.previous


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
    builder = _Builder(keys, offset, beat, rng)
    end_ms = offset + config.duration_s * 1000.0
    kinds = [k for k in PATTERN_KINDS if config.weights.get(k, 0) > 0]
    weights = np.array([config.weights[k] for k in kinds], dtype=np.float64)

    beat_index = 0
    while builder.time(beat_index * _TICKS_PER_BEAT) < end_ms:
        kind = str(rng.choice(kinds, p=weights / weights.sum()))
        per_row = min(_NOTES_PER_ROW[kind], float(keys))
        rows_per_beat = nps * beat / 1000.0 / per_row
        snap = next((s for s in _SNAPS if s >= rows_per_beat), _SNAPS[-1])
        fill = min(1.0, rows_per_beat / snap)
        # Denser than 1/4 rows of this kind carry: add a note to some rows (stream → jumpstream).
        extra = min(1.0, rows_per_beat / snap - 1.0) if kind not in ("jack", "trill") else 0.0
        # The on-beat row is always there (unless the snap is 1/1): the rhythm keeps its pulse.
        off_beat = (fill * snap - 1) / (snap - 1) if snap > 1 else fill
        pattern = _Pattern(kind, keys, rng, builder.previous)
        beats = int(rng.choice(_SECTION_BEATS))
        for slot in range(beats * snap):
            on_beat = slot % snap == 0
            if rng.random() >= (1.0 if on_beat and snap > 1 else off_beat):
                continue
            tick = beat_index * _TICKS_PER_BEAT + slot * (_TICKS_PER_BEAT // snap)
            if builder.time(tick) >= end_ms:
                break
            row = pattern.row(slot, on_beat)
            if extra > 0 and len(row) < keys and rng.random() < extra:
                row = [*row, int(rng.choice([c for c in range(keys) if c not in row]))]
            holds = [_hold_ticks(kind, config.hold_fraction, rng) for _ in row]
            builder.place(tick, row, holds)
        beat_index += beats

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


def _hold_ticks(kind: str, hold_fraction: float, rng: np.random.Generator) -> int:
    if kind == "holds":
        return int(rng.choice((2, 3, 4, 6, 8)))
    if rng.random() < hold_fraction:
        return int(rng.choice((2, 3, 4)))
    return 0


def generate_maps(
    config: PatternConfig | None = None, n: int = 1, seed: int | None = None
) -> list[Beatmap]:
    """``n`` maps with independent seeds derived from ``seed`` (default ``config.seed``)."""
    config = config or PatternConfig()
    root = np.random.SeedSequence(config.seed if seed is None else seed)
    return [generate_map(config, int(child.generate_state(1)[0])) for child in root.spawn(n)]
