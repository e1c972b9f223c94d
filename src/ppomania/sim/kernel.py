"""Numba kernels of the batched simulator: osu!stable judging and ScoreV1 over ``(n_envs, …)`` arrays.

A line-for-line port of :class:`ppomania.game.judge.Judge` and
:class:`ppomania.game.score.ScoreProcessor` to array state, so that many plays step in lockstep
without Python objects. Only the current (earliest unjudged) object of each column can be in a state
other than "pending": everything before it is judged and everything after it untouched, so a play's
judge state is a handful of numbers per column. ``tests/test_sim_equivalence.py`` checks these
kernels against the reference judge judgement for judgement.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ppomania.game.score import HP_HEAL_MULTIPLIER

PENDING = 0
HELD = 1
BROKEN = 2
HEAD_MISSED = 3
REGRABBED = 4

MAX, GREAT, GOOD, OK, MEH, MISS = 0, 1, 2, 3, 4, 5

NEVER = np.int64(2**62)
NO_ERROR = np.int64(-(2**62))

#: Windows row layout: max, great, good, ok, meh, miss.
W_MAX, W_GREAT, W_GOOD, W_OK, W_MEH, W_MISS = 0, 1, 2, 3, 4, 5

# ScoreV1 tables in judgement order (MAX, 300, 200, 100, 50, miss); miss punishment is infinite.
HIT_VALUE = np.array([320.0, 300.0, 200.0, 100.0, 50.0, 0.0])
HIT_BONUS_VALUE = np.array([32.0, 32.0, 16.0, 8.0, 4.0, 0.0])
HIT_BONUS = np.array([2.0, 1.0, 0.0, 0.0, 0.0, 0.0])
HIT_PUNISHMENT = np.array([0.0, 0.0, 8.0, 24.0, 44.0, np.inf])


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


class PlayArrays:
    """Array state of ``n`` plays with up to ``keys`` columns (allocated by the simulator).

    Per column: ``cursor`` (index into the map's column-ordered objects, relative to the column's
    first object), ``status`` of the current object, ``head_error``, ``grab_error``, ``key_down``,
    ``lock_until``, ``expiry``. Per play: ScoreV1 sums, bonus, counts, combo, max combo, health,
    ``failed``.
    """

    def __init__(self, n: int, keys: int) -> None:
        self.cursor = np.zeros((n, keys), dtype=np.int64)
        self.status = np.zeros((n, keys), dtype=np.int64)
        self.head_error = np.zeros((n, keys), dtype=np.int64)
        self.grab_error = np.zeros((n, keys), dtype=np.int64)
        self.key_down = np.zeros((n, keys), dtype=np.bool_)
        self.lock_until = np.full((n, keys), -NEVER, dtype=np.int64)
        self.expiry = np.full((n, keys), NEVER, dtype=np.int64)
        self.base_sum = np.zeros(n, dtype=np.float64)
        self.bonus_sum = np.zeros(n, dtype=np.float64)
        self.bonus = np.full(n, 100.0)
        self.counts = np.zeros((n, 6), dtype=np.int64)
        self.combo = np.zeros(n, dtype=np.int64)
        self.max_combo = np.zeros(n, dtype=np.int64)
        self.score = np.zeros(n, dtype=np.int64)
        self.hp = np.ones(n, dtype=np.float64)
        self.failed = np.zeros(n, dtype=np.bool_)
        self.judged = np.zeros(n, dtype=np.int64)


@nb.njit(cache=True)
def _expiry_of(
    env, column, cursor, status, col_start, col_count, starts, ends, windows, out_expiry
) -> None:
    if cursor[env, column] >= col_count:
        out_expiry[env, column] = NEVER
        return
    index = col_start + cursor[env, column]
    ok = windows[W_OK]
    state = status[env, column]
    if ends[index] == starts[index]:
        out_expiry[env, column] = starts[index] + ok
    elif state == PENDING:
        out_expiry[env, column] = starts[index] + ok + 1
    elif state == HELD or state == REGRABBED:
        out_expiry[env, column] = ends[index] + ok
    elif state == BROKEN:
        out_expiry[env, column] = ends[index] - windows[W_MEH] + 1
    else:
        out_expiry[env, column] = ends[index] + 1


@nb.njit(cache=True)
def reset_play(
    env,
    map_id,
    col_offsets,
    starts,
    ends,
    windows,
    s_cursor,
    s_status,
    s_head,
    s_grab,
    s_key,
    s_lock,
    s_expiry,
    s_base,
    s_bonus_sum,
    s_bonus,
    s_counts,
    s_combo,
    s_max_combo,
    s_score,
    s_hp,
    s_failed,
    s_judged,
) -> None:
    keys = s_cursor.shape[1]
    for column in range(keys):
        s_cursor[env, column] = 0
        s_status[env, column] = PENDING
        s_head[env, column] = NO_ERROR
        s_grab[env, column] = 0
        s_key[env, column] = False
        s_lock[env, column] = -NEVER
        col_start = col_offsets[map_id, column]
        col_count = col_offsets[map_id, column + 1] - col_start
        _expiry_of(
            env,
            column,
            s_cursor,
            s_status,
            col_start,
            col_count,
            starts,
            ends,
            windows[env],
            s_expiry,
        )
    s_base[env] = 0.0
    s_bonus_sum[env] = 0.0
    s_bonus[env] = 100.0
    for j in range(6):
        s_counts[env, j] = 0
    s_combo[env] = 0
    s_max_combo[env] = 0
    s_score[env] = 0
    s_hp[env] = 1.0
    s_failed[env] = False
    s_judged[env] = 0


@nb.njit(cache=True)
def _apply(
    env,
    judgement,
    per_object,
    divider,
    hp_drain,
    no_fail,
    s_base,
    s_bonus_sum,
    s_bonus,
    s_counts,
    s_combo,
    s_max_combo,
    s_score,
    s_hp,
    s_failed,
    s_judged,
) -> None:
    s_counts[env, judgement] += 1
    s_judged[env] += 1
    bonus = s_bonus[env] + HIT_BONUS[judgement] - HIT_PUNISHMENT[judgement] / divider
    s_bonus[env] = min(100.0, max(0.0, bonus))
    s_base[env] += per_object * HIT_VALUE[judgement] / 320
    s_bonus_sum[env] += per_object * HIT_BONUS_VALUE[judgement] * math.sqrt(s_bonus[env]) / 320
    s_score[env] = round(s_base[env]) + round(s_bonus_sum[env])
    if judgement == MISS:
        s_combo[env] = 0
    else:
        s_combo[env] += 1
        if s_combo[env] > s_max_combo[env]:
            s_max_combo[env] = s_combo[env]
    if judgement == MISS:
        change = -(hp_drain + 1) * 0.0075
    elif judgement == MEH:
        change = -(hp_drain + 1) * 0.0016
    elif judgement == OK:
        change = 0.0
    elif judgement == GOOD:
        change = HP_HEAL_MULTIPLIER * (0.004 - 0.0004 * hp_drain)
    elif judgement == GREAT:
        change = HP_HEAL_MULTIPLIER * (0.005 - 0.0005 * hp_drain)
    else:
        change = HP_HEAL_MULTIPLIER * (0.0055 - 0.0005 * hp_drain)
    s_hp[env] = min(1.0, max(0.0, s_hp[env] + change))
    if s_hp[env] <= 0 and not no_fail:
        s_failed[env] = True


@nb.njit(cache=True)
def step_plays(
    times,
    actions,
    active,
    map_ids,
    col_offsets,
    starts,
    ends,
    windows,
    per_object,
    divider,
    hp_drain,
    no_fail,
    s_cursor,
    s_status,
    s_head,
    s_grab,
    s_key,
    s_lock,
    s_expiry,
    s_base,
    s_bonus_sum,
    s_bonus,
    s_counts,
    s_combo,
    s_max_combo,
    s_score,
    s_hp,
    s_failed,
    s_judged,
    out_ghost,
    log,
    log_count,
) -> None:
    """Advance every active play to ``times[env]`` and apply the key states ``actions[env]``.

    Key changes become press/release events at ``times[env]`` (columns in order), each preceded by
    judging what expired, as :meth:`Judge.press` does. ``out_ghost[env]`` counts presses that hit
    nothing. When ``log`` has rows, each judgement is appended as ``(env, time, column, object,
    judgement, hit_error)`` (packed object index, hit_error NO_ERROR when never pressed).
    """
    n, keys = s_cursor.shape
    for env in range(n):
        out_ghost[env] = 0
        if not active[env]:
            continue
        t = times[env]
        map_id = map_ids[env]
        w = windows[env]
        map_base = col_offsets[map_id, 0]
        # Advance first, even without events, so misses land on the step that passes them.
        _advance(
            env,
            t,
            map_id,
            map_base,
            col_offsets,
            starts,
            ends,
            w,
            per_object[env],
            divider[env],
            hp_drain[env],
            no_fail[env],
            s_cursor,
            s_status,
            s_head,
            s_grab,
            s_expiry,
            s_base,
            s_bonus_sum,
            s_bonus,
            s_counts,
            s_combo,
            s_max_combo,
            s_score,
            s_hp,
            s_failed,
            s_judged,
            log,
            log_count,
        )
        for column in range(keys):
            want = actions[env, column]
            if want == s_key[env, column]:
                continue
            _advance(
                env,
                t,
                map_id,
                map_base,
                col_offsets,
                starts,
                ends,
                w,
                per_object[env],
                divider[env],
                hp_drain[env],
                no_fail[env],
                s_cursor,
                s_status,
                s_head,
                s_grab,
                s_expiry,
                s_base,
                s_bonus_sum,
                s_bonus,
                s_counts,
                s_combo,
                s_max_combo,
                s_score,
                s_hp,
                s_failed,
                s_judged,
                log,
                log_count,
            )
            s_key[env, column] = want
            col_start = col_offsets[map_id, column]
            col_count = col_offsets[map_id, column + 1] - col_start
            cursor = s_cursor[env, column]
            if want:
                hit = False
                if cursor < col_count and t >= s_lock[env, column]:
                    index = col_start + cursor
                    error = t - starts[index]
                    state = s_status[env, column]
                    if ends[index] == starts[index]:
                        judgement = tap_judgement(w, error)
                        if judgement >= 0:
                            hit = True
                            s_head[env, column] = error
                            if error < 0:
                                s_lock[env, column] = starts[index]
                            _emit(
                                env,
                                t,
                                column,
                                index,
                                map_base,
                                judgement,
                                error,
                                map_id,
                                col_offsets,
                                starts,
                                ends,
                                w,
                                per_object[env],
                                divider[env],
                                hp_drain[env],
                                no_fail[env],
                                s_cursor,
                                s_status,
                                s_head,
                                s_expiry,
                                s_base,
                                s_bonus_sum,
                                s_bonus,
                                s_counts,
                                s_combo,
                                s_max_combo,
                                s_score,
                                s_hp,
                                s_failed,
                                s_judged,
                                log,
                                log_count,
                            )
                    elif state == PENDING:
                        if error >= -w[W_MISS]:
                            hit = True
                            s_head[env, column] = error
                            s_status[env, column] = HELD
                            _expiry_of(
                                env,
                                column,
                                s_cursor,
                                s_status,
                                col_start,
                                col_count,
                                starts,
                                ends,
                                w,
                                s_expiry,
                            )
                    elif state == BROKEN or state == HEAD_MISSED:
                        hit = True
                        s_grab[env, column] = error
                        s_status[env, column] = REGRABBED
                        _expiry_of(
                            env,
                            column,
                            s_cursor,
                            s_status,
                            col_start,
                            col_count,
                            starts,
                            ends,
                            w,
                            s_expiry,
                        )
                if not hit:
                    out_ghost[env] += 1
            elif cursor < col_count:
                index = col_start + cursor
                state = s_status[env, column]
                if ends[index] != starts[index] and (state == HELD or state == REGRABBED):
                    end = ends[index]
                    if t < end - w[W_MEH]:
                        s_status[env, column] = BROKEN
                        _expiry_of(
                            env,
                            column,
                            s_cursor,
                            s_status,
                            col_start,
                            col_count,
                            starts,
                            ends,
                            w,
                            s_expiry,
                        )
                        s_combo[env] = 0
                    else:
                        if state == REGRABBED:
                            judgement = max(hold_judgement(w, s_grab[env, column], t - end), GOOD)
                        else:
                            judgement = hold_judgement(
                                w,
                                _judged_head_error(s_head[env, column], starts[index], end, w),
                                t - end,
                            )
                        _emit(
                            env,
                            t,
                            column,
                            index,
                            map_base,
                            judgement,
                            s_head[env, column],
                            map_id,
                            col_offsets,
                            starts,
                            ends,
                            w,
                            per_object[env],
                            divider[env],
                            hp_drain[env],
                            no_fail[env],
                            s_cursor,
                            s_status,
                            s_head,
                            s_expiry,
                            s_base,
                            s_bonus_sum,
                            s_bonus,
                            s_counts,
                            s_combo,
                            s_max_combo,
                            s_score,
                            s_hp,
                            s_failed,
                            s_judged,
                            log,
                            log_count,
                        )


@nb.njit(cache=True, inline="always")
def _judged_head_error(head_error, start, end, w):
    if head_error < -w[W_MEH]:
        return end - 1 - start
    return head_error


@nb.njit(cache=True)
def _emit(
    env,
    t,
    column,
    index,
    map_base,
    judgement,
    error,
    map_id,
    col_offsets,
    starts,
    ends,
    w,
    per_object,
    divider,
    hp_drain,
    no_fail,
    s_cursor,
    s_status,
    s_head,
    s_expiry,
    s_base,
    s_bonus_sum,
    s_bonus,
    s_counts,
    s_combo,
    s_max_combo,
    s_score,
    s_hp,
    s_failed,
    s_judged,
    log,
    log_count,
) -> None:
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
    s_cursor[env, column] += 1
    s_status[env, column] = PENDING
    s_head[env, column] = NO_ERROR
    col_start = col_offsets[map_id, column]
    col_count = col_offsets[map_id, column + 1] - col_start
    _expiry_of(env, column, s_cursor, s_status, col_start, col_count, starts, ends, w, s_expiry)
    _apply(
        env,
        judgement,
        per_object,
        divider,
        hp_drain,
        no_fail,
        s_base,
        s_bonus_sum,
        s_bonus,
        s_counts,
        s_combo,
        s_max_combo,
        s_score,
        s_hp,
        s_failed,
        s_judged,
    )


@nb.njit(cache=True)
def _advance(
    env,
    t,
    map_id,
    map_base,
    col_offsets,
    starts,
    ends,
    w,
    per_object,
    divider,
    hp_drain,
    no_fail,
    s_cursor,
    s_status,
    s_head,
    s_grab,
    s_expiry,
    s_base,
    s_bonus_sum,
    s_bonus,
    s_counts,
    s_combo,
    s_max_combo,
    s_score,
    s_hp,
    s_failed,
    s_judged,
    log,
    log_count,
) -> None:
    keys = s_cursor.shape[1]
    while True:
        column = 0
        best = s_expiry[env, 0]
        for c in range(1, keys):
            if s_expiry[env, c] < best:
                best = s_expiry[env, c]
                column = c
        if best > t or best >= NEVER:
            return
        col_start = col_offsets[map_id, column]
        index = col_start + s_cursor[env, column]
        state = s_status[env, column]
        if ends[index] == starts[index]:
            judgement = MISS
        elif state == PENDING:
            s_status[env, column] = HEAD_MISSED
            col_count = col_offsets[map_id, column + 1] - col_start
            _expiry_of(
                env, column, s_cursor, s_status, col_start, col_count, starts, ends, w, s_expiry
            )
            s_combo[env] = 0
            continue
        elif state == HELD:
            judgement = overhold_judgement(
                w, _judged_head_error(s_head[env, column], starts[index], ends[index], w)
            )
        elif state == REGRABBED:
            judgement = MEH
        else:
            judgement = MISS
        _emit(
            env,
            best,
            column,
            index,
            map_base,
            judgement,
            s_head[env, column],
            map_id,
            col_offsets,
            starts,
            ends,
            w,
            per_object,
            divider,
            hp_drain,
            no_fail,
            s_cursor,
            s_status,
            s_head,
            s_expiry,
            s_base,
            s_bonus_sum,
            s_bonus,
            s_counts,
            s_combo,
            s_max_combo,
            s_score,
            s_hp,
            s_failed,
            s_judged,
            log,
            log_count,
        )
