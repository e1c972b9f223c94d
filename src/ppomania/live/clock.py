"""The game's clock: map time now, filtered from the state documents' readings (:class:`GameClock`)."""

from __future__ import annotations

import time
from collections import deque

from ppomania.game.score import Phase
from ppomania.live.state_client import LiveState


class GameClock:
    """The game's map time from the state documents, filtered.

    A document's map time was sampled some time before it arrived (tosu: by its precise reader,
    0…``PRECISE_DATA_POLL_RATE`` ms earlier; gosumemory: with everything else). While the clock
    runs (PLAYING), ``time - rate * received_at`` is the clock's offset minus that staleness, so
    the largest value among the last ``window`` documents is the freshest reading; the expected
    staleness left (tosu: the precise period over ``n + 1``; gosumemory: half its period) is added.
    Outside a play, after a new episode, or when a reading jumps by more than ``jump_ms``, the
    filter starts over; without readings it falls back to ``LiveState.map_time_ms``.
    """

    def __init__(self, window: int = 8, jump_ms: float = 100.0) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self.jump_ms = jump_ms
        self._seq = -1
        self._episode = -1

    def _update(self, live: LiveState) -> None:
        if live.seq == self._seq:
            return
        self._seq = live.seq
        samples = self._samples
        if live.state.phase != Phase.PLAYING or live.episode != self._episode:
            samples.clear()
            self._episode = live.episode
            if live.state.phase != Phase.PLAYING:
                return
        value = live.state.time_ms - 1000 * live.rate * live.received_at
        if samples and abs(value - max(samples)) > self.jump_ms:
            samples.clear()
        samples.append(value)

    def time_ms(
        self, live: LiveState, server: str | None = None, now: float | None = None
    ) -> float:
        """Map time at monotonic ``now`` (default: now)."""
        self._update(live)
        if not self._samples or live.state.phase != Phase.PLAYING:
            return live.map_time_ms(now)
        now = time.monotonic() if now is None else now
        if server == "tosu" and live.precise_interval_ms is not None:
            stale = live.precise_interval_ms / (len(self._samples) + 1)
        else:
            stale = (live.interval_ms or 0.0) / 2
        return max(self._samples) + 1000 * live.rate * now + stale
