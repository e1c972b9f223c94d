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
from stable_baselines3.common.utils import FloatSchedule
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
from ppomania.agent.config import TrainConfig, resumed_config
from ppomania.agent.policy import HighwayCNN, set_press_probability
from ppomania.agent.runs import (
    FINAL_MODEL,
    RunWriteError,
    TrainResult,
    clean_temp_files,
    create_run_dir,
    read_run_config,
    resume_candidates,
    save_atomic,
    write_run_config,
)
from ppomania.agent.sb3_zip import linear_decay, load_ppo_for_training
from ppomania.agent.tb_events import run_logger
from ppomania.env.reward import RewardConfig
from ppomania.env.vec_env import ManiaVecEnv, PoolSampler
from ppomania.game.beatmap import Beatmap
from ppomania.sim.core import SimConfig
from ppomania.sim.maps import MapPool, load_maps, notes_per_second, star_rating
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


def map_pool(config: TrainConfig, maps: Sequence[Beatmap]) -> MapPool:
    """The training maps of ``config``; a curriculum orders them by star rating."""
    # Without a curriculum the order is unused: notes/s spares rating every map.
    difficulty = star_rating if config.curriculum else notes_per_second
    return MapPool(maps, curriculum=config.curriculum, difficulty=difficulty)


def make_env(config: TrainConfig, maps: Sequence[Beatmap]) -> TrainingEnv:
    sampler = PoolSampler(map_pool(config, maps))
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


def make_model(config: TrainConfig, env: VecMonitor, tensorboard_dir: Path | None = None) -> PPO:
    """A new PPO model of ``config`` (logging to ``tensorboard_dir`` unless given a logger)."""
    if config.policy == "nature":
        extractor: dict[str, Any] = {"features_extractor_class": NatureCNN}
    else:
        extractor = {
            "features_extractor_class": HighwayCNN,
            "features_extractor_kwargs": {"column_width": config.column_width},
        }
    model = PPO(
        "CnnPolicy",
        env,
        learning_rate=linear_decay(config.learning_rate),
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
        tensorboard_log=str(tensorboard_dir) if tensorboard_dir else None,
        seed=config.seed,
        device=resolve_device(config.device),
        verbose=0,
    )
    set_press_probability(model.policy.action_net, config.keys, config.initial_press_probability)
    return model


def apply_settings(model: PPO, config: TrainConfig) -> None:
    """Give a loaded ``model`` the PPO settings of ``config`` that a resumed run may change."""
    model.learning_rate = linear_decay(config.learning_rate)
    model.lr_schedule = FloatSchedule(model.learning_rate)
    model.clip_range = FloatSchedule(config.clip_range)
    model.n_epochs = config.n_epochs
    model.batch_size = config.batch_size
    model.ent_coef = config.ent_coef
    model.vf_coef = config.vf_coef
    model.max_grad_norm = config.max_grad_norm


def resume_model(config: TrainConfig, run_dir: Path, env: VecMonitor) -> PPO:
    """The model to continue ``run_dir`` with: its newest checkpoint that loads (a warning names
    each one skipped), given ``config``'s settings; a new model when the run has no checkpoint
    (it was stopped before its first).

    :raises ValueError: when the run has checkpoints and none loads.
    """
    candidates = resume_candidates(run_dir)
    newest_error: Exception | None = None
    for checkpoint in candidates:
        try:
            model = load_ppo_for_training(
                checkpoint,
                env,
                resolve_device(config.device),
                config.learning_rate,
                config.clip_range,
            )
        except Exception as exc:  # a file cut short or damaged can fail in any of its readers
            log.warning("skipping %s: it does not load (%s)", checkpoint, exc)
            newest_error = newest_error or exc
            continue
        apply_settings(model, config)
        log.info("resuming %s from %s at step %d", run_dir, checkpoint, model.num_timesteps)
        return model
    if candidates:
        reason = str(newest_error).splitlines()[0] if newest_error else "unknown"
        raise ValueError(f"{run_dir}: none of its checkpoints loads; the newest: {reason}")
    log.warning("%s has no checkpoint yet: training it from step 0", run_dir)
    return make_model(config, env)


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

    The config is checked, and the maps, env and model made, before a new run folder is.

    :param config: the configuration; when resuming, the run's saved config with any changes to
        the fields that may change (:data:`~ppomania.agent.config.CHANGEABLE_ON_RESUME`).
    :param resume: a run folder to continue from its newest checkpoint, with the same step count
        and TensorBoard log.
    :raises ValueError: for a bad config (:class:`~ppomania.agent.config.ConfigError`).
    :raises RunWriteError: when a file of the run cannot be written (the run keeps what was saved).
    """
    if config.live:
        from ppomania.agent.live_train import finetune_live

        return finetune_live(config)
    if resume is not None:
        run_dir = Path(resume)
        config = resumed_config(TrainConfig(**read_run_config(run_dir)), config)
    config.validate()
    resolve_device(config.device)
    seed_everything(config.seed)
    set_threads(config.threads)
    maps = training_maps(config)
    eval_maps = evaluation_maps(config)
    training_env = make_env(config, maps)
    env = training_env.monitored
    try:
        if resume is not None:
            for path in clean_temp_files(run_dir):
                log.warning("removed %s, left by a write cut short", path)
            model = resume_model(config, run_dir, env)
            write_run_config(run_dir, config)
        else:
            model = make_model(config, env)
            run_dir = create_run_dir(config)
        model.set_logger(run_logger(run_dir, model.num_timesteps))
    except BaseException:
        env.close()
        raise
    start_step = model.num_timesteps
    remaining = max(0, config.total_timesteps - start_step)
    evaluations = EvaluationLog()
    checkpoints = Checkpoints(run_dir, config.checkpoint_every, config.keep_checkpoints)
    evaluation = Evaluation(run_dir, eval_maps, training_env.env, config.eval_every, evaluations)
    callbacks: list[BaseCallback] = [
        GameMetrics(),
        Curriculum(training_env.sampler, config.total_timesteps),
    ]
    deadline = Deadline(config.max_minutes) if config.max_minutes > 0 else None
    if config.progress:
        callbacks.append(ProgressBar(config.total_timesteps, evaluations, deadline))
    if config.show:
        callbacks.append(Window(training_env.env))
    callbacks += [checkpoints, evaluation]
    if deadline is not None:
        callbacks.append(deadline)
    started = time.perf_counter()
    interrupted = False
    error: BaseException | None = None
    try:
        model.learn(
            remaining,
            callback=CallbackList(callbacks),
            tb_log_name="PPO",
            reset_num_timesteps=model.num_timesteps == 0,
        )
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: saving a checkpoint at step %d", model.num_timesteps)
    except BaseException as exc:
        error = exc
    try:
        if not isinstance(error, RunWriteError):  # a full disk: keep what is there, write no more
            checkpoints.save(model)
            save_atomic(model, run_dir / FINAL_MODEL)
    except RunWriteError:
        if error is None:
            raise
        log.exception("could not save the model after the error")
    finally:
        env.close()
        clean_temp_files(run_dir)
    if error is not None:
        raise error
    seconds = time.perf_counter() - started
    history = evaluations.history
    trained = model.num_timesteps > start_step
    if trained and not interrupted and (not history or history[-1][0] != model.num_timesteps):
        evaluation.evaluate_final()
    return TrainResult(
        run_dir,
        model,
        int(model.num_timesteps),
        interrupted,
        evaluations.best_accuracy,
        seconds,
        history,
    )
