"""Numba kernels of the batched simulator: osu!stable judging and ScoreV1 over ``(n, …)`` arrays.

A line-for-line port of :class:`ppomania.game.judge.Judge` and
:class:`ppomania.game.score.ScoreProcessor` to array state, so that many plays step in lockstep
without Python objects. Only the current (earliest unjudged) object of each column can be in a state
other than "pending": everything before it is judged and everything after it untouched, so a play's
judge state is a handful of numbers per column. ``tests/test_sim_equivalence.py`` checks these
kernels against the reference judge judgement for judgement.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba as nb
import numpy as np

from ppomania.game.judge import BROKEN, EARLY_BROKEN, HEAD_MISSED, HELD, PENDING, REGRABBED
from ppomania.game.rules import Judgement
from ppomania.game.score import (
    COMBO_BREAK,
    HIT_BONUS,
    HIT_BONUS_VALUE,
    HIT_PUNISHMENT,
    HIT_VALUE,
    HP_HEAL_MULTIPLIER,
    SAME_MS_LIMIT,
)

# Plain ints: numba freezes module-level ints (and arrays) as constants, and compares these with
# the int64 judgements the kernels compute.
MAX, GREAT, GOOD, OK, MEH, MISS = (int(j) for j in Judgement)

NEVER = np.int64(2**62)
NO_ERROR = np.int64(-(2**62))

#: Windows row layout: max, great, good, ok, meh, miss.
W_MAX, W_GREAT, W_GOOD, W_OK, W_MEH, W_MISS = 0, 1, 2, 3, 4, 5


@nb.njit(cache=True, inline="always")
def hold_judgement(windows: np.ndarray, head_error: int, release_error: int) -> int:
    head = abs(head_error)
    total = head + abs(release_error)
    if head <= math.floor(1.2 * windows[W_MAX]) and total <= 2.4 * windows[W_MAX]:
        return MAX
    if head <= math.floor(1.1 * windows[W_GREAT]) and total <= 2.2 * windows[W_GREAT]:
        return GREAT
    if head <= windows[W_GOOD] and total <= 2 * windows[W_GOOD]:
        return GOOD
    if head <= windows[W_OK] and total <= 2 * windows[W_OK]:
        return OK
    return MEH


@nb.njit(cache=True, inline="always")
def overhold_judgement(windows: np.ndarray, head_error: int) -> int:
    head = abs(head_error)
    if head <= 2 * windows[W_GOOD] - windows[W_MEH]:
        return GOOD
    if head <= 2 * windows[W_OK] - windows[W_MEH]:
        return OK
    return MEH


@nb.njit(cache=True, inline="always")
def tap_judgement(windows: np.ndarray, error: int) -> int:
    """-1: the press does not reach the note."""
    if error >= windows[W_OK] or error < -windows[W_MISS]:
        return -1
    magnitude = abs(error)
    if magnitude <= windows[W_MAX]:
        return MAX
    if magnitude <= windows[W_GREAT]:
        return GREAT
    if magnitude <= windows[W_GOOD]:
        return GOOD
    if magnitude <= windows[W_OK]:
        return OK
    if magnitude <= windows[W_MEH]:
        return MEH
    return MISS


class MapArrays(NamedTuple):
    """The judging arrays of a :class:`~ppomania.sim.packed.PackedMaps`: ``col_begin``
    ``(n_maps, K + 1)``, ``starts`` and ``ends`` ``(N,)`` int64 ms."""

    col_begin: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


class RuleArrays(NamedTuple):
    """Per-env rules of the current map: ``windows`` ``(n, 6)`` int64 (``W_*`` columns),
    ``per_object`` score, ScoreV1 ``divider``, ``hp_drain`` and ``no_fail``, all ``(n,)``."""

    windows: np.ndarray
    per_object: np.ndarray
    divider: np.ndarray
    hp_drain: np.ndarray
    no_fail: np.ndarray


class PlayArrays(NamedTuple):
    """Array state of ``n`` plays with up to ``keys`` columns (:meth:`allocate`).

    Per column: ``cursor`` (index into the map's column-ordered objects, relative to the column's
    first object), ``status`` of the current object, ``head_error``, ``grab_error``, ``key_down``,
    ``lock_until``, ``expiry``. Per play: ScoreV1 sums, bonus, counts, combo, max combo, health,
    ``failed``, ``judged``; and the bookings of the last millisecond (``batch_*``) with the state
    before them (``saved_*``), which put same-millisecond judgements in object order as
    :class:`~ppomania.game.score.ScoreProcessor` does.
    """

    cursor: np.ndarray
    status: np.ndarray
    head_error: np.ndarray
    grab_error: np.ndarray
    key_down: np.ndarray
    lock_until: np.ndarray
    expiry: np.ndarray
    base_sum: np.ndarray
    bonus_sum: np.ndarray
    bonus: np.ndarray
    counts: np.ndarray
    combo: np.ndarray
    max_combo: np.ndarray
    score: np.ndarray
    hp: np.ndarray
    failed: np.ndarray
    judged: np.ndarray
    batch_time: np.ndarray
    batch_len: np.ndarray
    batch_order: np.ndarray
    batch_item: np.ndarray
    saved_sums: np.ndarray
    saved_counts: np.ndarray

    @classmethod
    def allocate(cls, n: int, keys: int) -> PlayArrays:
        """Fresh state of ``n`` plays (each needs a :func:`reset_play` before it steps)."""
        return cls(
            cursor=np.zeros((n, keys), dtype=np.int64),
            status=np.zeros((n, keys), dtype=np.int64),
            head_error=np.zeros((n, keys), dtype=np.int64),
            grab_error=np.zeros((n, keys), dtype=np.int64),
            key_down=np.zeros((n, keys), dtype=np.bool_),
            lock_until=np.full((n, keys), -NEVER, dtype=np.int64),
            expiry=np.full((n, keys), NEVER, dtype=np.int64),
            base_sum=np.zeros(n, dtype=np.float64),
            bonus_sum=np.zeros(n, dtype=np.float64),
            bonus=np.full(n, 100.0),
            counts=np.zeros((n, 6), dtype=np.int64),
            combo=np.zeros(n, dtype=np.int64),
            max_combo=np.zeros(n, dtype=np.int64),
            score=np.zeros(n, dtype=np.int64),
            hp=np.ones(n, dtype=np.float64),
            failed=np.zeros(n, dtype=np.bool_),
            judged=np.zeros(n, dtype=np.int64),
            batch_time=np.full(n, -NEVER, dtype=np.int64),
            batch_len=np.zeros(n, dtype=np.int64),
            batch_order=np.zeros((n, SAME_MS_LIMIT), dtype=np.int64),
            batch_item=np.zeros((n, SAME_MS_LIMIT), dtype=np.int64),
            saved_sums=np.zeros((n, 4), dtype=np.float64),
            saved_counts=np.zeros((n, 10), dtype=np.int64),
        )


# The kernels take their arrays in three named tuples (numba sees few arguments and types the
# fields statically): ``maps`` a :class:`MapArrays`, ``rules`` a :class:`RuleArrays`, ``play`` a
# :class:`PlayArrays`. ``log`` rows are ``(env, time, column, packed index, judgement, hit error)``.


@nb.njit(cache=True)
def _update_expiry(env, column, map_id, maps, w, play) -> None:
    """When the column's current object can no longer be taken as it stands (Judge._expiry_of)."""
    index = maps.col_begin[map_id, column] + play.cursor[env, column]
    if index >= maps.col_begin[map_id, column + 1]:
        play.expiry[env, column] = NEVER
        return
    state = play.status[env, column]
    if maps.ends[index] == maps.starts[index]:
        play.expiry[env, column] = maps.starts[index] + w[W_OK]
    elif state == PENDING and not play.key_down[env, column]:
        play.expiry[env, column] = maps.starts[index] + w[W_MEH] + 1
    elif state == EARLY_BROKEN:
        play.expiry[env, column] = min(
            maps.starts[index] + w[W_MEH] + 1, maps.ends[index] - w[W_MEH]
        )
    else:
        play.expiry[env, column] = maps.ends[index] + w[W_OK]


@nb.njit(cache=True)
def reset_play(env, map_id, maps, windows, play) -> None:
    """Put play ``env`` at the start of map ``map_id``."""
    for column in range(play.cursor.shape[1]):
        play.cursor[env, column] = 0
        play.status[env, column] = PENDING
        play.head_error[env, column] = NO_ERROR
        play.grab_error[env, column] = 0
        play.key_down[env, column] = False
        play.lock_until[env, column] = -NEVER
        _update_expiry(env, column, map_id, maps, windows[env], play)
    play.base_sum[env] = 0.0
    play.bonus_sum[env] = 0.0
    play.bonus[env] = 100.0
    play.counts[env, :] = 0
    play.combo[env] = 0
    play.max_combo[env] = 0
    play.score[env] = 0
    play.hp[env] = 1.0
    play.failed[env] = False
    play.judged[env] = 0
    play.batch_time[env] = -NEVER
    play.batch_len[env] = 0


@nb.njit(cache=True)
def _count(env, judgement, rules, play) -> None:
    """ScoreProcessor._count: counts, bonus, score, combo, health, fail (or a combo break)."""
    if judgement == COMBO_BREAK:
        play.combo[env] = 0
        return
    play.counts[env, judgement] += 1
    play.judged[env] += 1
    value = play.bonus[env] + HIT_BONUS[judgement] - HIT_PUNISHMENT[judgement] / rules.divider[env]
    play.bonus[env] = min(100.0, max(0.0, value))
    play.base_sum[env] += rules.per_object[env] * HIT_VALUE[judgement] / 320
    play.bonus_sum[env] += (
        rules.per_object[env] * HIT_BONUS_VALUE[judgement] * math.sqrt(play.bonus[env]) / 320
    )
    play.score[env] = round(play.base_sum[env]) + round(play.bonus_sum[env])
    if judgement == MISS:
        play.combo[env] = 0
    else:
        play.combo[env] += 1
        play.max_combo[env] = max(play.max_combo[env], play.combo[env])
    drain = rules.hp_drain[env]
    if judgement == MISS:
        change = -(drain + 1) * 0.0075
    elif judgement == MEH:
        change = -(drain + 1) * 0.0016
    elif judgement == OK:
        change = 0.0
    elif judgement == GOOD:
        change = HP_HEAL_MULTIPLIER * (0.004 - 0.0004 * drain)
    elif judgement == GREAT:
        change = HP_HEAL_MULTIPLIER * (0.005 - 0.0005 * drain)
    else:
        change = HP_HEAL_MULTIPLIER * (0.0055 - 0.0005 * drain)
    play.hp[env] = min(1.0, max(0.0, play.hp[env] + change))
    if play.hp[env] <= 0 and not rules.no_fail[env]:
        play.failed[env] = True


@nb.njit(cache=True)
def _book(env, t, order, item, rules, play) -> None:
    """ScoreProcessor._book: count a judgement (or combo break) at ``t``, same-ms ones in
    ``order``, recounting the millisecond from the saved state when one arrives out of order."""
    if t > play.batch_time[env] or play.batch_len[env] >= play.batch_order.shape[1]:
        play.saved_sums[env, 0] = play.base_sum[env]
        play.saved_sums[env, 1] = play.bonus_sum[env]
        play.saved_sums[env, 2] = play.bonus[env]
        play.saved_sums[env, 3] = play.hp[env]
        play.saved_counts[env, :6] = play.counts[env]
        play.saved_counts[env, 6] = play.judged[env]
        play.saved_counts[env, 7] = play.combo[env]
        play.saved_counts[env, 8] = play.max_combo[env]
        play.saved_counts[env, 9] = play.failed[env]
        play.batch_len[env] = 0
        play.batch_time[env] = t
    length = play.batch_len[env]
    position = length
    while position > 0 and play.batch_order[env, position - 1] > order:
        play.batch_order[env, position] = play.batch_order[env, position - 1]
        play.batch_item[env, position] = play.batch_item[env, position - 1]
        position -= 1
    play.batch_order[env, position] = order
    play.batch_item[env, position] = item
    play.batch_len[env] = length + 1
    if position == length:
        _count(env, item, rules, play)
        return
    play.base_sum[env] = play.saved_sums[env, 0]
    play.bonus_sum[env] = play.saved_sums[env, 1]
    play.bonus[env] = play.saved_sums[env, 2]
    play.hp[env] = play.saved_sums[env, 3]
    play.counts[env] = play.saved_counts[env, :6]
    play.judged[env] = play.saved_counts[env, 6]
    play.combo[env] = play.saved_counts[env, 7]
    play.max_combo[env] = play.saved_counts[env, 8]
    play.failed[env] = play.saved_counts[env, 9] != 0
    play.score[env] = round(play.base_sum[env]) + round(play.bonus_sum[env])
    for k in range(length + 1):
        _count(env, play.batch_item[env, k], rules, play)


@nb.njit(cache=True)
def _emit(env, t, column, map_id, judgement, error, maps, rules, play, log, log_count) -> None:
    """Judge the column's current object (Judge._emit): log it, move the cursor, score it."""
    index = maps.col_begin[map_id, column] + play.cursor[env, column]
    order = _object_order(env, column, map_id, maps, play)
    if t < maps.starts[index]:
        play.lock_until[env, column] = maps.starts[index]
    if log.shape[0] > 0:
        row = log_count[0]
        if row < log.shape[0]:
            log[row, 0] = env
            log[row, 1] = t
            log[row, 2] = column
            log[row, 3] = index
            log[row, 4] = judgement
            log[row, 5] = error
        log_count[0] = row + 1
    play.cursor[env, column] += 1
    play.status[env, column] = PENDING
    play.head_error[env, column] = NO_ERROR
    _update_expiry(env, column, map_id, maps, rules.windows[env], play)
    _book(env, t, order, judgement, rules, play)


@nb.njit(cache=True, inline="always")
def _object_order(env, column, map_id, maps, play):
    """Rank of the column's current object in ``(start, column)`` order: the Judge's object index
    compares the same way."""
    keys = play.cursor.shape[1]
    return maps.starts[maps.col_begin[map_id, column] + play.cursor[env, column]] * keys + column


@nb.njit(cache=True, inline="always")
def _press_error(env, column, start, end, w, play):
    """Judge._press_error: the head's or the re-grab's error; earlier than -meh counts as 1 ms
    before the tail."""
    error = (
        play.grab_error[env, column]
        if play.status[env, column] == REGRABBED
        else play.head_error[env, column]
    )
    if error < -w[W_MEH]:
        return end - 1 - start
    return error


@nb.njit(cache=True)
def _drop(env, t, column, map_id, maps, rules, play, state) -> None:
    """Judge._drop: a hold let go (or its head passed unpressed) early: combo break."""
    play.status[env, column] = state
    _update_expiry(env, column, map_id, maps, rules.windows[env], play)
    _book(env, t, _object_order(env, column, map_id, maps, play), COMBO_BREAK, rules, play)


@nb.njit(cache=True, inline="always")
def _stopped(env, t, play) -> bool:
    """Judge._stopped: ``t`` is past the millisecond at which the play failed."""
    return play.failed[env] and t > play.batch_time[env]


@nb.njit(cache=True)
def _advance(env, t, map_id, maps, rules, play, log, log_count) -> None:
    """Judge.advance: expire, in time order, every object whose window closed by ``t``."""
    w = rules.windows[env]
    keys = play.cursor.shape[1]
    while True:
        column = 0
        best = play.expiry[env, 0]
        for c in range(1, keys):
            if play.expiry[env, c] < best:
                best = play.expiry[env, c]
                column = c
        if best > t or best >= NEVER or _stopped(env, best, play):
            return
        index = maps.col_begin[map_id, column] + play.cursor[env, column]
        state = play.status[env, column]
        start, end = maps.starts[index], maps.ends[index]
        if state == HELD or state == REGRABBED:
            judgement = overhold_judgement(w, _press_error(env, column, start, end, w, play))
            if state == REGRABBED:
                judgement = max(judgement, GOOD)
        elif (state == PENDING or state == EARLY_BROKEN) and end > start and best < end - w[W_MEH]:
            if state == PENDING:
                _drop(env, best, column, map_id, maps, rules, play, HEAD_MISSED)
            else:
                play.status[env, column] = BROKEN
                _update_expiry(env, column, map_id, maps, w, play)
            continue
        else:
            judgement = MISS
        error = play.head_error[env, column]
        _emit(env, best, column, map_id, judgement, error, maps, rules, play, log, log_count)


@nb.njit(cache=True)
def _press(env, t, column, map_id, maps, rules, play, log, log_count) -> bool:
    """Judge.press after the key went down; returns whether the press took an object."""
    w = rules.windows[env]
    index = maps.col_begin[map_id, column] + play.cursor[env, column]
    if index >= maps.col_begin[map_id, column + 1]:
        return False
    error = t - maps.starts[index]
    if t < play.lock_until[env, column] or error < -w[W_MISS]:
        _update_expiry(env, column, map_id, maps, w, play)
        return False
    if maps.ends[index] == maps.starts[index]:
        judgement = tap_judgement(w, error)
        if judgement < 0:
            return False
        play.head_error[env, column] = error
        _emit(env, t, column, map_id, judgement, error, maps, rules, play, log, log_count)
        return True
    if play.status[env, column] == PENDING:
        play.head_error[env, column] = error
        play.status[env, column] = HELD
    else:
        play.grab_error[env, column] = error
        play.status[env, column] = REGRABBED
    _update_expiry(env, column, map_id, maps, w, play)
    return True


@nb.njit(cache=True)
def _release(env, t, column, map_id, maps, rules, play, log, log_count) -> None:
    """Judge.release after the key went up."""
    w = rules.windows[env]
    index = maps.col_begin[map_id, column] + play.cursor[env, column]
    if index >= maps.col_begin[map_id, column + 1] or maps.ends[index] == maps.starts[index]:
        return
    state = play.status[env, column]
    start, end = maps.starts[index], maps.ends[index]
    if state == PENDING:
        # Held across the head without a press: stable checks the hold once the key is up.
        if t < start + w[W_MEH]:
            _update_expiry(env, column, map_id, maps, w, play)
        elif t < end - w[W_MEH]:
            _drop(env, t, column, map_id, maps, rules, play, HEAD_MISSED)
        else:
            error = play.head_error[env, column]
            _emit(env, t, column, map_id, MISS, error, maps, rules, play, log, log_count)
        return
    if state != HELD and state != REGRABBED:  # numba has no tuple membership on ints
        return
    if t < end - w[W_MEH]:
        _drop(env, t, column, map_id, maps, rules, play,
              BROKEN if t > start + w[W_MEH] else EARLY_BROKEN)  # fmt: skip
        return
    judgement = hold_judgement(w, _press_error(env, column, start, end, w, play), t - end)
    if state == REGRABBED:
        judgement = max(judgement, GOOD)
    error = play.head_error[env, column]
    _emit(env, t, column, map_id, judgement, error, maps, rules, play, log, log_count)


@nb.njit(cache=True)
def step_plays(times, actions, active, map_ids, maps, rules, play, out_ghost, log, log_count):
    """Advance every active play to ``times[env]`` and apply the key states ``actions[env]``.

    Key changes become press/release events at ``times[env]`` (columns in order), each preceded by
    judging what expired, as :meth:`Judge.press` does. ``out_ghost[env]`` counts presses that hit
    nothing. With ``log`` rows, every judgement is appended to ``log`` (``log_count[0]`` rows).
    A play that failed is judged no further than its failing millisecond.
    """
    n, keys = play.key_down.shape
    for env in range(n):
        out_ghost[env] = 0
        if not active[env]:
            continue
        t = times[env]
        map_id = map_ids[env]
        # Advance first, even without events, so misses land on the step that passes them.
        _advance(env, t, map_id, maps, rules, play, log, log_count)
        for column in range(keys):
            want = actions[env, column]
            if want == play.key_down[env, column]:
                continue
            _advance(env, t, map_id, maps, rules, play, log, log_count)
            if _stopped(env, t, play):
                break
            play.key_down[env, column] = want
            if want:
                if not _press(env, t, column, map_id, maps, rules, play, log, log_count):
                    out_ghost[env] += 1
            else:
                _release(env, t, column, map_id, maps, rules, play, log, log_count)
