"""``ppomania eval``: play maps in the simulator with a trained model or a built-in policy."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ppomania.cli import BUILTIN_POLICIES, CliError

if TYPE_CHECKING:
    from ppomania.agent.models import LoadedModel
    from ppomania.game.beatmap import Beatmap
    from ppomania.sim.render import HighwayGeometry


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="play maps with a model or a built-in policy and print the results",
        description="Play each map once, deterministically, in the simulator and print MAX/300/"
        "200/100/50/miss, accuracy, ScoreV1, max combo, grade, star rating and pp. Without "
        "--model or --policy, each key count is played by the model bundled for it.",
    )
    parser.add_argument("maps", nargs="+", help=".osu files or folders")
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--model", help="a run folder or a model .zip (default: the bundled model per key count)"
    )
    who.add_argument("--policy", choices=BUILTIN_POLICIES, help="a built-in policy instead")
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
        play_maps_by_keys,
        results_table,
        sanitize_name,
        write_play_replay,
    )
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
    config = SimConfig(mods=mods)
    models = {} if args.policy else _models(args.model, beatmaps)
    if models:
        policies = {keys: model_policy(m.model, m.codec) for keys, m in models.items()}
        policy_for = policies.__getitem__
    else:
        policy_for = functools.partial(builtin_policy, args.policy, seed=args.seed)

    def geometry_for(keys: int) -> HighwayGeometry | None:
        return models[keys].geometry if models else None

    if args.show:
        model_for = {keys: m.model for keys, m in models.items()}.get
        plays = _play_shown(beatmaps, policy_for, config, geometry_for, model_for)
    else:
        plays = play_maps_by_keys(beatmaps, policy_for, config, True, geometry_for)
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


def _models(model: str | None, beatmaps: list[Beatmap]) -> dict[int, LoadedModel]:
    """The model per key count: ``model`` (which must play every map), else the bundled ones."""
    from ppomania.cli.bundled import load_bundled_model, load_model_or_fail

    if not model:
        return {keys: load_bundled_model(keys) for keys in sorted({b.keys for b in beatmaps})}
    loaded = load_model_or_fail(model)
    keys = loaded.codec.keys
    other = next((b for b in beatmaps if b.keys != keys), None)
    if other is not None:
        raise CliError(
            f"the model plays {keys}K, {other.path or other.display_name} is "
            f"{other.keys}K: give {keys}K maps only"
        )
    return {keys: loaded}


def _play_shown(beatmaps, policy_for, config, geometry_for, model_for):
    """Play the maps one at a time in the visualization window (as fast as it goes), a new
    window when the key count changes."""
    from ppomania.agent.evaluate import star_rating_and_pp
    from ppomania.agent.watch import watch
    from ppomania.agent.window import VisualizationWindow, policy_outputs
    from ppomania.env.spaces import default_geometry

    plays = []
    window = None
    try:
        for beatmap in beatmaps:
            model = model_for(beatmap.keys)
            outputs = functools.partial(policy_outputs, model) if model is not None else None
            shown = geometry_for(beatmap.keys) or default_geometry(beatmap.keys)
            if window is None or window.frame_shape != shown.shape:
                if window is not None:
                    window.close()
                window = VisualizationWindow(beatmap.keys, shown.shape, title="ppomania eval")
            policy = policy_for(beatmap.keys)
            result = watch(beatmap, policy, window, outputs, config, shown, speed=0.0)
            if result.play is None:  # the window was closed
                break
            result.play.stars, result.play.pp = star_rating_and_pp(beatmap, result.play)
            plays.append(result.play)
    finally:
        if window is not None:
            window.close()
    return plays
