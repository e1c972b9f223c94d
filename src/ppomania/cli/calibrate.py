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
        "JSON and write a preview PNG with the agent's capture area outlined. The scroll speed "
        "cannot be seen in one screenshot: --px-per-ms defaults to the stand-in game's; for "
        "osu! pass the distance in pixels a note falls per ms (screen pixels from where notes "
        "appear to the judgement line, divided by 11485 / scroll speed).",
    )
    parser.add_argument("--screenshot", type=Path, help="a PNG (default: grab the screen now)")
    parser.add_argument("--area", help="only look at L,T,W,H of the screen")
    parser.add_argument("--window", help="only look at the window whose title contains this")
    parser.add_argument("--keys", type=int, default=4, help="key count (4)")
    parser.add_argument(
        "--px-per-ms", type=float, help="scroll speed in screen px/ms (default: the stand-in's)"
    )
    parser.add_argument("--out", type=Path, help="JSON (~/.config/ppomania/live.json)")
    parser.add_argument("--preview", type=Path, default=Path("calibration.png"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ppomania.env.live_frames import capture_area
    from ppomania.env.spaces import default_geometry
    from ppomania.live.capture import (
        DEFAULT_CONFIG,
        Rect,
        detect_playfield,
        draw_rect,
        find_window_area,
        grab_screen,
        save_calibration,
        write_png,
    )
    from ppomania.standin.game import StandinLook

    px_per_ms = args.px_per_ms or StandinLook(args.keys).px_per_ms
    offset = (0, 0)
    if args.screenshot:
        import pygame

        surface = pygame.image.load(str(args.screenshot))
        rgb = pygame.surfarray.array3d(surface).transpose(1, 0, 2)
        image = np.ascontiguousarray(rgb[..., ::-1])
    else:
        rect = None
        if args.window:
            found = find_window_area(args.window)
            if found is None:
                raise CliError(
                    f"no window titled {args.window!r} on screen (is it running, not "
                    "minimised? on Linux: under X11, with python-xlib)"
                )
            rect = Rect(*found)
        elif args.area:
            try:
                rect = Rect(*(int(x) for x in args.area.split(",")))
            except (TypeError, ValueError):
                raise CliError(f"--area must be L,T,W,H, got {args.area!r}") from None
        image, offset = grab_screen(rect)
    try:
        calibration = detect_playfield(image, args.keys, px_per_ms, offset=offset)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    path = save_calibration(calibration, args.out or DEFAULT_CONFIG)
    area = capture_area(calibration, default_geometry(args.keys))
    preview = Rect(area.left, area.top, area.width, area.height)
    write_png(draw_rect(image, preview, offset), args.preview)
    print(f"{calibration}\nsaved {path}; preview {args.preview}")
    return 0
