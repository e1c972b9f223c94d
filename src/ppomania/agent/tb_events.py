"""The TensorBoard log of a run folder: one event folder, ``tb/PPO_1``, that every session of the
run writes to. A session that resumes from the checkpoint at step N first cuts the events that a
killed session logged after N (they are logged again, from the checkpoint on), so that no step
appears twice, whatever reads the log.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from stable_baselines3.common.logger import Logger, configure

from ppomania.agent.runs import TENSORBOARD_DIR, inside_run, write_atomic

log = logging.getLogger(__name__)

#: The event folder of a run, under ``tb/`` (SB3's name for the first run of ``PPO``).
TB_RUN = "PPO_1"


def run_logger(run_dir: Path, step: int) -> Logger:
    """An SB3 logger that writes the run's TensorBoard log on from ``step`` (cut back to it)."""
    folder = run_dir / TENSORBOARD_DIR / TB_RUN
    cut_events(run_dir, folder, step)
    return configure(str(folder), ["tensorboard"])


def cut_events(run_dir: Path, folder: Path, step: int) -> None:
    """Drop the events after ``step`` from the event files in ``folder`` (a torn last record
    too); files that lead out of ``run_dir`` are left alone."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event

    for path in sorted(folder.glob("events.out.tfevents.*")):
        if not path.is_file() or path.is_symlink() or not inside_run(run_dir, path):
            continue
        records = list(RawEventFileLoader(str(path)).Load())
        kept = [r for r in records if Event.FromString(r).step <= step]
        if len(kept) == len(records) and _record_bytes(records) == path.stat().st_size:
            continue
        log.info("%s: dropping %d events after step %d", path, len(records) - len(kept), step)
        write_atomic(path, _framed(kept))


def _record_bytes(records: list[bytes]) -> int:
    # A TFRecord frame: length (8 bytes), its CRC (4), the data, the data's CRC (4).
    return sum(len(r) + 16 for r in records)


def _framed(records: list[bytes]) -> bytes:
    from tensorboard.summary.writer.record_writer import RecordWriter

    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    for record in records:
        writer.write(record)
    return buffer.getvalue()
