"""``ManiaVecEnv``: an SB3 ``VecEnv`` over the batched simulator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from ppomania.env.reward import RewardConfig
from ppomania.env.spaces import ActionCodec, default_geometry, observation_space
from ppomania.game.beatmap import Beatmap
from ppomania.sim.core import BatchedSim, SimConfig
from ppomania.sim.maps import MapPool
from ppomania.sim.render import FrameStack, HighwayGeometry


class MapSampler(Protocol):
    """Picks the map of each new episode: ``sampler(rng, n)`` returns ``n`` indices into the env's
    maps. Any such callable will do (e.g. a lambda)."""

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray: ...


class PoolSampler:
    """A :class:`MapSampler` over a :class:`~ppomania.sim.maps.MapPool` that follows training
    progress: the trainer reports how far it is with :meth:`report_progress`, and a curriculum
    pool widens from its easiest maps accordingly. Give the env ``pool.maps`` so the ids match.

    :param pool: the maps and their curriculum.
    """

    def __init__(self, pool: MapPool) -> None:
        self.pool = pool
        self._progress = 1.0  # the whole pool until training reports where it is

    def report_progress(self, fraction: float) -> None:
        """Training is ``fraction`` (0 to 1) done: episodes from now on draw at that progress."""
        self._progress = fraction

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.pool.sample(rng, n, self._progress)


class ManiaVecEnv(VecEnv):
    """``n_envs`` plays of osu!mania in the batched simulator, with SB3's VecEnv semantics.

    ## Description
    Each env plays one map from ``maps`` (a new one, drawn by ``map_sampler``, at every episode)
    against osu!stable's rules. The agent sees the note highway and holds or releases each key.

    ## Action Space
    ``MultiBinary(K)`` (default): key ``k`` held (1) or released (0) during the step; a 0→1 change
    is a press, 1→0 a release. ``Discrete(2**K)`` with ``action_space="discrete"``: bit ``k`` of
    the action is key ``k``.

    ## Observation Space
    ``Box(0, 255, (4, H, W), uint8)``: the 4 most recent highway frames, oldest first (zeros before
    the episode's first frame). Default ``(4, 48, 4 * K)``: :func:`default_geometry`.

    ## Rewards
    :class:`RewardConfig`: per new judgement (MAX 1.0 … miss -1.0), ghost presses -0.05, combo
    break -0.5, with optional combo, score and idle terms. With ``SimConfig.reader_refresh_ms``
    set, judgements, combo and score come from the emulated memory reader (refreshed every
    ``reader_refresh_ms``, ``reader_delay_ms`` late), as in the old project's live setup.

    ## Episode End
    Terminated when every object is judged and the last window has passed, or when health reaches
    0 (fail). Never truncated: a map always ends. ``info`` of the last step holds ``terminal_observation``
    and ``play``: ``{"map", "counts", "accuracy", "score", "max_combo", "failed"}``.

    ## Arguments
    :param maps: beatmaps with one key count.
    :param n_envs: plays stepped together. Default 16.
    :param sim_config: timing, latency and mods. Default ``SimConfig()``.
    :param reward_config: reward weights. Default ``RewardConfig()``.
    :param geometry: frame shape and scroll speed. Default :func:`default_geometry`.
    :param action_space: ``"multibinary"`` (default) or ``"discrete"``.
    :param map_sampler: a :class:`MapSampler` choosing the maps of new episodes (e.g. a
        :class:`PoolSampler`, which follows training progress); default uniform.
    :param seed: seeds map choice and jitter. Default 0.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        maps: Sequence[Beatmap],
        n_envs: int = 16,
        sim_config: SimConfig | None = None,
        reward_config: RewardConfig | None = None,
        geometry: HighwayGeometry | None = None,
        action_space: str = "multibinary",
        map_sampler: MapSampler | None = None,
        seed: int = 0,
    ) -> None:
        keys = maps[0].keys
        geometry = geometry or default_geometry(keys)
        self.sim = BatchedSim(maps, n_envs, sim_config, geometry, seed=seed)
        self.reward_config = reward_config or RewardConfig()
        self.codec = ActionCodec(keys, action_space)
        self.map_sampler = map_sampler or _uniform_sampler(len(maps))
        self.render_mode = "rgb_array"
        self.keys = keys
        super().__init__(n_envs, observation_space(geometry), self.codec.space)
        self._rng = np.random.default_rng(seed)
        self._seeds: list[int | None] = [None] * n_envs
        self._stack = FrameStack(n_envs, geometry.shape)
        self._fresh = np.empty((n_envs, *geometry.shape), dtype=np.uint8)
        self._actions: np.ndarray | None = None
        self._prev_counts = np.zeros((n_envs, 6), dtype=np.int64)
        self._prev_combo = np.zeros(n_envs, dtype=np.int64)
        self._prev_score = np.zeros(n_envs, dtype=np.int64)
        self.episode_rewards = np.zeros(n_envs, dtype=np.float64)

    # -- VecEnv API ---------------------------------------------------------------------------

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**31)
        self._seeds = [seed + i for i in range(self.num_envs)]
        return self._seeds

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
            self.sim.rng = np.random.default_rng(self._seeds[0] + 1)
            self._seeds = [None] * self.num_envs
        all_envs = np.arange(self.num_envs)
        self._start(all_envs)
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return self._stack.stack

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async must come first"
        sim = self.sim
        held = self.codec.decode(self._actions)
        counts, combo, score = self._rewarded_state()
        np.copyto(self._prev_counts, counts)
        np.copyto(self._prev_combo, combo)
        np.copyto(self._prev_score, score)
        sim.step(held)
        counts, combo, score = self._rewarded_state()
        rewards = self.reward_config.batched(
            self._prev_counts,
            counts,
            self._prev_combo,
            combo,
            self._prev_score,
            score,
            sim.ghost,
            held.sum(axis=1),
        )
        self.episode_rewards += rewards
        sim.render(self._stack.advance())
        dones = sim.done.copy()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        finished = np.flatnonzero(dones)
        if finished.size:
            accuracy = sim.accuracy()
            obs = self._stack.stack
            for env in finished.tolist():
                infos[env] = {
                    "terminal_observation": obs[env].copy(),
                    "TimeLimit.truncated": False,
                    "play": self.play_summary(env, accuracy[env]),
                }
            self._start(finished)
        return self._stack.stack, rewards, dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        return list(self._stack.stack[:, -1])

    # -- helpers ------------------------------------------------------------------------------

    def play_summary(self, env: int, accuracy: float | None = None) -> dict[str, Any]:
        """The finished (or current) play of ``env``: map, counts, accuracy, score, max combo."""
        state = self.sim.state
        if accuracy is None:
            accuracy = float(self.sim.accuracy()[env])
        return {
            "map": int(self.sim.map_ids[env]),
            "counts": state.counts[env].copy(),
            "accuracy": float(accuracy),
            "score": int(state.score[env]),
            "max_combo": int(state.max_combo[env]),
            "failed": bool(state.failed[env]),
            "reward": float(self.episode_rewards[env]),
        }

    def _rewarded_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Counts, combo and score the reward sees: exact, or the emulated memory reader's."""
        if self.sim.config.reader_refresh_ms > 0:
            shown = self.sim.reported()
            return shown["counts"], shown["combo"], shown["score"]
        state = self.sim.state
        return state.counts, state.combo, state.score

    def _start(self, envs: np.ndarray) -> None:
        """Begin new episodes in ``envs`` and put their first frame into a zeroed stack."""
        maps = self.map_sampler(self._rng, len(envs))
        self.sim.reset(envs, maps)
        self.episode_rewards[envs] = 0.0
        self.sim.render(self._fresh)
        self._stack.reset(envs, self._fresh[envs])


def _uniform_sampler(n_maps: int) -> MapSampler:
    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(0, n_maps, size=n)

    return sample
