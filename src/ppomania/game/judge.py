"""The judge: osu!stable mania rules applied to key events.

One implementation of the rules (``specs/mania-rules.md`` §2–§4), fed with key events ``(time_ms,
column, down)`` in time order and returning judgements ``(time_ms, column, object, kind, hit error)``.
It verifies real replays, is the reference the batched simulator is tested against, and judges the
agent's own presses live. It works incrementally (:meth:`Judge.press`, :meth:`Judge.release`,
:meth:`Judge.advance`) so that a real-time caller can feed it as time goes.

Per column, a key-down is offered to the earliest object not yet judged:

- tap note: hit if the error ``e`` is in ``[-miss, +ok)``; ``e < -meh`` consumes the note as a MISS.
  A note nobody pressed is a MISS once ``+ok`` has passed.
- hold note: a press from ``-miss`` on takes the head. The release gives one combined judgement
  (:meth:`HitWindows.hold_judgement`); held until ``tail + ok`` it is judged from the head alone. A
  head pressed earlier than ``-meh`` is judged as if pressed one ms before the tail (usually a 50).
  A head still unpressed at ``+meh`` (with the key up) breaks combo; with the key held down from an
  earlier note there is no press, and the hold is checked when the key comes up.
- hold break: a release before ``tail - meh`` resets combo. Until ``tail + ok`` the hold can be
  grabbed again, and is then judged like a hold pressed at the re-grab, at best 200; otherwise it is
  a MISS (a short hold let go inside its head window is a MISS already at ``tail - meh``).
- an object judged before its time (an early tap, a tiny hold) locks the column until that time:
  presses in between do nothing.
- fail (§9): once health reaches 0 without NoFail the play stops. Every judgement of the failing
  millisecond counts (one game frame); nothing later is judged, not even by :meth:`Judge.finish`.

These hold rules follow osu!stable's update loop (``HitCircleManiaLong.Hit``) as a public
reconstruction of it describes them; against the replays in ``tests/data`` they leave 28 of 266,640
Aegleseeker and 8 of 1,461 Raijin judgements off (the Mania-Replay-Master-style rules they replaced
left 236 and 28). See ``tests/test_replays.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ppomania.game.beatmap import Beatmap
from ppomania.game.rules import HitWindows, Judgement, Mods, hit_windows
from ppomania.game.score import GameState, Phase, ScoreProcessor


class KeyEvent(NamedTuple):
    """A key going down or up in a column at an integer map time (ms)."""

    time_ms: int
    column: int
    down: bool


class HitResult(NamedTuple):
    """One judgement. ``hit_error_ms`` is the press (for holds: head) error, None when never pressed."""

    time_ms: int
    column: int
    object_index: int
    judgement: Judgement
    hit_error_ms: int | None


# Per-object status (the simulator's kernel keeps the same codes per column). Holds move PENDING ->
# HELD -> judged; a hold let go early is BROKEN (or EARLY_BROKEN while its head window is still
# open), one whose head passed unpressed HEAD_MISSED, and either one pressed again REGRABBED.
PENDING = 0
HELD = 1
BROKEN = 2
HEAD_MISSED = 3
REGRABBED = 4
EARLY_BROKEN = 5
JUDGED = 6

_NEVER = math.inf


class Judge:
    """Judges one play of ``beatmap`` incrementally.

    :param beatmap: the map; with the Mirror mod its columns are flipped here.
    :param mods: mods of the play (windows, score multiplier, Mirror). Default none.

    Feed :meth:`press` and :meth:`release` in non-decreasing time order (all columns interleaved);
    each returns the judgements it caused, including notes that expired before it. :meth:`finish`
    judges what is left. :attr:`state` is the running :class:`GameState`; :attr:`results` every
    judgement so far. A play that fails (:attr:`failed_at_ms`) is judged no further.
    """

    def __init__(self, beatmap: Beatmap, mods: Mods = Mods.NONE) -> None:
        self.beatmap = beatmap.mirrored() if mods & Mods.MIRROR else beatmap
        self.mods = mods
        self.windows: HitWindows = hit_windows(beatmap.od, mods)
        bm = self.beatmap
        self._starts = bm.starts.tolist()
        self._ends = bm.ends.tolist()
        self._holds = (bm.ends > bm.starts).tolist()
        self._column_objects = [bm.column_objects(c).tolist() for c in range(bm.keys)]
        self._cursor = [0] * bm.keys
        self._status = [PENDING] * bm.n_objects
        self._head_error: list[int | None] = [None] * bm.n_objects
        self._grab_error: list[int] = [0] * bm.n_objects
        self._key_down = [False] * bm.keys
        self._lock_until = [-_NEVER] * bm.keys
        self._expiry = [self._expiry_of(c) for c in range(bm.keys)]
        self.processor = ScoreProcessor(bm.n_objects, bm.hp, mods)
        self.results: list[HitResult] = []
        self.time_ms = -_NEVER

    @property
    def state(self) -> GameState:
        return self.processor.state

    @property
    def failed_at_ms(self) -> int | None:
        """The millisecond at which health ran out (not with NoFail), or None while it has not."""
        state = self.processor.state
        return int(state.time_ms) if state.phase == Phase.FAILED else None

    def _stopped(self, time_ms: float) -> bool:
        """True when ``time_ms`` is past the fail: nothing is judged there."""
        state = self.processor.state
        return state.phase == Phase.FAILED and time_ms > state.time_ms

    @property
    def done(self) -> bool:
        """True once every object is judged."""
        return len(self.results) >= self.beatmap.n_objects

    def current_object(self, column: int) -> int:
        """Index (in :attr:`beatmap`'s arrays) of the first object of ``column`` not yet judged,
        or -1 when the column has none left. Everything before it in the column is judged (gone
        from the screen); a renderer's per-column cursor."""
        return self._current(column)

    def holding(self, column: int) -> bool:
        """True while the column's current object is a hold being held: its head (or a re-grab)
        was taken and the key is still down (a renderer pins its head to the judgement line)."""
        index = self._current(column)
        return index >= 0 and self._status[index] in (HELD, REGRABBED)

    def key_down(self, column: int) -> bool:
        """True while the column's key is down, as far as the judge was told."""
        return self._key_down[column]

    def _current(self, column: int) -> int:
        objects = self._column_objects[column]
        cursor = self._cursor[column]
        return objects[cursor] if cursor < len(objects) else -1

    def _expiry_of(self, column: int) -> float:
        """Time from which the column's current object can no longer be taken as it stands."""
        index = self._current(column)
        if index < 0:
            return _NEVER
        w = self.windows
        status = self._status[index]
        start, end = self._starts[index], self._ends[index]
        if not self._holds[index]:
            return start + w.ok
        if status == PENDING and not self._key_down[column]:
            return start + w.meh + 1
        if status == EARLY_BROKEN:
            return min(start + w.meh + 1, end - w.meh)
        return end + w.ok

    def _press_error(self, index: int) -> int:
        """Error of the press holding the hold (the head, or the re-grab), as stable judges it:
        one pressed earlier than ``-meh`` counts as pressed one ms before the tail."""
        regrabbed = self._status[index] == REGRABBED
        error = self._grab_error[index] if regrabbed else self._head_error[index] or 0
        if error < -self.windows.meh:
            return self._ends[index] - 1 - self._starts[index]
        return error

    def _emit(self, time_ms: int, column: int, index: int, judgement: Judgement) -> HitResult:
        result = HitResult(int(time_ms), column, index, judgement, self._head_error[index])
        self._status[index] = JUDGED
        if time_ms < self._starts[index]:
            self._lock_until[column] = self._starts[index]
        self._cursor[column] += 1
        self._expiry[column] = self._expiry_of(column)
        self.results.append(result)
        self.processor.apply(judgement, time_ms, index)
        return result

    def _drop(self, time_ms: int, column: int, index: int, status: int) -> None:
        """A hold let go (or whose head passed unpressed) before ``tail - meh``: combo break."""
        self._status[index] = status
        self._expiry[column] = self._expiry_of(column)
        self.processor.break_combo(time_ms, index)

    def _expire(self, column: int, out: list[HitResult]) -> None:
        index = self._current(column)
        time_ms = int(self._expiry[column])
        status = self._status[index]
        end_window = self._ends[index] - self.windows.meh
        if status in (HELD, REGRABBED):
            judgement = self.windows.overhold_judgement(self._press_error(index))
            if status == REGRABBED:
                judgement = max(judgement, Judgement.GOOD)
            out.append(self._emit(time_ms, column, index, judgement))
        elif status in (PENDING, EARLY_BROKEN) and self._holds[index] and time_ms < end_window:
            if status == PENDING:
                self._drop(time_ms, column, index, HEAD_MISSED)
            else:
                self._status[index] = BROKEN
                self._expiry[column] = self._expiry_of(column)
        else:
            out.append(self._emit(time_ms, column, index, Judgement.MISS))

    def advance(self, time_ms: float) -> list[HitResult]:
        """Judge every object whose window closed at or before ``time_ms``, in time order."""
        out: list[HitResult] = []
        expiry = self._expiry
        while True:
            column = min(range(len(expiry)), key=expiry.__getitem__)
            due = expiry[column]
            if due > time_ms or due == _NEVER or self._stopped(due):
                break
            self._expire(column, out)
        self.time_ms = max(self.time_ms, time_ms)
        return out

    def press(self, time_ms: int, column: int) -> list[HitResult]:
        """A key-down in ``column`` at ``time_ms`` (inputs before 0 count as 0)."""
        time_ms = max(0, int(time_ms))
        out = self.advance(time_ms)
        if self._key_down[column] or self._stopped(time_ms):
            return out
        self._key_down[column] = True
        index = self._current(column)
        if index < 0:
            return out
        error = time_ms - self._starts[index]
        status = self._status[index]
        if time_ms < self._lock_until[column] or error < -self.windows.miss:
            self._expiry[column] = self._expiry_of(column)
            return out
        if not self._holds[index]:
            judgement = self.windows.tap_judgement(error)
            if judgement is not None:
                self._head_error[index] = error
                out.append(self._emit(time_ms, column, index, judgement))
            return out
        if status == PENDING:
            self._head_error[index] = error
            self._status[index] = HELD
        else:
            self._grab_error[index] = error
            self._status[index] = REGRABBED
        self._expiry[column] = self._expiry_of(column)
        return out

    def release(self, time_ms: int, column: int) -> list[HitResult]:
        """A key-up in ``column`` at ``time_ms``."""
        time_ms = max(0, int(time_ms))
        out = self.advance(time_ms)
        if not self._key_down[column] or self._stopped(time_ms):
            return out
        self._key_down[column] = False
        index = self._current(column)
        if index < 0 or not self._holds[index]:
            return out
        status = self._status[index]
        start, end, w = self._starts[index], self._ends[index], self.windows
        if status == PENDING:
            # Held across the head without a press: stable checks the hold once the key is up.
            if time_ms < start + w.meh:
                self._expiry[column] = self._expiry_of(column)
            elif time_ms < end - w.meh:
                self._drop(time_ms, column, index, HEAD_MISSED)
            else:
                out.append(self._emit(time_ms, column, index, Judgement.MISS))
        elif status in (HELD, REGRABBED):
            if time_ms < end - w.meh:
                dropped = BROKEN if time_ms > start + w.meh else EARLY_BROKEN
                self._drop(time_ms, column, index, dropped)
                return out
            judgement = w.hold_judgement(self._press_error(index), time_ms - end)
            if status == REGRABBED:
                judgement = max(judgement, Judgement.GOOD)
            out.append(self._emit(time_ms, column, index, judgement))
        return out

    def feed(self, event: KeyEvent) -> list[HitResult]:
        """Apply one key event."""
        if event.down:
            return self.press(event.time_ms, event.column)
        return self.release(event.time_ms, event.column)

    def finish(self) -> list[HitResult]:
        """Judge everything left, as if the play ran to its end with no more input (up to the
        fail, if it fails)."""
        return self.advance(_NEVER)


class JudgedPlay(NamedTuple):
    """The outcome of judging a whole play: judgements up to its end or its fail, the final
    state, and the millisecond at which it failed (None when it did not)."""

    results: list[HitResult]
    state: GameState
    failed_at_ms: int | None


def judge_play(beatmap: Beatmap, events: Iterable[KeyEvent], mods: Mods = Mods.NONE) -> JudgedPlay:
    """Judge a whole play: key events in time order, then everything left, up to the fail
    (health 0 without NoFail) if it fails.

    :param beatmap: the map (unflipped; Mirror in ``mods`` flips it).
    :param events: key events sorted by time.
    :param mods: mods of the play. Default none.
    """
    judge = Judge(beatmap, mods)
    for event in events:
        judge.feed(event)
    judge.finish()
    return JudgedPlay(judge.results, judge.state, judge.failed_at_ms)


def counts_of(results: Iterable[HitResult]) -> np.ndarray:
    """Counts in :class:`Judgement` order."""
    counts = np.zeros(6, dtype=np.int64)
    for result in results:
        counts[result.judgement] += 1
    return counts
