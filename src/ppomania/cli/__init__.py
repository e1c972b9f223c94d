"""The ``ppomania`` command: one entry point, a module per subcommand.

Each module in :data:`SUBCOMMANDS` defines ``register(subparsers)``, which adds its parser and sets
``func`` (taking the parsed namespace, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ppomania.text import printable

SUBCOMMANDS = (
    "verify_replay",
    "render",
    "train",
    "eval",
    "export",
    "bench",
    "watch",
    "plot",
    "standin",
    "calibrate",
    "play",
    "demo",
    "skin",
)


#: Names of :func:`ppomania.agent.evaluate.builtin_policy`'s policies (kept here: cheap to import).
BUILTIN_POLICIES = ("autoplay", "random", "idle")


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ppomania", description="A PPO agent that learns to play osu!mania."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"ppomania.cli.{name}").register(subparsers)
    return parser


#: Subcommands that parse their own arguments (their config dataclass is the CLI).
PASSTHROUGH = ("train",)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:
        args = argparse.Namespace(command=argv[0], args=argv[1:])
        args.func = importlib.import_module(f"ppomania.cli.{argv[0]}").run
    else:
        args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        # messages quote file names and file contents: escape what could drive the terminal
        print(f"ppomania {args.command}: error: {printable(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
