"""``ppomania standin``: play a map in the stand-in game window with a tosu/gosumemory server."""

from __future__ import annotations

import argparse

from ppomania.cli import CliError
from ppomania.game.scroll import DEFAULT_SCROLL_SPEED
from ppomania.protocol.endpoint import DEFAULT_PORT


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "standin",
        help="play a map in the stand-in game (a window plus a tosu/gosumemory state server)",
        description="Play MAP in real time in a window that judges the keyboard with osu!stable "
        "rules and serves the game state like tosu or gosumemory on 127.0.0.1. Keys: the column "
        "bindings (4K D F J K, 7K S D F Space J K L), ` retry, Esc pause. The playfield is drawn "
        "as osu!stable draws it from a skin (--skin; default: a look close to osu!'s default skin), "
        "or in the simulator's own look (--look sim). On start it prints one JSON line with the "
        "playfield, judgement line and scroll speed (px/ms) in window pixels.",
    )
    parser.add_argument("map", help="an osu!mania .osu file")
    parser.add_argument(
        "--skin", metavar="DIR|FILE.osk", help="an osu! skin (default: the default-like skin)"
    )
    parser.add_argument(
        "--look",
        choices=("skin", "sim"),
        default="skin",
        help="skin: osu!stable's playfield from the skin (default); sim: the simulator's highway",
    )
    parser.add_argument(
        "--scroll-speed",
        type=float,
        default=DEFAULT_SCROLL_SPEED,
        help=f"osu!'s scroll speed setting, 1-40 ({DEFAULT_SCROLL_SPEED:g})",
    )
    parser.add_argument(
        "--window", default="1280x720", metavar="WxH", help="client area with a skin (1280x720)"
    )
    parser.add_argument("--flavor", choices=("tosu", "gosumemory"), default="tosu")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"state server port ({DEFAULT_PORT})"
    )
    parser.add_argument("--lead-in-ms", type=float, default=2000.0, help="lead-in (2000 ms)")
    parser.add_argument(
        "--auto-retry", action="store_true", help="restart after a fail or the results"
    )
    parser.add_argument("--songs", help="the Songs folder to report (default: above the map's)")
    parser.add_argument(
        "--realtime", action="store_true", help="real-time priority when allowed (busy machines)"
    )
    parser.add_argument("--seconds", type=float, help="quit after this long (default: never)")
    parser.add_argument(
        "--kill-server-after",
        type=float,
        metavar="S",
        help="stop the state server S seconds after start (a test of reconnection)",
    )
    parser.add_argument(
        "--server-down", type=float, default=2.0, metavar="S", help="…for S seconds (2)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ppomania.game.beatmap import BeatmapError, load_beatmap
    from ppomania.skin.files import SkinError, load_skin
    from ppomania.standin.game import StandinConfig, run_standin

    if args.look == "sim" and args.skin:
        raise CliError("--skin draws the skin's look; leave out --look sim")
    if not 1 <= args.scroll_speed <= 40:
        raise CliError(f"--scroll-speed must be in [1, 40], got {args.scroll_speed:g}")
    try:
        width, height = (int(v) for v in args.window.lower().split("x"))
        if width < 64 or height < 64:
            raise ValueError
    except ValueError:
        raise CliError(f"--window must be WxH (at least 64x64), got {args.window!r}") from None
    try:
        beatmap = load_beatmap(args.map)
    except (OSError, BeatmapError) as exc:
        raise CliError(str(exc)) from None
    skin = None
    if args.look == "skin":
        try:
            skin = load_skin(args.skin)
        except (OSError, SkinError) as exc:
            raise CliError(str(exc)) from None
    config = StandinConfig(
        flavor=args.flavor,
        port=args.port,
        lead_in_ms=args.lead_in_ms,
        auto_retry=args.auto_retry,
        songs_folder=args.songs,
        realtime=args.realtime,
        kill_server_after_s=args.kill_server_after,
        server_down_s=args.server_down,
        skin=skin,
        window=(width, height),
        scroll_speed=args.scroll_speed,
    )
    try:
        return run_standin(beatmap, config, args.seconds)
    except ValueError as exc:
        raise CliError(str(exc)) from None
