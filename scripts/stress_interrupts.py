"""Interrupt training runs at random moments and check that each one survives.

For each of ``--runs`` rounds per signal: start a tiny ``ppomania train``, wait until its run folder
exists, then a random 0..``--max-delay`` s, and send SIGINT or SIGKILL. A SIGINT must exit 130 and
leave a checkpoint; after either signal, ``--resume`` must train on (exit 0) and leave no temporary
file in the run folder. Prints one line per round and a summary; exits 1 if any round failed.

    python scripts/stress_interrupts.py --runs 100
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY = [
    "--n-envs", "2", "--n-steps", "64", "--batch-size", "64", "--n-epochs", "1",
    "--generated-maps", "2", "--eval-generated", "1", "--eval-every", "1000000",
    "--checkpoint-every", "128", "--keep-checkpoints", "3", "--no-progress", "--threads", "1",
]  # fmt: skip


def _default_sigint() -> None:
    # A script started in the background by a non-interactive shell has SIGINT ignored, and its
    # children would inherit that: each training run must take Ctrl+C as a terminal user's would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _train(args: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "ppomania.cli", "train", *args]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,
    )


def _finish(process: subprocess.Popen, timeout: float) -> str | None:
    """The process's output once it exits, or None (and it is killed) after ``timeout`` s."""
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None


def _temp_files(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if ".tmp" in p.name]


def one_round(runs: Path, sig: signal.Signals, max_delay: float, rng: random.Random) -> str:
    """Empty when the round passed, else what went wrong."""
    process = _train([*TINY, "--total-timesteps", "1000000", "--runs-dir", str(runs)])
    deadline = time.monotonic() + 120
    while not list(runs.glob("*/config.toml")):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            return f"no run folder (exit {process.poll()})"
        time.sleep(0.05)
    run = next(runs.glob("*/config.toml")).parent
    time.sleep(rng.uniform(0, max_delay))
    process.send_signal(sig)
    output = _finish(process, 180)
    if output is None:
        return f"{sig.name}: still running 180 s after the signal"
    if sig == signal.SIGINT:
        if process.returncode != 130:
            return f"SIGINT exit {process.returncode}: {output.strip().splitlines()[-1:]}"
        if not list((run / "checkpoints").glob("step_*.zip")):
            return "SIGINT left no checkpoint"
    resumed = _train(
        [*TINY, "--resume", str(run), "--total-timesteps", "1000000", "--max-minutes", "0.05"]
    )
    output = _finish(resumed, 300)
    if output is None:
        return "resume: still running after 300 s"
    if resumed.returncode != 0:
        return f"resume exit {resumed.returncode}: {output.strip().splitlines()[-1:]}"
    stray = _temp_files(run)
    if stray:
        return f"temporary files after resume: {stray}"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="rounds per signal (100)")
    parser.add_argument("--max-delay", type=float, default=6.0, help="latest signal, s (6)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    failures = {signal.SIGINT: 0, signal.SIGKILL: 0}
    for i in range(args.runs):
        for sig in (signal.SIGINT, signal.SIGKILL):
            with tempfile.TemporaryDirectory() as folder:
                problem = one_round(Path(folder) / "runs", sig, args.max_delay, rng)
            failures[sig] += bool(problem)
            print(
                f"{i + 1:3d} {sig.name:7s} {'ok' if not problem else 'FAILED: ' + problem}",
                flush=True,
            )
    for sig, failed in failures.items():
        print(f"{sig.name}: {args.runs - failed}/{args.runs} survived")
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
