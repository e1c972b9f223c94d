"""The live backend end to end against the stand-in game, on an Xvfb display the tests start.

The stand-in runs as a subprocess (``python -m ppomania.cli standin``); the live env captures its
window with mss, presses keys with pynput (XTest) and reads the state over the websocket.

The sim-trained model test plays ``tests/data/models/ppo-4k.zip`` (or the model named by the
``PPOMANIA_LIVE_TEST_MODEL`` environment variable) and is skipped when there is none.
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
import time
from pathlib import Path

import numpy as np
import pytest

from ppomania.game.beatmap import load_beatmap
from ppomania.game.judge import Judge
from ppomania.game.rules import Mods
from ppomania.game.score import Phase, accuracy
from ppomania.live.capture import Calibration
from ppomania.live.keys import DEFAULT_BINDINGS, KeySender
from ppomania.sim.render import (
    CaptureArea,
    HighwayGeometry,
    preprocess_capture,
    render_beatmap_frame,
)
from ppomania.standin import game as standin_game

DATA = Path(__file__).parent / "data"
MAP = DATA / "ppy-osu" / "diffcalc-test.osu"
LN_MAP = DATA / "reamberPy" / "maps" / "MAGiCVLGiRL_ZVPH.osu"
MODEL = Path(os.environ.get("PPOMANIA_LIVE_TEST_MODEL", DATA / "models" / "ppo-4k.zip"))

needs_xvfb = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")


def _cut_map(tmp: Path, until_ms: int, name: str = "cut.osu", source: Path = MAP) -> Path:
    """The objects of ``source`` (the test map) that start before ``until_ms``, as a map file."""
    lines, in_objects = [], False
    for line in source.read_text().splitlines():
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
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_geometry(keys: int) -> HighwayGeometry:
    from ppomania.env.spaces import default_geometry

    return default_geometry(keys)


def _grab_of(picture: np.ndarray) -> np.ndarray:
    """A grey picture as an mss-like BGRA grab."""
    return np.repeat(picture[:, :, None], 4, axis=2)


def _realtime_child() -> None:
    """Real-time priority for a child process where allowed: the display server, like the game and
    the control loop, must not wait behind whatever else the machine runs."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))


def start_xvfb(
    screen: str, first: int, last: int, realtime: bool = False
) -> tuple[str, subprocess.Popen]:
    """An Xvfb server (``screen`` like ``1024x768x24``) on the first free display number in
    ``[first, last)``, once it listens: its display name and process. Skips without Xvfb."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    number = next(n for n in range(first, last) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    proc = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", screen, "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_realtime_child if realtime else None,
    )
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("Xvfb did not start")
        time.sleep(0.05)
    return f":{number}", proc


@pytest.fixture(scope="module")
def display():
    name, proc = start_xvfb("1024x768x24", 97, 200, realtime=True)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = name
    yield name
    # Key senders left in reference cycles (e.g. by SB3's model in the live training test) close
    # their X connection when collected: collect them while the display is still up.
    gc.collect()
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old
    proc.terminate()
    proc.wait(timeout=10)


class Standin:
    """A stand-in game subprocess; the window sits at (0, 0)."""

    def __init__(self, display: str, map_path: Path, *args: str) -> None:
        self.port = _free_port()
        env = dict(os.environ, DISPLAY=display, SDL_VIDEO_WINDOW_POS="0,0")
        env["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
        command = [sys.executable, "-m", "ppomania.cli", "standin", str(map_path), "--realtime"]
        command += ["--look", "sim"]  # the tests compare its pixels with the simulator's frames
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port), *args], stdout=subprocess.PIPE, text=True, env=env
        )
        line = self.proc.stdout.readline()
        assert line, "the stand-in exited before it was ready"
        self.ready = json.loads(line)
        left, _, width, _ = self.ready["playfield"]
        keys, judgement_y, px_per_ms = (self.ready[k] for k in ("keys", "judgement_y", "px_per_ms"))
        self.playfield = Calibration(left, left + width, judgement_y, px_per_ms, keys)

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


def test_every_default_binding_is_a_key_for_pynput_and_pygame(display):
    """The sender (pynput) and the stand-in (pygame) read the same binding names."""
    import pygame

    from ppomania.live.keys import to_pynput

    for names in DEFAULT_BINDINGS.values():
        for name in names:
            assert to_pynput(name) is not None
            assert pygame.key.key_code(name) != pygame.K_UNKNOWN


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


def test_the_live_layer_imports_only_the_game_and_the_protocol():
    """``ppomania.live`` (every module) loads only ``game``, ``protocol`` and the leaf module
    ``realtime`` of ours."""
    code = (
        "import sys, importlib, pkgutil, ppomania.live as live\n"
        "for m in pkgutil.iter_modules(live.__path__):\n"
        "    importlib.import_module('ppomania.live.' + m.name)\n"
        "allowed = {'ppomania', 'ppomania.live', 'ppomania.game', 'ppomania.protocol',\n"
        "           'ppomania.realtime'}\n"
        "bad = [m for m in sys.modules if m.startswith('ppomania') and\n"
        "       '.'.join(m.split('.')[:2]) not in allowed]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_judge_accessors_follow_a_hold():
    beatmap = load_beatmap(LN_MAP)
    hold = int(np.flatnonzero(beatmap.ends > beatmap.starts)[0])
    column, start = int(beatmap.columns[hold]), int(beatmap.starts[hold])
    # NoFail: the notes before the hold all expire unpressed, which would fail the play.
    judge = Judge(beatmap, Mods.NO_FAIL)
    judge.advance(start - 200)
    assert judge.current_object(column) == hold
    assert not judge.holding(column) and not judge.key_down(column)
    judge.press(start, column)
    assert judge.holding(column) and judge.key_down(column)
    judge.release(int(beatmap.ends[hold]), column)
    assert not judge.holding(column) and not judge.key_down(column)
    assert judge.current_object(column) != hold


@pytest.mark.parametrize("map_path", [MAP, LN_MAP], ids=["diffcalc", "ln"])
def test_standin_look_samples_to_the_sim_frame(map_path):
    """preprocess_capture of the stand-in's picture equals the sim's render: exactly at the default
    48×16 frame, to >= 98% of the pixels at 84×84 (whose head height and row grid the stand-in's
    look cannot share with 48×16: a 24 ms head is 3.5 rows of 84, so about half of the heads come
    out a row taller or shorter than the renderer's 3)."""
    from ppomania.env.live_frames import capture_area

    beatmap = load_beatmap(map_path)
    game = standin_game.StandinGame(beatmap)
    look = game.look
    playfield = Calibration(0, look.width, look.judgement_y, look.px_per_ms, beatmap.keys)
    rng = np.random.default_rng(0)
    events = []  # autoplay-like key events with errors, so notes get hit and holds held
    for i in range(beatmap.n_objects):
        start, end, c = int(beatmap.starts[i]), int(beatmap.ends[i]), int(beatmap.columns[i])
        error = int(rng.integers(-30, 30))
        events.append((start + error, c, True))
        events.append((max(start, end) + error + int(rng.integers(5, 40)), c, False))
    events.sort()
    times = np.sort(rng.uniform(-300, float(beatmap.ends.max()) + 200, 150))
    geometries = ((_default_geometry(beatmap.keys), 1.0), (HighwayGeometry.for_keys(4), 0.98))
    for geometry, minimum in geometries:
        area = capture_area(playfield, geometry)
        game.new_play(0.0)
        judge, k, equal, holding = game.judge, 0, [], 0
        for t in times:
            while k < len(events) and events[k][0] <= t:
                at, c, down = events[k]
                (judge.press if down else judge.release)(at, c)
                k += 1
            judge.advance(t)
            holding += any(judge.holding(c) for c in range(beatmap.keys))
            game.freeze_at(t)
            frame = preprocess_capture(_grab_of(game.render(0.0)), area, geometry)
            equal.append((frame == render_beatmap_frame(beatmap, t, geometry, judge)).mean())
        assert holding > 0 or beatmap.n_holds == 0  # held holds (pinned heads) were drawn
        if minimum == 1.0:
            assert min(equal) == 1.0, f"{geometry.shape}: {sum(e < 1 for e in equal)} frames differ"
        else:
            assert np.mean(equal) >= minimum, f"{geometry.shape}: {np.mean(equal):.4f}"


def test_calibration_finds_the_standin_playfield():
    from ppomania.env.live_frames import capture_area
    from ppomania.live.capture import detect_playfield

    beatmap = load_beatmap(MAP)
    game = standin_game.StandinGame(beatmap)
    game.freeze_at(300.0)  # notes on screen
    left, top, width, height = game.playfield
    image = np.zeros((game.window_size[1], game.window_size[0], 4), np.uint8)
    image[top : top + height, left : left + width] = _grab_of(game.render(0.0))
    calibration = detect_playfield(image, beatmap.keys, game.look.px_per_ms)
    assert calibration == Calibration(
        left, left + width, top + game.look.judgement_y, game.look.px_per_ms, beatmap.keys
    )
    area = capture_area(calibration, _default_geometry(beatmap.keys))
    assert area == CaptureArea(left, top, width, height)


# --- end to end ----------------------------------------------------------------------------------


@needs_xvfb
def test_capture_of_a_paused_standin_equals_the_render(display, tmp_path):
    from ppomania.env.live_frames import CaptureFrames
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
            t = client.latest().state.time_ms
            grabs = {}
            for geometry in (_default_geometry(beatmap.keys), HighwayGeometry.for_keys(4)):
                frames = CaptureFrames(standin.playfield, geometry)
                out = np.zeros(geometry.shape, np.uint8)
                frames.grab(out)
                frames.close()
                grabs[geometry.shape] = (geometry, out)
    finally:
        standin.stop()
    judge = Judge(beatmap)
    judge.advance(t)
    for shape, (geometry, grabbed) in grabs.items():
        expected = render_beatmap_frame(beatmap, t, geometry, judge)
        assert (expected == 255).any()
        if shape == (48, 16):
            np.testing.assert_array_equal(grabbed, expected)
        else:
            assert (grabbed == expected).mean() >= 0.98


@needs_xvfb
def test_autoplay_live_reaches_95_percent(display, tmp_path):
    from ppomania.env.live_autoplay import LiveAutoplay
    from ppomania.env.live_env import LiveManiaEnv

    beatmap = load_beatmap(_cut_map(tmp_path, 12000))
    standin = Standin(display, beatmap.path)
    env = LiveManiaEnv(beatmap, standin.playfield, port=standin.port, realtime=True)
    try:
        assert env.observation_space.shape == (4, 48, 16)
        info = _play(env, LiveAutoplay())
        assert info["reason"] == "results", info.get("reason")
        counts = info["game_counts"]
        print("live autoplay:", counts.tolist(), f"{100 * accuracy(counts):.2f}%", info["timing"])
        print("disagreement:", info["judge_disagreement"])
        assert counts.sum() == beatmap.n_objects
        assert accuracy(counts) >= 0.95
        assert abs(info["judge_disagreement"]["clock_correction_ms"]) < 30
        assert 0 < info["timing"]["frame_age_ms_mean"] < 50
    finally:
        env.close()
        assert _keys_down(display) == []
        exit_line = standin.stop()
    assert exit_line.get("held") == [False] * beatmap.keys


@needs_xvfb
def test_gosumemory_autoplay_finds_the_map_in_the_songs_folder(display, tmp_path, capsys):
    """``ppomania play`` against the gosumemory flavor, with the map found from the state: the
    stand-in reports a Windows Songs folder (as under Wine), ``--songs`` names the real one."""
    from ppomania.cli import main
    from ppomania.live.capture import save_calibration

    songs = tmp_path / "Songs"
    map_path = _cut_map(songs / "1234 Test - Cut", 10000, "Test - Cut (ppomania) [4K].osu")
    standin = Standin(
        display, map_path, "--flavor", "gosumemory", "--songs", "C:\\osu!\\Songs", "--auto-retry"
    )
    config = save_calibration(standin.playfield, tmp_path / "live.json")
    try:
        code = main(
            [
                "play",
                "--policy",
                "autoplay",
                "--songs",
                str(songs),
                "--config",
                str(config),
                "--port",
                str(standin.port),
                "--json",
                "--realtime",
            ]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        (play,) = json.loads(out)
        print("gosumemory autoplay:", play)
        assert Path(play["map"]) == map_path
        judged = sum(play[k] for k in ("max", "300", "200", "100", "50", "miss"))
        assert judged == load_beatmap(map_path).n_objects
        assert play["accuracy"] >= 95.0
    finally:
        assert _keys_down(display) == []
        standin.stop()


@needs_xvfb
def test_ctrl_c_in_play_prints_the_plays_so_far_and_releases_the_keys(display, tmp_path):
    """Ctrl+C in the middle of ``ppomania play``: exit 130, the interrupted play printed with what
    was judged so far, no key left down."""
    import signal

    from ppomania.live.capture import save_calibration
    from ppomania.live.state_client import StateClient

    map_path = _cut_map(tmp_path, 20000)
    standin = Standin(display, map_path)
    config = save_calibration(standin.playfield, tmp_path / "live.json")
    command = [sys.executable, "-m", "ppomania.cli", "play", "--policy", "autoplay"]
    command += ["--map", str(map_path), "--config", str(config), "--port", str(standin.port)]
    try:
        play = subprocess.Popen(
            [*command, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, DISPLAY=display),
            # as from a terminal, whatever the shell that started the tests ignores
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        client = StateClient(port=standin.port).start()
        try:  # into the play: some notes judged, most not
            assert client.wait_for(lambda s: s.state.time_ms > 5000, timeout_s=30) is not None
        finally:
            client.close()
        play.send_signal(signal.SIGINT)
        out, err = play.communicate(timeout=30)
        assert play.returncode == 130, err
        assert "interrupted" in err
        (result,) = json.loads(out)
        judged = sum(result[k] for k in ("max", "300", "200", "100", "50", "miss"))
        assert 0 < judged < load_beatmap(map_path).n_objects
        assert _keys_down(display) == []
    finally:
        standin.stop()


@needs_xvfb
def test_server_outage_ends_the_episode_and_the_client_reconnects(display, tmp_path):
    from ppomania.env.live_autoplay import LiveAutoplay
    from ppomania.env.live_env import LiveManiaEnv

    beatmap = load_beatmap(_cut_map(tmp_path, 12000))
    standin = Standin(
        display, beatmap.path, "--kill-server-after", "4", "--server-down", "2", "--auto-retry"
    )
    env = LiveManiaEnv(beatmap, standin.playfield, port=standin.port, realtime=True)
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


@needs_xvfb
@pytest.mark.skipif(not MODEL.exists(), reason=f"no trained model at {MODEL}")
def test_sim_trained_model_plays_the_standin_as_in_the_sim(display, tmp_path, capsys):
    """A model trained in the simulator plays the stand-in within 3 accuracy points of its
    simulator accuracy (``ppomania eval``) on the same map: the first 15 s of the test map."""
    import torch

    from ppomania.agent.models import model_timing
    from ppomania.cli import main
    from ppomania.live.capture import save_calibration

    map_path = _cut_map(tmp_path, 15000)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network: more threads only wait on each other
    try:
        assert main(["eval", str(map_path), "--model", str(MODEL), "--json"]) == 0
    finally:
        torch.set_num_threads(threads)
    (sim,) = json.loads(capsys.readouterr().out)
    standin = Standin(display, map_path)
    config = save_calibration(standin.playfield, tmp_path / "live.json")
    try:
        command = ["play", "--model", str(MODEL), "--map", str(map_path), "--config", str(config)]
        assert main([*command, "--port", str(standin.port), "--json", "--realtime"]) == 0
        (live,) = json.loads(capsys.readouterr().out)
    finally:
        assert _keys_down(display) == []
        standin.stop()
    print(f"sim {sim['accuracy']:.2f}% live {live['accuracy']:.2f}%", live["timing"])
    # The live loop met the model's simulated frame-to-key latency (capture + input).
    latency = model_timing(str(MODEL))["latency_ms"]
    assert abs(live["timing"]["frame_to_key_ms_mean"] - latency) < 5
    assert not live["failed"]
    assert abs(live["accuracy"] - sim["accuracy"]) <= 3.0


def test_train_live_fine_tunes_a_model_in_the_standin(display, tmp_path, capsys):
    """``ppomania train --live``: PPO rollouts in the stand-in, updates between them, a checkpoint
    and a final model with the step count carried on, and no key left down."""
    from stable_baselines3 import PPO

    from ppomania.cli import main
    from ppomania.live.capture import save_calibration

    map_path = _cut_map(tmp_path, 20000)
    standin = Standin(display, map_path, "--auto-retry")
    config = save_calibration(standin.playfield, tmp_path / "live.json")
    steps_before = PPO.load(MODEL, device="cpu").num_timesteps
    runs = tmp_path / "runs"
    try:
        command = [
            "train", "--live", "--live-model", str(MODEL), "--live-map", str(map_path),
            "--live-calibration", str(config), "--live-port", str(standin.port),
            "--total-timesteps", "256", "--runs-dir", str(runs), "--no-progress",
        ]  # fmt: skip
        assert main(command) == 0
    finally:
        assert _keys_down(display) == []
        standin.stop()
    (run,) = list(runs.iterdir())
    assert "live = true" in (run / "config.toml").read_text()
    final = PPO.load(run / "final_model.zip", device="cpu")
    assert final.num_timesteps == steps_before + 256
    assert list((run / "checkpoints").glob("step_*.zip"))
    assert list((run / "tb").glob("PPO_*/events.out.tfevents.*"))
    assert "finished after" in capsys.readouterr().out
