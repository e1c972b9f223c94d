"""Fine-tuning a simulator-trained model in the live game (``ppomania train --live``).

The live env is one real-time game, so PPO's rollouts are collected at the control rate and the
update runs between rollouts: keys are released before each update and the play goes on without
the agent for those moments (a hold it was holding breaks). Checkpoints and TensorBoard logs go to a
run folder as in simulator training.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from ppomania.agent.callbacks import Checkpoints, Deadline, EvaluationLog, GameMetrics, ProgressBar
from ppomania.agent.config import TrainConfig
from ppomania.agent.model_file import is_model_file, load_weights, read_model_file
from ppomania.agent.models import load_model, resolve_model_path
from ppomania.agent.runs import (
    FINAL_MODEL,
    TENSORBOARD_DIR,
    TrainResult,
    create_run_dir,
    save_atomic,
)
from ppomania.agent.sb3_zip import load_ppo_for_training


class _ReleaseKeysBeforeUpdate(BaseCallback):
    """No key may stay down while PPO updates and the game keeps running."""

    def __init__(self, live_env) -> None:
        super().__init__()
        self.live_env = live_env

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.live_env.keys.release_all()


def live_env_for(config: TrainConfig, model_path: Path):
    """The :class:`LiveManiaEnv` a model plays in: its frame, action space and simulated timing."""
    from ppomania.env.live_env import LiveManiaEnv
    from ppomania.game.beatmap import load_beatmap
    from ppomania.live.capture import DEFAULT_CONFIG, load_calibration

    loaded = load_model(model_path)
    return LiveManiaEnv(
        load_beatmap(config.live_map) if config.live_map else None,
        load_calibration(config.live_calibration or DEFAULT_CONFIG),
        loaded.geometry,
        action_space=loaded.codec.kind,
        control_hz=loaded.control_hz,
        latency_ms=loaded.latency_ms,
        songs=config.live_songs or None,
        port=config.live_port,
    )


def _model_to_finetune(
    model_file: Path, env: VecMonitor, config: TrainConfig, tensorboard_dir: Path
):
    """The PPO model to continue training, loaded without unpickling anything: an SB3 zip of ours
    with its training state (hyperparameters, step count, optimizer), or a ppomania model file as a
    new PPO with ``config``'s hyperparameters and the file's policy weights and step count."""
    if not is_model_file(model_file):
        return load_ppo_for_training(
            model_file,
            env,
            "cpu",
            config.learning_rate,
            config.clip_range,
            tensorboard_log=str(tensorboard_dir),
        )
    from ppomania.agent.train import make_model

    description, weights = read_model_file(model_file)
    policy = description.policy
    architecture = dataclasses.replace(
        config,
        policy="highway" if policy.extractor == "HighwayCNN" else "nature",
        column_width=policy.extractor_kwargs.get("column_width", config.column_width),
        device="cpu",
    )
    model = make_model(architecture, env, tensorboard_dir)
    load_weights(model.policy, weights, model_file)
    model.num_timesteps = description.timesteps
    return model


def finetune_live(config: TrainConfig) -> TrainResult:
    """Continue training ``config.live_model`` for ``config.total_timesteps`` live steps."""
    if not config.live_model:
        raise ValueError(
            "--live needs --live-model (a run folder or .zip trained in the simulator)"
        )
    model_file = resolve_model_path(config.live_model)
    # Evaluation runs in the simulator, not in the live game; checkpoints as configured.
    config = dataclasses.replace(config, eval_every=2**62, show=False)
    run_dir = create_run_dir(config)
    torch.set_num_threads(1)  # one observation per step: more threads only contend with the game
    live_env = live_env_for(config, model_file)
    env = VecMonitor(DummyVecEnv([lambda: live_env]))
    started = time.perf_counter()
    interrupted = False
    try:
        model = _model_to_finetune(model_file, env, config, run_dir / TENSORBOARD_DIR)
        total = model.num_timesteps + config.total_timesteps
        checkpoints = Checkpoints(run_dir, config.checkpoint_every, config.keep_checkpoints)
        callbacks: list[BaseCallback] = [GameMetrics()]
        deadline = Deadline(config.max_minutes) if config.max_minutes > 0 else None
        if config.progress:
            callbacks.append(ProgressBar(total, EvaluationLog(), deadline))
        callbacks.append(checkpoints)
        if deadline is not None:
            callbacks.append(deadline)
        callbacks.append(_ReleaseKeysBeforeUpdate(live_env))
        try:
            model.learn(
                config.total_timesteps,
                callback=CallbackList(callbacks),
                tb_log_name="PPO",
                reset_num_timesteps=False,
            )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            live_env.keys.release_all()
            checkpoints.save(model)
            save_atomic(model, run_dir / FINAL_MODEL)
    finally:
        env.close()
    return TrainResult(
        run_dir,
        model,
        int(model.num_timesteps),
        interrupted,
        -1.0,
        time.perf_counter() - started,
        [],
    )
