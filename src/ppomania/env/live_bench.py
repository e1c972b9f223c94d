"""``ppomania bench live``: what the live loop costs, against the stand-in game on this machine.

:func:`bench_live` uses the X display in ``DISPLAY`` or starts an Xvfb, writes a generated 4K map,
starts the stand-in game on a free port and measures:

- state read: µs per :meth:`StateClient.latest`, and the age of the newest document at the steps;
- capture + preprocessing: ms per grab of the playfield into the agent's frame;
- policy inference: ms per ``policy(obs)`` (the caller's policy, e.g. a fresh HighwayCNN PPO);
- control rate and pacing jitter at each rate in ``rates`` (60 and 120 Hz), with the loop's
  default scheduling and, where the OS grants it, real-time priority;
- capture-to-key latency: grab start to the key event sent (keys sent at once, ``latency_ms=None``).

The policy's output is timed but not played: the keys come from :class:`LiveAutoplay`, so the play
lasts and the key traffic is that of a good player (a fresh network would fail the map in seconds).
The stand-in and a started Xvfb run with real-time priority where allowed, as a game and a display
server would on a machine not running the benchmark.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ppomania.env.live_autoplay import LiveAutoplay
from ppomania.env.live_env import LiveManiaEnv
from ppomania.env.live_frames import DEFAULT_SKIN
from ppomania.env.live_stats import LiveStats
from ppomania.game.beatmap import Beatmap, load_beatmap
from ppomania.live.capture import Calibration
from ppomania.live.state_client import measure_read_cost

#: The stand-in's window with a skin (fits the 1024x768 Xvfb screen started here).
SKIN_WINDOW = (1024, 576)
#: Targets of the live loop on a 2-core machine.
TARGET_STEPS_PER_S = 120.0
TARGET_CAPTURE_TO_KEY_MS = 10.0
TARGET_STATE_READ_US = 10.0

Policy = Callable[[np.ndarray], Any]


def _realtime_child() -> None:  # runs in a child process before exec
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))


@contextlib.contextmanager
def x_display() -> Iterator[str]:
    """The display in ``DISPLAY``, or an Xvfb started for the block (RuntimeError without one)."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if shutil.which("Xvfb") is None:
        raise RuntimeError("no DISPLAY and no Xvfb to start one")
    number = next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    proc = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_realtime_child,  # no threads yet that could hold a lock
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.05)
        os.environ["DISPLAY"] = f":{number}"
        yield f":{number}"
    finally:
        os.environ.pop("DISPLAY", None)
        proc.terminate()
        proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def standin_game(
    map_path: Path, display: str, *args: str, skin: str | None = None
) -> Iterator[tuple[int, Calibration]]:
    """A stand-in game subprocess; yields its state port and playfield (window at (0, 0)).

    :param skin: draw osu!'s playfield with this skin (:data:`DEFAULT_SKIN`: the default look) in
        a :data:`SKIN_WINDOW` window, the playfield read through it; None: the simulator's look.
    """
    port = _free_port()
    env = dict(os.environ, DISPLAY=display, SDL_VIDEO_WINDOW_POS="0,0")
    env["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
    command = [sys.executable, "-m", "ppomania.cli", "standin", str(map_path), "--realtime"]
    if skin is None:
        command += ["--look", "sim"]  # the live frames are sampled from the simulator's look
    else:
        command += ["--window", "{}x{}".format(*SKIN_WINDOW)]
        command += [] if skin == DEFAULT_SKIN else ["--skin", skin]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--auto-retry", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError("the stand-in game exited before it was ready")
        ready = json.loads(line)
        left, _, width, _ = ready["playfield"]
        window = None if skin is None else (0, 0, *SKIN_WINDOW)
        yield (
            port,
            Calibration(
                left, left + width, ready["judgement_y"], ready["px_per_ms"], ready["keys"],
                window=window, skin=skin,
            ),
        )  # fmt: skip
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def _stats(values: list[float], digits: int = 3) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p95": None, "max": None}
    a = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(a.mean()), digits),
        "p95": round(float(np.percentile(a, 95)), digits),
        "max": round(float(a.max()), digits),
    }


def _run_rate(
    env: LiveManiaEnv, policy: Policy | None, seconds: float, autoplay: LiveAutoplay
) -> dict[str, Any]:
    """Step ``env`` for ``seconds`` (resetting after an episode end); time every part."""
    inference, ages, steps = [], [], 0
    obs, _ = env.reset()
    env.stats = LiveStats()  # the reset's own grab is not a step
    start = time.monotonic()
    while (now := time.monotonic()) - start < seconds:
        ages.append(1000 * env.client.latest().age_s(now))
        if policy is not None:
            t0 = time.perf_counter()
            policy(obs)
            inference.append(1000 * (time.perf_counter() - t0))
        obs, _, terminated, truncated, _ = env.step(autoplay(env))
        steps += 1
        if terminated or truncated:
            break
    elapsed = time.monotonic() - start
    stats = env.stats
    return {
        "steps": steps,
        "steps_per_s": round(steps / elapsed, 2),
        "jitter_ms": _stats(stats.jitter_ms),
        "capture_ms": _stats(stats.capture_ms),
        "inference_ms": _stats(inference),
        "capture_to_key_ms": _stats(stats.capture_to_key_ms),
        "frame_age_ms": _stats(stats.frame_age_ms),
        "state_age_ms": _stats(ages, 2),
    }


def _measure(
    beatmap: Beatmap,
    playfield: Calibration,
    port: int,
    rate: float,
    realtime: bool,
    policy: Policy | None,
    seconds: float,
    report: dict[str, Any],
) -> dict[str, Any] | None:
    env = LiveManiaEnv(beatmap, playfield, port=port, control_hz=rate, realtime=realtime)
    try:
        if realtime and env.scheduling in ("none", "default"):
            return None
        if "state_read_us" not in report:
            env.client.wait_for(lambda s: s.seq > 0, 10.0)
            report["state_read_us"] = round(measure_read_cost(env.client), 4)
            report["server"] = env.client.server
        run = _run_rate(env, policy, seconds, LiveAutoplay())
        run.update(rate_hz=rate, scheduling=env.scheduling)
        return run
    finally:
        env.close()


def bench_live(
    policy: Policy | None = None,
    seconds: float = 2.0,
    rates: tuple[float, ...] = (60.0, 120.0),
    realtime: tuple[bool, ...] = (False, True),
    policy_name: str = "",
    progress: Callable[[str], None] | None = None,
    skin: str | None = None,
) -> dict[str, Any]:
    """Measure the live loop against the stand-in (see the module docstring).

    :param policy: ``obs -> action`` timed at every step (its action is not played); None = none.
    :param seconds: stepping per measurement.
    :param rates: control rates (Hz).
    :param realtime: scheduling modes of the loop to measure (False = default; True = real-time
        priority, measured only where granted).
    :param policy_name: described in the report.
    :param skin: the stand-in draws osu!'s playfield with this skin and the frames are read
        through it (see :func:`standin_game`); None: the simulator's look.
    :returns: one JSON-able dict (``runs``: one entry per rate and scheduling).
    """
    from ppomania.game.osu_writer import beatmap_to_osu
    from ppomania.sim.patterns import PatternConfig, generate_map

    log = progress or (lambda line: None)
    duration = 2 * len(rates) * len(realtime) * (seconds + 4) + 10
    beatmap = generate_map(PatternConfig(keys=4, duration_s=duration, density=(4.0, 8.0)), seed=0)
    report: dict[str, Any] = {
        "cpus": os.cpu_count(), "policy": policy_name, "skin": skin, "runs": []
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ppomania-bench-") as tmp:
        map_path = Path(tmp) / "bench.osu"
        map_path.write_bytes(beatmap_to_osu(beatmap))
        beatmap = load_beatmap(map_path)
        with (
            x_display() as display,
            standin_game(map_path, display, skin=skin) as (port, playfield),
        ):
            report["display"] = display
            for rt in realtime:
                for rate in rates:
                    log(f"{rate:g} Hz, {'real-time' if rt else 'default'} scheduling")
                    run = _measure(beatmap, playfield, port, rate, rt, policy, seconds, report)
                    if run is None:
                        log("  real-time priority not granted: skipped")
                    else:
                        report["runs"].append(run)
            gc.collect()  # drop the key senders' X connections while the display is up
    report["targets"] = {
        "steps_per_s": TARGET_STEPS_PER_S,
        "capture_to_key_ms": TARGET_CAPTURE_TO_KEY_MS,
        "state_read_us": TARGET_STATE_READ_US,
    }
    return report


def report_lines(report: dict[str, Any]) -> list[str]:
    """A plain-text table of :func:`bench_live`'s report, with the targets."""
    read = report.get("state_read_us")
    ok = read is not None and read <= TARGET_STATE_READ_US
    lines = [
        f"bench live: stand-in game on {report.get('display')} ({report.get('server')}), "
        f"{report.get('cpus')} CPUs, policy: {report.get('policy') or 'none'}, "
        f"look: {report.get('skin') or 'sim'}",
        f"  state read {read} µs per StateClient.latest() "
        f"(target <= {TARGET_STATE_READ_US:g}: {'ok' if ok else 'MISSED'})",
        "",
        "  rate  scheduling  steps/s  jitter ms    capture ms   inference ms  capture->key ms"
        "  state age ms",
        "                             mean / p95   mean / p95   mean / p95    mean / p95"
        "       mean / p95",
    ]

    def pair(stats: dict[str, float | None]) -> str:
        if stats["mean"] is None:
            return "-"
        return f"{stats['mean']:.2f} / {stats['p95']:.2f}"

    for run in report["runs"]:
        lines.append(
            f"  {run['rate_hz']:>4g}  {run['scheduling']:<10}  {run['steps_per_s']:>7.1f}  "
            f"{pair(run['jitter_ms']):<11}  {pair(run['capture_ms']):<11}  "
            f"{pair(run['inference_ms']):<12}  {pair(run['capture_to_key_ms']):<15}  "
            f"{pair(run['state_age_ms'])}"
        )
    fast = [r for r in report["runs"] if r["rate_hz"] >= TARGET_STEPS_PER_S]
    for run in fast:
        rate_ok = run["steps_per_s"] >= 0.98 * TARGET_STEPS_PER_S
        latency = run["capture_to_key_ms"]["p95"]
        latency_ok = latency is not None and latency <= TARGET_CAPTURE_TO_KEY_MS
        lines.append(
            f"  target {TARGET_STEPS_PER_S:g} steps/s with capture->key <= "
            f"{TARGET_CAPTURE_TO_KEY_MS:g} ms (p95), {run['scheduling']} scheduling: "
            f"{'ok' if rate_ok and latency_ok else 'MISSED'}"
        )
    return lines
