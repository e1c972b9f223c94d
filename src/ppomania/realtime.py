"""Soft real-time helpers for loops that run against a game clock: pacing to a deadline and asking
the OS for real-time scheduling priority.

A leaf module (it imports nothing of ppomania's), so both the live env and the stand-in game use
the one copy without the stand-in depending on the live layer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


def realtime_priority(priority: int = 10) -> tuple[str, Callable[[], None]]:
    """Ask the OS to run the calling thread (and threads it starts afterwards) ahead of ordinary
    work: ``SCHED_FIFO`` at ``priority``, else ``nice -10``; best effort.

    :returns: what was granted (``"fifo"``, ``"nice"`` or ``"none"``) and a function that puts the
        thread back as it was.

    A live loop is a soft real-time task: on a busy machine a step that wakes 10 ms late sends its
    keys 10 ms late, which a policy trained with exact timing cannot absorb. The loop sleeps
    between steps and busy-waits at most a millisecond, so it cannot hog a core.
    """
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return "fifo", lambda: os.sched_setscheduler(0, policy, param)
    except (AttributeError, OSError):
        pass
    try:
        tid = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, nice - 10)
        return "nice", lambda: os.setpriority(os.PRIO_PROCESS, tid, nice)
    except (AttributeError, OSError):
        return "none", lambda: None


def pace_until(deadline: float, spin_s: float = 0.001) -> float:
    """Sleep until ``spin_s`` before ``deadline`` (monotonic), busy-wait the rest; return now."""
    remaining = deadline - time.monotonic()
    if remaining > spin_s:
        time.sleep(remaining - spin_s)
    while (now := time.monotonic()) < deadline:
        pass
    return now
