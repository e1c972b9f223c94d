"""``FrameSaver``: the live loop's screen grabs and perceived frames as PNGs, to inspect a misread
after the play (``ppomania play --save-frames``).

Every ``every``-th step's grab (what the screen showed in the capture area) and the agent's newest
frame are copied (tens of µs) and handed to a writer thread at the lowest scheduling priority, which
encodes and writes them (``{play}-{step}_{game ms}ms_grab.png`` and ``..._frame.png``) while the
loop sleeps between its ticks. Saving stops after ``limit`` files; a step whose copies would find
the writer ``backlog`` steps behind is skipped (counted in :attr:`FrameSaver.dropped`), so memory
stays bounded whatever the disk does.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from pathlib import Path

import numpy as np

from ppomania.live.capture import write_png

#: Steps waiting for the writer before new ones are dropped.
BACKLOG = 64


class FrameSaver:
    """Saves grabs and frames of every ``every``-th step into ``folder`` (created).

    :param folder: where the PNGs go.
    :param every: save one step in this many (default 10).
    :param limit: most files written (two per saved step; default 2000).
    :param backlog: most steps waiting for the writer (default :data:`BACKLOG`).
    """

    def __init__(
        self, folder: str | Path, every: int = 10, limit: int = 2000, backlog: int = BACKLOG
    ) -> None:
        if every < 1 or limit < 0:
            raise ValueError(f"every must be >= 1 and limit >= 0, got {every} and {limit}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.every, self.limit = every, limit
        #: Files handed to the writer; steps skipped because the writer was behind.
        self.files = self.dropped = 0
        #: The first error the writer met (it stops writing then).
        self.error: OSError | None = None
        self._queue: queue.Queue[tuple[str, np.ndarray, np.ndarray] | None] = queue.Queue(backlog)
        self._thread = threading.Thread(target=self._write, name="frame-saver", daemon=True)
        self._thread.start()

    def offer(
        self, play: int, step: int, frame_ms: float, grab: np.ndarray, frame: np.ndarray
    ) -> None:
        """Keep step ``step`` of play ``play`` if it is one to save: ``grab`` BGR(A) and ``frame``
        ``(H, W)`` grey are copied (their buffers are reused by the loop)."""
        if step % self.every or self.files + 2 > self.limit or self.error is not None:
            return
        name = f"{play:02d}-{step:06d}_{round(frame_ms):+07d}ms"
        try:
            self._queue.put_nowait((name, grab.copy(), frame.copy()))
        except queue.Full:
            self.dropped += 1
            return
        self.files += 2

    def close(self) -> None:
        """Write what is waiting, then stop the writer (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _write(self) -> None:
        # Below everything else: the control loop (real-time or not) must not wait for PNGs.
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        while (item := self._queue.get()) is not None:
            if self.error is not None:
                continue
            name, grab, frame = item
            try:
                write_png(grab, self.folder / f"{name}_grab.png")
                write_png(
                    np.repeat(frame[:, :, None], 3, axis=2), self.folder / f"{name}_frame.png"
                )
            except OSError as exc:
                self.error = exc
