"""Loading trained models (a run folder or a ``.zip``) with the geometry and codec they need, and
running one in real time (:func:`one_torch_thread`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ppomania.agent.runs import (
    BEST_MODEL,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    FINAL_MODEL,
    read_run_config,
)
from ppomania.env.spaces import N_STACK, ActionCodec
from ppomania.sim.core import SimConfig
from ppomania.sim.render import HighwayGeometry


def resolve_model_path(path: str | Path) -> Path:
    """The model file of ``path``: a ``.zip`` itself, or in a run folder ``best_model.zip``, else
    ``final_model.zip``, else the newest ``checkpoints/*.zip``.

    :raises FileNotFoundError: when there is none.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        if path.suffix != ".zip" and path.with_suffix(".zip").is_file():
            return path.with_suffix(".zip")  # SB3 adds .zip on save, so people leave it off
        raise FileNotFoundError(f"{path}: no such model file or run folder")
    for name in (BEST_MODEL, FINAL_MODEL):
        if (path / name).is_file():
            return path / name
    checkpoints = sorted(
        (path / CHECKPOINT_DIR).glob("*.zip"), key=lambda p: (p.stat().st_mtime, p.name)
    )
    if checkpoints:
        return checkpoints[-1]
    raise FileNotFoundError(
        f"{path}: no best_model.zip, final_model.zip or checkpoints/*.zip in this run folder"
    )


def model_codec(model: Any, keys: int | None = None) -> ActionCodec:
    """The action codec of a model with ``MultiBinary(K)`` or ``Discrete(2**K)`` actions.

    :raises ValueError: for another action space, or another key count than ``keys``.
    """
    space = model.action_space
    if isinstance(space, gym.spaces.MultiBinary):
        codec = ActionCodec(int(np.prod(space.shape)), "multibinary")
    elif isinstance(space, gym.spaces.Discrete) and int(space.n) & (int(space.n) - 1) == 0:
        codec = ActionCodec(int(space.n).bit_length() - 1, "discrete")
    else:
        raise ValueError(f"the model's actions {space} are no ppomania key actions")
    if keys is not None and codec.keys != keys:
        raise ValueError(f"the model plays {codec.keys}K, the map is {keys}K")
    return codec


def model_geometry(model: Any, keys: int, scroll_speed: float | None = None) -> HighwayGeometry:
    """The highway geometry a model was trained on: ``HighwayGeometry.for_keys`` at the model's
    frame size and scroll speed (default: the default scroll speed).

    :raises ValueError: when the model's observations are no ``(4, H, W)`` highway of ``keys``.
    """
    shape = tuple(model.observation_space.shape)
    if len(shape) != 3 or shape[0] != N_STACK:
        raise ValueError(f"the model's observations are {shape}, not ({N_STACK}, H, W) frames")
    height, width = shape[1:]
    kwargs = {} if scroll_speed is None else {"scroll_speed": scroll_speed}
    geometry = HighwayGeometry.for_keys(keys, height=height, width=width, **kwargs)
    if geometry.shape != (height, width):
        raise ValueError(
            f"the model sees {height}x{width} frames, which a {keys}K highway cannot fill "
            f"({width} is not a multiple of {keys} columns): wrong key count?"
        )
    return geometry


@dataclass(frozen=True)
class LoadedModel:
    """A trained model with what playing it needs, from its file and its run's ``config.toml``
    (the simulator's defaults for a model outside a run folder).

    :ivar model: the SB3 PPO model.
    :ivar path: the model file it was loaded from.
    :ivar codec: its action codec.
    :ivar geometry: its observation geometry (frame size and scroll speed).
    :ivar control_hz: decisions per second it was trained at.
    :ivar latency_ms: the simulated frame-to-key latency it was trained with (capture + input).
    """

    model: Any
    path: Path
    codec: ActionCodec
    geometry: HighwayGeometry
    control_hz: float
    latency_ms: float


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a PPO model from a ``.zip`` or a run folder, with its codec, geometry and timing.

    :raises FileNotFoundError: no model there. :raises ValueError: not a ppomania model.
    """
    from stable_baselines3 import PPO  # late: loading torch is slow and only models need it

    model_path = resolve_model_path(path)
    try:
        model = PPO.load(model_path, device=device)
    except Exception as exc:  # SB3 raises many types for a bad zip
        raise ValueError(f"{model_path}: not a ppomania model ({exc})") from None
    codec = model_codec(model)
    values = _run_config_of(model_path)
    control_hz, latency_ms = _timing(values)
    return LoadedModel(
        model,
        model_path,
        codec,
        model_geometry(model, codec.keys, values.get("scroll_speed")),
        control_hz,
        latency_ms,
    )


def model_timing(path: str | Path) -> dict[str, float]:
    """``control_hz`` and ``latency_ms`` of :class:`LoadedModel`, without loading the model."""
    control_hz, latency_ms = _timing(_run_config_of(resolve_model_path(path)))
    return {"control_hz": control_hz, "latency_ms": latency_ms}


def _run_config_of(model_path: Path) -> dict[str, Any]:
    """The config values of the run folder ``model_path`` lies in; empty outside a run folder."""
    folder = model_path.parent
    return read_run_config(folder) if (folder / CONFIG_FILE).exists() else {}


def _timing(values: dict[str, Any]) -> tuple[float, float]:
    """Control rate and simulated latency (capture + input) of run config ``values``."""
    defaults = SimConfig()
    capture = values.get("capture_latency_ms", defaults.capture_latency_ms)
    key = values.get("input_latency_ms", defaults.input_latency_ms)
    return float(values.get("control_hz", defaults.control_hz)), float(capture + key)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the block (a tiny network; more threads only contend with the game
    for the cores), restored afterwards (``play`` may run inside another program)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
