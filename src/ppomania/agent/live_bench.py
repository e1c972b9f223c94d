"""The policy side of ``ppomania bench live``: the live loop of :mod:`ppomania.env.live_bench`
timed with a model's inference, a freshly initialised HighwayCNN PPO policy at the default geometry
or a trained model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ppomania.agent.inference import DeterministicActions
from ppomania.agent.models import load_model, one_torch_thread
from ppomania.env.live_bench import bench_live


def bench_live_model(
    model_path: str | None = None,
    seconds: float = 2.0,
    progress: Callable[[str], None] | None = None,
    skin: str | None = None,
) -> dict[str, Any]:
    """:func:`~ppomania.env.live_bench.bench_live` with torch on one thread and the policy of
    ``model_path`` (a run folder or ``.zip``; None = a fresh HighwayCNN PPO policy, 4K), the
    stand-in drawn with ``skin`` (None: the simulator's look).

    :raises RuntimeError: no display to run the stand-in on, or the stand-in did not start.
    """
    with one_torch_thread():
        if model_path:
            model = load_model(model_path).model
            name = str(model_path)
        else:
            from stable_baselines3 import PPO

            from ppomania.agent.policy import HighwayCNN
            from ppomania.env.mania_env import ManiaEnv
            from ppomania.env.spaces import default_geometry

            sim_env = ManiaEnv(geometry=default_geometry(4))
            model = PPO(
                "CnnPolicy",
                sim_env,
                policy_kwargs=dict(features_extractor_class=HighwayCNN, net_arch=[]),
                device="cpu",
            )
            name = "fresh HighwayCNN PPO policy, (4, 48, 16) frames"

        actions = DeterministicActions(model)  # as ``ppomania play`` runs it

        def policy(obs):
            return actions(obs[None])[0]

        return bench_live(policy, seconds=seconds, policy_name=name, progress=progress, skin=skin)
