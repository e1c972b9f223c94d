"""``ppomania demo``: train briefly on bundled generated maps, then play a real map."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The real map the demo plays (never trained on): ARCIEN - Future Son [Hard], 3.36 stars.
DEMO_MAP = "1638954.osu"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train briefly, then evaluate on a real map against the random policy",
        description="Train the default agent on bundled generated 4K maps for a few minutes, "
        "then play a real map it never saw, beside the random policy; write the replay.",
    )
    parser.add_argument("--minutes", type=float, default=7.0, help="training time (default 7)")
    parser.add_argument("--steps", type=int, default=2_000_000, help="step limit (default 2M)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--runs-dir", default="runs", help="folder of run folders (default runs)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ppomania.agent.config import TrainConfig
    from ppomania.agent.evaluate import (
        builtin_policy,
        model_policy,
        play_maps,
        results_table,
        sanitize_name,
        write_play_replay,
    )
    from ppomania.agent.models import load_model
    from ppomania.agent.train import train
    from ppomania.game.beatmap import load_beatmap
    from ppomania.sim.maps import bundled_map_paths
    from ppomania.text import printable

    demo_map = next(p for p in bundled_map_paths() if p.name == DEMO_MAP)
    config = TrainConfig(
        exp_name="demo",
        seed=args.seed,
        total_timesteps=args.steps,
        max_minutes=args.minutes,
        eval_maps=(str(demo_map),),
        eval_every=100_000,
        checkpoint_every=200_000,
        runs_dir=args.runs_dir,
    )
    print(f"training for up to {args.minutes:g} minutes on generated 4K maps...")
    result = train(config)
    loaded = load_model(result.run_dir)
    model, codec, geometry = loaded.model, loaded.codec, loaded.geometry
    beatmap = load_beatmap(demo_map)
    (agent,) = play_maps([beatmap], model_policy(model, codec), geometry=geometry, rate=True)
    (rand,) = play_maps([beatmap], builtin_policy("random", codec.keys, args.seed), rate=True)
    replay_dir = Path(result.run_dir) / "replays"
    replay_dir.mkdir(exist_ok=True)
    replay = write_play_replay(
        agent, replay_dir / f"{sanitize_name(beatmap.display_name)} (agent).osr"
    )
    print()
    print(
        f"trained {result.timesteps} steps in {result.seconds:.0f} s "
        f"({result.timesteps / max(result.seconds, 1e-9):.0f} steps/s)"
    )
    print(f"real map, never trained on: {printable(beatmap.display_name)}")
    print(results_table([agent, rand], labels=["agent", "random policy"]))
    print()
    print(f"replay:      {replay}")
    print(f"run folder:  {result.run_dir}")
    print(f"TensorBoard: tensorboard --logdir {result.run_dir / 'tb'}")
    return 0
