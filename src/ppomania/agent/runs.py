"""Run folders: their layout, the config they were trained with, and files written whole.

A run folder (``runs/<name>/``) holds ``config.toml`` (the resolved :class:`TrainConfig`),
``checkpoints/step_<steps>.zip`` (the newest few), ``best_model.zip`` with
``best_accuracy.txt``, ``final_model.zip`` and the TensorBoard logs under ``tb/``.

Every file is written through a temporary file beside it and renamed into place, so a kill leaves
the old file or the new one, never half of one; temporary files a kill left behind are removed
when the run starts or resumes (:func:`clean_temp_files`). Nothing is deleted through a link that
leads out of the run folder.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ppomania.agent.config import ConfigError, TrainConfig, load_toml, to_toml
from ppomania.agent.interrupts import interrupts_deferred

log = logging.getLogger(__name__)

CONFIG_FILE = "config.toml"
CHECKPOINT_DIR = "checkpoints"
BEST_MODEL = "best_model.zip"
BEST_ACCURACY = "best_accuracy.txt"
FINAL_MODEL = "final_model.zip"
TENSORBOARD_DIR = "tb"

#: Marks the temporary files of :func:`save_atomic` and :func:`write_atomic`.
_TEMP_MARK = ".tmp"


class RunWriteError(OSError):
    """A file of a run folder could not be written (a full disk, no permission); what was saved
    before stays as it was."""


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


def run_dir_for(config: TrainConfig, timestamp: int) -> Path:
    """The folder of a new run of ``config``: always directly inside ``config.runs_dir``.

    :raises ConfigError: when the run name would lead elsewhere.
    """
    runs_dir = Path(config.runs_dir)
    run_dir = runs_dir / config.resolved_run_name(timestamp)
    if run_dir.resolve().parent != runs_dir.resolve():
        raise ConfigError(f"run_name: {run_dir.name!r} leads out of runs_dir {str(runs_dir)!r}")
    return run_dir


def create_run_dir(config: TrainConfig) -> Path:
    """A new run folder for ``config`` under ``config.runs_dir``, with its ``config.toml``.

    :raises FileExistsError: when a run of that name exists.
    :raises RunWriteError: when the config cannot be written (the folder is removed again).
    """
    run_dir = run_dir_for(config, int(time.time()))
    run_dir.mkdir(parents=True, exist_ok=False)
    try:
        write_run_config(run_dir, config)
    except RunWriteError:
        run_dir.rmdir()
        raise
    return run_dir


def write_run_config(run_dir: Path, config: TrainConfig) -> None:
    """Record ``config`` as the run's ``config.toml``."""
    write_atomic(run_dir / CONFIG_FILE, to_toml(config))


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


def inside_run(run_dir: Path, path: Path) -> bool:
    """Whether ``path`` (its folder's links followed) lies in ``run_dir``."""
    return path.parent.resolve().is_relative_to(run_dir.resolve())


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest ``step_*.zip`` checkpoints (none when ``checkpoints/``
    leads out of the run folder: the files there are not the run's to delete)."""
    folder = run_dir / CHECKPOINT_DIR
    if not inside_run(run_dir, folder / "x"):
        log.warning("%s leads out of %s: old checkpoints are not deleted", folder, run_dir)
        return
    for old in sorted(folder.glob("step_*.zip"))[:-keep]:
        old.unlink()


def resume_candidates(run_dir: Path) -> list[Path]:
    """The files a run can resume from, best first: the ``step_*.zip`` checkpoints newest first,
    then ``final_model.zip``."""
    candidates = sorted((run_dir / CHECKPOINT_DIR).glob("step_*.zip"), reverse=True)
    final = run_dir / FINAL_MODEL
    return [*candidates, final] if final.is_file() else candidates


def clean_temp_files(run_dir: Path) -> list[Path]:
    """Remove the temporary files that writes cut short left in the run folder; return them."""
    removed = []
    tensorboard = run_dir / TENSORBOARD_DIR
    event_folders = [p for p in tensorboard.iterdir() if p.is_dir()] if tensorboard.is_dir() else []
    for folder in (run_dir, run_dir / CHECKPOINT_DIR, *event_folders):
        if not folder.is_dir() or not inside_run(run_dir, folder / "x"):
            continue
        for path in folder.glob(f".*{_TEMP_MARK}*"):
            if path.is_file() or path.is_symlink():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def read_best_accuracy(run_dir: Path) -> float:
    """The best evaluation accuracy saved in the run (-1 when none yet, or unreadable)."""
    best = run_dir / BEST_ACCURACY
    try:
        return float(best.read_text()) if best.exists() else -1.0
    except ValueError:
        log.warning("%s is unreadable: the best accuracy starts over", best)
        return -1.0


def write_best_accuracy(run_dir: Path, accuracy: float) -> None:
    write_atomic(run_dir / BEST_ACCURACY, f"{accuracy}\n")


@contextmanager
def _written_whole(path: Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; renamed into place when the block
    ends, removed when it fails. Ctrl+C (and SIGTERM where handled) waits until it is done."""
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}{_TEMP_MARK}{path.suffix}")
    with interrupts_deferred():
        try:
            yield tmp
            os.replace(tmp, path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and not isinstance(exc, RunWriteError):
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                error = RunWriteError(f"cannot write {path}: {reason}")
                error.errno = exc.errno
                raise error from exc
            raise


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8) to ``path`` whole (see :func:`save_atomic`).

    :raises RunWriteError: when it cannot be written; ``path`` is then as it was.
    """
    data = content.encode() if isinstance(content, str) else content
    with _written_whole(path) as tmp:
        tmp.write_bytes(data)
    return path


def save_atomic(model: Any, path: Path) -> Path:
    """Save ``model`` (an SB3 model) to ``path`` (.zip) through a temporary file: never a
    half-written checkpoint, and no temporary file left when the write fails. Ctrl+C (and SIGTERM
    where handled) waits until the write is done: one landing inside torch's zip writer breaks it.

    :raises RunWriteError: when it cannot be written (``ENOSPC``...); ``path`` is then as it was.
    """
    with _written_whole(path) as tmp:
        model.save(tmp)
    return path
