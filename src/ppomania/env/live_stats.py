"""``LiveStats``: timings of the live loop, kept by :class:`~ppomania.env.live_env.LiveManiaEnv`
for its end-of-episode info and read by ``ppomania bench live``."""

from __future__ import annotations

from collections import deque

import numpy as np


class LiveStats:
    """Timings of the live loop (ms), for ``ppomania bench live`` and the end-of-episode info.

    ``jitter``: step start after its tick; ``capture``: grab + preprocessing; ``capture_to_key``:
    grab start to the key event sent (wall time); ``key_lateness``: sent after the action's due
    time; ``frame_age``: landing clock at the grab minus the time the grab shows;
    ``frame_to_key``: landing clock when the key was sent minus the time of the frame it was
    chosen from (the latency the policy met; the simulator's ``capture + input`` latency).
    """

    FIELDS = (
        "jitter_ms",
        "capture_ms",
        "capture_to_key_ms",
        "key_lateness_ms",
        "frame_age_ms",
        "frame_to_key_ms",
    )

    def __init__(self, keep: int = 36_000) -> None:
        for name in self.FIELDS:  # the last ``keep`` values (10 minutes at 60 Hz)
            setattr(self, name, deque(maxlen=keep))

    def summary(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name in self.FIELDS:
            values = getattr(self, name)
            if not values:
                out[f"{name}_mean"] = out[f"{name}_p95"] = None
                continue
            a = np.asarray(values)
            out[f"{name}_mean"] = round(float(a.mean()), 3)
            out[f"{name}_p95"] = round(float(np.percentile(a, 95)), 3)
        return out
