"""The RL contract: spaces, reward, the SB3 VecEnv over the simulator, the gymnasium envs."""

import gymnasium as gym

from ppomania.env.mania_env import ManiaEnv
from ppomania.env.reward import RewardConfig, reward
from ppomania.env.spaces import ActionCodec, observation_space
from ppomania.env.vec_env import ManiaVecEnv

ENV_ID = "ppomania/Mania-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="ppomania.env.mania_env:ManiaEnv")

__all__ = [
    "ENV_ID",
    "ActionCodec",
    "ManiaEnv",
    "ManiaVecEnv",
    "RewardConfig",
    "observation_space",
    "reward",
]
