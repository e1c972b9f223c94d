"""``ppomania play``: play the real game (or the stand-in) live with a model or autoplay."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ppomania.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "play",
        help="play live (osu! + tosu/gosumemory, or the stand-in) with a model or autoplay",
        description="Capture the playfield, press keys and read the game state; print the same "
        "results table as eval, from the game's own final counts.",
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="a run folder or a model .zip")
    who.add_argument("--policy", choices=("autoplay",), help="a built-in policy")
    parser.add_argument("--map", required=True, help="the .osu being played")
    parser.add_argument("--episodes", type=int, default=1, help="plays (1)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("--port", type=int, default=24050, help="state server port (24050)")
    parser.add_argument("--area", help="playfield on screen L,T,W,H (default: calibration file)")
    parser.add_argument(
        "--config", type=Path, help="calibration JSON (~/.config/ppomania/live.json)"
    )
    parser.add_argument("--control-hz", type=float, default=60.0, help="steps per second (60)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ppomania.agent.evaluate import PlayResult, results_table
    from ppomania.game.beatmap import BeatmapError, load_beatmap
    from ppomania.game.rules import Mods
    from ppomania.live.capture import DEFAULT_CONFIG, load_calibration
    from ppomania.live.env import LiveAutoplay, LiveManiaEnv
    from ppomania.sim.render import CaptureArea, HighwayGeometry

    try:
        beatmap = load_beatmap(args.map)
    except (OSError, BeatmapError) as exc:
        raise CliError(str(exc)) from None
    geometry, codec, model = HighwayGeometry.for_keys(beatmap.keys), None, None
    if args.model:
        from ppomania.agent.models import load_model

        model, codec, geometry = load_model(args.model)
        if codec.keys != beatmap.keys:
            raise CliError(f"the model plays {codec.keys}K, the map is {beatmap.keys}K")
    if args.area:
        try:
            area = CaptureArea(*(int(x) for x in args.area.split(",")))
        except (TypeError, ValueError):
            raise CliError(f"--area must be L,T,W,H, got {args.area!r}") from None
    else:
        path = args.config or DEFAULT_CONFIG
        try:
            area = load_calibration(path).area(geometry)
        except (OSError, ValueError, TypeError) as exc:
            raise CliError(
                f"no calibration ({exc}); run ppomania calibrate or pass --area"
            ) from None
    env = LiveManiaEnv(
        beatmap,
        area,
        geometry,
        action_space=codec.kind if codec else "multibinary",
        control_hz=args.control_hz,
        port=args.port,
    )
    policy = LiveAutoplay() if model is None else None
    plays = []
    try:
        for _ in range(args.episodes):
            obs, info = env.reset()
            done = False
            while not done:
                action = policy(env) if policy else model.predict(obs, deterministic=True)[0]
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            game = env.last_live.state
            plays.append(
                PlayResult(
                    beatmap=beatmap,
                    mods=Mods.NONE,
                    counts=info["game_counts"],
                    score=int(game.score),
                    max_combo=int(game.max_combo),
                    failed=info.get("reason") == "failed",
                    events=info["events"],
                    results=info["results"],
                )
            )
    finally:
        env.close()
    if args.json:
        print(json.dumps([p.as_dict() for p in plays], indent=2))
    else:
        print(results_table(plays))
    return 0
