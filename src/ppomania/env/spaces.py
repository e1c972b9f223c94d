"""Observation and action spaces shared by the simulator and the live game."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from ppomania.sim.render import HighwayGeometry

N_STACK = 4
#: Rows and pixels per column of the default observation frame: small enough for a cheap CNN
#: (see ``ppomania bench train``), fine enough for 12 ms per row at the default scroll speed.
DEFAULT_FRAME_HEIGHT = 48
DEFAULT_COLUMN_WIDTH = 4


def default_geometry(keys: int) -> HighwayGeometry:
    """The default highway frame: ``(48, 4 * keys)``, scroll speed 22 (~522 ms visible)."""
    return HighwayGeometry.for_keys(keys, DEFAULT_FRAME_HEIGHT, DEFAULT_COLUMN_WIDTH * keys)


def observation_space(geometry: HighwayGeometry, n_stack: int = N_STACK) -> gym.spaces.Box:
    """``Box(0, 255, (n_stack, H, W), uint8)``: stacked frames, channels first, oldest first."""
    return gym.spaces.Box(0, 255, (n_stack, *geometry.shape), dtype=np.uint8)


class ActionCodec:
    """Turns agent actions into per-key held states.

    :param keys: key count K.
    :param kind: ``"multibinary"`` (``MultiBinary(K)``, default) or ``"discrete"``
        (``Discrete(2**K)``, bit ``k`` = key ``k``).
    """

    def __init__(self, keys: int, kind: str = "multibinary") -> None:
        if kind not in ("multibinary", "discrete"):
            raise ValueError(f"action space must be 'multibinary' or 'discrete', got {kind!r}")
        self.keys = keys
        self.kind = kind
        self.space: gym.spaces.Space = (
            gym.spaces.MultiBinary(keys) if kind == "multibinary" else gym.spaces.Discrete(2**keys)
        )
        self._bits = (1 << np.arange(keys)).astype(np.int64)

    def decode(self, actions: np.ndarray) -> np.ndarray:
        """``(n, K)`` bool held states from a batch of actions."""
        actions = np.asarray(actions)
        if self.kind == "multibinary":
            return actions.reshape(-1, self.keys).astype(np.bool_)
        return (actions.reshape(-1, 1).astype(np.int64) & self._bits) != 0

    def encode(self, held: np.ndarray) -> np.ndarray:
        """The actions that hold ``held`` ``(n, K)`` (the inverse of :meth:`decode`)."""
        held = np.asarray(held, dtype=np.bool_).reshape(-1, self.keys)
        if self.kind == "multibinary":
            return held.astype(np.int8)
        return (held.astype(np.int64) * self._bits).sum(axis=1)
