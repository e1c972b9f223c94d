"""``ppomania render``: save the frame the agent sees at a moment of a map as a PNG."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np

from ppomania.cli import CliError
from ppomania.game.beatmap import BeatmapError, load_beatmap
from ppomania.text import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render",
        help="save what the agent sees at a moment of a map as a PNG",
        description="Render the frame the agent sees in MAP at --at seconds (nothing judged).",
    )
    parser.add_argument("map", metavar="MAP.osu", help="an osu!mania beatmap")
    parser.add_argument("--at", type=float, required=True, metavar="SECONDS", help="map time")
    parser.add_argument("-o", "--output", required=True, metavar="PNG", help="file to write")
    parser.add_argument(
        "--scale", type=int, default=4, help="pixel upscaling for human eyes (default 4)"
    )
    parser.add_argument(
        "--scroll-speed",
        type=float,
        default=22.0,
        metavar="S",
        help="osu!mania scroll speed 1-40 (default 22, as the agent sees)",
    )
    parser.add_argument("--sv", action="store_true", help="follow the map's SV changes")
    parser.set_defaults(func=run)


def save_png(frame: np.ndarray, path: str | Path, scale: int = 1) -> None:
    """Write a ``(H, W)`` uint8 frame as a grayscale PNG, each pixel ``scale`` × ``scale``."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame  # late: only this command needs it

    big = np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)
    rgb = np.repeat(big.T[:, :, None], 3, axis=2)  # surfarray wants (W, H, 3)
    pygame.image.save(pygame.surfarray.make_surface(rgb), str(path))


def run(args: argparse.Namespace) -> int:
    from ppomania.env.spaces import DEFAULT_COLUMN_WIDTH, DEFAULT_FRAME_HEIGHT
    from ppomania.sim.render import HighwayGeometry, render_beatmap_frame

    if not math.isfinite(args.at) or args.at < 0:
        raise CliError(f"--at must be a finite time of at least 0 seconds, got {args.at}")
    if args.scale < 1:
        raise CliError(f"--scale must be at least 1, got {args.scale}")
    try:
        beatmap = load_beatmap(args.map)
        geometry = HighwayGeometry.for_keys(
            beatmap.keys,
            DEFAULT_FRAME_HEIGHT,
            DEFAULT_COLUMN_WIDTH * beatmap.keys,
            scroll_speed=args.scroll_speed,
            sv_scroll=args.sv,
        )
    except (BeatmapError, ValueError) as exc:
        raise CliError(str(exc)) from None
    frame = render_beatmap_frame(beatmap, args.at * 1000.0, geometry)
    try:
        save_png(frame, args.output, args.scale)
    except Exception as exc:  # pygame raises its own error type for unwritable paths
        raise CliError(f"cannot write {args.output}: {exc}") from None
    print(
        f"{args.output}: {printable(beatmap.display_name)} at {args.at:g} s, "
        f"{geometry.width}x{geometry.height}"
    )
    return 0
