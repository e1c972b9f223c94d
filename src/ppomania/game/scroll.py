"""osu!mania's scroll-speed setting (1–40) as a time: how long a note is on screen.

osu!stable moves notes at a constant speed in its 480-pixel-high playfield space, whatever the skin's
``HitPosition``: ``speed * 21 / 600`` units per ms (``SpeedMania`` in stable, quoted in ppy/osu
PR #13901; lazer matches it since PR #26131). With the default ``HitPosition`` 402 a note takes
``402 * 600 / 21 / speed`` ≈ ``11485 / speed`` ms from the top of the window to the judgement line,
lazer's ``DrawableManiaRuleset.MAX_TIME_RANGE / speed``.
"""

from __future__ import annotations

#: lazer's ``DrawableManiaRuleset.MAX_TIME_RANGE``: at scroll speed ``s`` a note takes
#: ``11485 / s`` ms to cross the playfield down to the default hit position (stable: 11485.71).
BASE_SCROLL_MS = 11485.0
#: 11485 / 22 ≈ 522 ms of future notes, in the 450–600 ms range good players use.
DEFAULT_SCROLL_SPEED = 22.0
#: The ``HitPosition`` (480-pixel space) that :data:`BASE_SCROLL_MS` is measured to.
DEFAULT_HIT_POSITION = 402.0


def scroll_ms_for(scroll_speed: float) -> float:
    """Visible future (ms) at an osu!mania scroll speed setting (1–40): ``11485 / scroll_speed``."""
    if not 1.0 <= scroll_speed <= 40.0:
        raise ValueError(f"scroll speed must be in [1, 40], got {scroll_speed}")
    return BASE_SCROLL_MS / scroll_speed
