"""``ppomania export``: a trained model as a ppomania model file, safe to share and to load."""

from __future__ import annotations

import argparse
from pathlib import Path

from ppomania.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a model as a code-free model file to share",
        description="Write the model of RUN (a run folder, or a model .zip) as a ppomania model "
        "file: the policy's weights and a JSON description, no optimizer state and no pickled "
        "Python objects, so loading it runs no code. play, watch, eval and bench load it.",
    )
    parser.add_argument("run", metavar="RUN", help="a run folder or a model .zip")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help="the model file to write"
    )
    parser.add_argument(
        "--half",
        action="store_true",
        help="store the weights as 16-bit floats: half the size, played in 32 bits",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ppomania.agent.models import export_model, resolve_model_path

    try:
        source = resolve_model_path(args.run)
        description = export_model(source, args.output, half=args.half)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    height, width = description.geometry.shape
    print(
        f"{args.output} ({args.output.stat().st_size / 1e6:.1f} MB) from {source}: "
        f"{description.keys}K {description.action_kind}, {description.policy.extractor} on "
        f"{height}x{width} frames, {description.control_hz:g} Hz, "
        f"{description.latency_ms:g} ms latency, {description.timesteps} steps"
    )
    return 0
