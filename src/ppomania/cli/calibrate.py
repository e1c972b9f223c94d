"""``ppomania calibrate``: find the playfield on screen and save it for ``ppomania play``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ppomania.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="detect the playfield (columns, judgement line) in a screenshot of a map playing",
        description="Detect the judgement line and column edges while a map plays, save them as "
        "JSON and write a preview PNG with the capture area outlined.",
    )
    parser.add_argument("--screenshot", type=Path, help="a PNG (default: grab the screen now)")
    parser.add_argument("--area", help="only look at L,T,W,H of the screen")
    parser.add_argument("--keys", type=int, default=4, help="key count (4)")
    parser.add_argument("--px-per-ms", type=float, help="scroll speed (default: square pixels)")
    parser.add_argument("--out", type=Path, help="JSON (~/.config/ppomania/live.json)")
    parser.add_argument("--preview", type=Path, default=Path("calibration.png"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ppomania.live.capture import (
        DEFAULT_CONFIG,
        detect_playfield,
        draw_area,
        save_calibration,
        write_png,
    )
    from ppomania.sim.render import HighwayGeometry

    offset = (0, 0)
    if args.screenshot:
        import pygame

        surface = pygame.image.load(str(args.screenshot))
        rgb = pygame.surfarray.array3d(surface).transpose(1, 0, 2)
        image = np.ascontiguousarray(rgb[..., ::-1])
    else:
        import mss

        with mss.MSS() as sct:
            monitor = sct.monitors[0]
            if args.area:
                left, top, width, height = (int(x) for x in args.area.split(","))
                monitor = {"left": left, "top": top, "width": width, "height": height}
            shot = sct.grab(monitor)
            image = np.frombuffer(shot.bgra, np.uint8).reshape(shot.height, shot.width, 4)
            offset = (monitor["left"], monitor["top"])
    geometry = HighwayGeometry.for_keys(args.keys)
    try:
        calibration = detect_playfield(image, args.keys, geometry, args.px_per_ms, offset=offset)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    path = save_calibration(calibration, args.out or DEFAULT_CONFIG)
    write_png(draw_area(image, calibration.area(geometry), offset), args.preview)
    print(f"{calibration}\nsaved {path}; preview {args.preview}")
    return 0
