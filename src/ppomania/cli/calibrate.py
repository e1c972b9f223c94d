"""``ppomania calibrate``: find the playfield on screen and save it for ``ppomania play``.

With ``--skin`` the playfield is computed, as osu!stable lays it out, from the skin's ``skin.ini``
in the game window's client area, and the scroll speed setting (``--scroll-speed``, else tosu's
``settings.mania.scrollSpeed``); image detection of the judgement line then only cross-checks it.
Without, the playfield is detected in a screenshot (the stand-in's ``sim`` look).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ppomania.cli import CliError
from ppomania.protocol.endpoint import DEFAULT_PORT, HTTP_V2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="find the playfield (columns, judgement line, scroll) from the skin or a screenshot",
        description="With --skin: compute the columns, the judgement line and the scroll (px/ms) "
        "from the skin's skin.ini in the osu! window's client area (--window TITLE or --area) "
        "and osu!'s scroll speed (--scroll-speed, else read from tosu), cross-check them with "
        "image detection and save them with the skin, so that ppomania play reads the notes "
        "through it. Without --skin: detect the judgement line and column edges while a map "
        "plays in the simulator's colours (the stand-in's --look sim). Saves JSON and writes a "
        "preview PNG with the agent's capture area outlined (red: saved; green: detected).",
    )
    parser.add_argument(
        "--skin",
        metavar="DIR|FILE.osk|default",
        help="the skin osu! draws with ('default': osu!'s default skin)",
    )
    parser.add_argument("--screenshot", type=Path, help="a PNG (default: grab the screen now)")
    parser.add_argument(
        "--area", help="the game window's client area L,T,W,H on screen (or where to look)"
    )
    parser.add_argument("--window", help="the window whose title contains this")
    parser.add_argument("--keys", type=int, default=4, help="key count (4)")
    parser.add_argument(
        "--scroll-speed",
        type=float,
        help="osu!'s scroll speed setting, with --skin (default: tosu's, else 22)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"tosu's port ({DEFAULT_PORT})"
    )
    parser.add_argument(
        "--px-per-ms",
        type=float,
        help="without --skin: scroll speed in screen px/ms (default: the stand-in's)",
    )
    parser.add_argument("--out", type=Path, help="JSON (~/.config/ppomania/live.json)")
    parser.add_argument("--preview", type=Path, default=Path("calibration.png"))
    parser.set_defaults(func=run)


def tosu_scroll_speed(port: int, tries: int = 4, timeout_s: float = 2.0) -> float | None:
    """osu!mania's scroll speed from tosu's v2 document (``settings.mania.scrollSpeed``), or None
    when no tosu answers or it does not say (tries a few times: tosu answers 500 until it has
    read the game)."""
    import time
    import urllib.request

    from ppomania.protocol.parse import parse_document
    from ppomania.protocol.snapshot import TOSU_V2, ProtocolError

    for attempt in range(tries):
        if attempt:
            time.sleep(0.3)
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}{HTTP_V2}", timeout=timeout_s
            ) as response:
                parsed = parse_document(response.read(1 << 22), TOSU_V2)
        except (OSError, ProtocolError):
            continue
        value = parsed.snapshot.scroll_speed if parsed.snapshot else None
        return value if value is not None and 1 <= value <= 40 else None
    return None


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

    if not 1 <= args.keys <= 18:
        raise CliError(f"--keys must be in 1..18, got {args.keys}")
    window = None
    if args.window:
        found = find_window_area(args.window)
        if found is None:
            raise CliError(
                f"no window titled {args.window!r} on screen (is it running, not "
                "minimised? on Linux: under X11, with python-xlib)"
            )
        window = Rect(*found)
    elif args.area:
        try:
            window = Rect(*(int(x) for x in args.area.split(",")))
        except (TypeError, ValueError):
            raise CliError(f"--area must be L,T,W,H, got {args.area!r}") from None
    offset = (0, 0)
    if args.screenshot:
        import pygame

        surface = pygame.image.load(str(args.screenshot))
        rgb = pygame.surfarray.array3d(surface).transpose(1, 0, 2)
        image = np.ascontiguousarray(rgb[..., ::-1])
        if window is None and args.skin:  # the screenshot is the window
            window = Rect(0, 0, image.shape[1], image.shape[0])
    else:
        image, offset = grab_screen(window)
    if args.skin:
        calibration, speed_from = _from_skin(args, window)
        px_per_ms = calibration.px_per_ms
    else:
        calibration, speed_from = None, ""
        px_per_ms = args.px_per_ms or StandinLook(args.keys).px_per_ms
    try:
        detected = detect_playfield(image, args.keys, px_per_ms, offset=offset)
    except ValueError as exc:
        if calibration is None:
            raise CliError(str(exc)) from None
        detected = None
        print(f"image detection: {exc}")
    if calibration is None:
        calibration = detected
    elif detected is not None:
        print(
            "skin vs image detection (px): "
            f"left {detected.left - calibration.left:+d}, "
            f"right {detected.right - calibration.right:+d}, "
            f"judgement line {detected.judgement_y - calibration.judgement_y:+.1f}"
        )
    path = save_calibration(calibration, args.out or DEFAULT_CONFIG)
    geometry = default_geometry(args.keys)
    preview = image
    for found, colour in ((detected, (0, 255, 0)), (calibration, (0, 0, 255))):
        if found is not None:
            area = capture_area(found, geometry)
            rect = Rect(area.left, area.top, area.width, area.height)
            preview = draw_rect(preview, rect, offset, colour)
    write_png(preview, args.preview)
    print(f"{calibration}{speed_from}\nsaved {path}; preview {args.preview}")
    return 0


def _from_skin(args: argparse.Namespace, window):  # type: ignore[no-untyped-def]
    """The calibration osu!stable's layout of ``args.skin`` gives in ``window``."""
    from ppomania.env.live_frames import DEFAULT_SKIN
    from ppomania.game.scroll import DEFAULT_SCROLL_SPEED
    from ppomania.live.capture import Calibration
    from ppomania.skin.files import SkinError, load_skin
    from ppomania.skin.layout import mania_layout

    if window is None:
        raise CliError("--skin needs the osu! window: --window TITLE, --area or --screenshot")
    try:
        skin = load_skin(None if args.skin == DEFAULT_SKIN else args.skin)
    except SkinError as exc:
        raise CliError(str(exc)) from None
    speed, speed_from = args.scroll_speed, ""
    if speed is None:
        speed = tosu_scroll_speed(args.port)
        speed_from = " (scroll speed from tosu)"
        if speed is None:
            speed, speed_from = DEFAULT_SCROLL_SPEED, " (scroll speed: default; tosu not found)"
    if not 1 <= speed <= 40:
        raise CliError(f"--scroll-speed must be in [1, 40], got {speed:g}")
    layout = mania_layout(skin.ini.mania(args.keys), (window.width, window.height))
    if layout.upside_down:
        raise CliError(f"{args.skin}: upside-down skins are not supported yet")
    calibration = Calibration(
        left=round(window.left + layout.columns[0][0]),
        right=round(window.left + layout.columns[-1][1]),
        judgement_y=window.top + layout.hit_y,
        px_per_ms=layout.px_per_ms(speed),
        keys=args.keys,
        window=(window.left, window.top, window.width, window.height),
        skin=args.skin if args.skin == DEFAULT_SKIN else str(Path(args.skin).resolve()),
        scroll_speed=float(speed),
    )
    return calibration, speed_from
