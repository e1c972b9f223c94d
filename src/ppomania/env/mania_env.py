"""``ManiaEnv``: one play at a time as a gymnasium ``Env`` (registered as ``ppomania/Mania-v0``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from ppomania.env.reward import RewardConfig
from ppomania.env.vec_env import ManiaVecEnv, MapSampler
from ppomania.game.beatmap import Beatmap
from ppomania.sim.core import SimConfig
from ppomania.sim.render import HighwayGeometry


class ManiaEnv(gym.Env):
    """A single play of osu!mania in the simulator.

    The same game, spaces, rewards and episode end as :class:`ManiaVecEnv` (which it runs with one
    env), with gymnasium's API: ``reset(seed=…)`` returns ``(obs, info)``, ``step`` returns
    ``(obs, reward, terminated, truncated, info)`` and does not reset by itself.

    ## Arguments
    :param maps: beatmaps with one key count; default one generated 4K map.
    :param sim_config, reward_config, geometry, action_space, map_sampler: as for
        :class:`ManiaVecEnv`.
    :param render_mode: ``"rgb_array"`` returns the newest frame as ``(H, W, 3)``. Default None.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}

    def __init__(
        self,
        maps: Sequence[Beatmap] | None = None,
        sim_config: SimConfig | None = None,
        reward_config: RewardConfig | None = None,
        geometry: HighwayGeometry | None = None,
        action_space: str = "multibinary",
        map_sampler: MapSampler | None = None,
        render_mode: str | None = None,
    ) -> None:
        if maps is None:
            from ppomania.sim.patterns import PatternConfig, generate_map

            maps = [generate_map(PatternConfig(duration_s=30.0), seed=0)]
        self.vec = ManiaVecEnv(
            maps, 1, sim_config, reward_config, geometry, action_space, map_sampler
        )
        self.observation_space = self.vec.observation_space
        self.action_space = self.vec.action_space
        self.render_mode = render_mode
        self._obs: np.ndarray | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.vec.seed(seed)
        self._obs = self.vec.reset()[0].copy()
        return self._obs, {"map": int(self.vec.sim.map_ids[0])}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        obs, rewards, dones, infos = self.vec.step(np.asarray(action)[None, ...])
        info = infos[0]
        if dones[0]:
            self._obs = info.pop("terminal_observation")
            info.pop("TimeLimit.truncated", None)
        else:
            self._obs = obs[0].copy()
        return self._obs, float(rewards[0]), bool(dones[0]), False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self._obs is None:
            return None
        return np.repeat(self._obs[-1][:, :, None], 3, axis=2)
