"""Loading trained models: a run folder or a ``.zip``, with the geometry and action codec they need."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
from stable_baselines3 import PPO

from ppomania.env.spaces import ActionCodec
from ppomania.sim.render import HighwayGeometry


def resolve_model_path(path: str | Path) -> Path:
    """A ``.zip`` as is; a run folder's ``best_model.zip``, else ``final_model.zip``, else its
    newest checkpoint."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for name in ("best_model.zip", "final_model.zip"):
            if (path / name).is_file():
                return path / name
        checkpoints = sorted((path / "checkpoints").glob("*.zip"))
        if checkpoints:
            return checkpoints[-1]
    raise FileNotFoundError(f"{path}: no model (.zip or run folder with a model)")


def geometry_of(model: PPO, keys: int, scroll_speed: float | None = None) -> HighwayGeometry:
    """The highway geometry a model was trained on, from its observation shape and run config."""
    _, height, width = model.observation_space.shape
    kwargs = {} if scroll_speed is None else {"scroll_speed": scroll_speed}
    geometry = HighwayGeometry.for_keys(keys, height, width, **kwargs)
    if geometry.shape != (height, width):
        raise ValueError(f"cannot rebuild a {keys}K geometry of shape {(height, width)}")
    return geometry


def load_model(path: str | Path, device: str = "cpu") -> tuple[PPO, ActionCodec, HighwayGeometry]:
    """Load a PPO model; return it with its action codec and observation geometry."""
    model_path = resolve_model_path(path)
    try:
        model = PPO.load(model_path, device=device)
    except Exception as exc:  # noqa: BLE001 - SB3 raises many types for a bad zip
        raise ValueError(f"{model_path}: not a ppomania model ({exc})") from None
    space = model.action_space
    if isinstance(space, gym.spaces.Discrete):
        codec = ActionCodec(int(space.n).bit_length() - 1, "discrete")
    elif isinstance(space, gym.spaces.MultiBinary):
        codec = ActionCodec(int(space.n), "multibinary")
    else:
        raise ValueError(f"{model_path}: unexpected action space {space}")
    keys = codec.keys
    scroll_speed = None
    config_file = model_path.parent / "config.toml"
    if config_file.exists():
        from ppomania.agent.config import load_toml

        scroll_speed = load_toml(config_file).get("scroll_speed")
    return model, codec, geometry_of(model, keys, scroll_speed)
