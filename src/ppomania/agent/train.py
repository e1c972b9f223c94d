"""PPO training on the batched simulator: run folders, checkpoints, evaluation, TensorBoard, resume."""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.torch_layers import NatureCNN
from stable_baselines3.common.vec_env import VecMonitor

from ppomania.agent.config import TrainConfig, load_toml, to_toml
from ppomania.agent.evaluate import model_policy, play_maps
from ppomania.agent.policy import HighwayCNN
from ppomania.env.reward import RewardConfig
from ppomania.env.vec_env import ManiaVecEnv
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


def make_env(config: TrainConfig, maps: Sequence[Beatmap]) -> tuple[VecMonitor, ManiaVecEnv]:
    pool = MapPool(maps, curriculum=config.curriculum)
    env = ManiaVecEnv(
        pool.maps,
        config.n_envs,
        sim_config_for(config),
        RewardConfig(
            judgement=config.reward_judgement,
            key_spam=config.reward_key_spam,
            combo_break=config.reward_combo_break,
        ),
        geometry_for(config),
        config.action_space,
        seed=config.seed,
    )
    env.map_pool = pool
    env.map_sampler = lambda rng, n: pool.sample(rng, n, getattr(env, "progress", 1.0))
    return VecMonitor(env), env


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

    return PPO(
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


def save_atomic(model: PPO, path: Path) -> Path:
    """Save ``model`` to ``path`` (.zip) through a temporary file: never a half-written checkpoint."""
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp.zip")
    model.save(tmp)
    os.replace(tmp, path)
    return path


class TrainingCallback(BaseCallback):
    """Checkpoints, evaluation with best-model saving, game metrics in TensorBoard, progress bar."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        eval_maps: Sequence[Beatmap],
        mania_env: ManiaVecEnv | None,
        total_timesteps: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.run_dir = run_dir
        self.checkpoint_dir = run_dir / "checkpoints"
        self.eval_maps = list(eval_maps)
        self.mania_env = mania_env
        self.total_timesteps = total_timesteps
        self.best_accuracy = -1.0
        self.last_eval_accuracy: float | None = None
        self._next_checkpoint = 0
        self._next_eval = 0
        self._rollout_start = 0.0
        self._rollout_end = 0.0
        self._steps_at_rollout = 0
        self._bar: Any = None
        self._window: Any = None
        self._feed: Any = None
        self._meter: Any = None
        self.plays: list[dict[str, Any]] = []
        #: ``(timesteps, mean accuracy)`` of every evaluation.
        self.history: list[tuple[int, float]] = []
        self._deadline = (
            time.monotonic() + 60 * config.max_minutes if config.max_minutes > 0 else None
        )

    def _on_training_start(self) -> None:
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        steps = self.num_timesteps
        self._next_checkpoint = steps + self.config.checkpoint_every
        self._next_eval = steps + self.config.eval_every
        best = self.run_dir / "best_accuracy.txt"
        if best.exists():
            self.best_accuracy = float(best.read_text())
        if self.config.progress:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total_timesteps,
                initial=steps,
                unit="step",
                dynamic_ncols=True,
                mininterval=1.0,
            )
        if self.config.show:
            from ppomania.agent.window import JudgementFeed, RateMeter, VisualizationWindow

            sim = self.mania_env.sim
            # 10 fps: a real X window's flip costs milliseconds on a CPU-only machine.
            self._window = VisualizationWindow(
                self.mania_env.keys, sim.geometry.shape, title="ppomania train", fps=10
            )
            self._feed = JudgementFeed(sim)
            self._meter = RateMeter()

    def _on_rollout_start(self) -> None:
        now = time.perf_counter()
        if self._rollout_end:
            self.logger.record("time/update_s", now - self._rollout_end)
        self._rollout_start = now
        self._steps_at_rollout = self.num_timesteps

    def _on_rollout_end(self) -> None:
        self._rollout_end = time.perf_counter()
        elapsed = self._rollout_end - self._rollout_start
        self.logger.record("time/rollout_s", elapsed)
        if self.plays:
            counts = np.sum([p["counts"] for p in self.plays], axis=0)
            self.logger.record(
                "rollout/accuracy", float(np.mean([p["accuracy"] for p in self.plays]))
            )
            self.logger.record("rollout/score", float(np.mean([p["score"] for p in self.plays])))
            self.logger.record(
                "rollout/max_combo", float(np.mean([p["max_combo"] for p in self.plays]))
            )
            self.logger.record(
                "rollout/fail_rate", float(np.mean([p["failed"] for p in self.plays]))
            )
            for label, n in zip(("max", "300", "200", "100", "50", "miss"), counts):
                self.logger.record(f"judgements/{label}", int(n))
            self.plays.clear()

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            if "play" in info:
                self.plays.append(info["play"])
        if self.mania_env is not None:  # None in the live game: no map pool to widen
            self.mania_env.progress = self.num_timesteps / max(1, self.total_timesteps)
        if self._bar is not None:
            self._bar.n = self.num_timesteps
            postfix = {"sps": f"{steps_per_s(self.model):.0f}"}
            if self.last_eval_accuracy is not None:
                postfix["eval_acc"] = f"{100 * self.last_eval_accuracy:.2f}%"
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(0)
        if self._window is not None and not self._update_window():
            self._window.close()
            self._window = None  # closed by the user: training goes on without it
        if self.num_timesteps >= self._next_checkpoint:
            self._next_checkpoint += self.config.checkpoint_every
            self.save_checkpoint()
        if self.num_timesteps >= self._next_eval:
            self._next_eval += self.config.eval_every
            self.evaluate()
        return self._deadline is None or time.monotonic() < self._deadline

    def _update_window(self) -> bool:
        """Feed the window env 0's step; the costly parts only when it is about to draw."""
        from ppomania.agent.window import policy_outputs

        env = self.mania_env
        rate = self._meter.tick(env.num_envs)
        obs = self.locals["new_obs"][0]
        if not self._window.ready():
            return True
        self._feed.poll()
        probs, value = policy_outputs(self.model, obs)
        rewards = self.locals.get("rewards")
        return self._window.update(
            obs,
            probs,
            env.sim.state.key_down[0],
            value,
            env.sim.game_state(0),
            list(self._feed.recent),
            float(rewards[0]) if rewards is not None else 0.0,
            float(env.episode_rewards[0]),
            rate,
        )

    def save_checkpoint(self) -> Path:
        path = save_atomic(self.model, self.checkpoint_dir / f"step_{self.num_timesteps:012d}.zip")
        for old in sorted(self.checkpoint_dir.glob("step_*.zip"))[: -self.config.keep_checkpoints]:
            old.unlink()
        return path

    def evaluate(self) -> float:
        env = self.mania_env
        plays = play_maps(
            self.eval_maps,
            model_policy(self.model, env.codec),
            env.sim.config,
            env.sim.geometry,
        )
        accuracy = float(np.mean([p.accuracy for p in plays]))
        self.last_eval_accuracy = accuracy
        self.history.append((self.num_timesteps, accuracy))
        self.logger.record("eval/accuracy", accuracy)
        self.logger.record("eval/score", float(np.mean([p.score for p in plays])))
        self.logger.record("eval/fail_rate", float(np.mean([p.failed for p in plays])))
        if accuracy > self.best_accuracy:
            self.best_accuracy = accuracy
            save_atomic(self.model, self.run_dir / "best_model.zip")
            (self.run_dir / "best_accuracy.txt").write_text(f"{accuracy}\n")
        return accuracy

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._window is not None:
            self._window.close()


def steps_per_s(model: PPO) -> float:
    """Steps per second since this ``learn()`` call began (SB3's ``time/fps``)."""
    elapsed = max(time.time_ns() - model.start_time, 1) / 1e9
    return (model.num_timesteps - model._num_timesteps_at_start) / elapsed


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    model: PPO
    timesteps: int
    interrupted: bool
    best_accuracy: float
    seconds: float
    history: list[tuple[int, float]]


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
        if not (run_dir / "config.toml").exists():
            raise FileNotFoundError(f"{run_dir} is not a run folder (no config.toml)")
        saved = load_toml(run_dir / "config.toml")
        config = dataclasses.replace(
            TrainConfig(**saved),
            total_timesteps=config.total_timesteps,
            progress=config.progress,
            show=config.show,
            device=config.device,
        )
    else:
        config.validate()
        run_dir = Path(config.runs_dir) / config.resolved_run_name(int(time.time()))
        run_dir.mkdir(parents=True, exist_ok=False)
        (run_dir / "config.toml").write_text(to_toml(config))
    seed_everything(config.seed)
    set_threads(config.threads)
    maps = training_maps(config)
    eval_maps = evaluation_maps(config)
    env, mania_env = make_env(config, maps)
    tensorboard_dir = run_dir / "tb"
    if resume is not None:
        checkpoint = latest_checkpoint(run_dir)
        model = PPO.load(checkpoint, env=env, device=resolve_device(config.device))
        model.tensorboard_log = str(tensorboard_dir)
        log.info("resuming %s from %s at step %d", run_dir, checkpoint, model.num_timesteps)
    else:
        model = make_model(config, env, tensorboard_dir)
    remaining = max(0, config.total_timesteps - model.num_timesteps)
    callback = TrainingCallback(config, run_dir, eval_maps, mania_env, config.total_timesteps)
    started = time.perf_counter()
    interrupted = False
    try:
        model.learn(
            remaining,
            callback=CallbackList([callback]),
            tb_log_name="PPO",
            reset_num_timesteps=resume is None and model.num_timesteps == 0,
        )
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: saving a checkpoint at step %d", model.num_timesteps)
    finally:
        callback.save_checkpoint()
        save_atomic(model, run_dir / "final_model.zip")
        env.close()
    seconds = time.perf_counter() - started
    if not interrupted and (not callback.history or callback.history[-1][0] != model.num_timesteps):
        callback.evaluate()
    return TrainResult(
        run_dir,
        model,
        int(model.num_timesteps),
        interrupted,
        callback.best_accuracy,
        seconds,
        callback.history,
    )


def latest_checkpoint(run_dir: Path) -> Path:
    checkpoints = sorted((run_dir / "checkpoints").glob("step_*.zip"))
    if checkpoints:
        return checkpoints[-1]
    final = run_dir / "final_model.zip"
    if final.exists():
        return final
    raise FileNotFoundError(f"{run_dir}: no checkpoint to resume from")
