"""PPO training on the batched simulator: run folders, checkpoints, evaluation, TensorBoard, resume."""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.torch_layers import NatureCNN
from stable_baselines3.common.vec_env import VecMonitor

from ppomania.agent.callbacks import (
    Checkpoints,
    Curriculum,
    Deadline,
    Evaluation,
    EvaluationLog,
    GameMetrics,
    ProgressBar,
    Window,
)
from ppomania.agent.config import TrainConfig
from ppomania.agent.policy import HighwayCNN, set_press_probability
from ppomania.agent.runs import (
    FINAL_MODEL,
    TENSORBOARD_DIR,
    TrainResult,
    create_run_dir,
    latest_checkpoint,
    read_run_config,
    save_atomic,
)
from ppomania.env.reward import RewardConfig
from ppomania.env.vec_env import ManiaVecEnv, PoolSampler
from ppomania.game.beatmap import Beatmap
from ppomania.sim.core import SimConfig
from ppomania.sim.maps import MapPool, load_maps
from ppomania.sim.patterns import PatternConfig, generate_maps
from ppomania.sim.render import HighwayGeometry

log = logging.getLogger(__name__)

#: Seeds of held-out generated maps are offset so that they never equal a training map's seed.
_EVAL_SEED_OFFSET = 1_000_003


def geometry_for(config: TrainConfig) -> HighwayGeometry:
    """The observation geometry of ``config`` (NatureCNN gets SB3's 84×84)."""
    if config.policy == "nature":
        return HighwayGeometry.for_keys(config.keys, 84, 84, config.scroll_speed)
    return HighwayGeometry.for_keys(
        config.keys, config.frame_height, config.keys * config.column_width, config.scroll_speed
    )


def sim_config_for(config: TrainConfig) -> SimConfig:
    return SimConfig(
        control_hz=config.control_hz,
        input_latency_ms=config.input_latency_ms,
        capture_latency_ms=config.capture_latency_ms,
        jitter_ms=config.jitter_ms,
    )


def training_maps(config: TrainConfig) -> list[Beatmap]:
    maps: list[Beatmap] = []
    if config.generated_maps > 0:
        pattern = PatternConfig(keys=config.keys, duration_s=config.map_duration_s)
        maps += generate_maps(pattern, config.generated_maps, seed=config.seed)
    if config.maps:
        maps += load_maps(list(config.maps), keys=config.keys)
    if not maps:
        raise ValueError(f"no {config.keys}K maps to train on")
    return maps


def evaluation_maps(config: TrainConfig) -> list[Beatmap]:
    if config.eval_maps:
        return load_maps(list(config.eval_maps), keys=config.keys)
    pattern = PatternConfig(keys=config.keys, duration_s=config.map_duration_s)
    return generate_maps(pattern, config.eval_generated, seed=config.seed + _EVAL_SEED_OFFSET)


@dataclasses.dataclass
class TrainingEnv:
    """The simulator env of a training run: ``env`` inside the ``monitored`` wrapper PPO steps,
    drawing maps through ``sampler`` (which the curriculum tells the training progress)."""

    monitored: VecMonitor
    env: ManiaVecEnv
    sampler: PoolSampler


def make_env(config: TrainConfig, maps: Sequence[Beatmap]) -> TrainingEnv:
    sampler = PoolSampler(MapPool(maps, curriculum=config.curriculum))
    env = ManiaVecEnv(
        sampler.pool.maps,
        config.n_envs,
        sim_config_for(config),
        RewardConfig(
            judgement=config.reward_judgement,
            key_spam=config.reward_key_spam,
            combo_break=config.reward_combo_break,
        ),
        geometry_for(config),
        config.action_space,
        map_sampler=sampler,
        seed=config.seed,
    )
    return TrainingEnv(VecMonitor(env), env, sampler)


def make_model(config: TrainConfig, env: VecMonitor, tensorboard_dir: Path) -> PPO:
    if config.policy == "nature":
        extractor: dict[str, Any] = {"features_extractor_class": NatureCNN}
    else:
        extractor = {
            "features_extractor_class": HighwayCNN,
            "features_extractor_kwargs": {"column_width": config.column_width},
        }
    learning_rate = config.learning_rate

    def schedule(progress_remaining: float) -> float:
        return learning_rate * progress_remaining

    model = PPO(
        "CnnPolicy",
        env,
        learning_rate=schedule,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        policy_kwargs={**extractor, "net_arch": []},
        tensorboard_log=str(tensorboard_dir),
        seed=config.seed,
        device=resolve_device(config.device),
        verbose=0,
    )
    set_press_probability(model.policy.action_net, config.keys, config.initial_press_probability)
    return model


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda: no CUDA device is available (is the CUDA build of torch installed?)"
        )
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads(threads: int) -> int:
    """Torch CPU threads: all cores by default, since the simulator runs in-process."""
    count = threads or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count


def train(config: TrainConfig, resume: str | Path | None = None) -> TrainResult:
    """Train (or continue training) and return where everything went.

    :param config: the configuration (ignored except ``total_timesteps``/``progress``/``show``/
        ``device`` when resuming: the run's saved config is used).
    :param resume: a run folder to continue from its newest checkpoint, with the same step count
        and TensorBoard run.
    """
    if config.live:
        from ppomania.agent.live_train import finetune_live

        return finetune_live(config)
    if resume is not None:
        run_dir = Path(resume)
        config = dataclasses.replace(
            TrainConfig(**read_run_config(run_dir)),
            total_timesteps=config.total_timesteps,
            progress=config.progress,
            show=config.show,
            device=config.device,
        )
    else:
        config.validate()
        run_dir = create_run_dir(config)
    seed_everything(config.seed)
    set_threads(config.threads)
    maps = training_maps(config)
    eval_maps = evaluation_maps(config)
    training_env = make_env(config, maps)
    env = training_env.monitored
    tensorboard_dir = run_dir / TENSORBOARD_DIR
    if resume is not None:
        checkpoint = latest_checkpoint(run_dir)
        model = PPO.load(checkpoint, env=env, device=resolve_device(config.device))
        model.tensorboard_log = str(tensorboard_dir)
        log.info("resuming %s from %s at step %d", run_dir, checkpoint, model.num_timesteps)
    else:
        model = make_model(config, env, tensorboard_dir)
    remaining = max(0, config.total_timesteps - model.num_timesteps)
    evaluations = EvaluationLog()
    checkpoints = Checkpoints(run_dir, config.checkpoint_every, config.keep_checkpoints)
    evaluation = Evaluation(run_dir, eval_maps, training_env.env, config.eval_every, evaluations)
    callbacks: list[BaseCallback] = [
        GameMetrics(),
        Curriculum(training_env.sampler, config.total_timesteps),
    ]
    if config.progress:
        callbacks.append(ProgressBar(config.total_timesteps, evaluations))
    if config.show:
        callbacks.append(Window(training_env.env))
    callbacks += [checkpoints, evaluation]
    if config.max_minutes > 0:
        callbacks.append(Deadline(config.max_minutes))
    started = time.perf_counter()
    interrupted = False
    try:
        model.learn(
            remaining,
            callback=CallbackList(callbacks),
            tb_log_name="PPO",
            reset_num_timesteps=resume is None and model.num_timesteps == 0,
        )
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: saving a checkpoint at step %d", model.num_timesteps)
    finally:
        checkpoints.save()
        save_atomic(model, run_dir / FINAL_MODEL)
        env.close()
    seconds = time.perf_counter() - started
    history = evaluations.history
    if not interrupted and (not history or history[-1][0] != model.num_timesteps):
        evaluation.evaluate()
    return TrainResult(
        run_dir,
        model,
        int(model.num_timesteps),
        interrupted,
        evaluations.best_accuracy,
        seconds,
        history,
    )
