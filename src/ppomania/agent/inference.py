"""A trained model's deterministic actions for a small batch, per simulator step, cheaply.

Exactly the actions of SB3's ``model.predict(obs, deterministic=True)`` for ``MultiBinary`` and
``Discrete`` actions, without its per-call overhead (space checks, a copy of the observation, a
torch distribution object): the actor's forward under ``torch.inference_mode()`` on the uint8
observation itself, then the distribution's mode computed the way SB3's distributions compute it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class DeterministicActions:
    """``obs (n, 4, H, W) uint8 -> actions``, as ``model.predict(obs, deterministic=True)[0]``.

    :param model: an SB3 actor-critic model with ``MultiBinary`` or ``Discrete`` actions.
    :raises ValueError: for another action distribution.
    """

    def __init__(self, model: Any) -> None:
        from stable_baselines3.common.distributions import (
            BernoulliDistribution,
            CategoricalDistribution,
        )
        from stable_baselines3.common.preprocessing import is_image_space

        policy = model.policy
        if isinstance(policy.action_dist, BernoulliDistribution):
            self._binary = True
        elif isinstance(policy.action_dist, CategoricalDistribution):
            self._binary = False
        else:
            raise ValueError(f"no fast path for {type(policy.action_dist).__name__} actions")
        self._policy = policy
        self._action_shape = tuple(policy.action_space.shape)
        self._device = policy.device
        # SB3's preprocess_obs for a Box: float, scaled to [0, 1] when it is an image
        self._scale = policy.normalize_images and is_image_space(policy.observation_space)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        import torch

        policy = self._policy
        if policy.training:
            policy.set_training_mode(False)  # as predict() does
        # The frame stack's buffer as a tensor without a copy.
        tensor = torch.from_numpy(np.ascontiguousarray(obs))
        if tensor.device != self._device:
            tensor = tensor.to(self._device)
        with torch.inference_mode():
            # get_distribution(): the actor's features, latent, logits
            scaled = tensor.float() / 255.0 if self._scale else tensor.float()
            features = policy.pi_features_extractor(scaled)
            logits = policy.action_net(policy.mlp_extractor.forward_actor(features))
            if self._binary:  # Bernoulli(logits).probs, rounded: BernoulliDistribution.mode()
                actions = torch.round(torch.sigmoid(logits))
            else:  # Categorical(logits) normalizes, then argmax of its probs
                normalized = logits - logits.logsumexp(dim=-1, keepdim=True)
                actions = torch.argmax(torch.softmax(normalized, dim=-1), dim=1)
        return actions.cpu().numpy().reshape((-1, *self._action_shape))
