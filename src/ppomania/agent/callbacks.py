"""The parts of a training run as stable-baselines3 callbacks, composed in a ``CallbackList``.

Each callback does one thing: checkpoints, evaluation with the best model, game metrics in
TensorBoard, the progress bar, the visualization window, the wall-time deadline, the curriculum.
State they share is passed in explicitly: :class:`EvaluationLog` (written by
:class:`Evaluation`, read by the progress bar and the trainer).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from ppomania.agent.evaluate import model_policy, play_maps
from ppomania.agent.runs import (
    BEST_MODEL,
    CHECKPOINT_DIR,
    checkpoint_path,
    prune_checkpoints,
    read_best_accuracy,
    save_atomic,
    write_best_accuracy,
)
from ppomania.env.vec_env import ManiaVecEnv, PoolSampler
from ppomania.game.beatmap import Beatmap
from ppomania.game.rules import JUDGEMENT_KEYS


@dataclasses.dataclass
class EvaluationLog:
    """Evaluations of one run: the best accuracy (also of earlier sessions of a resumed run) and
    ``(timesteps, mean accuracy)`` of every evaluation in this session."""

    best_accuracy: float = -1.0
    history: list[tuple[int, float]] = dataclasses.field(default_factory=list)

    @property
    def last_accuracy(self) -> float | None:
        return self.history[-1][1] if self.history else None


def steps_per_s(model: BaseAlgorithm) -> float:
    """Steps per second since this ``learn()`` call began (SB3's ``time/fps``)."""
    elapsed = max(time.time_ns() - model.start_time, 1) / 1e9
    return (model.num_timesteps - model._num_timesteps_at_start) / elapsed


class Checkpoints(BaseCallback):
    """Save ``checkpoints/step_<steps>.zip`` every ``every`` steps, keeping the ``keep`` newest."""

    def __init__(self, run_dir: Path, every: int, keep: int) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.every = every
        self.keep = keep
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = self.num_timesteps + self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.every
            self.save(self.model)
        return True

    def save(self, model: BaseAlgorithm) -> Path:
        """Save a checkpoint of ``model`` at its step now (also after training has stopped, or
        when an interrupt came before ``learn`` gave the callbacks their model)."""
        (self.run_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        # The model's count: an interrupt between an env step and the callbacks leaves ours behind.
        path = save_atomic(model, checkpoint_path(self.run_dir, model.num_timesteps))
        prune_checkpoints(self.run_dir, self.keep)
        return path


class Evaluation(BaseCallback):
    """Every ``every`` steps, play ``maps`` in the simulator with the deterministic policy, log
    ``eval/*`` and save ``best_model.zip`` when the accuracy is at least the best so far (on a
    tie the more trained model: held-out generated maps often reach 100% early, and a 4K run's
    200k-step model then stood for the run while its 1M-step one was better on real maps).

    :param env: the training env (its action codec, simulator config and frame geometry).
    :param log: where evaluations are recorded.
    """

    def __init__(
        self,
        run_dir: Path,
        maps: Sequence[Beatmap],
        env: ManiaVecEnv,
        every: int,
        log: EvaluationLog,
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.maps = list(maps)
        self.env = env
        self.every = every
        self.log = log
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = self.num_timesteps + self.every
        self.log.best_accuracy = read_best_accuracy(self.run_dir)

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.every
            self.evaluate()
        return True

    def evaluate(self) -> float:
        """Evaluate now (also after training has stopped); return the mean accuracy."""
        env = self.env
        plays = play_maps(
            self.maps, model_policy(self.model, env.codec), env.sim.config, env.sim.geometry
        )
        accuracy = float(np.mean([p.accuracy for p in plays]))
        self.log.history.append((self.num_timesteps, accuracy))
        self.logger.record("eval/accuracy", accuracy)
        self.logger.record("eval/score", float(np.mean([p.score for p in plays])))
        self.logger.record("eval/fail_rate", float(np.mean([p.failed for p in plays])))
        if accuracy >= self.log.best_accuracy:
            self.log.best_accuracy = accuracy
            save_atomic(self.model, self.run_dir / BEST_MODEL)
            write_best_accuracy(self.run_dir, accuracy)
        return accuracy

    def evaluate_final(self) -> float:
        """Evaluate after training has stopped and log it at the model's step at once (the
        training loop dumps the log no more). Values recorded since its last dump go: they
        would land on a step already logged."""
        logger = self.logger
        for pending in (logger.name_to_value, logger.name_to_count, logger.name_to_excluded):
            pending.clear()
        accuracy = self.evaluate()
        logger.dump(self.model.num_timesteps)
        return accuracy


class GameMetrics(BaseCallback):
    """TensorBoard scalars per rollout: its wall time and the update's (``time/*``), and the
    finished plays' accuracy, score, combo, fail rate and judgement counts."""

    def __init__(self) -> None:
        super().__init__()
        self._plays: list[dict[str, Any]] = []
        self._rollout_start = 0.0
        self._rollout_end = 0.0

    def _on_rollout_start(self) -> None:
        now = time.perf_counter()
        if self._rollout_end:
            self.logger.record("time/update_s", now - self._rollout_end)
        self._rollout_start = now

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            if "play" in info:
                self._plays.append(info["play"])
        return True

    def _on_rollout_end(self) -> None:
        self._rollout_end = time.perf_counter()
        self.logger.record("time/rollout_s", self._rollout_end - self._rollout_start)
        plays = self._plays
        if not plays:
            return
        record = self.logger.record
        record("rollout/accuracy", float(np.mean([p["accuracy"] for p in plays])))
        record("rollout/score", float(np.mean([p["score"] for p in plays])))
        record("rollout/max_combo", float(np.mean([p["max_combo"] for p in plays])))
        record("rollout/fail_rate", float(np.mean([p["failed"] for p in plays])))
        counts = np.sum([p["counts"] for p in plays], axis=0)
        for label, n in zip(JUDGEMENT_KEYS, counts):
            record(f"judgements/{label}", int(n))
        plays.clear()


class ProgressBar(BaseCallback):
    """A tqdm bar of the steps towards the run's end, with the time left, steps/s and the last
    evaluation.

    The run ends at ``total_timesteps`` or at ``deadline``, whichever comes first: once the rate
    is known the bar's total is the steps it will reach. The rate is measured over whole rollouts
    and updates after a warm-up rollout (numba compiles, torch warms up), so there is no estimate
    of the time left before that (only the deadline's bound, when there is one).

    :param deadline: the run's time budget, if any.
    """

    def __init__(
        self, total_timesteps: int, log: EvaluationLog, deadline: Deadline | None = None
    ) -> None:
        super().__init__()
        self.total_timesteps = total_timesteps
        self.log = log
        self.deadline = deadline
        self._bar: Any = None
        self._rollouts = 0
        self._since: tuple[float, int] | None = None  # (time, steps) when the warm-up was over
        self._rate: float | None = None  # steps per second after the warm-up

    def _on_training_start(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=self.total_timesteps,
            initial=self.num_timesteps,
            unit="step",
            dynamic_ncols=True,
            mininterval=1.0,
            # tqdm's own ETA would count the warm-up and ignore the deadline: ours is in postfix.
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
        )

    def _on_rollout_start(self) -> None:
        self._rollouts += 1
        now = time.monotonic()
        if self._rollouts == 2:  # after the first rollout and update
            self._since = (now, self.num_timesteps)
        elif self._since is not None and now > self._since[0]:
            self._rate = (self.num_timesteps - self._since[1]) / (now - self._since[0])

    def _on_step(self) -> bool:
        bar = self._bar
        bar.n = self.num_timesteps
        bar.total, left = self.expected_end()
        if left is not None:
            shown = _clock(left)
        elif self.deadline is not None:  # the rate is unknown, the time budget bounds it
            shown = "<=" + _clock(self.deadline.seconds_left())
        else:
            shown = "?"
        postfix = {"left": shown}
        postfix["sps"] = f"{steps_per_s(self.model):.0f}"
        if self.log.last_accuracy is not None:
            postfix["eval_acc"] = f"{100 * self.log.last_accuracy:.2f}%"
        bar.set_postfix(postfix, refresh=False)
        bar.update(0)
        return True

    def expected_end(self) -> tuple[int, float | None]:
        """``(steps at the end, seconds left)``: ``total_timesteps`` or the steps the measured rate
        reaches by the deadline, whichever is fewer; the seconds left are None while the rate is
        unknown. PPO collects whole rollouts, so the last one may run past ``total_timesteps``:
        the end is never before the steps done, the time left never below 0."""
        steps = self.num_timesteps
        if self._rate is None or self._rate <= 0:
            return max(self.total_timesteps, steps), None
        budget = self.deadline.seconds_left() if self.deadline is not None else None
        by_steps = max(0.0, (self.total_timesteps - steps) / self._rate)
        if budget is not None and budget < by_steps:
            return min(self.total_timesteps, steps + int(self._rate * budget)), budget
        return max(self.total_timesteps, steps), by_steps

    def _on_training_end(self) -> None:
        self._bar.close()


def _clock(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Window(BaseCallback):
    """The visualization window on env 0 of ``env``; training goes on when the user closes it."""

    def __init__(self, env: ManiaVecEnv) -> None:
        super().__init__()
        self.env = env
        self._window: Any = None
        self._feed: Any = None
        self._meter: Any = None

    def _on_training_start(self) -> None:
        from ppomania.agent.window import JudgementFeed, RateMeter, VisualizationWindow

        sim = self.env.sim
        # 10 fps: a real X window's flip costs milliseconds on a CPU-only machine.
        self._window = VisualizationWindow(
            self.env.keys, sim.geometry.shape, title="ppomania train", fps=10
        )
        self._feed = JudgementFeed(sim)
        self._meter = RateMeter()

    def _on_step(self) -> bool:
        if self._window is not None and not self._update():
            self._window.close()
            self._window = None
        return True

    def _update(self) -> bool:
        """Feed the window env 0's step; the costly parts only when it is about to draw."""
        from ppomania.agent.window import policy_outputs

        env = self.env
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

    def _on_training_end(self) -> None:
        if self._window is not None:
            self._window.close()


class Deadline(BaseCallback):
    """Stop training after ``minutes`` of wall time, counted from when the callback is made."""

    def __init__(self, minutes: float) -> None:
        super().__init__()
        self._deadline = time.monotonic() + 60 * minutes

    def seconds_left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def _on_step(self) -> bool:
        return time.monotonic() < self._deadline


class Curriculum(BaseCallback):
    """Report the fraction of ``total_timesteps`` done to the env's map sampler at every step."""

    def __init__(self, sampler: PoolSampler, total_timesteps: int) -> None:
        super().__init__()
        self.sampler = sampler
        self.total_timesteps = total_timesteps

    def _on_step(self) -> bool:
        self.sampler.report_progress(self.num_timesteps / max(1, self.total_timesteps))
        return True
