"""Colours of the judgements, shared by the live window (pygame) and the result plots (matplotlib);
a module of its own so that neither pulls in the other's drawing library."""

from __future__ import annotations

#: RGB of each judgement, in :class:`~ppomania.game.rules.Judgement` order (osu!mania's skin
#: colours, roughly).
JUDGEMENT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (120, 220, 255),  # MAX
    (255, 205, 60),  # 300
    (90, 215, 90),  # 200
    (70, 130, 255),  # 100
    (170, 130, 210),  # 50
    (235, 60, 60),  # miss
)
