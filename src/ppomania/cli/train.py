"""``ppomania train``: PPO on the batched simulator (the config dataclass is the CLI)."""

from __future__ import annotations

import argparse
import dataclasses
import typing

import tyro

from ppomania.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train an agent (ppomania train --help lists every option)",
        add_help=False,
        description="Train a PPO agent in the batched simulator.",
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)
    parser.set_defaults(func=run)


def parse_config(argv: list[str], prog: str = "ppomania train"):
    """``--config FILE.toml`` and ``--resume RUN`` first, then :class:`TrainConfig`'s fields.

    Defaults come from the dataclass, or from the run's ``config.toml`` when resuming, then from
    ``--config``, then the command line.
    """
    from ppomania.agent.config import ConfigError, TrainConfig, load_toml
    from ppomania.agent.runs import read_run_config

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    pre.add_argument("--resume", default=None)
    known, rest = pre.parse_known_args(argv)
    defaults = TrainConfig()
    sources = [("--resume", known.resume, read_run_config), ("--config", known.config, load_toml)]
    for option, path, read in sources:
        if not path:
            continue
        try:
            defaults = dataclasses.replace(defaults, **read(path))
            defaults.check_types()
        except (OSError, ValueError) as exc:
            raise CliError(f"{option} {path}: {exc}") from None
    try:
        check_values(rest)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    config = tyro.cli(
        TrainConfig,
        args=rest,
        default=defaults,
        prog=prog,
        description="Train a PPO agent in the batched simulator. Also: --config FILE.toml "
        "(defaults from a file), --resume RUN (continue a run folder).",
    )
    return config, known.resume


def check_values(args: list[str]) -> None:
    """Check the values given to number and choice options (``--n-envs 16``, ``--device=cpu``),
    so that a bad one is a one-line error naming its option rather than tyro's framed message.

    :raises ConfigError: for the first bad value.
    """
    from ppomania.agent.config import ConfigError, check_type, describe_type, field_types

    types = field_types()
    for i, token in enumerate(args):
        option, has_value, text = token.partition("=")
        name = option.removeprefix("--").replace("-", "_")
        kind = types.get(name) if option.startswith("--") else None
        scalar = kind in (int, float) or typing.get_origin(kind) is typing.Literal
        if not scalar or (not has_value and i + 1 == len(args)):
            continue
        text = text if has_value else args[i + 1]
        try:
            check_type(name, kind(text) if kind in (int, float) else text)
        except (ValueError, ConfigError):
            raise ConfigError(f"{option}: expected {describe_type(kind)}, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from ppomania.agent.runs import RunWriteError
    from ppomania.agent.train import train

    config, resume = parse_config(args.args)
    try:
        result = train(config, resume=resume)
    except RunWriteError as exc:
        raise CliError(f"{exc} (the files saved before are kept)") from None
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise CliError(str(exc)) from None
    state = "interrupted at" if result.interrupted else "finished after"
    print(f"{state} {result.timesteps} steps in {result.seconds:.0f} s")
    print(f"run folder: {result.run_dir}")
    if result.best_accuracy >= 0:
        print(f"best evaluation accuracy: {100 * result.best_accuracy:.2f}%")
    print(f"TensorBoard: tensorboard --logdir {result.run_dir / 'tb'}")
    return 130 if result.interrupted else 0
