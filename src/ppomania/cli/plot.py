"""``ppomania plot``: a training run's learning curves as PNGs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ppomania.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="plot a training run's learning curves",
        description="Plot accuracy and reward against training steps from the TensorBoard "
        "event files of RUN (a run folder, or one event file).",
    )
    parser.add_argument("run", type=Path, metavar="RUN", help="a run folder, e.g. runs/NAME")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="DIR", help="folder for the PNGs (default RUN/plots)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ppomania.agent.plots import plot_learning_curves  # late: matplotlib loads slowly

    if not args.run.exists():
        raise CliError(f"{args.run}: no such run folder")
    out_dir = args.output or (args.run.parent if args.run.is_file() else args.run) / "plots"
    try:
        path = plot_learning_curves(args.run, out_dir / "learning_curves.png")
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(path)
    return 0
