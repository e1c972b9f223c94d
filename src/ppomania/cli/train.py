"""``ppomania train``: PPO on the batched simulator (the config dataclass is the CLI)."""

from __future__ import annotations

import argparse
import dataclasses

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
    """``--config FILE.toml`` and ``--resume RUN`` first, then :class:`TrainConfig`'s fields."""
    from ppomania.agent.config import TrainConfig, load_toml

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    pre.add_argument("--resume", default=None)
    known, rest = pre.parse_known_args(argv)
    defaults = TrainConfig()
    if known.config:
        try:
            defaults = dataclasses.replace(defaults, **load_toml(known.config))
        except (OSError, ValueError) as exc:
            raise CliError(f"--config {known.config}: {exc}") from None
    config = tyro.cli(
        TrainConfig,
        args=rest,
        default=defaults,
        prog=prog,
        description="Train a PPO agent in the batched simulator. Also: --config FILE.toml "
        "(defaults from a file), --resume RUN (continue a run folder).",
    )
    return config, known.resume


def run(args: argparse.Namespace) -> int:
    from ppomania.agent.train import train

    config, resume = parse_config(args.args)
    try:
        result = train(config, resume=resume)
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    state = "interrupted at" if result.interrupted else "finished after"
    print(f"{state} {result.timesteps} steps in {result.seconds:.0f} s")
    print(f"run folder: {result.run_dir}")
    if result.best_accuracy >= 0:
        print(f"best evaluation accuracy: {100 * result.best_accuracy:.2f}%")
    print(f"TensorBoard: tensorboard --logdir {result.run_dir / 'tb'}")
    return 130 if result.interrupted else 0
