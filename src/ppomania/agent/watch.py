"""Watch a policy play one map in the simulator, live in a :class:`VisualizationWindow`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ppomania.agent.evaluate import PlayResult, Policy, play_maps
from ppomania.agent.window import JudgementFeed, RateMeter, VisualizationWindow
from ppomania.env.reward import RewardConfig
from ppomania.env.spaces import default_geometry
from ppomania.game.beatmap import Beatmap
from ppomania.game.score import GameState
from ppomania.sim.core import BatchedSim, SimConfig
from ppomania.sim.render import HighwayGeometry

#: ``obs (4, H, W) -> (key_probs (K,), value)``, e.g. :func:`~ppomania.agent.window.policy_outputs`.
Outputs = Callable[[np.ndarray], tuple[np.ndarray, float]]

# Behind real time by more than this, pacing starts afresh instead of rushing to catch up.
_MAX_LAG_S = 0.25


@dataclass
class WatchResult:
    """How a watched play went.

    ``play`` is the judged play, None when it was stopped early (``stopped`` says why: ``"closed"``
    or ``"time limit"``); ``state`` is the last game state either way. ``wall_s`` runs from the
    first step to the end; ``draw_fps`` and ``draw_ms`` are the window's rate and cost per draw.
    """

    play: PlayResult | None
    state: GameState
    stopped: str | None
    steps: int
    wall_s: float
    draws: int
    draw_fps: float
    draw_ms: float


class _Stop(Exception):
    """Raised inside ``on_step`` to leave :func:`play_maps` early."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def watch(
    beatmap: Beatmap,
    policy: Policy,
    window: VisualizationWindow,
    outputs: Outputs | None = None,
    sim_config: SimConfig | None = None,
    geometry: HighwayGeometry | None = None,
    speed: float = 1.0,
    seconds: float | None = None,
    reward_config: RewardConfig | None = None,
) -> WatchResult:
    """Play ``beatmap`` once with ``policy``, showing every step in ``window``.

    :param outputs: press probabilities and value for the window (computed only when it draws);
        None shows none.
    :param sim_config: timing and mods. Default ``SimConfig()``.
    :param geometry: the policy's observation geometry (the window's frame shape). Default
        :func:`~ppomania.env.spaces.default_geometry` of the map's keys.
    :param speed: real time × ``speed``; 0 runs as fast as possible. Default 1.
    :param seconds: stop after this much wall time. Default None (play to the end).
    :param reward_config: the reward shown. Default ``RewardConfig()``.
    """
    if speed < 0:
        raise ValueError(f"speed must be >= 0, got {speed}")
    config = sim_config or SimConfig()
    geometry = geometry or default_geometry(beatmap.keys)
    if window.frame_shape != geometry.shape:
        raise ValueError(
            f"the window shows {window.frame_shape} frames, the policy sees {geometry.shape}"
        )
    rewards = reward_config or RewardConfig()
    step_s = 1.0 / (config.control_hz * speed) if speed > 0 else 0.0
    meter = RateMeter()
    start = first_step = pace_origin = time.perf_counter()
    steps = 0
    feed: JudgementFeed | None = None
    episode_reward = 0.0
    prev_counts = np.zeros((1, 6), dtype=np.int64)
    prev_combo = np.zeros(1, dtype=np.int64)
    prev_score = np.zeros(1, dtype=np.int64)
    last_state = GameState()
    # The policy's outputs are computed only for drawn frames; the last ones stay on show.
    shown_outputs: tuple[np.ndarray | None, float | None] = (None, None)

    def on_step(sim: BatchedSim, obs: np.ndarray, held: np.ndarray) -> None:
        nonlocal feed, steps, episode_reward, last_state, pace_origin, first_step, shown_outputs
        if feed is None:  # play_maps makes the sim: the first step is the first chance
            feed = JudgementFeed(sim, keep=8)
            first_step = pace_origin = time.perf_counter()  # after the sim's setup
        feed.poll()
        s = sim.state
        reward = float(
            rewards.batched(
                prev_counts, s.counts[:1], prev_combo, s.combo[:1], prev_score, s.score[:1],
                sim.ghost[:1], held[:1].sum(axis=1),
            )[0]
        )  # fmt: skip
        np.copyto(prev_counts, s.counts[:1])
        np.copyto(prev_combo, s.combo[:1])
        np.copyto(prev_score, s.score[:1])
        episode_reward += reward
        steps += 1
        rate = meter.tick()
        last_state = sim.game_state(0)
        if outputs is not None and window.ready():
            shown_outputs = outputs(obs[0])
        if not window.update(
            obs[0], shown_outputs[0], held[0], shown_outputs[1], last_state, list(feed.recent), reward,
            episode_reward, rate,
        ):  # fmt: skip
            raise _Stop("closed")
        now = time.perf_counter()
        if seconds is not None and now - start >= seconds:
            raise _Stop("time limit")
        if step_s:
            delay = pace_origin + steps * step_s - now
            if delay > 0:
                time.sleep(delay)
            elif delay < -_MAX_LAG_S:
                pace_origin = now - steps * step_s

    play: PlayResult | None = None
    stopped: str | None = None
    try:
        (play,) = play_maps([beatmap], policy, config, geometry, on_step=on_step)
    except _Stop as stop:
        stopped = stop.reason
    window.flush()
    return WatchResult(
        play=play,
        state=last_state,
        stopped=stopped,
        steps=steps,
        wall_s=time.perf_counter() - first_step,
        draws=window.draw_count,
        draw_fps=window.draw_fps,
        draw_ms=1000 * window.draw_seconds / max(1, window.draw_count),
    )
