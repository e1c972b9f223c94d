"""Holding Ctrl+C (and a handled SIGTERM) back while a file is written, so none is cut in half."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held back, then hand the first one that came to its
    handler (Ctrl+C's raises ``KeyboardInterrupt`` once the block is done).

    Only signals that a Python handler takes are held (a default SIGTERM still ends the process at
    once), and only in the main thread, where Python runs signal handlers; elsewhere the block
    runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[tuple[int, FrameType | None]] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append((signum, frame))

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):
            previous[signum] = handler
            signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            signum, frame = received[0]
            previous[signum](signum, frame)
