"""The policy network's feature extractor, sized for the note highway."""

from __future__ import annotations

import math

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


def set_press_probability(action_net: nn.Linear, keys: int, probability: float) -> None:
    """Start the policy pressing each key with ``probability`` per step, whatever it sees.

    SB3 initialises the action head near zero, so every key starts as a fair coin: at 60 Hz that is
    ~15 presses per second per key. Those taps take nearly every note at the early edge of its
    window (a miss or a 50), so a well-timed press earns no more than not pressing, and with many
    keys their ghost taps teach the policy to press nothing. At a low press probability a press on
    a note pays and one elsewhere costs little. The head's bias gets the logit of
    ``probability``; its weights are untouched. ``MultiBinary(K)`` heads have one logit per key;
    ``Discrete(2**K)`` heads one per chord, where chord ``c`` gets ``popcount(c) * logit(p)``, the
    log-probability of independent per-key presses up to a constant.

    :param action_net: the policy's action head, ``K`` or ``2**K`` outputs.
    :param keys: key count ``K``.
    :param probability: press probability per key, in (0, 1).
    """
    if not 0 < probability < 1:
        raise ValueError(f"press probability must be in (0, 1), got {probability}")
    logit = math.log(probability / (1 - probability))
    with torch.no_grad():
        if action_net.out_features == keys:
            action_net.bias.fill_(logit)
        elif action_net.out_features == 2**keys:
            chords = torch.arange(2**keys)
            presses = sum((chords >> k) & 1 for k in range(keys))
            action_net.bias.copy_(presses.to(action_net.bias.dtype) * logit)
        else:
            raise ValueError(
                f"an action head of {action_net.out_features} outputs plays no {keys}K"
            )
