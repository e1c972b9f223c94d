"""Training benchmarks: end-to-end steps/s against a reference setup, and learning curves."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from ppomania.agent.config import TrainConfig
from ppomania.agent.train import make_env, make_model, set_threads, training_maps
from ppomania.env.mania_env import ManiaEnv
from ppomania.sim.maps import bundled_map_paths
from ppomania.sim.render import HighwayGeometry

#: RL Zoo's Atari PPO settings (rl-baselines3-zoo hyperparams/ppo.yml).
REFERENCE_PPO = {
    "n_steps": 128,
    "batch_size": 256,
    "n_epochs": 4,
    "learning_rate": 2.5e-4,
    "clip_range": 0.1,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
}
REFERENCE_N_ENVS = 8


def _timed_learn(model: PPO, iterations: int) -> float:
    """Steps/s over ``iterations`` PPO iterations, after one warm-up iteration."""
    per_iteration = model.n_envs * model.n_steps
    model.learn(per_iteration, reset_num_timesteps=False)
    start = time.perf_counter()
    model.learn(per_iteration * iterations, reset_num_timesteps=False)
    return per_iteration * iterations / (time.perf_counter() - start)


def bench_train(iterations: int = 3, device: str = "cpu", seed: int = 0) -> dict[str, Any]:
    """End-to-end training steps/s of ppomania's default setup and of the reference setup
    (RL Zoo Atari PPO, NatureCNN on 84×84×4 frames of the same game, 8 envs in DummyVecEnv),
    measured in the same process one after the other."""
    threads = set_threads(0)
    config = TrainConfig(generated_maps=16, device=device, seed=seed, progress=False)
    maps = training_maps(config)
    with tempfile.TemporaryDirectory() as tmp:
        env = make_env(config, maps).monitored
        ours = make_model(config, env, Path(tmp) / "tb")
        ours_sps = _timed_learn(ours, iterations)
        geometry = HighwayGeometry.for_keys(config.keys, 84, 84)
        reference_env = VecMonitor(
            DummyVecEnv(
                [lambda: ManiaEnv(maps, geometry=geometry) for _ in range(REFERENCE_N_ENVS)]
            )
        )
        reference = PPO(
            "CnnPolicy", reference_env, device=device, seed=seed, verbose=0, **REFERENCE_PPO
        )
        reference_sps = _timed_learn(reference, iterations)
    return {
        "ppomania_steps_per_s": round(ours_sps, 1),
        "reference_steps_per_s": round(reference_sps, 1),
        "ratio": round(ours_sps / reference_sps, 2),
        "ppomania_setup": {
            "n_envs": config.n_envs,
            "n_steps": config.n_steps,
            "batch_size": config.batch_size,
            "n_epochs": config.n_epochs,
            "policy": "HighwayCNN",
            "frame": list(ours.observation_space.shape),
        },
        "reference_setup": {
            "n_envs": REFERENCE_N_ENVS,
            **REFERENCE_PPO,
            "policy": "NatureCNN",
            "frame": [4, 84, 84],
            "vec_env": "DummyVecEnv",
        },
        "device": device,
        "torch_threads": threads,
        "iterations": iterations,
        "torch": torch.__version__,
    }


def bench_learn(
    steps: int = 2_000_000,
    evals: int = 10,
    maps: tuple[str, ...] = (),
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
    keys: int = 4,
    eval_maps: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Train the default ``keys``-key setup from scratch on generated maps (plus ``maps``) and
    evaluate every ``steps / evals`` steps on real maps that training never sees: ``eval_maps``,
    default the bundled real maps of that key count.

    :param overrides: :class:`TrainConfig` fields to change (e.g. ``policy``, ``action_space``),
        for comparing setups on the same held-out maps.
    :raises ValueError: when there is no real map of ``keys`` keys to evaluate on.
    """
    from ppomania.agent.train import train

    eval_paths = eval_maps or tuple(str(p) for p in bundled_map_paths(keys))
    if not eval_paths:
        raise ValueError(f"no bundled real {keys}K maps: name some with eval_maps")
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            exp_name="bench-learn",
            seed=seed,
            keys=keys,
            maps=maps,
            eval_maps=eval_paths,
            total_timesteps=steps,
            eval_every=max(1, steps // evals),
            checkpoint_every=steps + 1,
            runs_dir=tmp,
            device=device,
            progress=progress,
            **(overrides or {}),
        )
        result = train(config)
    curve = [{"steps": s, "accuracy": round(100 * a, 3)} for s, a in result.history]
    return {
        "steps": result.timesteps,
        "seconds": round(result.seconds, 1),
        "steps_per_s": round(result.timesteps / result.seconds, 1),
        "keys": keys,
        "eval_maps": [Path(p).name for p in eval_paths],
        "curve": curve,
        "final_accuracy": curve[-1]["accuracy"] if curve else None,
        "best_accuracy": max((c["accuracy"] for c in curve), default=None),
        "policy": config.policy,
        "action_space": config.action_space,
    }


def random_baseline_accuracy(keys: int = 4, seed: int = 0) -> float:
    """Mean accuracy of the random policy on the bundled real maps (for comparison)."""
    from ppomania.agent.evaluate import builtin_policy, play_maps
    from ppomania.game.beatmap import load_beatmap

    plays = play_maps(
        [load_beatmap(p) for p in bundled_map_paths(keys)], builtin_policy("random", keys, seed)
    )
    return float(np.mean([p.accuracy for p in plays]))
