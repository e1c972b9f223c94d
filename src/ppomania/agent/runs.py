"""Run folders: their layout, the config they were trained with, and checkpoints written whole.

A run folder (``runs/<name>/``) holds ``config.toml`` (the resolved :class:`TrainConfig`),
``checkpoints/step_<steps>.zip`` (the newest few), ``best_model.zip`` with
``best_accuracy.txt``, ``final_model.zip`` and the TensorBoard logs under ``tb/``.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from pathlib import Path
from typing import Any

from ppomania.agent.config import TrainConfig, load_toml, to_toml
from ppomania.agent.interrupts import interrupts_deferred

CONFIG_FILE = "config.toml"
CHECKPOINT_DIR = "checkpoints"
BEST_MODEL = "best_model.zip"
BEST_ACCURACY = "best_accuracy.txt"
FINAL_MODEL = "final_model.zip"
TENSORBOARD_DIR = "tb"


@dataclasses.dataclass
class TrainResult:
    """What a training run (simulator or live) produced."""

    run_dir: Path
    model: Any
    timesteps: int
    interrupted: bool
    best_accuracy: float
    """Best evaluation accuracy (-1: never evaluated)."""
    seconds: float
    history: list[tuple[int, float]]
    """``(timesteps, mean accuracy)`` of each evaluation."""


def create_run_dir(config: TrainConfig) -> Path:
    """A new run folder for ``config`` under ``config.runs_dir``, with its ``config.toml``.

    :raises FileExistsError: when a run of that name exists.
    """
    run_dir = Path(config.runs_dir) / config.resolved_run_name(int(time.time()))
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / CONFIG_FILE).write_text(to_toml(config))
    return run_dir


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The config values a run was trained with (its ``config.toml``).

    :raises FileNotFoundError: when ``run_dir`` is no run folder.
    """
    config_file = Path(run_dir) / CONFIG_FILE
    if not config_file.exists():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no {CONFIG_FILE})")
    return load_toml(config_file)


def checkpoint_path(run_dir: Path, steps: int) -> Path:
    return run_dir / CHECKPOINT_DIR / f"step_{steps:012d}.zip"


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest ``step_*.zip`` checkpoints."""
    for old in sorted((run_dir / CHECKPOINT_DIR).glob("step_*.zip"))[:-keep]:
        old.unlink()


def latest_checkpoint(run_dir: Path) -> Path:
    """The checkpoint to resume from: the newest ``step_*.zip``, else ``final_model.zip``.

    :raises FileNotFoundError: when there is neither.
    """
    checkpoints = sorted((run_dir / CHECKPOINT_DIR).glob("step_*.zip"))
    if checkpoints:
        return checkpoints[-1]
    final = run_dir / FINAL_MODEL
    if final.exists():
        return final
    raise FileNotFoundError(f"{run_dir}: no checkpoint to resume from")


def read_best_accuracy(run_dir: Path) -> float:
    """The best evaluation accuracy saved in the run (-1 when none yet)."""
    best = run_dir / BEST_ACCURACY
    return float(best.read_text()) if best.exists() else -1.0


def write_best_accuracy(run_dir: Path, accuracy: float) -> None:
    (run_dir / BEST_ACCURACY).write_text(f"{accuracy}\n")


def save_atomic(model: Any, path: Path) -> Path:
    """Save ``model`` (an SB3 model) to ``path`` (.zip) through a temporary file: never a
    half-written checkpoint, and no temporary file left when the write fails. Ctrl+C (and SIGTERM
    where handled) waits until the write is done: one landing inside torch's zip writer breaks it.
    """
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp.zip")
    with interrupts_deferred():
        try:
            model.save(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return path
