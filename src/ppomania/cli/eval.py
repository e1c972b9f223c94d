"""``ppomania eval``: play maps in the simulator with a trained model or a built-in policy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ppomania.cli import BUILTIN_POLICIES, CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="play maps with a model or a built-in policy and print the results",
        description="Play each map once, deterministically, in the simulator and print MAX/300/"
        "200/100/50/miss, accuracy, ScoreV1, max combo, grade, star rating and pp.",
    )
    parser.add_argument("maps", nargs="+", help=".osu files or folders")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--model", help="a run folder or a model .zip")
    who.add_argument(
        "--policy",
        choices=BUILTIN_POLICIES,
        help="a built-in policy (default autoplay)",
    )
    parser.add_argument("--mods", default="", help="e.g. HR, EZ, DT, HT, MR (default none)")
    parser.add_argument("--replay-dir", type=Path, help="write one .osr per map here")
    parser.add_argument("--plot", type=Path, help="write hit-error plots per map here")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random policy")
    parser.add_argument("--show", action="store_true", help="show the visualization window")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ppomania.agent.evaluate import (
        builtin_policy,
        model_policy,
        play_maps,
        results_table,
        sanitize_name,
        write_play_replay,
    )
    from ppomania.agent.models import load_model
    from ppomania.game.replay import ReplayError
    from ppomania.game.rules import Mods
    from ppomania.sim.core import SimConfig
    from ppomania.sim.maps import load_maps

    for option, folder in (("--replay-dir", args.replay_dir), ("--plot", args.plot)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise CliError(f"{option} {folder}: exists and is not a folder")
    try:
        mods = Mods.parse(args.mods)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        beatmaps = load_maps(args.maps)
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if not beatmaps:
        raise CliError("no osu!mania map found in " + ", ".join(args.maps))
    geometry = None
    if args.model:
        try:
            loaded = load_model(args.model)
        except (FileNotFoundError, ValueError) as exc:
            raise CliError(str(exc)) from None
        model, codec, geometry = loaded.model, loaded.codec, loaded.geometry
        beatmaps = [b for b in beatmaps if b.keys == codec.keys]
        if not beatmaps:
            raise CliError(f"the model plays {codec.keys}K; no {codec.keys}K map given")
        policy = model_policy(model, codec)
    else:
        keys = {b.keys for b in beatmaps}
        if len(keys) > 1:
            raise CliError(f"maps of several key counts {sorted(keys)}: evaluate one at a time")
        policy = builtin_policy(args.policy or "autoplay", keys.pop(), args.seed)
    config = SimConfig(mods=mods)
    if args.show:
        plays = _play_shown(beatmaps, policy, config, geometry, model if args.model else None)
    else:
        plays = play_maps(beatmaps, policy, config, geometry, rate=True)
    # results first: a replay that cannot be written must not lose the play's numbers
    if args.json:
        print(json.dumps([play.as_dict() for play in plays]))
    else:
        print(results_table(plays))
    if args.replay_dir:
        try:
            args.replay_dir.mkdir(parents=True, exist_ok=True)
            for play in plays:
                name = sanitize_name(play.beatmap.display_name)
                write_play_replay(play, args.replay_dir / f"{name} ({mods.acronyms}).osr")
        except (OSError, ReplayError) as exc:
            raise CliError(f"cannot write replays to {args.replay_dir}: {exc}") from None
    if args.plot:
        from ppomania.agent.plots import write_eval_plots

        write_eval_plots(plays, args.plot)
    return 0


def _play_shown(beatmaps, policy, config, geometry, model):
    """Play the maps one at a time in the visualization window (as fast as it goes)."""
    import functools

    from ppomania.agent.evaluate import star_rating_and_pp
    from ppomania.agent.watch import watch
    from ppomania.agent.window import VisualizationWindow, policy_outputs
    from ppomania.env.spaces import default_geometry

    geometry = geometry or default_geometry(beatmaps[0].keys)
    outputs = functools.partial(policy_outputs, model) if model is not None else None
    plays = []
    window = VisualizationWindow(beatmaps[0].keys, geometry.shape, title="ppomania eval")
    try:
        for beatmap in beatmaps:
            result = watch(beatmap, policy, window, outputs, config, geometry, speed=0.0)
            if result.play is None:  # the window was closed
                break
            result.play.stars, result.play.pp = star_rating_and_pp(beatmap, result.play)
            plays.append(result.play)
    finally:
        window.close()
    return plays
