"""The policy network's feature extractor, sized for the note highway."""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class HighwayCNN(BaseFeaturesExtractor):
    """A small CNN for ``(4, H, K * column_width)`` highway frames.

    The first layer's kernel is one column wide with a stride of one column, so every lane is read by
    the same filters (a note means the same thing in every column); the second layer looks further
    along time within the lane, and a linear layer mixes the lanes. About 8× fewer multiply-adds
    than NatureCNN on 84×84, which is what makes PPO's update cheap on a CPU.

    :param observation_space: ``Box(0, 255, (n_stack, H, W), uint8)``.
    :param column_width: pixels per column (the kernel width). Default 4.
    :param features_dim: output features. Default 256.
    """

    def __init__(
        self, observation_space: gym.spaces.Box, column_width: int = 4, features_dim: int = 256
    ) -> None:
        super().__init__(observation_space, features_dim)
        n_stack = observation_space.shape[0]
        self.cnn = nn.Sequential(
            nn.Conv2d(n_stack, 32, kernel_size=(5, column_width), stride=(2, column_width)),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=(3, 1), stride=(2, 1)),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            sample = torch.as_tensor(observation_space.sample()[None]).float()
            n_flat = self.cnn(sample).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flat, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(observations))
