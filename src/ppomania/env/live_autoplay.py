"""``LiveAutoplay``: a perfect-timing player for :class:`~ppomania.env.live_env.LiveManiaEnv`
that reads the map and the env's landing clock (never the screen), for ``ppomania play --policy
autoplay``, ``ppomania bench live`` and the live tests."""

from __future__ import annotations

import numpy as np

from ppomania.env.live_env import LiveManiaEnv
from ppomania.game.beatmap import Beatmap


class LiveAutoplay:
    """Autoplay on the game clock, robust to late steps: each note is pressed at the first step
    whose action lands at or after ``start - step/2`` (even when a late step overshoots its window,
    so no note is skipped), taps are released at the next step, holds at ``end - step/2``. Knows
    nothing of the screen. Call it as ``policy(env) -> action``.

    :param input_latency_ms: added to the landing time (default 0).
    """

    def __init__(self, input_latency_ms: float = 0.0) -> None:
        self.input_latency_ms = input_latency_ms
        self._env: LiveManiaEnv | None = None
        self._episode = -1
        self._beatmap: Beatmap | None = None

    def _restart(self, env: LiveManiaEnv) -> None:
        self._env, self._episode, self._beatmap = env, env.episode, env.beatmap
        keys = env.beatmap.keys
        self._next = [0] * keys  # index into each column's objects of the next note to press
        self._release_at = [-np.inf] * keys
        self._columns = [env.beatmap.column_objects(c) for c in range(keys)]

    def __call__(self, env: LiveManiaEnv) -> np.ndarray:
        if env is not self._env or env.episode != self._episode or env.beatmap is not self._beatmap:
            self._restart(env)
        half = 500 * env.period_s
        t = env.action_time_ms() + self.input_latency_ms
        starts, ends = env.beatmap.starts, env.beatmap.ends
        held = np.zeros((1, env.beatmap.keys), dtype=np.bool_)
        for c, objects in enumerate(self._columns):
            if t < self._release_at[c]:
                held[0, c] = True
                continue
            if self._release_at[c] > -np.inf:  # released this step
                self._release_at[c] = -np.inf
                continue
            while (
                self._next[c] < len(objects) and starts[objects[self._next[c]]] + 2 * half < t - 200
            ):
                self._next[c] += 1  # far behind (e.g. after a pause): skip
            if self._next[c] < len(objects):
                index = objects[self._next[c]]
                if t >= starts[index] - half:
                    self._next[c] += 1
                    hold = ends[index] > starts[index]
                    self._release_at[c] = max(ends[index] - half, t + 1) if hold else t + 1
                    held[0, c] = True
        return env.codec.encode(held)[0]
