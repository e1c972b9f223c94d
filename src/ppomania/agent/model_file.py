"""ppomania's model file: a trained policy as plain data, safe to load from anyone.

An SB3 ``.zip`` holds pickled Python objects, and unpickling runs whatever code the file names.
A ppomania model file holds none: it is a zip of

- ``model.json``: the format name and version, the observation frame (:class:`HighwayGeometry`
  fields, ``N_STACK`` frames), the action space, the policy architecture (a
  ``ActorCriticCnnPolicy`` with HighwayCNN or NatureCNN; whitelisted names, no class paths), the
  control rate and simulated latency the policy was trained with, and its step count;
- ``policy.pt``: the policy's ``state_dict`` (no optimizer state), read with
  ``torch.load(weights_only=True)``, which accepts tensors and plain containers only.

:func:`read_model_file` checks every field and raises :class:`ModelFileError` (naming the file) for
anything malformed; :func:`build_policy` rebuilds the SB3 policy and loads the weights strictly.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ppomania.env.spaces import N_STACK, ActionCodec, observation_space
from ppomania.sim.render import HighwayGeometry

MODEL_FORMAT = "ppomania-model"
FORMAT_VERSION = 1
DESCRIPTION_ENTRY = "model.json"
WEIGHTS_ENTRY = "policy.pt"
#: Largest zip entry read (a 4K HighwayCNN policy is ~2.7 MB; SB3's ``data`` ~0.1 MB).
MAX_ENTRY_BYTES = 256 * 2**20
#: Largest layer size and frame dimension a description may ask for: building the policy allocates
#: them before the weights are checked.
MAX_SIZE = 4096

#: Feature extractors a model file may name (the name, never an import path).
EXTRACTORS = ("HighwayCNN", "NatureCNN")
#: Activation functions a model file may name.
ACTIVATIONS = ("Tanh", "ReLU")


class ModelFileError(ValueError):
    """A model file that is malformed, not a ppomania model, or carries code; one line."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """The architecture of an SB3 ``ActorCriticCnnPolicy`` in plain data.

    :ivar extractor: ``"HighwayCNN"`` (ppomania's) or ``"NatureCNN"`` (SB3's).
    :ivar extractor_kwargs: keyword arguments of the extractor (``column_width``, ``features_dim``).
    :ivar net_arch: SB3's ``net_arch`` (a list of layer sizes, ``{"pi": [...], "vf": [...]}``, or
        None for SB3's default).
    :ivar activation: ``"Tanh"`` or ``"ReLU"``.
    :ivar normalize_images: divide observations by 255.
    :ivar share_features_extractor: actor and critic share the extractor.
    """

    extractor: str = "HighwayCNN"
    extractor_kwargs: dict[str, int] = dataclasses.field(default_factory=dict)
    net_arch: list[int] | dict[str, list[int]] | None = dataclasses.field(default_factory=list)
    activation: str = "Tanh"
    normalize_images: bool = True
    share_features_extractor: bool = True

    def policy_kwargs(self) -> dict[str, Any]:
        """SB3's ``policy_kwargs`` for this architecture."""
        from stable_baselines3.common.torch_layers import NatureCNN
        from torch import nn

        from ppomania.agent.policy import HighwayCNN

        extractor = HighwayCNN if self.extractor == "HighwayCNN" else NatureCNN
        return {
            "features_extractor_class": extractor,
            "features_extractor_kwargs": dict(self.extractor_kwargs),
            "net_arch": self.net_arch,
            "activation_fn": nn.Tanh if self.activation == "Tanh" else nn.ReLU,
            "normalize_images": self.normalize_images,
            "share_features_extractor": self.share_features_extractor,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "class": "ActorCriticCnnPolicy",
            "features_extractor": self.extractor,
            "features_extractor_kwargs": dict(self.extractor_kwargs),
            "net_arch": self.net_arch,
            "activation_fn": self.activation,
            "normalize_images": self.normalize_images,
            "share_features_extractor": self.share_features_extractor,
        }

    @classmethod
    def from_json(cls, value: Any, path: str | Path) -> PolicySpec:
        """:raises ModelFileError: for anything but a known architecture."""
        fields = _object(value, "policy", path)
        if fields.get("class") != "ActorCriticCnnPolicy":
            raise ModelFileError(path, f"policy class {fields.get('class')!r} is not supported")
        spec = cls(
            extractor=_choice(fields.get("features_extractor"), EXTRACTORS, "extractor", path),
            extractor_kwargs=_extractor_kwargs(fields.get("features_extractor_kwargs", {}), path),
            net_arch=_net_arch(fields.get("net_arch"), path),
            activation=_choice(fields.get("activation_fn"), ACTIVATIONS, "activation_fn", path),
            normalize_images=_bool(fields.get("normalize_images", True), "normalize_images", path),
            share_features_extractor=_bool(
                fields.get("share_features_extractor", True), "share_features_extractor", path
            ),
        )
        unknown = set(fields) - set(spec.as_json())
        if unknown:
            raise ModelFileError(path, f"unknown policy settings {sorted(unknown)}")
        return spec


@dataclasses.dataclass(frozen=True)
class ModelDescription:
    """Everything but the weights that playing a model needs, as plain data.

    :ivar geometry: the observation frame; observations are ``(N_STACK, *geometry.shape)`` uint8.
    :ivar action_kind: ``"multibinary"`` or ``"discrete"`` (see :class:`ActionCodec`).
    :ivar policy: the policy architecture.
    :ivar control_hz: decisions per second it was trained at.
    :ivar capture_latency_ms: simulated frame age it was trained with.
    :ivar input_latency_ms: simulated key latency it was trained with.
    :ivar timesteps: environment steps it was trained for.
    """

    geometry: HighwayGeometry
    action_kind: str
    policy: PolicySpec
    control_hz: float
    capture_latency_ms: float
    input_latency_ms: float
    timesteps: int = 0

    @property
    def keys(self) -> int:
        return self.geometry.keys

    @property
    def latency_ms(self) -> float:
        """Frame-to-key latency (capture + input)."""
        return self.capture_latency_ms + self.input_latency_ms

    @property
    def codec(self) -> ActionCodec:
        return ActionCodec(self.keys, self.action_kind)

    def observation_space(self) -> gym.spaces.Box:
        return observation_space(self.geometry, N_STACK)

    def action_space(self) -> gym.spaces.Space:
        return self.codec.space

    def as_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "version": FORMAT_VERSION,
            "observation": {"shape": [N_STACK, *self.geometry.shape], "dtype": "uint8"},
            "geometry": dataclasses.asdict(self.geometry),
            "action": {"kind": self.action_kind, "keys": self.keys},
            "policy": self.policy.as_json(),
            "timing": {
                "control_hz": self.control_hz,
                "capture_latency_ms": self.capture_latency_ms,
                "input_latency_ms": self.input_latency_ms,
            },
            "training": {"timesteps": self.timesteps},
        }

    @classmethod
    def from_json(cls, value: Any, path: str | Path) -> ModelDescription:
        """:raises ModelFileError: for another format or version, or a malformed field."""
        fields = _object(value, DESCRIPTION_ENTRY, path)
        if fields.get("format") != MODEL_FORMAT:
            raise ModelFileError(path, f"{DESCRIPTION_ENTRY} is not a {MODEL_FORMAT} description")
        if fields.get("version") != FORMAT_VERSION:
            raise ModelFileError(
                path,
                f"model format version {fields.get('version')!r}; this ppomania reads version "
                f"{FORMAT_VERSION} (a newer ppomania wrote it?)",
            )
        geometry = _geometry(fields.get("geometry"), path)
        action = _object(fields.get("action"), "action", path)
        kind = _choice(action.get("kind"), ("multibinary", "discrete"), "action kind", path)
        if action.get("keys") != geometry.keys:
            raise ModelFileError(path, f"action keys {action.get('keys')!r} != {geometry.keys}")
        observation = _object(fields.get("observation"), "observation", path)
        shape = [N_STACK, *geometry.shape]
        if observation.get("shape") != shape or observation.get("dtype") != "uint8":
            raise ModelFileError(path, f"observations must be uint8 of shape {shape}")
        timing = _object(fields.get("timing"), "timing", path)
        training = _object(fields.get("training", {}), "training", path)
        timesteps = training.get("timesteps", 0)
        if type(timesteps) is not int or timesteps < 0:
            raise ModelFileError(path, f"training timesteps {timesteps!r} is no step count")
        return cls(
            geometry,
            kind,
            PolicySpec.from_json(fields.get("policy"), path),
            _number(timing.get("control_hz"), "control_hz", path, positive=True),
            _number(timing.get("capture_latency_ms"), "capture_latency_ms", path),
            _number(timing.get("input_latency_ms"), "input_latency_ms", path),
            timesteps,
        )


class PolicyModel:
    """A trained policy ready to play: what eval, watch, play and bench use of an SB3 model
    (``predict``, ``policy``, the spaces), with nothing for training."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.observation_space = policy.observation_space
        self.action_space = policy.action_space

    def predict(
        self, observation: np.ndarray, deterministic: bool = False
    ) -> tuple[np.ndarray, None]:
        """Actions for one observation or a batch, as SB3's ``PPO.predict``."""
        return self.policy.predict(observation, deterministic=deterministic)


class _NoOptimizer:
    """Where SB3 builds the policy's optimizer: a played policy never steps one, and building
    torch's first optimizer imports ``torch._dynamo`` (about 1 s of every ``eval`` or ``play``)."""

    def __init__(self, params: Any, lr: float, **kwargs: Any) -> None:
        del params, lr, kwargs


def build_policy(
    description: ModelDescription, weights: dict[str, Any], path: str | Path, device: str = "cpu"
) -> Any:
    """The SB3 ``ActorCriticCnnPolicy`` of ``description`` with ``weights`` loaded, in eval mode.

    :raises ModelFileError: when the weights do not fit the architecture.
    """
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    try:
        policy = ActorCriticCnnPolicy(
            description.observation_space(),
            description.action_space(),
            lambda _: 0.0,
            **description.policy.policy_kwargs(),
            optimizer_class=_NoOptimizer,
        )
    except (AssertionError, RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(
            path, f"the described policy cannot be built ({first_line(exc)})"
        ) from None
    load_weights(policy, weights, path)
    policy.set_training_mode(False)
    return policy.to(device)


def load_tensors_only(data: bytes, path: str | Path, entry: str) -> Any:
    """``torch.load`` of the bytes of ``entry`` with torch's tensors-only unpickler.

    :raises ModelFileError: when it holds anything else (e.g. a pickle that calls a function:
        refused, never run) or is corrupt.
    """
    import torch

    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or corrupt data
        kind = "refused: it holds more than tensors" if "weights_only" in str(exc) else "corrupt"
        raise ModelFileError(path, f"{entry} is {kind} ({type(exc).__name__})") from None


def read_weights(data: bytes, path: str | Path, entry: str) -> dict[str, Any]:
    """A ``state_dict`` from the bytes of ``entry`` (see :func:`load_tensors_only`).

    :raises ModelFileError: when it is anything but a mapping of names to tensors.
    """
    import torch

    weights = load_tensors_only(data, path, entry)
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise ModelFileError(path, f"{entry} is not a mapping of parameter names to tensors")
    return weights


def load_weights(policy: Any, weights: dict[str, Any], path: str | Path) -> None:
    """Load ``weights`` into ``policy`` (a torch module), every parameter and no other.

    :raises ModelFileError: when they do not fit.
    """
    try:
        policy.load_state_dict(weights, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(
            path, f"the weights do not fit the described policy ({first_line(exc)})"
        ) from None


def read_entry(archive: zipfile.ZipFile, name: str, path: str | Path) -> bytes:
    """The bytes of zip entry ``name``. :raises ModelFileError: when missing or oversized."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelFileError(path, f"no {name} in the zip") from None
    if info.file_size > MAX_ENTRY_BYTES:
        raise ModelFileError(path, f"{name} is {info.file_size} bytes, over the limit")
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelFileError(path, f"{name} cannot be read ({exc})") from None


def open_zip(path: str | Path) -> zipfile.ZipFile:
    """:raises ModelFileError: when ``path`` is no readable zip."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelFileError(path, f"not a model file: not a readable zip ({exc})") from None


def is_model_file(path: str | Path) -> bool:
    """Whether ``path`` is a zip with a ppomania model description (not an SB3 zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return DESCRIPTION_ENTRY in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def read_model_file(path: str | Path) -> tuple[ModelDescription, dict[str, Any]]:
    """The description and weights of a ppomania model file; nothing in it is run.

    :raises ModelFileError: for a malformed file.
    """
    with open_zip(path) as archive:
        text = read_entry(archive, DESCRIPTION_ENTRY, path)
        data = read_entry(archive, WEIGHTS_ENTRY, path)
    try:
        value = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(path, f"{DESCRIPTION_ENTRY} is not JSON ({exc})") from None
    return ModelDescription.from_json(value, path), read_weights(data, path, WEIGHTS_ENTRY)


def write_model_file(
    path: str | Path, description: ModelDescription, weights: dict[str, Any], half: bool = False
) -> Path:
    """Write a ppomania model file (through a temporary file: never a half-written one).

    :param half: store floating-point weights as 16-bit floats (half the size; loading casts them
        back to the policy's 32 bits). Tensors shared between names stay shared.
    """
    import torch

    path = Path(path)
    stored: dict[str, Any] = {}
    halves: dict[tuple[int, tuple[int, ...]], Any] = {}
    for name, tensor in weights.items():
        tensor = tensor.detach().cpu()
        if half and tensor.is_floating_point():
            key = (tensor.data_ptr(), tuple(tensor.shape))
            tensor = halves.setdefault(key, tensor.half())
        stored[name] = tensor
    buffer = io.BytesIO()
    torch.save(stored, buffer)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(DESCRIPTION_ENTRY, json.dumps(description.as_json(), indent=2))
            archive.writestr(WEIGHTS_ENTRY, buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's run over many lines)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _object(value: Any, name: str, path: str | Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelFileError(path, f"{name} is missing or not an object")
    return value


def _choice(value: Any, choices: tuple[str, ...], name: str, path: str | Path) -> str:
    if value not in choices:
        raise ModelFileError(path, f"{name} {value!r} is none of {', '.join(choices)}")
    return value


def _bool(value: Any, name: str, path: str | Path) -> bool:
    if not isinstance(value, bool):
        raise ModelFileError(path, f"{name} {value!r} is not true or false")
    return value


def _number(value: Any, name: str, path: str | Path, positive: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ModelFileError(path, f"{name} {value!r} is not a valid number")
    return float(value)


def _size(value: Any) -> bool:
    return type(value) is int and 0 < value <= MAX_SIZE


def _extractor_kwargs(value: Any, path: str | Path) -> dict[str, int]:
    kwargs = _object(value, "features_extractor_kwargs", path)
    if set(kwargs) - {"column_width", "features_dim"} or not all(map(_size, kwargs.values())):
        raise ModelFileError(path, f"features_extractor_kwargs {kwargs!r} are not supported")
    return dict(kwargs)


def _net_arch(value: Any, path: str | Path) -> list[int] | dict[str, list[int]] | None:
    def sizes(layers: Any) -> bool:
        return isinstance(layers, list) and all(map(_size, layers))

    if value is None or sizes(value):
        return value
    if isinstance(value, dict) and set(value) <= {"pi", "vf"} and all(map(sizes, value.values())):
        return {k: list(v) for k, v in value.items()}
    raise ModelFileError(path, f"net_arch {value!r} is not a list of layer sizes")


def _geometry(value: Any, path: str | Path) -> HighwayGeometry:
    fields = _object(value, "geometry", path)
    # Field types by name ("int", "float", "bool": render.py's annotations are strings).
    kinds = {f.name: str(f.type) for f in dataclasses.fields(HighwayGeometry)}
    if set(fields) - set(kinds) or "keys" not in fields:
        raise ModelFileError(path, f"geometry fields {sorted(fields)} are no highway geometry")
    for name, item in fields.items():
        if kinds[name] == "bool":
            ok = isinstance(item, bool)
        elif kinds[name] == "float":
            ok = isinstance(item, (int, float)) and not isinstance(item, bool)
            ok = ok and math.isfinite(item)
        else:
            ok = type(item) is int and item <= MAX_SIZE
        if not ok:
            raise ModelFileError(path, f"geometry {name} {item!r} has the wrong type")
    try:
        return HighwayGeometry(**fields)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(path, f"geometry: {exc}") from None
