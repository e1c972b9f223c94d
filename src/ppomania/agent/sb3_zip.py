"""Stable-Baselines3 ``.zip`` files read without unpickling anything.

SB3 saves a model as a zip of ``data`` (JSON whose non-JSON values are base64 cloudpickles under
``:serialized:``, beside a plain-JSON summary of their attributes) and ``.pth`` torch files. We read
only the plain JSON (the spaces' shapes and types, the policy settings by name, the step count) and
``policy.pth`` with torch's tensors-only unpickler (:func:`read_sb3_zip`). Resuming training needs
SB3's own loader: :func:`load_ppo_for_training` hands it a replacement for every pickled entry
(SB3's ``custom_objects``), so nothing from the file is unpickled there either.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ppomania.agent.model_file import (
    ModelFileError,
    PolicySpec,
    first_line,
    load_tensors_only,
    open_zip,
    read_entry,
    read_weights,
)
from ppomania.env.spaces import ActionCodec

SB3_DATA = "data"
SB3_POLICY = "policy.pth"
_SERIALIZED = ":serialized:"
_TYPE = ":type:"

#: Feature extractor classes an SB3 zip may name, by their printed import path.
_EXTRACTORS = {
    "ppomania.agent.policy.HighwayCNN": "HighwayCNN",
    "stable_baselines3.common.torch_layers.NatureCNN": "NatureCNN",
}
_ACTIVATIONS = {
    "torch.nn.modules.activation.Tanh": "Tanh",
    "torch.nn.modules.activation.ReLU": "ReLU",
}
#: SB3 policy settings that only matter to a policy being trained from scratch.
_TRAINING_ONLY = ("ortho_init", "optimizer_class", "optimizer_kwargs")


@dataclass(frozen=True)
class Sb3Description:
    """What an SB3 zip says about its model in plain JSON.

    :ivar shape: the observation shape.
    :ivar action_kind: ``"multibinary"`` or ``"discrete"``.
    :ivar keys: the key count of its actions.
    :ivar policy: its policy architecture.
    :ivar timesteps: the steps it was trained for.
    """

    shape: tuple[int, ...]
    action_kind: str
    keys: int
    policy: PolicySpec
    timesteps: int


def read_sb3_zip(path: str | Path) -> tuple[Sb3Description, dict[str, Any]]:
    """The plain-JSON description and the policy weights of an SB3 zip; nothing is unpickled.

    :raises ModelFileError: when it is no SB3 zip of a ppomania model.
    """
    with open_zip(path) as archive:
        data = _read_data(archive, path)
        weights = read_weights(read_entry(archive, SB3_POLICY, path), path, SB3_POLICY)
    return describe_sb3_data(data, path), weights


def describe_sb3_data(data: dict[str, Any], path: str | Path) -> Sb3Description:
    """:class:`Sb3Description` from the JSON of an SB3 zip's ``data`` entry.

    :raises ModelFileError: when a value it needs is missing or foreign.
    """
    observation = _entry(data, "observation_space", path)
    if "Box" not in str(observation.get(_TYPE)) or observation.get("dtype") != "uint8":
        raise ModelFileError(path, "its observations are no uint8 frames (Box)")
    shape = observation.get("_shape")
    if not isinstance(shape, list) or len(shape) != 3 or not all(_count(n) for n in shape):
        raise ModelFileError(path, f"its observation shape {shape!r} is no (stack, H, W)")
    action_kind, keys = _actions(_entry(data, "action_space", path), path)
    timesteps = data.get("num_timesteps", 0)
    if type(timesteps) is not int or timesteps < 0:
        raise ModelFileError(path, f"num_timesteps {timesteps!r} is no step count")
    return Sb3Description(
        tuple(shape), action_kind, keys, _policy(data.get("policy_kwargs", {}), path), timesteps
    )


def linear_decay(learning_rate: float) -> Callable[[float], float]:
    """``learning_rate`` decayed linearly to 0 over the run (SB3 passes the progress remaining)."""
    from stable_baselines3.common.utils import LinearSchedule

    return LinearSchedule(learning_rate, 0.0, 1.0)


def load_ppo_for_training(
    path: str | Path,
    env: Any,
    device: str,
    learning_rate: float,
    clip_range: float,
    **kwargs: Any,
) -> Any:
    """SB3's ``PPO.load`` of an SB3 zip of ours (a checkpoint to resume or fine-tune), with every
    pickled entry of ``data`` replaced by our own value so that nothing is unpickled: spaces and
    policy from :func:`describe_sb3_data`, the schedules from ``learning_rate`` (decayed linearly)
    and ``clip_range``, empty episode buffers and no last observation (the env is reset). The
    ``.pth`` entries SB3 loads are checked with torch's tensors-only unpickler first.

    :param kwargs: more keyword arguments of ``PPO.load`` (e.g. ``tensorboard_log``).
    :raises ModelFileError: for a malformed zip, or a pickled entry we have no replacement for.
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.buffers import RolloutBuffer
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    with open_zip(path) as archive:
        data = _read_data(archive, path)
        for name in archive.namelist():
            if name.endswith(".pth"):
                load_tensors_only(read_entry(archive, name, path), path, name)
    description = describe_sb3_data(data, path)
    schedule = linear_decay(learning_rate)
    replacements: dict[str, Any] = {
        "policy_class": ActorCriticCnnPolicy,
        "policy_kwargs": description.policy.policy_kwargs(),
        "observation_space": gym.spaces.Box(0, 255, description.shape, dtype=np.uint8),
        "action_space": ActionCodec(description.keys, description.action_kind).space,
        "learning_rate": schedule,
        "lr_schedule": schedule,
        "clip_range": clip_range,
        "rollout_buffer_class": RolloutBuffer,
        "_last_obs": None,
        "_last_episode_starts": None,
        "_last_original_obs": None,
        "ep_info_buffer": None,
        "ep_success_buffer": None,
        "action_noise": None,
    }
    pickled = [k for k, v in data.items() if isinstance(v, dict) and _SERIALIZED in v]
    unknown = sorted(set(pickled) - set(replacements))
    if unknown:
        raise ModelFileError(path, f"pickled entries {unknown} of unknown meaning; not loaded")
    try:
        return PPO.load(path, env=env, device=device, custom_objects=replacements, **kwargs)
    except (KeyError, RuntimeError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFileError(path, f"cannot be loaded to train on ({first_line(exc)})") from None


def _read_data(archive: zipfile.ZipFile, path: str | Path) -> dict[str, Any]:
    if SB3_DATA not in archive.namelist():
        raise ModelFileError(path, "not a model file: no model.json (ppomania) or data (SB3)")
    try:
        data = json.loads(read_entry(archive, SB3_DATA, path))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(path, f"its SB3 data is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(path, "its SB3 data is not a JSON object")
    return data


def _entry(data: dict[str, Any], name: str, path: str | Path) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise ModelFileError(path, f"its SB3 data has no readable {name}")
    return value


def _count(value: Any) -> bool:
    return type(value) is int and value > 0


def _int(value: Any) -> int | None:
    """An int from SB3's JSON summary (numpy ints are summarised as their text)."""
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _actions(space: dict[str, Any], path: str | Path) -> tuple[str, int]:
    kind = str(space.get(_TYPE))
    n = space.get("n")
    if "MultiBinary" in kind:
        keys = _int(n[0] if isinstance(n, list) and len(n) == 1 else n)
        if keys:
            return "multibinary", keys
    elif "Discrete" in kind:
        count = _int(n)
        if count and count & (count - 1) == 0 and _int(space.get("start", 0)) == 0:
            return "discrete", int(math.log2(count))
    raise ModelFileError(path, f"its actions ({kind}, n={n!r}) are no ppomania key actions")


def _class_name(value: Any) -> str:
    """``a.b.C`` from SB3's summary ``"<class 'a.b.C'>"`` (empty when it is none)."""
    match = re.fullmatch(r"<class '([\w.]+)'>", str(value))
    return match.group(1) if match else ""


def _policy(kwargs: Any, path: str | Path) -> PolicySpec:
    """The :class:`PolicySpec` of SB3's ``policy_kwargs`` summary (CnnPolicy's defaults for what
    it leaves out)."""
    if not isinstance(kwargs, dict):
        raise ModelFileError(path, "its SB3 policy_kwargs are unreadable")
    settings = {k: v for k, v in kwargs.items() if k not in (_TYPE, _SERIALIZED, *_TRAINING_ONLY)}
    spec: dict[str, Any] = {"class": "ActorCriticCnnPolicy"}
    extractor = settings.pop("features_extractor_class", None)
    spec["features_extractor"] = (
        "NatureCNN" if extractor is None else _EXTRACTORS.get(_class_name(extractor), extractor)
    )
    activation = settings.pop("activation_fn", None)
    spec["activation_fn"] = (
        "Tanh" if activation is None else _ACTIVATIONS.get(_class_name(activation), activation)
    )
    spec["net_arch"] = settings.pop("net_arch", None)
    renamed = {"features_extractor_kwargs", "normalize_images", "share_features_extractor"}
    spec.update({k: settings.pop(k) for k in renamed & set(settings)})
    if settings:
        raise ModelFileError(path, f"unsupported policy settings {sorted(settings)}")
    return PolicySpec.from_json(spec, path)
