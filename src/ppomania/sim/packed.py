"""Many beatmaps packed for the batched simulator: their objects in flat arrays, column by column.

:class:`PackedMaps` concatenates the objects of several beatmaps (same key count) grouped by map
then column, so that numba kernels reach any env's map through a map id: the judge kernels
(:mod:`ppomania.sim.kernel`) walk a column's objects in time order with a per-column cursor, the
renderer (:mod:`ppomania.sim.render`) draws from that cursor on. With it come the scroll positions
of lazer's SV scrolling (:func:`scroll_function`), which the renderer can follow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit

from ppomania.game.beatmap import Beatmap, TimingPoint

# lazer clamps uninherited beat lengths to this range (TimingControlPoint.BeatLengthBindable).
_MIN_BEAT_LENGTH = 6.0
_MAX_BEAT_LENGTH = 60000.0
_DEFAULT_BEAT_LENGTH = 1000.0


def scroll_function(beatmap: Beatmap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lazer's scroll position as a piecewise-linear function of time, for SV scrolling.

    The multiplier at time t is ``SV(t) * mostCommonBeatLength / beatLength(t)`` (an uninherited
    point resets SV to 1; SV bounded to [0.01, 10]); control points after the last object are
    dropped.

    :returns: ``(times, positions, multipliers)``: from ``times[i]`` on, the position grows by
        ``multipliers[i]`` per ms; the first segment also extends to earlier times.
    """
    last_time = beatmap.duration_ms if beatmap.n_objects else math.inf
    base = most_common_beat_length(beatmap.timing_points, last_time)
    beat_length, sv = _DEFAULT_BEAT_LENGTH, 1.0
    points: dict[float, float] = {}
    for point in beatmap.timing_points:
        if point.uninherited:
            beat_length = min(_MAX_BEAT_LENGTH, max(_MIN_BEAT_LENGTH, point.beat_length))
            sv = 1.0
        else:
            sv = point.scroll_multiplier
        if point.time <= last_time or not points:
            points[point.time] = sv * base / beat_length  # the last point at a time wins
    if not points:
        points[0.0] = 1.0
    times = np.array(list(points), dtype=np.float64)
    multipliers = np.array(list(points.values()), dtype=np.float64)
    positions = np.empty_like(times)
    positions[0] = times[0]
    positions[1:] = times[0] + np.cumsum(np.diff(times) * multipliers[:-1])
    return times, positions, multipliers


def most_common_beat_length(timing_points: Sequence[TimingPoint], last_time: float) -> float:
    """lazer's ``GetMostCommonBeatLength``: the beat length lasting longest up to ``last_time``."""
    uninherited = [p for p in timing_points if p.uninherited]
    durations: dict[float, float] = {}
    for i, point in enumerate(uninherited):
        start = 0.0 if i == 0 else point.time  # stable forced the first point to start at 0
        end = last_time if i == len(uninherited) - 1 else uninherited[i + 1].time
        beat_length = min(_MAX_BEAT_LENGTH, max(_MIN_BEAT_LENGTH, point.beat_length))
        key = round(beat_length * 1000) / 1000
        duration = end - start if point.time <= last_time else 0.0
        durations[key] = durations.get(key, 0.0) + duration
    if not durations:
        return _DEFAULT_BEAT_LENGTH
    # max keeps the first of equal durations, as lazer's stable OrderByDescending does.
    best = max(durations, key=durations.__getitem__)
    return best if best > 0 else _DEFAULT_BEAT_LENGTH


def _evaluate(
    times: np.ndarray, positions: np.ndarray, mults: np.ndarray, t: np.ndarray
) -> np.ndarray:
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
    return positions[i] + (t - times[i]) * mults[i]


class PackedMaps:
    """Objects of several beatmaps in flat arrays, grouped by map then column, for batch rendering.

    :param beatmaps: maps with one key count.

    Attributes (``N`` = total objects, ``K`` = keys):

    - ``col_begin`` ``(n_maps, K + 1)`` int64: column ``c`` of map ``m`` is packed indices
      ``col_begin[m, c] : col_begin[m, c + 1]``, in time order.
    - ``starts``, ``ends`` ``(N,)`` int64 ms; ``object_index`` ``(N,)``: the object's index in its
      :class:`Beatmap` (whose arrays are in ``(start, column)`` order).
    - ``pos_starts``, ``pos_ends`` ``(N,)`` float64: SV scroll positions of head and tail.
    """

    def __init__(self, beatmaps: Sequence[Beatmap]) -> None:
        if not beatmaps:
            raise ValueError("PackedMaps needs at least one beatmap")
        keys = {b.keys for b in beatmaps}
        if len(keys) != 1:
            raise ValueError(f"all maps must have the same key count, got {sorted(keys)}")
        self.keys = keys.pop()
        self.n_maps = len(beatmaps)
        col_begin = np.zeros((self.n_maps, self.keys + 1), dtype=np.int64)
        starts, ends, index, pos_s, pos_e = [], [], [], [], []
        sv_times, sv_pos, sv_mult = [], [], []
        total = 0
        for m, beatmap in enumerate(beatmaps):
            order = np.lexsort((beatmap.starts, beatmap.columns))  # by column, then time
            counts = np.bincount(beatmap.columns, minlength=self.keys)
            col_begin[m] = total + np.concatenate(([0], np.cumsum(counts)))
            total += beatmap.n_objects
            times, positions, mults = scroll_function(beatmap)
            starts.append(beatmap.starts[order])
            ends.append(beatmap.ends[order])
            index.append(order)
            pos_s.append(
                _evaluate(times, positions, mults, beatmap.starts[order].astype(np.float64))
            )
            pos_e.append(_evaluate(times, positions, mults, beatmap.ends[order].astype(np.float64)))
            sv_times.append(times)
            sv_pos.append(positions)
            sv_mult.append(mults)
        self.col_begin = col_begin
        self.starts = np.concatenate(starts).astype(np.int64)
        self.ends = np.concatenate(ends).astype(np.int64)
        self.object_index = np.concatenate(index).astype(np.int64)
        self.pos_starts = np.concatenate(pos_s)
        self.pos_ends = np.concatenate(pos_e)
        self.starts_f = self.starts.astype(np.float64)
        self.ends_f = self.ends.astype(np.float64)
        self.sv_begin = np.concatenate(([0], np.cumsum([len(t) for t in sv_times]))).astype(
            np.int64
        )
        self.sv_times = np.concatenate(sv_times)
        self.sv_positions = np.concatenate(sv_pos)
        self.sv_multipliers = np.concatenate(sv_mult)

    @property
    def n_objects(self) -> int:
        return int(self.starts.shape[0])

    def first_cursor(self, map_ids: np.ndarray) -> np.ndarray:
        """``(n, K)`` cursors at the first object of every column (an episode from the start)."""
        return self.col_begin[np.asarray(map_ids), :-1].copy()

    def cursor_at(self, map_ids: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
        """``(n, K)`` cursors at the first object of each column that ends at or after the time.

        For starting an episode mid-map (objects that ended before it count as gone), or for showing
        a map with nothing judged: ``time - geometry.visible_past_ms`` keeps all that is on screen.
        """
        map_ids = np.asarray(map_ids, dtype=np.int64)
        times = np.asarray(times_ms, dtype=np.float64)
        cursor = np.empty((map_ids.shape[0], self.keys), dtype=np.int64)
        _cursor_at(cursor, map_ids, times, self.col_begin, self.ends_f)
        return cursor

    def scroll_positions(self, map_ids: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
        """SV scroll position of each env's map at its time (the unit of ``pos_starts``)."""
        map_ids = np.asarray(map_ids, dtype=np.int64)
        out = np.empty(map_ids.shape[0], dtype=np.float64)
        _scroll_positions(
            out,
            map_ids,
            np.asarray(times_ms, dtype=np.float64),
            self.sv_begin,
            self.sv_times,
            self.sv_positions,
            self.sv_multipliers,
        )
        return out


@njit(cache=True)
def _cursor_at(cursor, map_ids, times, col_begin, ends):
    # Column ends are sorted too: objects in a column never overlap.
    for e in range(map_ids.shape[0]):
        m = map_ids[e]
        if m < 0 or m >= col_begin.shape[0]:
            raise IndexError("map id out of range")
        for c in range(cursor.shape[1]):
            lo, hi = col_begin[m, c], col_begin[m, c + 1]
            while lo < hi:
                mid = (lo + hi) // 2
                if ends[mid] < times[e]:
                    lo = mid + 1
                else:
                    hi = mid
            cursor[e, c] = lo


@njit(cache=True)
def _scroll_positions(out, map_ids, times, sv_begin, sv_times, sv_positions, sv_mults):
    for e in range(map_ids.shape[0]):
        if map_ids[e] < 0 or map_ids[e] >= sv_begin.shape[0] - 1:
            raise IndexError("map id out of range")
        lo, hi = sv_begin[map_ids[e]], sv_begin[map_ids[e] + 1]
        first = lo
        while lo < hi:  # first breakpoint after the time
            mid = (lo + hi) // 2
            if sv_times[mid] <= times[e]:
                lo = mid + 1
            else:
                hi = mid
        i = max(first, lo - 1)
        out[e] = sv_positions[i] + (times[e] - sv_times[i]) * sv_mults[i]
