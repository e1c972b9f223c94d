"""Autoplay: key states that press every note at its time, given the map and the input time.

A key is held at a step whose input time ``te`` satisfies ``start - step/2 <= te < release``, where
``release`` is ``end - step/2`` for a hold and ``start + step/2`` for a tap, but at least one step after
the press: each press lands within half a step of its note and each tap is released on the next step.
It knows nothing of the screen: it is the ceiling other policies are measured against, and proves
that timing, rendering and judging line up.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def autoplay_actions(
    input_times: np.ndarray,
    map_ids: np.ndarray,
    col_begin: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    step_ms: float,
    out: np.ndarray,
) -> np.ndarray:
    """Fill ``out`` ``(n, K)`` with autoplay's key states at ``input_times`` ``(n,)``.

    ``col_begin``, ``starts`` and ``ends`` are a :class:`~ppomania.sim.packed.PackedMaps`'s arrays.
    """
    half = step_ms / 2
    n, keys = out.shape
    for env in range(n):
        te = input_times[env]
        m = map_ids[env]
        for c in range(keys):
            lo, hi = col_begin[m, c], col_begin[m, c + 1]
            # First object whose release is still ahead (objects in a column are disjoint).
            while lo < hi:
                mid = (lo + hi) // 2
                if _release(starts[mid], ends[mid], half) <= te:
                    lo = mid + 1
                else:
                    hi = mid
            held = False
            if lo < col_begin[m, c + 1]:
                held = starts[lo] - half <= te
            out[env, c] = held
    return out


@nb.njit(cache=True, inline="always")
def _release(start: int, end: int, half: float) -> float:
    if end > start:
        return max(end - half, start + 3 * half)
    return start + half
