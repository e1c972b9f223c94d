"""``LiveView``: the live play in a :class:`~ppomania.agent.window.VisualizationWindow`
(``ppomania play --show``): the frames the agent gets, its key probabilities and held keys, and
the game's own stats.

The control loop calls :meth:`LiveView.show` after every step. It draws at most ``fps`` times a
second and only when the env's next tick is far enough away for a draw to fit (the drawing cost is
measured: 1.5 times the median of the recent draws plus 2 ms is the budget), so the window takes
only the loop's idle time; between draws it costs a clock read.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np

from ppomania.agent.window import RateMeter, VisualizationWindow
from ppomania.env.live_env import LiveManiaEnv
from ppomania.live.focus import focus_kept

#: Probabilities and value of the policy for one observation (None: no model).
Outputs = Callable[[np.ndarray], tuple[np.ndarray, float]]

#: Seconds kept free before the next tick beyond the expected draw time.
MARGIN_S = 0.002
#: Seconds between two looks at the window's events while draws are skipped.
POLL_S = 0.25


class LiveView:
    """Shows a :class:`LiveManiaEnv`'s play in a window.

    :param env: the live env (its keys and frame shape size the window).
    :param outputs: the policy's press probabilities and value, computed only for a draw; None
        (autoplay) shows none.
    :param fps: most draws per second (default 30).
    :param title: the window's caption.
    """

    def __init__(
        self,
        env: LiveManiaEnv,
        outputs: Outputs | None = None,
        fps: float = 30.0,
        title: str = "ppomania play",
    ) -> None:
        self.env = env
        self.outputs = outputs
        with focus_kept():  # the game's window keeps the keys the agent sends
            self.window = VisualizationWindow(env.codec.keys, env.geometry.shape, title, fps)
        self._meter = RateMeter()
        self._episode_reward = 0.0
        self._costs: deque[float] = deque(maxlen=30)
        self._next_poll = 0.0
        #: Draws skipped for want of time before the next tick.
        self.skipped = 0
        #: Seconds spent in :meth:`show` when it drew (policy outputs and drawing).
        self.costs: list[float] = []

    def new_play(self) -> None:
        """A new episode starts: its reward sum starts at 0."""
        self._episode_reward = 0.0

    def show(self, obs: np.ndarray, reward: float) -> bool:
        """Show the step just taken (``obs`` ``(4, H, W)``, its ``reward``) if a draw is due and
        fits before the next tick. :returns: False once the window was closed (or Esc)."""
        self._episode_reward += reward
        rate = self._meter.tick()
        window = self.window
        if window.closed:
            return False
        if not window.ready():
            return True
        # the median recent draw, with room: one slow draw (the first, a collection) must not
        # stop the drawing for good
        budget = 1.5 * (float(np.median(self._costs)) if self._costs else 0.004) + MARGIN_S
        slack = self.env.slack_s()
        if slack < budget:
            self.skipped += 1
            now = time.perf_counter()
            if slack > MARGIN_S and now >= self._next_poll:  # the close button still works
                self._next_poll = now + POLL_S
                return window.poll()
            return True
        start = time.perf_counter()
        env = self.env
        probs, value = self.outputs(obs) if self.outputs is not None else (None, None)
        live = env.last_live
        drawn = window.draw_count
        open_ = window.update(
            obs, probs, env.keys.held.copy(), value, live.state, env.judging.judge.results[-8:],
            reward, self._episode_reward, rate, 1000 * live.age_s(),
        )  # fmt: skip
        if window.draw_count > drawn:
            cost = time.perf_counter() - start
            if self.costs:  # the first draw renders every label: not a typical one
                self._costs.append(cost)
            self.costs.append(cost)
        return open_

    def summary(self) -> str:
        """One line: draws, their cost and the draws skipped."""
        costs = np.asarray(self.costs) * 1000
        if not len(costs):
            return f"window: no draws ({self.skipped} skipped for the loop's deadline)"
        return (
            f"window: {len(costs)} draws, {costs.mean():.2f} ms mean, "
            f"{np.percentile(costs, 95):.2f} ms p95, {costs.max():.2f} ms max per draw; "
            f"{self.skipped} skipped for the loop's deadline"
        )

    def close(self) -> None:
        self.window.close()
