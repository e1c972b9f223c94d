"""The untrained policy's exploration against the default reward: what keeps 7K from learning to
press nothing (the policy's initial press probability and the ghost-tap penalty)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ppomania.agent.config import TrainConfig
from ppomania.agent.evaluate import builtin_policy
from ppomania.agent.policy import set_press_probability
from ppomania.agent.train import make_env, make_model, training_maps
from ppomania.env.reward import RewardConfig
from ppomania.env.vec_env import ManiaVecEnv
from ppomania.sim.patterns import PatternConfig, generate_maps


@pytest.mark.parametrize("keys", [4, 7])
def test_press_probability_of_a_multibinary_head(keys):
    head = nn.Linear(8, keys)
    set_press_probability(head, keys, 0.1)
    with torch.no_grad():
        probs = torch.sigmoid(head(torch.zeros(1, 8)))
    assert torch.allclose(probs, torch.full((1, keys), 0.1))


@pytest.mark.parametrize("keys", [4, 7])
def test_press_probability_of_a_discrete_head_is_per_key(keys):
    """A chord head gets the distribution of independent per-key presses."""
    head = nn.Linear(8, 2**keys)
    set_press_probability(head, keys, 0.2)
    with torch.no_grad():
        chords = torch.softmax(head(torch.zeros(1, 8)), dim=1)[0]
    bits = (torch.arange(2**keys)[:, None] >> torch.arange(keys)) & 1
    assert torch.allclose(chords @ bits.to(chords.dtype), torch.full((keys,), 0.2), atol=1e-6)
    assert chords[0] == pytest.approx(0.8**keys, rel=1e-5)


def test_press_probability_rejects_bad_values():
    with pytest.raises(ValueError):
        set_press_probability(nn.Linear(8, 4), 4, 0.0)
    with pytest.raises(ValueError):
        set_press_probability(nn.Linear(8, 5), 4, 0.1)
    with pytest.raises(ValueError):
        TrainConfig(initial_press_probability=1.0).validate()


@pytest.mark.parametrize("action_space", ["multibinary", "discrete"])
def test_a_new_model_presses_each_key_with_the_configured_probability(tmp_path, action_space):
    config = TrainConfig(
        keys=7, n_envs=2, generated_maps=2, map_duration_s=5.0, action_space=action_space
    )
    env = make_env(config, training_maps(config)).monitored
    model = make_model(config, env, tmp_path)
    obs = torch.as_tensor(env.reset()).to(model.device)
    with torch.no_grad():
        actions = np.stack([model.policy(obs)[0].cpu().numpy() for _ in range(500)])
    presses = env.venv.codec.decode(actions.reshape(-1, *actions.shape[2:]))
    assert presses.mean() == pytest.approx(config.initial_press_probability, abs=0.02)


def _reward_per_step(keys: int, policy: str, steps: int = 600) -> float:
    """Mean reward per step and play of ``policy`` on generated maps with the default reward:
    ``untrained`` presses each key with the default initial press probability."""
    maps = generate_maps(PatternConfig(keys=keys, duration_s=20.0), 8, seed=0)
    env = ManiaVecEnv(maps, 8, reward_config=RewardConfig(), seed=0)
    obs = env.reset()
    rng = np.random.default_rng(0)
    p = TrainConfig().initial_press_probability
    autoplay = builtin_policy("autoplay", keys)
    total = 0.0
    for _ in range(steps):
        if policy == "untrained":
            action = rng.random((8, keys)) < p
        elif policy == "autoplay":
            action = autoplay(obs, env.sim)
        else:
            action = np.zeros((8, keys), dtype=np.bool_)
        obs, rewards, _, _ = env.step(action.astype(np.int8))
        total += float(rewards.sum())
    return total / (steps * 8)


@pytest.mark.parametrize("keys", [4, 7])
def test_the_untrained_policy_earns_more_than_pressing_nothing(keys):
    """If idle play out-earned the untrained policy's random taps, pressing nothing would be the
    nearest optimum, which 7K fell into with a fair coin per key and -0.3 per ghost tap."""
    idle = _reward_per_step(keys, "idle")
    untrained = _reward_per_step(keys, "untrained")
    assert idle + 0.02 < untrained < _reward_per_step(keys, "autoplay")
