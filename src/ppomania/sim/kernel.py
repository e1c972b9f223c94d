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

import numba as nb
import numpy as np

from ppomania.game.score import COMBO_BREAK, HP_HEAL_MULTIPLIER, SAME_MS_LIMIT

PENDING = 0
HELD = 1
BROKEN = 2
HEAD_MISSED = 3
REGRABBED = 4
EARLY_BROKEN = 5

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
    ``failed``, ``judged``; and the bookings of the last millisecond (``batch_*``) with the state
    before them (``saved_*``), which put same-millisecond judgements in object order as
    :class:`~ppomania.game.score.ScoreProcessor` does. :meth:`as_tuple` hands them to the kernels
    as one argument.
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
        self.batch_time = np.full(n, -NEVER, dtype=np.int64)
        self.batch_len = np.zeros(n, dtype=np.int64)
        self.batch_order = np.zeros((n, SAME_MS_LIMIT), dtype=np.int64)
        self.batch_item = np.zeros((n, SAME_MS_LIMIT), dtype=np.int64)
        self.saved_sums = np.zeros((n, 4), dtype=np.float64)
        self.saved_counts = np.zeros((n, 10), dtype=np.int64)

    def as_tuple(self) -> tuple:
        """The arrays in the order the kernels unpack them (``play`` below)."""
        return (
            self.cursor, self.status, self.head_error, self.grab_error, self.key_down,
            self.lock_until, self.expiry, self.base_sum, self.bonus_sum, self.bonus, self.counts,
            self.combo, self.max_combo, self.score, self.hp, self.failed, self.judged,
            self.batch_time, self.batch_len, self.batch_order, self.batch_item, self.saved_sums,
            self.saved_counts,
        )  # fmt: skip


# The kernels take their arrays in three tuples, so that numba sees few arguments:
# ``maps = (col_begin, starts, ends)`` of a PackedMaps; ``rules = (windows (n, 6), per_object,
# divider, hp_drain, no_fail)`` per env; ``play = PlayArrays.as_tuple()``. ``log`` rows are
# ``(env, time, column, packed index, judgement, hit error)``.


@nb.njit(cache=True)
def _update_expiry(env, column, map_id, maps, w, play) -> None:
    """When the column's current object can no longer be taken as it stands (Judge._expiry_of)."""
    col_begin, starts, ends = maps
    cursor, status, key_down, expiry = play[0], play[1], play[4], play[6]
    index = col_begin[map_id, column] + cursor[env, column]
    if index >= col_begin[map_id, column + 1]:
        expiry[env, column] = NEVER
        return
    state = status[env, column]
    if ends[index] == starts[index]:
        expiry[env, column] = starts[index] + w[W_OK]
    elif state == PENDING and not key_down[env, column]:
        expiry[env, column] = starts[index] + w[W_MEH] + 1
    elif state == EARLY_BROKEN:
        expiry[env, column] = min(starts[index] + w[W_MEH] + 1, ends[index] - w[W_MEH])
    else:
        expiry[env, column] = ends[index] + w[W_OK]


@nb.njit(cache=True)
def reset_play(env, map_id, maps, windows, play) -> None:
    """Put play ``env`` at the start of map ``map_id``."""
    cursor, status, head, grab, key_down, lock = play[:6]
    base_sum, bonus_sum, bonus, counts, combo, max_combo, score, hp, failed, judged = play[7:17]
    for column in range(cursor.shape[1]):
        cursor[env, column] = 0
        status[env, column] = PENDING
        head[env, column] = NO_ERROR
        grab[env, column] = 0
        key_down[env, column] = False
        lock[env, column] = -NEVER
        _update_expiry(env, column, map_id, maps, windows[env], play)
    base_sum[env] = 0.0
    bonus_sum[env] = 0.0
    bonus[env] = 100.0
    counts[env, :] = 0
    combo[env] = 0
    max_combo[env] = 0
    score[env] = 0
    hp[env] = 1.0
    failed[env] = False
    judged[env] = 0
    play[17][env] = -NEVER
    play[18][env] = 0


@nb.njit(cache=True)
def _count(env, judgement, rules, play) -> None:
    """ScoreProcessor._count: counts, bonus, score, combo, health, fail (or a combo break)."""
    _, per_object, divider, hp_drain, no_fail = rules
    base_sum, bonus_sum, bonus, counts, combo, max_combo, score, hp, failed, judged = play[7:17]
    if judgement == COMBO_BREAK:
        combo[env] = 0
        return
    counts[env, judgement] += 1
    judged[env] += 1
    value = bonus[env] + HIT_BONUS[judgement] - HIT_PUNISHMENT[judgement] / divider[env]
    bonus[env] = min(100.0, max(0.0, value))
    base_sum[env] += per_object[env] * HIT_VALUE[judgement] / 320
    bonus_sum[env] += per_object[env] * HIT_BONUS_VALUE[judgement] * math.sqrt(bonus[env]) / 320
    score[env] = round(base_sum[env]) + round(bonus_sum[env])
    if judgement == MISS:
        combo[env] = 0
    else:
        combo[env] += 1
        max_combo[env] = max(max_combo[env], combo[env])
    drain = hp_drain[env]
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
    hp[env] = min(1.0, max(0.0, hp[env] + change))
    if hp[env] <= 0 and not no_fail[env]:
        failed[env] = True


@nb.njit(cache=True)
def _book(env, t, order, item, rules, play) -> None:
    """ScoreProcessor._book: count a judgement (or combo break) at ``t``, same-ms ones in
    ``order``, recounting the millisecond from the saved state when one arrives out of order."""
    base_sum, bonus_sum, bonus, counts, combo, max_combo, score, hp, failed, judged = play[7:17]
    batch_time, batch_len, batch_order, batch_item, saved_sums, saved_counts = play[17:]
    if t > batch_time[env] or batch_len[env] >= batch_order.shape[1]:
        saved_sums[env, 0] = base_sum[env]
        saved_sums[env, 1] = bonus_sum[env]
        saved_sums[env, 2] = bonus[env]
        saved_sums[env, 3] = hp[env]
        saved_counts[env, :6] = counts[env]
        saved_counts[env, 6] = judged[env]
        saved_counts[env, 7] = combo[env]
        saved_counts[env, 8] = max_combo[env]
        saved_counts[env, 9] = failed[env]
        batch_len[env] = 0
        batch_time[env] = t
    length = batch_len[env]
    position = length
    while position > 0 and batch_order[env, position - 1] > order:
        batch_order[env, position] = batch_order[env, position - 1]
        batch_item[env, position] = batch_item[env, position - 1]
        position -= 1
    batch_order[env, position] = order
    batch_item[env, position] = item
    batch_len[env] = length + 1
    if position == length:
        _count(env, item, rules, play)
        return
    base_sum[env] = saved_sums[env, 0]
    bonus_sum[env] = saved_sums[env, 1]
    bonus[env] = saved_sums[env, 2]
    hp[env] = saved_sums[env, 3]
    counts[env] = saved_counts[env, :6]
    judged[env] = saved_counts[env, 6]
    combo[env] = saved_counts[env, 7]
    max_combo[env] = saved_counts[env, 8]
    failed[env] = saved_counts[env, 9] != 0
    score[env] = round(base_sum[env]) + round(bonus_sum[env])
    for k in range(length + 1):
        _count(env, batch_item[env, k], rules, play)


@nb.njit(cache=True)
def _emit(env, t, column, map_id, judgement, error, maps, rules, play, log, log_count) -> None:
    """Judge the column's current object (Judge._emit): log it, move the cursor, score it."""
    col_begin, starts = maps[0], maps[1]
    cursor, status, head, lock = play[0], play[1], play[2], play[5]
    index = col_begin[map_id, column] + cursor[env, column]
    order = _object_order(env, column, map_id, maps, play)
    if t < starts[index]:
        lock[env, column] = starts[index]
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
    cursor[env, column] += 1
    status[env, column] = PENDING
    head[env, column] = NO_ERROR
    _update_expiry(env, column, map_id, maps, rules[0][env], play)
    _book(env, t, order, judgement, rules, play)


@nb.njit(cache=True, inline="always")
def _object_order(env, column, map_id, maps, play):
    """Rank of the column's current object in ``(start, column)`` order: the Judge's object index
    compares the same way."""
    col_begin, starts = maps[0], maps[1]
    cursor = play[0]
    keys = cursor.shape[1]
    return starts[col_begin[map_id, column] + cursor[env, column]] * keys + column


@nb.njit(cache=True, inline="always")
def _press_error(env, column, start, end, w, play):
    """Judge._press_error: the head's or the re-grab's error; earlier than -meh counts as 1 ms
    before the tail."""
    status, head, grab = play[1], play[2], play[3]
    error = grab[env, column] if status[env, column] == REGRABBED else head[env, column]
    if error < -w[W_MEH]:
        return end - 1 - start
    return error


@nb.njit(cache=True)
def _drop(env, t, column, map_id, maps, rules, play, state) -> None:
    """Judge._drop: a hold let go (or its head passed unpressed) early: combo break."""
    play[1][env, column] = state
    _update_expiry(env, column, map_id, maps, rules[0][env], play)
    _book(env, t, _object_order(env, column, map_id, maps, play), COMBO_BREAK, rules, play)


@nb.njit(cache=True)
def _advance(env, t, map_id, maps, rules, play, log, log_count) -> None:
    """Judge.advance: expire, in time order, every object whose window closed by ``t``."""
    col_begin, starts, ends = maps
    cursor, status, head = play[:3]
    expiry = play[6]
    w = rules[0][env]
    keys = cursor.shape[1]
    while True:
        column = 0
        best = expiry[env, 0]
        for c in range(1, keys):
            if expiry[env, c] < best:
                best = expiry[env, c]
                column = c
        if best > t or best >= NEVER:
            return
        index = col_begin[map_id, column] + cursor[env, column]
        state = status[env, column]
        start, end = starts[index], ends[index]
        if state == HELD or state == REGRABBED:
            judgement = overhold_judgement(w, _press_error(env, column, start, end, w, play))
            if state == REGRABBED:
                judgement = max(judgement, GOOD)
        elif (state == PENDING or state == EARLY_BROKEN) and end > start and best < end - w[W_MEH]:
            if state == PENDING:
                _drop(env, best, column, map_id, maps, rules, play, HEAD_MISSED)
            else:
                status[env, column] = BROKEN
                _update_expiry(env, column, map_id, maps, w, play)
            continue
        else:
            judgement = MISS
        _emit(env, best, column, map_id, judgement, head[env, column], maps, rules, play, log,
              log_count)  # fmt: skip


@nb.njit(cache=True)
def _press(env, t, column, map_id, maps, rules, play, log, log_count) -> bool:
    """Judge.press after the key went down; returns whether the press took an object."""
    col_begin, starts, ends = maps
    cursor, status, head, grab, _, lock = play[:6]
    w = rules[0][env]
    index = col_begin[map_id, column] + cursor[env, column]
    if index >= col_begin[map_id, column + 1]:
        return False
    error = t - starts[index]
    if t < lock[env, column] or error < -w[W_MISS]:
        _update_expiry(env, column, map_id, maps, w, play)
        return False
    if ends[index] == starts[index]:
        judgement = tap_judgement(w, error)
        if judgement < 0:
            return False
        head[env, column] = error
        _emit(env, t, column, map_id, judgement, error, maps, rules, play, log, log_count)
        return True
    if status[env, column] == PENDING:
        head[env, column] = error
        status[env, column] = HELD
    else:
        grab[env, column] = error
        status[env, column] = REGRABBED
    _update_expiry(env, column, map_id, maps, w, play)
    return True


@nb.njit(cache=True)
def _release(env, t, column, map_id, maps, rules, play, log, log_count) -> None:
    """Judge.release after the key went up."""
    col_begin, starts, ends = maps
    cursor, status, head = play[:3]
    w = rules[0][env]
    index = col_begin[map_id, column] + cursor[env, column]
    if index >= col_begin[map_id, column + 1] or ends[index] == starts[index]:
        return
    state = status[env, column]
    start, end = starts[index], ends[index]
    if state == PENDING:
        # Held across the head without a press: stable checks the hold once the key is up.
        if t < start + w[W_MEH]:
            _update_expiry(env, column, map_id, maps, w, play)
        elif t < end - w[W_MEH]:
            _drop(env, t, column, map_id, maps, rules, play, HEAD_MISSED)
        else:
            _emit(env, t, column, map_id, MISS, head[env, column], maps, rules, play, log,
                  log_count)  # fmt: skip
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
    _emit(env, t, column, map_id, judgement, head[env, column], maps, rules, play, log, log_count)


@nb.njit(cache=True)
def step_plays(times, actions, active, map_ids, maps, rules, play, out_ghost, log, log_count):
    """Advance every active play to ``times[env]`` and apply the key states ``actions[env]``.

    Key changes become press/release events at ``times[env]`` (columns in order), each preceded by
    judging what expired, as :meth:`Judge.press` does. ``out_ghost[env]`` counts presses that hit
    nothing. With ``log`` rows, every judgement is appended to ``log`` (``log_count[0]`` rows).
    """
    key_down = play[4]
    n, keys = key_down.shape
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
            if want == key_down[env, column]:
                continue
            _advance(env, t, map_id, maps, rules, play, log, log_count)
            key_down[env, column] = want
            if want:
                if not _press(env, t, column, map_id, maps, rules, play, log, log_count):
                    out_ghost[env] += 1
            else:
                _release(env, t, column, map_id, maps, rules, play, log, log_count)
