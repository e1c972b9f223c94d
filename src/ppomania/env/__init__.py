"""The RL contract: spaces, reward, the SB3 VecEnv over the simulator, the gymnasium envs.

``ppomania/Mania-v0`` is registered on import; the env classes load lazily (they pull in
stable-baselines3 and torch, which commands such as ``verify-replay`` do not need).
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

ENV_ID = "ppomania/Mania-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="ppomania.env.mania_env:ManiaEnv")

_EXPORTS = {
    "ManiaEnv": "ppomania.env.mania_env",
    "ManiaVecEnv": "ppomania.env.vec_env",
    "RewardConfig": "ppomania.env.reward",
    "ActionCodec": "ppomania.env.spaces",
    "default_geometry": "ppomania.env.spaces",
    "observation_space": "ppomania.env.spaces",
}

__all__ = ["ENV_ID", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
