"""``LiveJudging``: our own judge of a live play, fed with the keys the agent sends, and its
reconciliation with the game's own judgements from the state server.

Our judge gives the reward at once; the game's counts arrive 100–300 ms late. So every key change
is judged at the landing clock and our counts after it are kept with that time; a game state is
compared with our counts at *its* time (``count_diff``), and the largest difference during the
episode and the final one are reported at its end. The game's hit errors, paired in order with
ours for the same presses, give the clock correction: the median of the last ``offset_window``
total offsets.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from ppomania.game.beatmap import Beatmap
from ppomania.game.judge import HitResult, Judge, KeyEvent
from ppomania.game.score import Phase
from ppomania.live.state_client import LiveState


class LiveJudging:
    """Our judge of one play at a time, and its agreement with the game's.

    :param beatmap: the first play's map (:meth:`start` begins each later play).
    :param offset_window: hit-error pairs in the clock correction's median (0 = no correction).
    """

    def __init__(self, beatmap: Beatmap, offset_window: int = 16) -> None:
        self._offset_pairs: deque[float] = deque(maxlen=max(1, offset_window))
        self._use_hit_errors = offset_window > 0
        #: Game ms to add to the clock so that our hit errors match the game's (kept across plays).
        self.correction_ms = 0.0
        self.start(beatmap)

    def start(self, beatmap: Beatmap) -> None:
        """Begin a play of ``beatmap``: a fresh judge, no key events, nothing paired."""
        #: Our judge of the current play.
        self.judge = Judge(beatmap)
        self._events: list[KeyEvent] = []
        self._our_errors: list[int] = []
        self._paired = 0
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=512)
        self._max_diff = np.zeros(6, dtype=np.int64)

    def keys(self, t: float, pressed: np.ndarray, released: np.ndarray) -> int:
        """Judge the key changes sent at landing clock ``t`` (ms); return the presses that hit
        nothing (ghost taps)."""
        judge, ghosts = self.judge, 0
        tm = round(t)
        # What expired before now is the game's own doing (no hit error reported), as in a game
        # loop that advances its judge every frame.
        judge.advance(tm - 1)
        for column in released:
            self._events.append(KeyEvent(tm, int(column), False))
            self._note(judge.release(tm, int(column)))
        for column in pressed:
            c = int(column)
            self._events.append(KeyEvent(tm, c, True))
            results = judge.press(tm, c)
            self._note(results)
            if not any(r.column == c and r.hit_error_ms is not None for r in results):
                ghosts += not judge.holding(c)
        judge.advance(t)
        self._history.append((t, judge.state.counts.copy()))
        return ghosts

    def _note(self, results: list[HitResult]) -> None:
        self._our_errors.extend(r.hit_error_ms for r in results if r.hit_error_ms is not None)

    def update_correction(self, live: LiveState) -> None:
        """Pair the game's hit errors with ours (in order); the clock correction is the median of
        the last ``offset_window`` pairs' total offsets (robust to a mismatched pair)."""
        if not self._use_hit_errors:
            return
        theirs = live.hit_errors
        n = min(len(theirs), len(self._our_errors))
        for i in range(self._paired, n):
            self._offset_pairs.append(self.correction_ms + theirs[i] - self._our_errors[i])
        if n > self._paired:
            self._paired = n
            self.correction_ms = float(np.median(self._offset_pairs))

    def reconcile(self, live: LiveState) -> dict[str, Any]:
        """Our counts at the game state's time minus the game's counts (``count_diff``), with
        both states and the clock correction."""
        game_t = live.state.time_ms
        ours = np.zeros(6, dtype=np.int64)
        for t, counts in self._history:
            if t > game_t:
                break
            ours = counts
        diff = ours - live.state.counts
        self._max_diff = np.maximum(self._max_diff, np.abs(diff))
        return {
            "game_state": live.state,
            "judge_state": self.judge.state,
            "count_diff": diff,
            "clock_correction_ms": self.correction_ms,
        }

    def summary(self, live: LiveState) -> dict[str, Any]:
        """End of the play: final counts of both judges, their disagreement, our key events and
        judgements (on the results screen our judge first judges what is left)."""
        if live.state.phase == Phase.RESULTS:
            self.judge.finish()
        game = live.state.counts
        ours = self.judge.state.counts
        return {
            "game_counts": game.copy(),
            "judge_counts": ours.copy(),
            "judge_disagreement": {
                "final_diff": (ours - game).tolist(),
                "max_abs_diff_during": self._max_diff.tolist(),
                "clock_correction_ms": round(self.correction_ms, 2),
            },
            "events": list(self._events),
            "results": list(self.judge.results),
        }
