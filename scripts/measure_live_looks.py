"""Issue 10's live targets, per look: the model's accuracy in the stand-in (``ppomania play``)
beside its simulator accuracy on the same map (``ppomania eval``), autoplay in the stand-in, and
``calibrate --skin`` against the stand-in's own report of its layout.

Needs an X display (``xvfb-run -s "-screen 0 1280x800x24" python scripts/measure_live_looks.py``)
and a quiet machine: the stand-in and the agent both run in real time.

    python scripts/measure_live_looks.py --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAP = ROOT / "src/ppomania/data/maps/MAGiCVLGiRL_ZVPH.osu"
LOOKS = {"ppomania": None, "default": "default", "special": ROOT / "tests/data/osu-special-skin"}


def _ppomania(*args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ppomania.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cut_map(source: Path, seconds: float, folder: Path) -> Path:
    """``source`` with only the objects that start in its first ``seconds`` of notes."""
    import dataclasses

    from ppomania.game.beatmap import load_beatmap
    from ppomania.game.osu_writer import beatmap_to_osu

    beatmap = load_beatmap(source)
    keep = beatmap.starts < beatmap.starts.min() + 1000 * seconds
    arrays = {name: getattr(beatmap, name)[keep] for name in ("starts", "ends", "columns")}
    path = folder / f"{source.stem}-{seconds:g}s.osu"
    path.write_bytes(beatmap_to_osu(dataclasses.replace(beatmap, **arrays)))
    return path


def play_look(map_path: Path, skin: str, model: str, window: str, folder: Path) -> dict:
    """Start the stand-in drawn with ``skin``, calibrate, play the model and autoplay."""
    port = str(_free_port())
    env = dict(os.environ, SDL_VIDEO_WINDOW_POS="0,0", PYGAME_HIDE_SUPPORT_PROMPT="1")
    row: dict = {}
    for policy in (["--model", model], ["--policy", "autoplay"]):
        command = [sys.executable, "-m", "ppomania.cli", "standin", str(map_path), "--realtime"]
        command += ["--port", port, "--window", window]
        if skin != "default":
            command += ["--skin", skin]
        standin = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        try:
            ready = json.loads(standin.stdout.readline())
            config = folder / "live.json"
            area = "0,0," + window.replace("x", ",")
            _ppomania(
                "calibrate", "--skin", skin, "--area", area, "--keys", str(ready["keys"]),
                "--port", port, "--out", str(config), "--preview", str(folder / "preview.png"),
            )  # fmt: skip
            saved = json.loads(config.read_text())
            left, _, width, _ = ready["playfield"]
            row["calibration_px"] = max(
                abs(saved["left"] - left),
                abs(saved["right"] - (left + width)),
                abs(saved["judgement_y"] - ready["judgement_y"]),
            )
            played = _ppomania(
                "play", *policy, "--map", str(map_path), "--config", str(config),
                "--port", port, "--json", "--realtime",
            )  # fmt: skip
            (result,) = json.loads(played.stdout)
            row["model" if policy[0] == "--model" else "autoplay"] = result
        finally:
            standin.terminate()
            standin.communicate(timeout=10)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model .zip (default: the bundled one for the map)")
    parser.add_argument("--map", type=Path, default=DEFAULT_MAP)
    parser.add_argument("--seconds", type=float, default=60.0, help="of the map's notes (60)")
    parser.add_argument("--looks", nargs="+", default=list(LOOKS), choices=list(LOOKS))
    parser.add_argument("--window", default="1280x720", help="the stand-in's window (1280x720)")
    args = parser.parse_args()
    from ppomania.agent.bundled import bundled_model_path
    from ppomania.game.beatmap import load_beatmap

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        map_path = cut_map(args.map, args.seconds, folder)
        model = args.model or str(bundled_model_path(load_beatmap(map_path).keys))
        (sim,) = json.loads(_ppomania("eval", str(map_path), "--model", model, "--json").stdout)
        skins = dict(LOOKS, ppomania=folder / "ppomania.osk")
        _ppomania("skin", "--output", str(skins["ppomania"]))
        print(f"{map_path.name}, model {model}: simulator {sim['accuracy']:.2f}%")
        print(
            "| look | simulator | live | live - sim | misses sim / live | autoplay live | calibration |"
        )
        print("|---|---|---|---|---|---|---|")
        for look in args.looks:
            row = play_look(map_path, str(skins[look]), model, args.window, folder)
            live, auto = row["model"], row["autoplay"]
            print(
                f"| {look} | {sim['accuracy']:.2f}% | {live['accuracy']:.2f}% | "
                f"{live['accuracy'] - sim['accuracy']:+.2f} | {sim['miss']} / {live['miss']} | "
                f"{auto['accuracy']:.2f}% | {row['calibration_px']:.1f} px |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
