"""Loading trained models (a run folder, a ppomania model file or an SB3 ``.zip``) with the geometry
and codec they need, without running any code from the file; exporting one to the safe form;
running one in real time (:func:`one_torch_thread`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ppomania.agent.model_file import (
    ModelDescription,
    ModelFileError,
    PolicyModel,
    build_policy,
    is_model_file,
    read_model_file,
    write_model_file,
)
from ppomania.agent.runs import (
    BEST_MODEL,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    FINAL_MODEL,
    read_run_config,
)
from ppomania.agent.sb3_zip import read_sb3_zip
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
    return _geometry_for_shape(tuple(model.observation_space.shape), keys, scroll_speed)


def _geometry_for_shape(
    shape: tuple[int, ...], keys: int, scroll_speed: float | None
) -> HighwayGeometry:
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
    """A trained model with what playing it needs: from a ppomania model file its description, from
    an SB3 zip its plain-JSON settings and its run's ``config.toml`` (the simulator's defaults for a
    model outside a run folder).

    :ivar model: the policy, with SB3's ``predict`` (not trainable: see :mod:`sb3_zip`).
    :ivar path: the model file it was loaded from.
    :ivar codec: its action codec.
    :ivar geometry: its observation geometry (frame size and scroll speed).
    :ivar control_hz: decisions per second it was trained at.
    :ivar latency_ms: the simulated frame-to-key latency it was trained with (capture + input).
    :ivar description: all of it as plain data (what :func:`export_model` writes).
    """

    model: PolicyModel
    path: Path
    codec: ActionCodec
    geometry: HighwayGeometry
    control_hz: float
    latency_ms: float
    description: ModelDescription


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a model from a ppomania model file, an SB3 ``.zip`` or a run folder, with its codec,
    geometry and timing. Nothing in the file is unpickled or run.

    :raises FileNotFoundError: no model there.
    :raises ModelFileError: (a ``ValueError``) not a ppomania model, or malformed.
    """
    model_path = resolve_model_path(path)
    description, weights = read_model(model_path)
    policy = build_policy(description, weights, model_path, device)
    return LoadedModel(
        PolicyModel(policy),
        model_path,
        description.codec,
        description.geometry,
        description.control_hz,
        description.latency_ms,
        description,
    )


def read_model(model_path: Path) -> tuple[ModelDescription, dict[str, Any]]:
    """The description and policy weights of a model file of either form (not a folder).

    :raises ModelFileError: not a ppomania model, or malformed.
    """
    if is_model_file(model_path):
        return read_model_file(model_path)
    sb3, weights = read_sb3_zip(model_path)
    values = _run_config_of(model_path)
    try:
        geometry = _geometry_for_shape(sb3.shape, sb3.keys, values.get("scroll_speed"))
    except ValueError as exc:
        raise ModelFileError(model_path, str(exc)) from None
    description = ModelDescription(
        geometry, sb3.action_kind, sb3.policy, *_timing(values), sb3.timesteps
    )
    return description, weights


def export_model(
    source: str | Path, destination: str | Path, half: bool = False
) -> ModelDescription:
    """Write the model of ``source`` (a run folder or a model file of either form) as a ppomania
    model file at ``destination``: its description and policy weights, no optimizer state
    (``half``: the weights as 16-bit floats, see :func:`write_model_file`).

    :raises FileNotFoundError: no model at ``source``.
    :raises ModelFileError: not a ppomania model, or malformed.
    :raises ValueError: when ``destination`` is the source file.
    """
    model_path = resolve_model_path(source)
    destination = Path(destination)
    if destination.exists() and destination.resolve() == model_path.resolve():
        raise ValueError(f"{destination}: the export would overwrite its own source")
    description, weights = read_model(model_path)
    policy = build_policy(description, weights, model_path)  # only weights that load are written
    write_model_file(destination, description, policy.state_dict(), half=half)
    return description


def model_timing(path: str | Path) -> dict[str, float]:
    """``control_hz`` and ``latency_ms`` of :class:`LoadedModel`, without loading the policy."""
    model_path = resolve_model_path(path)
    if is_model_file(model_path):
        description = read_model_file(model_path)[0]
        return {"control_hz": description.control_hz, "latency_ms": description.latency_ms}
    control_hz, capture, key = _timing(_run_config_of(model_path))
    return {"control_hz": control_hz, "latency_ms": capture + key}


def _run_config_of(model_path: Path) -> dict[str, Any]:
    """The config values of the run folder ``model_path`` lies in (directly or among its
    checkpoints); empty outside a run folder."""
    folder = model_path.parent
    if not (folder / CONFIG_FILE).exists() and folder.name == CHECKPOINT_DIR:
        folder = folder.parent
    return read_run_config(folder) if (folder / CONFIG_FILE).exists() else {}


def _timing(values: dict[str, Any]) -> tuple[float, float, float]:
    """Control rate, capture latency and input latency of run config ``values``."""
    defaults = SimConfig()
    return (
        float(values.get("control_hz", defaults.control_hz)),
        float(values.get("capture_latency_ms", defaults.capture_latency_ms)),
        float(values.get("input_latency_ms", defaults.input_latency_ms)),
    )


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
