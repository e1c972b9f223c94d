"""The live backend end to end against the stand-in drawn as osu!stable draws a skin: ``ppomania
calibrate --skin`` on the stand-in's window (the scroll speed read from its tosu server), then
``ppomania play`` through the skin's perception. Short maps (the CPU is shared): the shipped 4K
model (used when no --model is given) on the first 10 s of the test map per look, within a few
accuracy points of its simulator accuracy (``ppomania eval``) on the same map; the shipped 7K model
on 8 s of a 7K map with holds, the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ppomania.cli import main
from ppomania.env.live_frames import DEFAULT_SKIN
from ppomania.game.beatmap import load_beatmap
from test_live_e2e import _cut_map, _free_port, _keys_down, display  # noqa: F401 (a fixture)

DATA = Path(__file__).parent / "data"
MAP_4K = DATA / "ppy-osu" / "diffcalc-test.osu"
MAP_7K = DATA / "reamberPy" / "maps" / "AddictionCut.osu"
SPECIAL = DATA / "osu-special-skin"
WINDOW = (640, 480)


def _cut(source: Path, tmp: Path, seconds: float) -> Path:
    """``source`` with only the objects that start in its first ``seconds`` of notes."""
    first = int(load_beatmap(source).starts.min())
    return _cut_map(tmp, first + round(1000 * seconds), f"cut-{source.stem}.osu", source)


@pytest.fixture(scope="module")
def skins(tmp_path_factory) -> dict[str, str]:
    osk = tmp_path_factory.mktemp("skin") / "ppomania.osk"
    assert main(["skin", "--output", str(osk)]) == 0
    return {"ppomania": str(osk), "default": DEFAULT_SKIN, "special": str(SPECIAL)}


class SkinnedStandin:
    """A stand-in subprocess drawing ``skin`` in a small window at (0, 0)."""

    def __init__(self, x_display: str, map_path: Path, skin: str) -> None:
        self.port = _free_port()
        env = dict(os.environ, DISPLAY=x_display, SDL_VIDEO_WINDOW_POS="0,0")
        env["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
        command = [sys.executable, "-m", "ppomania.cli", "standin", str(map_path), "--realtime"]
        command += ["--port", str(self.port), "--window", "{}x{}".format(*WINDOW)]
        if skin != DEFAULT_SKIN:
            command += ["--skin", skin]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        assert line, "the stand-in exited before it was ready"
        self.ready = json.loads(line)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)


def _calibrate(standin: SkinnedStandin, skin: str, keys: int, tmp: Path, capsys) -> Path:
    """``calibrate --skin`` on the live window; the result matches the stand-in's ready line."""
    out = tmp / "live.json"
    command = ["calibrate", "--skin", skin, "--area", "0,0,{},{}".format(*WINDOW)]
    command += ["--keys", str(keys), "--port", str(standin.port), "--out", str(out)]
    assert main([*command, "--preview", str(tmp / "preview.png")]) == 0
    printed = capsys.readouterr().out
    assert "scroll speed from tosu" in printed, printed
    saved = json.loads(out.read_text())
    left, _, width, _ = standin.ready["playfield"]
    assert abs(saved["left"] - left) <= 1 and abs(saved["right"] - (left + width)) <= 1
    assert abs(saved["judgement_y"] - standin.ready["judgement_y"]) <= 1
    assert saved["px_per_ms"] == pytest.approx(standin.ready["px_per_ms"])
    return out


def _sim_and_live(
    x_display: str, skin: str, map_path: Path, keys: int, tmp: Path, capsys
) -> tuple[dict, dict]:
    """The shipped model's ``eval --json`` and its ``play --json`` in the stand-in drawn with
    ``skin``, after ``calibrate --skin``; no key is left down."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["eval", str(map_path), "--json"]) == 0
    finally:
        torch.set_num_threads(threads)
    (sim,) = json.loads(capsys.readouterr().out)
    standin = SkinnedStandin(x_display, map_path, skin)
    try:
        config = _calibrate(standin, skin, keys, tmp, capsys)
        command = ["play", "--map", str(map_path), "--config", str(config)]
        assert main([*command, "--port", str(standin.port), "--json", "--realtime"]) == 0
        (live,) = json.loads(capsys.readouterr().out)
    finally:
        assert _keys_down(x_display) == []
        standin.stop()
    print(f"{keys}K: sim {sim['accuracy']:.2f}% live {live['accuracy']:.2f}%", live["timing"])
    return sim, live


# Points below the simulator's accuracy allowed per look (33 objects: one miss is ~3 points). The
# special skin's judgement bursts cover a third of the lanes' height: the perception remembers the
# notes behind them (100% here on a quiet machine; 81.8–93.9% in CI before it did); the palette
# perception scores ~33% on it and fails the map.
@pytest.mark.parametrize(
    ("look", "points"), [("ppomania", 3.0), ("default", 5.0), ("special", 10.0)]
)
def test_shipped_4k_model_plays_each_look(display, skins, look, points, tmp_path, capsys):  # noqa: F811
    map_path = _cut(MAP_4K, tmp_path, 10.0)
    sim, live = _sim_and_live(display, skins[look], map_path, 4, tmp_path, capsys)
    assert not live["failed"]
    assert live["accuracy"] >= sim["accuracy"] - points


# One miss on these 58 objects is ~1.7 points.
@pytest.mark.parametrize(("look", "points"), [("ppomania", 3.5), ("default", 5.0)])
def test_shipped_7k_model_plays_each_look(display, skins, look, points, tmp_path, capsys):  # noqa: F811
    """8 s of a 7K map with holds."""
    map_path = _cut(MAP_7K, tmp_path, 8.0)
    sim, live = _sim_and_live(display, skins[look], map_path, 7, tmp_path, capsys)
    assert not live["failed"]
    assert live["accuracy"] >= sim["accuracy"] - points
    # The frame clock read from the heads on screen (through the skin) is sane.
    assert 0 < live["timing"]["frame_age_ms_mean"] < 50
