"""The training configuration: one typed dataclass, documented field by field, is the CLI.

``ppomania train --config FILE.toml --total-timesteps 2000000 …``: values come from the dataclass
defaults, then the TOML file, then the command line. The resolved config is saved as
``runs/<name>/config.toml``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ppomania.env.reward import RewardConfig
from ppomania.protocol.endpoint import DEFAULT_PORT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class TrainConfig:
    """PPO training of ppomania's agent."""

    exp_name: str = "ppo"
    """Experiment name, part of the run name."""
    seed: int = 0
    """Seeds maps, the simulator, numpy and torch."""
    keys: int = 4
    """Key count to train (maps of other key counts are skipped)."""
    maps: tuple[str, ...] = ()
    """.osu files, folders or an osu! Songs folder to train on, beside the generated maps."""
    generated_maps: int = 256
    """Number of bundled generated maps to train on (0: none; then `maps` must be given)."""
    map_duration_s: float = 30.0
    """Length of each generated map."""
    curriculum: bool = False
    """Start on the maps of lowest star rating and widen the pool as training progresses."""
    eval_maps: tuple[str, ...] = ()
    """Held-out maps for evaluation and the best model; default: generated maps never trained on."""
    eval_generated: int = 4
    """Number of held-out generated maps when `eval_maps` is empty."""
    total_timesteps: int = 1_000_000
    """Environment steps to train for (all envs together)."""
    max_minutes: float = 0.0
    """Stop (with a checkpoint) after this much wall time; 0: no limit."""
    n_envs: int = 16
    """Plays stepped together in the batched simulator."""
    n_steps: int = 128
    """Steps per env per PPO rollout."""
    batch_size: int = 512
    """PPO minibatch size (divides n_envs * n_steps)."""
    n_epochs: int = 4
    """PPO epochs per rollout."""
    learning_rate: float = 3e-4
    """Adam learning rate, decayed linearly to 0."""
    gamma: float = 0.95
    """Discount: judgements land within a few steps of the decision that earned them."""
    gae_lambda: float = 0.9
    """GAE lambda."""
    clip_range: float = 0.2
    """PPO clip range."""
    ent_coef: float = 0.01
    """Entropy bonus."""
    initial_press_probability: float = 0.1
    """Chance per step that the untrained policy holds each key (its action head's bias). A fair
    coin per key taps each key ~15 times a second, so random taps take every note at the early
    edge of its window and a well-timed press earns nothing over them; at 0.1 it does."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 0.5
    """Gradient clipping."""
    action_space: Literal["multibinary", "discrete"] = "multibinary"
    """MultiBinary(K) (one Bernoulli per key) or Discrete(2**K) (one action per chord)."""
    policy: Literal["highway", "nature"] = "highway"
    """Feature extractor: ppomania's HighwayCNN on the small frame, or SB3's NatureCNN."""
    frame_height: int = 48
    """Rows of the observation frame."""
    column_width: int = 4
    """Pixels per column of the observation frame."""
    scroll_speed: float = 22.0
    """osu!mania scroll speed setting of the rendered highway (22 shows ~522 ms)."""
    control_hz: float = 60.0
    """Agent decisions per second."""
    input_latency_ms: float = 8.0
    """Key latency modelled in the simulator."""
    capture_latency_ms: float = 16.0
    """Frame age modelled in the simulator."""
    jitter_ms: float = 2.0
    """Gaussian timing noise on key events (robustness for the live game)."""
    reward_judgement: tuple[float, float, float, float, float, float] = RewardConfig.judgement
    """Reward per MAX, 300, 200, 100, 50, miss."""
    reward_key_spam: float = RewardConfig.key_spam
    """Reward per key press that hit nothing."""
    reward_combo_break: float = RewardConfig.combo_break
    """Reward when a combo of 10 or more breaks."""
    checkpoint_every: int = 100_000
    """Steps between checkpoints."""
    keep_checkpoints: int = 3
    """Checkpoints kept (the oldest are deleted)."""
    eval_every: int = 50_000
    """Steps between evaluations on the held-out maps."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device; auto takes CUDA when present."""
    threads: int = 0
    """Torch CPU threads (0: all cores; the simulator runs in-process)."""
    runs_dir: str = "runs"
    """Folder of run folders."""
    run_name: str = ""
    """Run folder name (default: keys, experiment, seed and time)."""
    progress: bool = True
    """Show a progress bar."""
    show: bool = False
    """Open the live visualization window on env 0."""
    live: bool = False
    """Fine-tune `live_model` in the live game (osu! with tosu/gosumemory, or the stand-in)."""
    live_model: str = ""
    """The model to fine-tune live: a run folder or a .zip trained in the simulator."""
    live_map: str = ""
    """The .osu being played live, when the game state's map is not found under `live_songs`."""
    live_songs: str = ""
    """The osu! Songs folder the live game's map is looked up in (default: the one the state names)."""
    live_calibration: str = ""
    """Playfield calibration JSON (default: the file `ppomania calibrate` writes)."""
    live_port: int = DEFAULT_PORT
    """Port of tosu/gosumemory (or the stand-in)."""

    def resolved_run_name(self, timestamp: int) -> str:
        return self.run_name or f"{self.keys}k__{self.exp_name}__{self.seed}__{timestamp}"

    def check_types(self) -> None:
        """Check that every value has its field's type.

        :raises ConfigError: naming the first bad field.
        """
        for field in dataclasses.fields(self):
            check_type(field.name, getattr(self, field.name))

    def validate(self) -> None:
        """Check every value (its type, then its range).

        :raises ConfigError: naming the first bad field.
        """
        self.check_types()
        for name, (check, meaning) in _RANGES.items():
            value = getattr(self, name)
            if not check(value):
                raise ConfigError(f"{name}: must be {meaning}, got {value!r}")
        for name in ("exp_name", "run_name"):
            value = getattr(self, name)
            if value in (".", "..") or any(sep in value for sep in "/\\"):
                raise ConfigError(f"{name}: must be a plain folder name, got {value!r}")
        if self.generated_maps <= 0 and not self.maps:
            raise ConfigError(
                "generated_maps: nothing to train on: set generated_maps > 0 or give maps"
            )
        if not self.eval_maps and self.eval_generated < 1:
            raise ConfigError("eval_generated: must be at least 1 when eval_maps is empty")
        if (self.n_envs * self.n_steps) % self.batch_size:
            raise ConfigError(
                f"batch_size: {self.batch_size} must divide n_envs * n_steps = "
                f"{self.n_envs * self.n_steps}"
            )


class ConfigError(ValueError):
    """A config value that cannot be used; the message starts with the field's name."""


#: Fields a resumed run may change (training length and cadence, optimiser settings, this
#: session's machine and display); the others define the model, its inputs or its maps.
CHANGEABLE_ON_RESUME = frozenset(
    {
        "total_timesteps",
        "max_minutes",
        "learning_rate",
        "n_epochs",
        "batch_size",
        "clip_range",
        "ent_coef",
        "vf_coef",
        "max_grad_norm",
        "checkpoint_every",
        "keep_checkpoints",
        "eval_every",
        "device",
        "threads",
        "progress",
        "show",
    }
)


def resumed_config(saved: TrainConfig, asked: TrainConfig) -> TrainConfig:
    """The config to resume a run trained with ``saved``: ``saved`` with the changes ``asked`` makes
    to the fields in :data:`CHANGEABLE_ON_RESUME`.

    :raises ConfigError: when ``asked`` changes another field.
    """
    for field in dataclasses.fields(saved):
        before, after = getattr(saved, field.name), getattr(asked, field.name)
        if field.name not in CHANGEABLE_ON_RESUME and before != after:
            raise ConfigError(
                f"{field.name}: cannot change when resuming (the run has {before!r}, "
                f"asked {after!r})"
            )
    return asked


def _positive(value: float) -> bool:
    return value > 0 and math.isfinite(value)


def _non_negative(value: float) -> bool:
    return value >= 0 and math.isfinite(value)


_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    **dict.fromkeys(
        (
            "total_timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "checkpoint_every",
            "keep_checkpoints", "eval_every", "frame_height", "column_width", "learning_rate",
            "map_duration_s", "scroll_speed", "control_hz", "clip_range",
        ),
        (_positive, "positive"),
    ),
    **dict.fromkeys(
        (
            "generated_maps", "eval_generated", "threads", "max_minutes", "input_latency_ms",
            "capture_latency_ms", "jitter_ms", "ent_coef", "vf_coef", "max_grad_norm",
        ),
        (_non_negative, "at least 0"),
    ),
    "seed": (lambda v: 0 <= v < 2**32, "in [0, 2**32)"),
    "keys": (lambda v: 1 <= v <= 10, "in [1, 10]"),
    "gamma": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "gae_lambda": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "live_port": (lambda v: 0 < v < 65536, "a port number"),
    "reward_judgement": (lambda v: all(math.isfinite(x) for x in v), "finite numbers"),
    "reward_key_spam": (math.isfinite, "a finite number"),
    "reward_combo_break": (math.isfinite, "a finite number"),
    "initial_press_probability": (lambda v: 0 < v < 1, "in (0, 1)"),
}  # fmt: skip


@functools.cache
def field_types() -> dict[str, Any]:
    """The type of each of :class:`TrainConfig`'s fields."""
    return typing.get_type_hints(TrainConfig)


def check_type(name: str, value: Any) -> None:
    """Check that ``value`` has the type of :class:`TrainConfig`'s field ``name``.

    :raises ConfigError: when not.
    """
    expected = field_types()[name]
    if not _has_type(value, expected):
        raise ConfigError(f"{name}: expected {describe_type(expected)}, got {value!r}")


def _has_type(value: Any, expected: Any) -> bool:
    """Whether ``value`` is of the annotation ``expected`` (the kinds :class:`TrainConfig` uses)."""
    origin = typing.get_origin(expected)
    if origin is Literal:
        return value in typing.get_args(expected)
    if origin is tuple:
        args = typing.get_args(expected)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_has_type(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(_has_type, value, args))
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def describe_type(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(expected))
    if origin is tuple:
        args = typing.get_args(expected)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {args[0].__name__}"
        return f"a list of {len(args)} {args[0].__name__}"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return names.get(expected, expected.__name__)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Values of a config TOML file, checked against :class:`TrainConfig`'s fields."""
    with open(path, "rb") as handle:
        values = tomllib.load(handle)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def to_toml(config: TrainConfig) -> str:
    """``config`` as TOML text (flat: strings, numbers, booleans and arrays)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (tuple, list)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        text = str(v).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'

    return "".join(
        f"{f.name} = {value(getattr(config, f.name))}\n" for f in dataclasses.fields(config)
    )
