"""``ppomania watch``: watch a model (or a built-in policy) play a map, live in a window."""

from __future__ import annotations

import argparse
import functools

from ppomania.cli import BUILTIN_POLICIES, CliError
from ppomania.game.beatmap import BeatmapError, load_beatmap
from ppomania.game.rules import Mods


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="watch a model play a map in the simulator, live",
        description="Play MAP.osu in the simulator with a trained model (or a built-in policy) "
        "at real speed, showing what the agent sees and does. Esc or closing the window stops. "
        "Without --model or --policy, the model bundled for the map's key count plays.",
    )
    parser.add_argument("map", metavar="MAP.osu", help="an osu!mania beatmap")
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--model",
        metavar="M",
        help="a model .zip or a run folder (best, final, newest checkpoint); default: the "
        "bundled model for the map's key count",
    )
    who.add_argument("--policy", choices=BUILTIN_POLICIES, help="a built-in policy instead")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="times real time; 0 = as fast as possible (1)"
    )
    parser.add_argument("--seconds", type=float, metavar="S", help="stop after S s of wall time")
    parser.add_argument("--screenshot", metavar="PNG", help="save the last frame drawn at exit")
    parser.add_argument("--mods", default="", help="mods, e.g. HR, DT, MR (default none)")
    parser.add_argument("--fps", type=float, default=30.0, help="window draws per second (30)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Late imports: torch, SB3 and pygame take seconds to load; other commands need none of it.
    from ppomania.agent import watch as watching
    from ppomania.agent.evaluate import builtin_policy, model_policy, results_table
    from ppomania.agent.window import VisualizationWindow, policy_outputs
    from ppomania.cli.bundled import load_bundled_model, load_model_or_fail
    from ppomania.env.spaces import default_geometry
    from ppomania.sim.core import SimConfig

    if args.speed < 0:
        raise CliError(f"--speed must be >= 0, got {args.speed}")
    if args.fps <= 0:
        raise CliError(f"--fps must be positive, got {args.fps}")
    try:
        beatmap = load_beatmap(args.map)
        config = SimConfig(mods=Mods.parse(args.mods))
    except (BeatmapError, ValueError) as exc:
        raise CliError(str(exc)) from None
    keys = beatmap.keys
    outputs = None
    if args.policy is None:
        import torch

        # One observation per step: intra-op threads only add waiting (50x slower on 2 busy cores).
        torch.set_num_threads(1)
        loaded = load_model_or_fail(args.model) if args.model else load_bundled_model(keys)
        model, codec, geometry = loaded.model, loaded.codec, loaded.geometry
        if codec.keys != keys:
            raise CliError(f"the model plays {codec.keys}K, the map is {keys}K")
        policy = model_policy(model, codec)
        outputs = functools.partial(policy_outputs, model)
        name = str(loaded.path)
    else:
        geometry = default_geometry(keys)  # what ManiaVecEnv trains on by default
        policy = builtin_policy(args.policy, keys)
        name = args.policy
    try:
        window = VisualizationWindow(
            keys,
            geometry.shape,
            title=f"ppomania watch: {name} on {beatmap.display_name}",
            fps=args.fps,
        )
    except Exception as exc:  # pygame.error: no display
        raise CliError(f"cannot open a window ({exc}); offscreen: SDL_VIDEODRIVER=dummy") from None
    try:
        result = watching.watch(
            beatmap, policy, window, outputs, config, geometry, args.speed, args.seconds
        )
        if args.screenshot:
            try:
                window.screenshot(args.screenshot)
            except Exception as exc:  # pygame.error on unwritable paths
                raise CliError(f"cannot write {args.screenshot}: {exc}") from None
    finally:
        window.close()
    if result.play is not None:
        print(results_table([result.play]))
    else:
        state = result.state
        print(
            f"stopped ({result.stopped}) at {state.time_ms / 1000:.1f} s of the map: accuracy "
            f"{100 * state.accuracy:.2f}%, score {state.score}, max combo {state.max_combo}"
        )
    rate = result.steps / max(result.wall_s, 1e-9)
    print(
        f"{result.steps} steps in {result.wall_s:.1f} s ({rate:.0f}/s); "
        f"window: {result.draws} draws, {result.draw_fps:.1f} fps, {result.draw_ms:.1f} ms each"
    )
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
    return 0
