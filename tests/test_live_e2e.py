"""The live backend end to end against the stand-in game, on an Xvfb display the tests start.

The stand-in runs as a subprocess (``python -m ppomania.cli standin``); the live env captures its
window with mss, presses keys with pynput (XTest) and reads the state over the websocket.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ppomania.game.beatmap import load_beatmap
from ppomania.game.score import Phase
from ppomania.live.keys import DEFAULT_BINDINGS, KeySender
from ppomania.sim.render import CaptureArea, HighwayGeometry
from ppomania.standin import game as standin_game

DATA = Path(__file__).parent / "data" / "ppy-osu"
MAP = DATA / "diffcalc-test.osu"

needs_xvfb = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")


def _cut_map(tmp: Path, until_ms: int) -> Path:
    """The first ``until_ms`` of the test map."""
    lines, in_objects = [], False
    for line in MAP.read_text().splitlines():
        if line.startswith("["):
            in_objects = line.strip() == "[HitObjects]"
        elif (
            in_objects
            and line
            and not line.startswith("//")
            and int(line.split(",")[2]) >= until_ms
        ):
            continue
        lines.append(line)
    path = tmp / "cut.osu"
    path.write_text("\n".join(lines) + "\n")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def display():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    number = next(n for n in range(97, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    proc = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("Xvfb did not start")
        time.sleep(0.05)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{number}"
    yield f":{number}"
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old
    proc.terminate()
    proc.wait(timeout=10)


class Standin:
    """A stand-in game subprocess."""

    def __init__(self, display: str, map_path: Path, *args: str) -> None:
        self.port = _free_port()
        env = dict(os.environ, DISPLAY=display, SDL_VIDEO_WINDOW_POS="0,0")
        env["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ppomania.cli",
                "standin",
                str(map_path),
                "--port",
                str(self.port),
                *args,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline()
        assert line, "the stand-in exited before it was ready"
        self.ready = json.loads(line)
        left, top, width, height = self.ready["playfield"]
        self.area = CaptureArea(left, top, width, height)  # the window sits at (0, 0)

    def stop(self) -> dict:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
        return lines[-1] if lines else {}


def _keys_down(display: str) -> list[int]:
    """X keycodes down on the display (XQueryKeymap)."""
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        keymap = d.query_keymap()
    finally:
        d.close()
    return [8 * i + b for i, byte in enumerate(keymap) for b in range(8) if byte >> b & 1]


def _make_env(standin: Standin, beatmap, **kwargs):
    from ppomania.live.env import LiveManiaEnv

    return LiveManiaEnv(beatmap, standin.area, port=standin.port, **kwargs)


def _play(env, policy, max_s: float = 60.0):
    obs, info = env.reset()
    end = time.monotonic() + max_s
    while time.monotonic() < end:
        obs, _, terminated, truncated, info = env.step(policy(env))
        assert obs.shape == env.observation_space.shape
        if terminated or truncated:
            return info
    raise AssertionError("the episode did not end")


# --- unit tests ----------------------------------------------------------------------------------


class FakeController:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def press(self, key: object) -> None:
        self.events.append(("press", key))

    def release(self, key: object) -> None:
        self.events.append(("release", key))


def test_bindings_agree_with_the_standin():
    assert DEFAULT_BINDINGS == standin_game.DEFAULT_BINDINGS


def test_key_sender_sends_changes_only_and_releases_all():
    fake = FakeController()
    sender = KeySender(("d", "f", "j", "k"), fake)
    sender.apply(np.array([1, 0, 1, 0], bool))
    sender.apply(np.array([1, 0, 1, 0], bool))
    assert fake.events == [("press", "d"), ("press", "j")]
    sender.apply(np.array([0, 1, 1, 0], bool))
    assert fake.events[2:] == [("release", "d"), ("press", "f")]
    fake.events.clear()
    with sender:
        pass
    assert sorted(fake.events) == [("release", "f"), ("release", "j")]
    assert not sender.held.any()


def test_calibration_finds_the_standin_playfield():
    from ppomania.live.capture import detect_playfield

    beatmap = load_beatmap(MAP)
    game = standin_game.StandinGame(beatmap)
    frame = game.render(game._play_start + 2.3)  # 300 ms into the map: notes on screen
    s = game.config.scale
    left, top, width, height = game.playfield
    image = np.zeros((game.window_size[1], game.window_size[0], 4), np.uint8)
    big = np.repeat(np.repeat(frame, s, 0), s, 1)
    image[top : top + height, left : left + width, :3] = big[..., None]
    calibration = detect_playfield(image, beatmap.keys, game.geometry)
    assert calibration.area(game.geometry) == CaptureArea(left, top, width, height)


# --- end to end ----------------------------------------------------------------------------------


@needs_xvfb
def test_capture_of_a_paused_standin_equals_the_render(display, tmp_path):
    from ppomania.live.capture import ScreenCapture
    from ppomania.live.state_client import StateClient

    beatmap = load_beatmap(_cut_map(tmp_path, 6000))
    standin = Standin(display, beatmap.path, "--lead-in-ms", "500")
    try:
        with StateClient(port=standin.port) as client:
            assert client.wait_for(lambda s: s.state.time_ms > 200, 10.0)
            sender = KeySender(("esc",))
            sender.tap("esc")
            live = client.wait_for(lambda s: s.state.phase == Phase.PAUSED, 5.0)
            assert live is not None
            time.sleep(0.1)
            capture = ScreenCapture(standin.area, HighwayGeometry.for_keys(beatmap.keys))
            grabbed = capture.grab().copy()
            capture.close()
            t = client.latest().state.time_ms
        game = standin_game.StandinGame(beatmap)
        game.judge.advance(t)
        game._frozen_ms = t
        expected = game.render(0.0)
        assert (expected == 255).any()
        np.testing.assert_array_equal(grabbed, expected)
    finally:
        standin.stop()


@needs_xvfb
def test_autoplay_live_reaches_95_percent(display, tmp_path):
    from ppomania.live.env import LiveAutoplay

    beatmap = load_beatmap(_cut_map(tmp_path, 12000))
    standin = Standin(display, beatmap.path)
    env = _make_env(standin, beatmap)
    try:
        info = _play(env, LiveAutoplay())
        assert info["reason"] == "results", info.get("reason")
        counts = info["game_counts"]
        accuracy = (300 * counts[:2].sum() + 200 * counts[2] + 100 * counts[3] + 50 * counts[4]) / (
            300 * counts.sum()
        )
        print("live autoplay:", counts.tolist(), f"{100 * accuracy:.2f}%", env.stats.summary())
        print("disagreement:", info["judge_disagreement"])
        assert counts.sum() == beatmap.n_objects
        assert accuracy >= 0.95
    finally:
        env.close()
        assert _keys_down(display) == []
        exit_line = standin.stop()
    assert exit_line.get("held") == [False] * beatmap.keys


@needs_xvfb
def test_server_outage_ends_the_episode_and_the_client_reconnects(display, tmp_path):
    from ppomania.live.env import LiveAutoplay

    beatmap = load_beatmap(_cut_map(tmp_path, 12000))
    standin = Standin(
        display, beatmap.path, "--kill-server-after", "4", "--server-down", "2", "--auto-retry"
    )
    env = _make_env(standin, beatmap)
    try:
        info = _play(env, LiveAutoplay())
        assert info["reason"] == "state lost"
        assert _keys_down(display) == []
        assert env.client.wait_for(lambda s: env.client.connected and s.age_s() < 0.5, 10.0)
        assert env.client.reconnects >= 1
        env.reset()
        _, _, _, truncated, info = env.step(LiveAutoplay()(env))
        assert not truncated, info
    finally:
        env.close()
        assert _keys_down(display) == []
        standin.stop()
