"""The phase of a play from a sequence of gosumemory/tosu documents (``specs/game-state-api.md``
§7).

One document gives only osu!'s state code; pauses, fails (stable has no state for either, so v1
documents never say), retries and a stuck memory reader show only in how the values move from one
document to the next. :class:`PhaseTracker` folds in the parsed documents one by one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ppomania.game.rules import Mods
from ppomania.game.score import GameState, Phase
from ppomania.protocol.snapshot import STATE_PLAY, STATE_RESULTS, GameSnapshot


@dataclass(frozen=True)
class Verdict:
    """What :meth:`PhaseTracker.update` concludes from one document."""

    phase: Phase
    episode: int
    new_episode: bool
    stale: bool


class PhaseTracker:
    """Phases from a sequence of documents (spec §7), for every server flavor.

    - MENU / RESULTS: state code other than 2 / state 7.
    - New episode: state 2 entered, or a retry in state 2: map time drops by more than
      ``retry_drop_ms`` or score, combo and counts fall to 0. A retry seen by one of the two signals
      alone waits up to ``retry_window_s`` for the other, which then belongs to the same retry (tosu
      delivers the time jump and the zeroed counters up to two polls apart, gosumemory may show the
      zeroed play before the clock jumps).
    - PAUSED: map time unchanged for ``pause_frames`` documents in a row, or tosu v2's
      ``game.paused``.
    - FAILED (until the next episode): tosu v2's ``play.failed``, or HP 0 with at least one
      judgement for ``fail_frames`` documents in a row (not with NoFail; a single 0 right after a
      retry is the tools' reset, not a fail).
    - stale: playing, map time past the first object, and no counter moved for ``stale_after_ms``.
    """

    def __init__(
        self,
        pause_frames: int = 2,
        fail_frames: int = 2,
        retry_drop_ms: float = 500.0,
        retry_window_s: float = 1.0,
        stale_after_ms: float = 5000.0,
    ) -> None:
        self.pause_frames = pause_frames
        self.fail_frames = fail_frames
        self.retry_drop_ms = retry_drop_ms
        self.retry_window_s = retry_window_s
        self.stale_after_ms = stale_after_ms
        self.episode = 0
        self._prev: GameState | None = None
        self._awaiting: str | None = None  # the retry signal still to come: "drop" or "reset"
        self._awaiting_until = -math.inf
        self._frozen = 0
        self._low_hp = 0
        self._failed = False
        self._still_since_ms = 0.0

    def reset(self) -> None:
        """Forget the play in progress (the game closed): the next state 2 is a new episode."""
        self._prev = None

    def update(self, snap: GameSnapshot, now: float) -> Verdict:
        """Fold in one v1/v2 document received at ``now`` (monotonic seconds)."""
        s, prev = snap.state, self._prev
        if snap.state_code != STATE_PLAY:
            self._prev = None
            phase = Phase.RESULTS if snap.state_code == STATE_RESULTS else Phase.MENU
            return Verdict(phase, self.episode, False, False)
        new = prev is None or self._retried(prev, s, now)
        if new:
            self.episode += 1
            self._low_hp = 0
            self._failed = False
        self._frozen = self._frozen + 1 if prev is not None and s.time_ms == prev.time_ms else 0
        can_fail = s.hp <= 0 and s.n_judged > 0 and not snap.mods & Mods.NO_FAIL
        self._low_hp = self._low_hp + 1 if can_fail else 0
        self._failed |= s.phase == Phase.FAILED or self._low_hp >= self.fail_frames
        if new or prev is None or _counters(s) != _counters(prev):
            self._still_since_ms = s.time_ms
        self._prev = s
        if self._failed:
            phase = Phase.FAILED
        elif s.phase == Phase.PAUSED or self._frozen >= self.pause_frames:
            phase = Phase.PAUSED
        else:
            phase = Phase.PLAYING
        still_from = max(self._still_since_ms, float(snap.beatmap.first_object_ms), 0.0)
        stale = phase == Phase.PLAYING and s.time_ms - still_from >= self.stale_after_ms
        return Verdict(phase, self.episode, new, stale)

    def _retried(self, prev: GameState, s: GameState, now: float) -> bool:
        dropped = s.time_ms < prev.time_ms - self.retry_drop_ms
        reset = _moved(prev) and not _moved(s)
        if not (dropped or reset):
            return False
        awaited = dropped if self._awaiting == "drop" else reset
        if self._awaiting and now <= self._awaiting_until and awaited and not (dropped and reset):
            self._awaiting = None  # the second signal of the last retry
            return False
        if dropped and _moved(s):
            self._awaiting = "reset"
        elif reset and not dropped:
            self._awaiting = "drop"
        else:
            self._awaiting = None
        self._awaiting_until = now + self.retry_window_s
        return True


def _counters(s: GameState) -> tuple[int, int, int]:
    return int(s.score), int(s.combo), s.n_judged


def _moved(s: GameState) -> bool:
    return any(_counters(s))
