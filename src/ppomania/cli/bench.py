"""``ppomania bench TARGET``: throughput benchmarks.

Targets live in :data:`TARGETS`, a name → function of the parsed arguments (returning an exit code);
add one by writing the function and an entry there (and any options it needs in :func:`register`).

- ``sim``: steps/s of ``ManiaVecEnv.step`` (batched simulator + rendering + 4-frame stack, the
  default observation) with random actions on generated 4K maps, at 1, 16, 64 and 256 envs;
  the same game as 64 single ``ManiaEnv`` in SB3's ``DummyVecEnv``; their ratio; memory per env.
- ``train``: end-to-end PPO training steps/s of ppomania's default setup and, in the same run, of
  the reference setup (RL Zoo's Atari PPO settings, NatureCNN on 84×84×4, DummyVecEnv), and the ratio.
- ``learn``: trains the default ``--keys`` setup from scratch for ``--steps`` and evaluates every
  so often on real maps that training never sees (the bundled ones of that key count, or
  ``--eval-maps``): accuracy against steps, and steps/s.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from ppomania.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure throughput (sim: env steps per second, batched vs single envs)",
        description="Benchmark a part of ppomania. sim: ManiaVecEnv.step with random actions "
        "(rendering and frame stack included) at 1/16/64/256 envs, against 64 ManiaEnv in SB3's "
        "DummyVecEnv, and the memory one env takes.",
    )
    parser.add_argument("target", choices=sorted(TARGETS), help="what to benchmark")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--steps", type=int, default=2_000_000, help="learn: training steps (default 2M)"
    )
    parser.add_argument("--evals", type=int, default=10, help="learn: evaluations (default 10)")
    parser.add_argument(
        "--maps", nargs="*", default=[], help="learn: real maps to train on beside generated ones"
    )
    parser.add_argument("--keys", type=int, default=4, help="learn: key count (default 4)")
    parser.add_argument(
        "--eval-maps", nargs="*", default=[],
        help="learn: real maps to evaluate on (default: the bundled real maps of --keys keys)",
    )  # fmt: skip
    parser.add_argument(
        "--iterations", type=int, default=3, help="train: timed PPO iterations (default 3)"
    )
    parser.add_argument("--device", default="auto", help="train/learn: auto, cpu or cuda")
    parser.add_argument("--model", help="live: time this model's inference (default: a fresh one)")
    parser.add_argument(
        "--skin",
        metavar="DIR|FILE.osk|default",
        help="live: the stand-in draws osu!'s playfield with this skin, read through it "
        "(default: the simulator's look)",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="learn: torch threads (default 0: all cores)"
    )
    parser.add_argument(
        "--policy", choices=("highway", "nature"), default="highway",
        help="learn: feature extractor (default highway)",
    )  # fmt: skip
    parser.add_argument(
        "--action-space", choices=("multibinary", "discrete"), default="multibinary",
        help="learn: action space (default multibinary)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds",
        type=float,
        default=2.0,
        metavar="S",
        help="timed stepping per measurement (default 2)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return TARGETS[args.target](args)


def run_sim_bench(args: argparse.Namespace) -> int:
    """``bench sim``: see the module docstring."""
    if not args.seconds > 0:
        raise CliError(f"--seconds must be positive, got {args.seconds}")
    from stable_baselines3.common.vec_env import DummyVecEnv

    from ppomania.env import ManiaEnv, ManiaVecEnv
    from ppomania.sim import bench
    from ppomania.sim.patterns import PatternConfig, generate_maps

    maps = generate_maps(PatternConfig(keys=4), n=8, seed=0)

    def make_batched(n: int) -> ManiaVecEnv:
        return ManiaVecEnv(maps, n, seed=0)

    def make_dummy(n: int) -> DummyVecEnv:
        return DummyVecEnv([lambda: ManiaEnv(maps) for _ in range(n)])

    log: Callable[[str], None] | None = None
    if not args.json:
        log = lambda line: print(f"  {line}", file=sys.stderr, flush=True)  # noqa: E731
    report = bench.run_sim_bench(
        make_batched, make_dummy, keys=4, seconds=args.seconds, progress=log
    )
    if args.json:
        print(json.dumps(report.as_json()))
        return 0
    shape = make_batched(1).observation_space.shape
    print(
        f"bench sim: ManiaVecEnv.step, random MultiBinary(4) actions, {len(maps)} generated 4K "
        f"maps, observation {shape} uint8 (render + frame stack), {args.seconds:g} s per "
        "measurement"
    )
    for line in report.lines():
        print(line)
    return 0


def run_train_bench(args: argparse.Namespace) -> int:
    """``bench train``: see the module docstring."""
    from ppomania.agent.bench import bench_train
    from ppomania.agent.train import resolve_device

    report = bench_train(iterations=args.iterations, device=resolve_device(args.device))
    if args.json:
        print(json.dumps(report))
        return 0
    ours, reference = report["ppomania_setup"], report["reference_setup"]
    print(
        f"bench train ({report['device']}, {report['torch_threads']} torch threads, "
        f"{report['iterations']} timed PPO iterations each)"
    )
    print(f"  ppomania:  {report['ppomania_steps_per_s']:>8,.0f} steps/s  {ours}")
    print(f"  reference: {report['reference_steps_per_s']:>8,.0f} steps/s  {reference}")
    print(f"  ratio: {report['ratio']:.2f}x")
    return 0


def run_learn_bench(args: argparse.Namespace) -> int:
    """``bench learn``: see the module docstring."""
    from ppomania.agent.bench import bench_learn

    if args.steps <= 0 or args.evals <= 0:
        raise CliError("--steps and --evals must be positive")
    try:
        report = bench_learn(
            steps=args.steps, evals=args.evals, maps=tuple(args.maps), device=args.device,
            progress=not args.json,
            overrides={
                "policy": args.policy, "action_space": args.action_space, "threads": args.threads
            },
            keys=args.keys, eval_maps=tuple(args.eval_maps),
        )  # fmt: skip
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"bench learn {report['keys']}K: {report['steps']} steps in {report['seconds']:.0f} s "
        f"({report['steps_per_s']:.0f} steps/s); held-out real maps: "
        f"{', '.join(report['eval_maps'])}"
    )
    print(f"  {'steps':>10}  accuracy")
    for point in report["curve"]:
        print(f"  {point['steps']:>10}  {point['accuracy']:.2f}%")
    return 0


def run_live_bench(args: argparse.Namespace) -> int:
    """``bench live``: the live loop against the stand-in game (see :mod:`ppomania.env.live_bench`),
    with a freshly initialised HighwayCNN PPO policy at the default geometry, or ``--model``."""
    if not args.seconds > 0:
        raise CliError(f"--seconds must be positive, got {args.seconds}")
    from ppomania.agent.live_bench import bench_live_model
    from ppomania.env.live_bench import report_lines

    log = None if args.json else (lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    try:
        report = bench_live_model(args.model, seconds=args.seconds, progress=log, skin=args.skin)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(report))
    else:
        print("\n".join(report_lines(report)))
    return 0


#: Benchmark targets: name → function of the parsed arguments returning an exit code.
TARGETS: dict[str, Callable[[argparse.Namespace], int]] = {
    "sim": run_sim_bench,
    "train": run_train_bench,
    "learn": run_learn_bench,
    "live": run_live_bench,
}
