"""``ppomania play``: play the real game (or the stand-in) live with a model or autoplay."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ppomania.cli import CliError
from ppomania.protocol.endpoint import DEFAULT_PORT


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "play",
        help="play live (osu! + tosu/gosumemory, or the stand-in) with a model or autoplay",
        description="Capture the playfield, press keys and read the game state; print the same "
        "results table as eval, from the game's own final counts. The map is the one the game "
        "state names (found under --songs or the Songs folder the state reports), else --map.",
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="a run folder or a model .zip")
    who.add_argument("--policy", choices=("autoplay",), help="a built-in policy")
    parser.add_argument("--map", help="the .osu being played, when the state's map is not found")
    parser.add_argument("--songs", type=Path, help="the osu! Songs folder (to find the map)")
    parser.add_argument("--episodes", type=int, default=1, help="plays (1)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"state server port ({DEFAULT_PORT})"
    )
    parser.add_argument(
        "--area", help="capture area on screen L,T,W,H for the agent's frame (default: calibration)"
    )
    parser.add_argument(
        "--config", type=Path, help="calibration JSON (~/.config/ppomania/live.json)"
    )
    parser.add_argument(
        "--skin",
        metavar="DIR|FILE.osk|default",
        help="the skin osu! draws with ('default': osu!'s; default: the calibration's)",
    )
    parser.add_argument(
        "--control-hz", type=float, help="steps per second (default: the model's, else 60)"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        help="game ms from a frame to its keys (default: the model's simulated capture + input "
        "latency; autoplay: none, keys at once)",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run the control loop with real-time priority when the OS allows it",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.model:
        return _run(args)
    from ppomania.agent.models import one_torch_thread

    with one_torch_thread():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ppomania.agent.evaluate import PlayResult, results_table
    from ppomania.agent.inference import DeterministicActions
    from ppomania.env.live_autoplay import LiveAutoplay
    from ppomania.env.live_env import LiveManiaEnv
    from ppomania.game.beatmap import BeatmapError, load_beatmap
    from ppomania.game.rules import Mods
    from ppomania.live.capture import DEFAULT_CONFIG, load_calibration
    from ppomania.sim.render import CaptureArea

    beatmap = None
    if args.map:
        try:
            beatmap = load_beatmap(args.map)
        except (OSError, BeatmapError) as exc:
            raise CliError(str(exc)) from None
    geometry, codec, model = None, None, None
    control_hz, latency_ms = 60.0, None
    if args.model:
        from ppomania.agent.models import load_model

        try:
            loaded = load_model(args.model)
        except (FileNotFoundError, ValueError) as exc:
            raise CliError(str(exc)) from None
        model, codec, geometry = loaded.model, loaded.codec, loaded.geometry
        control_hz, latency_ms = loaded.control_hz, loaded.latency_ms
        if beatmap is not None and codec.keys != beatmap.keys:
            raise CliError(f"the model plays {codec.keys}K, the map is {beatmap.keys}K")
    control_hz = args.control_hz or control_hz
    latency_ms = args.latency_ms if args.latency_ms is not None else latency_ms
    if args.area:
        if args.skin:
            raise CliError("--skin needs a calibration (the game window); leave out --area")
        try:
            playfield = CaptureArea(*(int(x) for x in args.area.split(",")))
        except (TypeError, ValueError):
            raise CliError(f"--area must be L,T,W,H, got {args.area!r}") from None
    else:
        path = args.config or DEFAULT_CONFIG
        try:
            playfield = load_calibration(path)
        except (OSError, ValueError, TypeError) as exc:
            raise CliError(
                f"no calibration ({exc}); run ppomania calibrate or pass --area"
            ) from None
        if args.skin:
            playfield = dataclasses.replace(playfield, skin=args.skin)
    try:
        env = LiveManiaEnv(
            beatmap,
            playfield,
            geometry,
            action_space=codec.kind if codec else "multibinary",
            control_hz=control_hz,
            latency_ms=latency_ms,
            songs=args.songs,
            port=args.port,
            realtime=args.realtime,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if codec is not None and env.codec.keys != codec.keys:
        env.close()
        raise CliError(f"the model plays {codec.keys}K, the map is {env.codec.keys}K")
    policy = LiveAutoplay() if model is None else None
    actions = DeterministicActions(model) if model is not None else None
    plays, timings = [], []
    try:
        for _ in range(args.episodes):
            obs, info = env.reset()
            done = False
            while not done:
                action = policy(env) if policy else actions(obs[None])[0]
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            game = env.last_live.state
            timings.append(info.get("timing"))
            plays.append(
                PlayResult(
                    beatmap=env.beatmap,
                    mods=Mods.NONE,
                    counts=info["game_counts"],
                    score=int(game.score),
                    max_combo=int(game.max_combo),
                    failed=info.get("reason") == "failed",
                    events=info["events"],
                    results=info["results"],
                )
            )
    except (TimeoutError, ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from None
    finally:
        env.close()
    if args.json:
        out = [dict(play.as_dict(), timing=t) for play, t in zip(plays, timings)]
        print(json.dumps(out, indent=2))
    else:
        print(results_table(plays))
    return 0
