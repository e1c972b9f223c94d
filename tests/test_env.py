"""The RL contract: ``ManiaVecEnv`` (SB3 ``VecEnv``) and ``ManiaEnv`` (gymnasium ``Env``).

The three tests every environment ships (``specs/rl-notes.md`` §6.2): the env checkers, seeded
determinism rollouts, and the batched env against single envs step by step across auto-resets; then
the action codec, the reward, autoplay and idle play over the real maps, episode-end infos and the
SB3 wrappers.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from ppomania.env import ENV_ID, ActionCodec, ManiaEnv, ManiaVecEnv, RewardConfig
from ppomania.env.reward import reward
from ppomania.game import load_beatmap
from ppomania.game.beatmap import Beatmap
from ppomania.game.rules import Mods
from ppomania.game.score import GameState
from ppomania.sim import kernel
from ppomania.sim.autoplay import autoplay_actions
from ppomania.sim.core import BatchedSim, SimConfig
from ppomania.sim.patterns import PatternConfig, generate_maps
from ppomania.sim.render import HighwayGeometry

DATA = Path(__file__).parent / "data"
DIFFCALC = DATA / "ppy-osu/diffcalc-test.osu"
REAL_4K = [
    DATA / "reamberPy/maps/MAGiCVLGiRL_ZVPH.osu",
    DATA / "YAVSRG/Cardboard Box - He He He (DannyPX) [SPEEEDDD!!!].osu",
    DATA / "Mania-Replay-Master/Sound Horizon - Raijin no Hidariude (-Kamikaze-) "
    "[Tempest w _underjoy].osu",
    DATA / "Mania-Replay-Master/ck - Carnation (ck remix) (Gekido-) [LN Master].osu",
    DATA / "reamberPy/maps/Finixe.osu",
    DATA / "Mania-Replay-Master/Various Artists - 4K LN Dan Courses v2 - Extra Level - "
    "(_underjoy) [12th Dan - Yuugure (Marathon)].osu",
    DATA / "Mania-Replay-Master/20220812-110445-Sewing.osu",
    DATA / "YAVSRG/Camellia - Backbeat Maniac (Evening) [Rewind VIP].osu",
    DATA / "ppy-osu/4869637.osu",
    DIFFCALC,
    DATA / "ppy-osu/4K.osu",
]
REAL_7K = [
    DATA / "reamberPy/maps/Aegleseeker.osu",
    DATA / "reamberPy/maps/DoppelGanger.osu",
    DATA / "reamberPy/maps/ZENITHALIZE_19.osu",
    DATA / "reamberPy/maps/AddictionCut.osu",
    DATA / "ppy-osu/7K.osu",
]


@pytest.fixture(scope="module")
def short_maps() -> list[Beatmap]:
    """Four generated 4K maps of 5–6 s (episodes of about 400 steps), holds included."""
    config = PatternConfig(duration_s=4.0, hold_fraction=0.3, density=(5.0, 10.0))
    maps = generate_maps(config, n=4, seed=11)
    assert len({m.duration_ms for m in maps}) == 4  # episodes end at different steps
    return maps


@pytest.fixture(scope="module")
def diffcalc() -> Beatmap:
    return load_beatmap(DIFFCALC)


def assert_infos_equal(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], dict):
                assert_infos_equal([x[key]], [y[key]])
            elif isinstance(x[key], np.ndarray):
                assert np.array_equal(x[key], y[key]), key
            else:
                assert x[key] == y[key], key


# -- (a) env checkers ---------------------------------------------------------------------------


@pytest.mark.parametrize("action_space", ["multibinary", "discrete"])
def test_env_checkers(short_maps, action_space):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not having a spec")  # checked below
        gym_check_env(ManiaEnv(short_maps, action_space=action_space))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SB3's checker warns about any image-space problem
        # except the frame being under NatureCNN's 36x36: ppomania's HighwayCNN is made for it
        warnings.filterwarnings("ignore", message="The minimal resolution for an image is 36x36")
        sb3_check_env(ManiaEnv(short_maps, action_space=action_space), warn=True)
        sb3_check_env(
            ManiaEnv(short_maps, action_space=action_space, geometry=HighwayGeometry.for_keys(4)),
            warn=True,
        )
    env = gym.make(ENV_ID, maps=short_maps, action_space=action_space, render_mode="rgb_array")
    assert env.spec is not None and env.spec.id == ENV_ID
    gym_check_env(env.unwrapped)  # with a spec, so the render modes are checked too
    obs, _ = env.reset(seed=3)
    assert obs.shape == (4, 48, 16) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert env.render().shape == (48, 16, 3)
    env.close()


def test_spaces_and_default_map():
    env = ManiaEnv()  # one generated 4K map
    assert env.observation_space == gym.spaces.Box(0, 255, (4, 48, 16), np.uint8)
    assert env.action_space == gym.spaces.MultiBinary(4)
    obs, _ = env.reset(seed=0)
    assert (obs[:3] == 0).all() and obs[3].any()  # zero history, then the first frame


# -- (b) seeded determinism ---------------------------------------------------------------------


def rollout_vec(env: ManiaVecEnv, seed: int, steps: int, actions: np.ndarray) -> list[Any]:
    env.seed(seed)
    trace: list[Any] = [env.reset().copy()]
    for t in range(steps):
        obs, rewards, dones, infos = env.step(actions[t])
        trace.append((obs.copy(), rewards.copy(), dones.copy(), infos))
    return trace


def test_vec_env_seeded_determinism(short_maps):
    steps, n = 1000, 4
    actions = np.random.default_rng(0).random((steps, n, 4)) < 0.15
    config = SimConfig(jitter_ms=6.0)  # the seed drives the map choice and the jitter
    make = lambda: ManiaVecEnv(short_maps, n, config)  # noqa: E731
    a = rollout_vec(make(), 42, steps, actions)
    b = rollout_vec(make(), 42, steps, actions)
    assert np.array_equal(a[0], b[0])
    n_done = 0
    for x, y in zip(a[1:], b[1:], strict=True):
        for u, v in zip(x[:3], y[:3], strict=True):
            assert u.dtype == v.dtype and np.array_equal(u, v)
        assert_infos_equal(x[3], y[3])
        n_done += int(x[2].sum())
    assert n_done >= 2 * n  # several auto-resets, each with a seeded map choice
    c = rollout_vec(make(), 43, steps, actions)
    differ = sum(not np.array_equal(x[0], y[0]) for x, y in zip(a[1:], c[1:], strict=True))
    assert differ > steps // 2
    # The jitter alone (same maps) makes a different game under another seed.
    one_map = [short_maps[0]]
    a = rollout_vec(ManiaVecEnv(one_map, n, config), 1, 300, actions)
    c = rollout_vec(ManiaVecEnv(one_map, n, config), 2, 300, actions)
    assert np.array_equal(a[0], c[0])
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a[1:], c[1:], strict=True))


def rollout_env(env: ManiaEnv, seed: int, steps: int, actions: np.ndarray) -> list[Any]:
    obs, info = env.reset(seed=seed)
    trace: list[Any] = [(obs.copy(), info)]
    for t in range(steps):
        obs, rew, terminated, truncated, info = env.step(actions[t])
        trace.append((obs.copy(), rew, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((obs.copy(), info))
    return trace


def test_single_env_seeded_determinism(short_maps):
    steps = 1000
    actions = (np.random.default_rng(1).random((steps, 4)) < 0.15).astype(np.int8)
    config = SimConfig(jitter_ms=6.0)
    a = rollout_env(ManiaEnv(short_maps, config), 7, steps, actions)
    b = rollout_env(ManiaEnv(short_maps, config), 7, steps, actions)
    assert len(a) == len(b) and len(a) > steps + 2  # a few resets
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x[0], y[0])
        assert x[1:-1] == y[1:-1]
        assert_infos_equal([x[-1]], [y[-1]])
    c = rollout_env(ManiaEnv(short_maps, config), 8, steps, actions)
    maps_a = [x[-1]["map"] for x in a if len(x) == 2]
    maps_c = [x[-1]["map"] for x in c if len(x) == 2]
    obs_differ = any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c, strict=False))
    assert maps_a != maps_c or obs_differ


# -- (c) batched env vs single envs ---------------------------------------------------------------


def episode_map(env: int, episode: int, n_maps: int) -> int:
    """The map of episode ``episode`` of env ``env`` in the equivalence test."""
    return (env + 3 * episode) % n_maps


class VecSampler:
    """Env ``i``'s ``k``-th episode plays ``episode_map(i, k)``.

    A sampler gets ``(rng, n)`` only; the envs being started are those whose play is done (an
    auto-reset inside ``step``) or all of them (``reset``), read from the sim.
    """

    def __init__(self, n_envs: int, n_maps: int) -> None:
        self.episodes = np.zeros(n_envs, dtype=np.int64)
        self.n_maps = n_maps
        self.vec: ManiaVecEnv | None = None

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        assert self.vec is not None
        done = self.vec.sim.done
        envs = np.flatnonzero(done) if done.any() else np.arange(self.vec.num_envs)
        assert len(envs) == n
        maps = np.array([episode_map(i, int(self.episodes[i]), self.n_maps) for i in envs])
        self.episodes[envs] += 1
        return maps


class EnvSampler:
    """Single env ``env``: the same sequence. ``ManiaEnv`` draws a map at its inner auto-reset (the
    play is still done then; that episode is never played) and again at ``reset()``: only the
    latter counts."""

    def __init__(self, env: int, n_maps: int) -> None:
        self.env, self.n_maps, self.episode = env, n_maps, 0
        self.single: ManiaEnv | None = None

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        assert self.single is not None and n == 1
        if self.single.vec.sim.done[0]:
            return np.zeros(1, dtype=np.int64)  # discarded: reset() draws again
        self.episode += 1
        return np.array([episode_map(self.env, self.episode - 1, self.n_maps)])


STATE_FIELDS = (
    "cursor", "status", "head_error", "grab_error", "key_down", "lock_until", "expiry", "base_sum",
    "bonus_sum", "bonus", "counts", "combo", "max_combo", "score", "hp", "failed", "judged",
)  # fmt: skip


@pytest.mark.parametrize("mods", [Mods.NO_FAIL, Mods.NONE], ids=["NF", "fail"])
def test_vec_env_matches_single_envs(short_maps, mods):
    """``ManiaVecEnv(n=4)`` and four ``ManiaEnv`` playing the same maps with the same actions:
    the same observations, rewards, terminations, terminal observations and internal state.

    Jitter is off: the vec env draws every env's noise from one generator.
    """
    n, steps = 4, 1500
    maps = short_maps
    config = SimConfig(mods=mods)
    sampler = VecSampler(n, len(maps))
    vec = ManiaVecEnv(maps, n, config, map_sampler=sampler)
    sampler.vec = vec
    singles = []
    for i in range(n):
        env_sampler = EnvSampler(i, len(maps))
        singles.append(ManiaEnv(maps, config, map_sampler=env_sampler))
        env_sampler.single = singles[-1]
    rng = np.random.default_rng(5)
    flip = np.array([0.0, 0.08, 0.2, 0.4])[:, None]  # env 0 idles: it fails without NoFail
    held = np.zeros((n, 4), dtype=np.int8)

    obs = vec.reset()
    for i, single in enumerate(singles):
        single_obs, info = single.reset()
        assert np.array_equal(obs[i], single_obs)
        assert info["map"] == episode_map(i, 0, len(maps)) == vec.sim.map_ids[i]
    n_done = np.zeros(n, dtype=np.int64)
    failed = np.zeros(n, dtype=np.bool_)
    for _ in range(steps):
        held ^= rng.random(held.shape) < flip
        obs, rewards, dones, infos = vec.step(held)
        for i, single in enumerate(singles):
            single_obs, r, terminated, truncated, info = single.step(held[i])
            assert r == float(rewards[i]) and not truncated
            assert terminated == bool(dones[i])
            if terminated:
                n_done[i] += 1
                failed[i] |= info["play"]["failed"]
                assert np.array_equal(infos[i]["terminal_observation"], single_obs)
                assert infos[i]["TimeLimit.truncated"] is False
                assert_infos_equal([infos[i]["play"]], [info["play"]])
                single_obs, info = single.reset()
                assert info["map"] == vec.sim.map_ids[i]
                assert info["map"] == episode_map(i, int(n_done[i]), len(maps))
            else:
                assert infos[i] == {} and info == {}
            assert np.array_equal(obs[i], single_obs)
            for name in STATE_FIELDS:
                batched = getattr(vec.sim.state, name)[i]
                alone = getattr(single.vec.sim.state, name)[0]
                assert np.array_equal(batched, alone), name
            assert vec.sim.clock_ms[i] == single.vec.sim.clock_ms[0]
    assert (n_done >= 3).all(), n_done  # every env went through auto-resets
    assert failed.any() == (mods == Mods.NONE), failed


# -- action spaces ------------------------------------------------------------------------------


def test_action_codec():
    codec = ActionCodec(4, "discrete")
    assert codec.space == gym.spaces.Discrete(16)
    assert codec.decode(np.array([0b0101])).tolist() == [[True, False, True, False]]
    every = np.arange(16)
    assert np.array_equal(codec.encode(codec.decode(every)), every)
    binary = ActionCodec(7)
    assert binary.space == gym.spaces.MultiBinary(7)
    held = np.random.default_rng(0).random((5, 7)) < 0.5
    assert np.array_equal(binary.decode(binary.encode(held)), held)
    with pytest.raises(ValueError):
        ActionCodec(4, "box")


def test_discrete_actions_play_the_same_game(short_maps):
    n, steps = 3, 600
    multi = ManiaVecEnv(short_maps, n, SimConfig(jitter_ms=3.0), seed=9)
    discrete = ManiaVecEnv(short_maps, n, SimConfig(jitter_ms=3.0), action_space="discrete", seed=9)
    assert discrete.action_space == gym.spaces.Discrete(16)
    assert np.array_equal(multi.reset(), discrete.reset())
    rng = np.random.default_rng(2)
    held = np.zeros((n, 4), dtype=np.bool_)
    for _ in range(steps):
        held ^= rng.random(held.shape) < 0.2
        chords = (held * (1 << np.arange(4))).sum(axis=1)
        a = multi.step(held.astype(np.int8))
        b = discrete.step(chords)
        for x, y in zip(a[:3], b[:3], strict=True):
            assert np.array_equal(x, y)
        assert_infos_equal(a[3], b[3])


# -- reward -------------------------------------------------------------------------------------


def test_reward_needs_a_copy_of_the_previous_state():
    config = RewardConfig()
    state = GameState()
    with pytest.raises(ValueError):
        reward(config, state, state)
    assert reward(config, state, state.copy()) == 0.0
    copy = state.copy()
    copy.counts[0] += 1
    assert state.counts[0] == 0  # the copy shares no array


@pytest.mark.parametrize("judgement", range(6))
def test_reward_per_judgement(judgement):
    config = RewardConfig()
    previous = GameState(combo=3, max_combo=3)
    current = previous.copy()
    current.counts[judgement] += 1
    current.combo = 0 if judgement == 5 else 4
    assert reward(config, previous, current) == pytest.approx(config.judgement[judgement])
    # A miss that ends a long combo is also a combo break.
    previous.combo = current.combo = config.combo_break_min
    current.combo = 0 if judgement == 5 else previous.combo + 1
    expected = config.judgement[judgement] + (config.combo_break if judgement == 5 else 0.0)
    assert reward(config, previous, current) == pytest.approx(expected)
    assert reward(config, previous, current, ghost_presses=2) == pytest.approx(
        expected + 2 * config.key_spam
    )


def test_ghost_presses_are_penalised(short_maps):
    config = RewardConfig()
    env = ManiaVecEnv(short_maps[:1], 1, SimConfig())
    env.reset()
    # Lead-in: the first note is 1 s away (at map time >= 1000), every press hits nothing.
    _, r, _, _ = env.step(np.array([[1, 1, 0, 1]]))
    assert r[0] == pytest.approx(3 * config.key_spam)
    assert env.sim.ghost[0] == 3
    _, r, _, _ = env.step(np.array([[1, 1, 0, 1]]))  # held, not pressed again
    assert r[0] == 0.0
    _, r, _, _ = env.step(np.array([[0, 1, 0, 0]]))  # releases are free
    assert r[0] == 0.0
    _, r, _, _ = env.step(np.array([[1, 1, 1, 0]]))
    assert r[0] == pytest.approx(2 * config.key_spam)
    quiet = ManiaVecEnv(short_maps[:1], 1, SimConfig(), RewardConfig(key_spam=0.0))
    quiet.reset()
    assert quiet.step(np.array([[1, 1, 1, 1]]))[1][0] == 0.0


def test_autoplay_rewards_every_judgement(short_maps):
    """Each hit is rewarded on the step that makes it (the previous state is a copy, not the
    state mutated in place): autoplay's episode return is the MAX value times the object count."""
    env = ManiaVecEnv(short_maps, 4, SimConfig(), map_sampler=lambda rng, n: np.arange(n) % 4)
    env.reset()
    sim = env.sim
    held = np.zeros((4, 4), dtype=np.bool_)
    returns = np.zeros(4)
    plays: dict[int, dict[str, Any]] = {}
    positive_steps = 0
    while len(plays) < 4:
        times = sim.input_ms
        autoplay_actions(times, sim.map_ids, sim.packed.col_begin, sim.packed.starts,
                         sim.packed.ends, sim.config.step_ms, held)  # fmt: skip
        _, rewards, dones, infos = env.step(held)
        returns += rewards
        positive_steps += int((rewards > 0).sum())
        for i in np.flatnonzero(dones):
            plays.setdefault(int(i), infos[i]["play"] | {"return": returns[i]})
        returns[dones] = 0.0
    for i, play in plays.items():
        n_objects = short_maps[i].n_objects
        assert play["counts"].tolist() == [n_objects, 0, 0, 0, 0, 0]
        assert play["return"] == pytest.approx(n_objects * RewardConfig().judgement[0], rel=1e-6)
        assert play["reward"] == pytest.approx(play["return"], rel=1e-6)
        assert play["accuracy"] == 1.0 and play["max_combo"] == n_objects
    assert positive_steps > 0


# -- autoplay and idle over the real maps ---------------------------------------------------------


def play_to_the_end(sim: BatchedSim, policy) -> np.ndarray:
    """Step every env until its play is done (a done env is stepped no more); return each env's
    ghost presses."""
    held = np.zeros((sim.n_envs, sim.keys), dtype=np.bool_)
    ghosts = np.zeros(sim.n_envs, dtype=np.int64)
    while sim.active.any():
        policy(sim, held)
        sim.step(held)
        ghosts += sim.ghost
        sim.active[sim.done] = False
    return ghosts


def autoplay(sim: BatchedSim, held: np.ndarray) -> None:
    times = sim.input_ms
    autoplay_actions(times, sim.map_ids, sim.packed.col_begin, sim.packed.starts,
                     sim.packed.ends, sim.config.step_ms, held)  # fmt: skip


@pytest.mark.parametrize("paths", [REAL_4K, REAL_7K], ids=["4K", "7K"])
def test_autoplay_reaches_99_percent_on_real_maps(paths):
    maps = [load_beatmap(p) for p in paths]
    n = len(maps)
    sim = BatchedSim(maps, n, SimConfig())  # one env per map: the stepping is shared
    sim.reset(np.arange(n), np.arange(n))
    ghosts = play_to_the_end(sim, autoplay)
    accuracy = sim.accuracy()
    for i, beatmap in enumerate(maps):
        counts = sim.state.counts[i]
        assert counts.sum() == beatmap.n_objects, beatmap.name
        assert accuracy[i] >= 0.99, (beatmap.name, counts.tolist())
        assert not sim.state.failed[i] and ghosts[i] == 0, beatmap.name


def test_idle_misses_every_note():
    maps = [load_beatmap(p) for p in (REAL_4K[0], REAL_4K[3], DIFFCALC)]
    sim = BatchedSim(maps, 3, SimConfig(mods=Mods.NO_FAIL), log_capacity=10_000)
    sim.reset(np.arange(3), np.arange(3))
    assert not play_to_the_end(sim, lambda sim, held: None).any()
    s = sim.state
    for i, beatmap in enumerate(maps):
        assert s.counts[i].tolist() == [0, 0, 0, 0, 0, beatmap.n_objects]
        assert s.max_combo[i] == 0 and s.score[i] == 0 and not s.failed[i]
    log = sim.log[: sim.log_count[0]]
    assert (log[:, 5] == kernel.NO_ERROR).all()  # nothing was ever pressed
    # The same through the VecEnv: every note a miss, the return is the miss value per object.
    env = ManiaVecEnv(maps[2:], 1, SimConfig(mods=Mods.NO_FAIL))
    env.reset()
    info: dict[str, Any] = {}
    while not info:
        _, _, _, (info,) = env.step(np.zeros((1, 4), dtype=np.int8))
    play = info["play"]
    assert play["counts"].tolist() == [0, 0, 0, 0, 0, maps[2].n_objects]
    assert play["reward"] == pytest.approx(-maps[2].n_objects)  # combo never reaches a break
    assert play["accuracy"] == 0.0 and not play["failed"]


# -- episode end and SB3 wrappers -----------------------------------------------------------------


def test_terminal_observation_and_play_info(short_maps):
    env = ManiaVecEnv(short_maps, 2, SimConfig(mods=Mods.NO_FAIL), seed=1)
    obs = env.reset()
    previous = obs.copy()
    rng = np.random.default_rng(3)
    seen = 0
    for _ in range(1500):
        obs, _, dones, infos = env.step(rng.random((2, 4)) < 0.1)
        for i in range(2):
            if not dones[i]:
                assert infos[i] == {}
                continue
            seen += 1
            info = infos[i]
            assert set(info) == {"terminal_observation", "TimeLimit.truncated", "play"}
            terminal = info["terminal_observation"]
            assert terminal.shape == (4, 48, 16) and terminal.dtype == np.uint8
            # The last frames of the old episode; obs is the new episode's first.
            assert np.array_equal(terminal[:3], previous[i][1:])
            assert (obs[i][:3] == 0).all()
            play = info["play"]
            assert {"map", "counts", "accuracy", "score", "max_combo", "failed"} <= set(play)
            beatmap = short_maps[play["map"]]
            assert play["counts"].sum() == beatmap.n_objects
            assert 0.0 <= play["accuracy"] <= 1.0 and play["score"] >= 0
            assert 0 <= play["max_combo"] <= beatmap.n_objects and not play["failed"]
        previous = obs.copy()
    assert seen >= 4


class RandomPolicy:
    """A stand-in for an SB3 model: ``predict`` holds each key with probability 0.1."""

    def __init__(self, keys: int, seed: int = 0) -> None:
        self.keys, self.rng = keys, np.random.default_rng(seed)

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        return (self.rng.random((len(obs), self.keys)) < 0.1).astype(np.int8), state


def test_vec_monitor_and_evaluate_policy(short_maps):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecMonitor

    env = VecMonitor(ManiaVecEnv(short_maps, 2, SimConfig(mods=Mods.NO_FAIL), seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # evaluate_policy warns when the env is not monitored
        rewards, lengths = evaluate_policy(
            RandomPolicy(4), env, n_eval_episodes=4, return_episode_rewards=True
        )
    assert len(rewards) == len(lengths) == 4
    assert all(length > 200 for length in lengths)  # whole maps, not cut short
    assert all(np.isfinite(rewards))
    # VecMonitor's episode return is the env's own episode reward.
    env.reset()
    info: dict[str, Any] = {}
    while not info:
        _, _, _, (info, _) = env.step(np.zeros((2, 4), dtype=np.int8))
    assert info["episode"]["r"] == pytest.approx(info["play"]["reward"], abs=1e-5)
    assert info["episode"]["l"] > 200


# -- benchmark ----------------------------------------------------------------------------------


def test_bench_sim_json(capsys):
    import argparse

    from ppomania.cli import SUBCOMMANDS
    from ppomania.cli import bench as cli_bench

    assert "bench" in SUBCOMMANDS and set(cli_bench.TARGETS) >= {"sim"}
    parser = argparse.ArgumentParser(prog="ppomania")
    cli_bench.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "sim", "--json", "--seconds", "0.01"])
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    keys = {"batched_steps_per_s", "dummy_steps_per_s", "ratio", "bytes_per_env", "by_n_envs"}
    assert set(report) == keys
    assert set(report["by_n_envs"]) == {"1", "16", "64", "256"}
    assert report["batched_steps_per_s"] == report["by_n_envs"]["64"] > 0
    assert report["ratio"] == pytest.approx(
        report["batched_steps_per_s"] / report["dummy_steps_per_s"], rel=0.01
    )
    # At least the double-buffered 4-frame stack of 48x16 frames.
    assert report["bytes_per_env"] >= 2 * 4 * 48 * 16


def test_bench_learn_reports_the_curve_on_real_maps_of_its_key_count(capsys):
    from ppomania.cli import main
    from ppomania.game.beatmap import load_beatmap
    from ppomania.sim.maps import bundled_map_paths

    sevens = bundled_map_paths(7)
    assert sevens and all(load_beatmap(p).keys == 7 for p in sevens)
    assert not set(sevens) & set(bundled_map_paths(4))
    command = ["bench", "learn", "--keys", "7", "--steps", "512", "--evals", "1", "--json"]
    assert main([*command, "--eval-maps", str(sevens[0]), "--threads", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["keys"] == 7 and report["eval_maps"] == [sevens[0].name]
    assert report["curve"] and 0 <= report["curve"][-1]["accuracy"] <= 100
    assert main(["bench", "learn", "--keys", "5", "--steps", "512"]) == 2  # no real 5K map


def test_per_env_array_bytes(short_maps):
    from ppomania.sim.bench import per_env_array_bytes

    small, shared = per_env_array_bytes(ManiaVecEnv(short_maps, 3), 3)
    large, shared_large = per_env_array_bytes(ManiaVecEnv(short_maps, 5), 5)
    assert small == large > 2 * 4 * 48 * 16  # per env, whatever the env count
    assert shared == shared_large > 0  # the maps are counted once
