"""The live visualization window, the policy-output helper, the judgement feed and ``watch``.

The window is drawn offscreen (``SDL_VIDEODRIVER=dummy``) and checked through its screenshot: the
frame panel must show the observation pixel for pixel, the bars the given probabilities and keys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ppomania.agent.evaluate import builtin_policy, play_maps
from ppomania.agent.models import model_codec, model_geometry, resolve_model_path
from ppomania.agent.policy import HighwayCNN
from ppomania.agent.window import (
    BAR_EMPTY,
    HELD_OFF,
    HELD_ON,
    PROB_FILL,
    JudgementFeed,
    VisualizationWindow,
    make_layout,
    policy_outputs,
)
from ppomania.cli import main
from ppomania.env.spaces import default_geometry
from ppomania.env.vec_env import ManiaVecEnv
from ppomania.game.judge import HitResult
from ppomania.game.osu_writer import beatmap_to_osu
from ppomania.game.rules import Judgement, Mods
from ppomania.game.score import GameState, Phase
from ppomania.sim.core import SimConfig
from ppomania.sim.patterns import PatternConfig, generate_map
from ppomania.sim.render import HighwayGeometry

GEOMETRY = HighwayGeometry.for_keys(4, height=48, width=16)


@pytest.fixture(autouse=True)
def offscreen(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


@pytest.fixture(scope="module")
def short_map():
    return generate_map(PatternConfig(duration_s=10))


@pytest.fixture(scope="module")
def map_file(short_map, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("maps") / "short.osu"
    path.write_bytes(beatmap_to_osu(short_map))
    return path


def _tiny_model(short_map, action_space: str = "multibinary"):
    from stable_baselines3 import PPO

    env = ManiaVecEnv([short_map], n_envs=2, geometry=GEOMETRY, action_space=action_space)
    return PPO(
        "CnnPolicy",
        env,
        policy_kwargs=dict(features_extractor_class=HighwayCNN, net_arch=[]),
        n_steps=16,
        batch_size=16,
        device="cpu",
    )


@pytest.fixture(scope="module")
def tiny_model(short_map):
    return _tiny_model(short_map)


def _state() -> GameState:
    counts = np.array([10, 5, 3, 2, 1, 4], dtype=np.int64)
    return GameState(1000.0, Phase.PLAYING, 12, 40, 123456, 0.9734, counts, 0.8)


def _update(window: VisualizationWindow, obs, probs, held) -> bool:
    judgements = [
        HitResult(100 * i, i % 4, i, Judgement(i % 6), None if i % 6 == 5 else i - 5)
        for i in range(12)
    ]
    return window.update(obs, probs, held, 0.42, _state(), judgements, 0.9, 12.3, 1234.0, 35.0)


def _pixels(path: Path) -> np.ndarray:
    """``(H, W, 3)`` RGB of a PNG."""
    import pygame

    return pygame.surfarray.array3d(pygame.image.load(str(path))).transpose(1, 0, 2)


@pytest.mark.parametrize("shape", [(48, 16), (84, 84)])
def test_screenshot_shows_the_frames_and_the_keys(shape, tmp_path):
    rng = np.random.default_rng(1)
    obs = rng.integers(0, 256, (4, *shape), dtype=np.uint8)
    probs = np.array([0.9, 0.1, 0.55, 0.0])
    held = np.array([True, False, True, False])
    window = VisualizationWindow(4, shape, headless=shape == (84, 84))
    try:
        assert _update(window, obs, probs, held)  # the first update always draws
        image = _pixels(window.screenshot(tmp_path / "shot.png"))
    finally:
        window.close()
    layout = window.layout
    assert image.shape[:2] == layout.size[::-1]

    # Every frame pixel, sampled at the centre of its upscaled block, is grey at the obs value.
    s = layout.scale
    rows = np.arange(shape[0]) * s + s // 2
    cols = np.arange(shape[1]) * s + s // 2
    for i, rect in enumerate(layout.frames):
        assert rect.size == (shape[1] * s, shape[0] * s)
        block = image[rect.y + rows[:, None], rect.x + cols[None, :]]
        np.testing.assert_array_equal(block, np.repeat(obs[i][:, :, None], 3, axis=2))

    for k, rect in enumerate(layout.prob_bars):
        top_of_fill = rect.bottom - round(probs[k] * rect.height)
        if probs[k] > 0.05:
            assert tuple(image[top_of_fill + 2, rect.centerx]) == PROB_FILL
            assert tuple(image[rect.bottom - 1, rect.centerx]) == PROB_FILL
        assert tuple(image[top_of_fill - 2, rect.centerx]) == BAR_EMPTY
    for k, rect in enumerate(layout.held_boxes):
        assert tuple(image[rect.centery, rect.centerx]) == (HELD_ON if held[k] else HELD_OFF)


def test_bars_follow_new_data_and_missing_probabilities(tmp_path):
    obs = np.zeros((4, *GEOMETRY.shape), dtype=np.uint8)
    window = VisualizationWindow(4, GEOMETRY.shape, fps=1000)
    try:
        _update(window, obs, np.ones(4), np.ones(4, dtype=bool))
        time.sleep(0.002)
        _update(window, obs, None, np.array([False, True, False, True]))
        image = _pixels(window.screenshot(tmp_path / "shot.png"))
    finally:
        window.close()
    for rect in window.layout.prob_bars:
        assert tuple(image[rect.bottom - 2, rect.centerx]) == BAR_EMPTY
    for k, rect in enumerate(window.layout.held_boxes):
        assert tuple(image[rect.centery, rect.centerx]) == (HELD_ON if k % 2 else HELD_OFF)


def test_updates_faster_than_fps_only_store_the_data():
    obs = np.zeros((4, *GEOMETRY.shape), dtype=np.uint8)
    window = VisualizationWindow(4, GEOMETRY.shape, fps=30)
    try:
        _update(window, obs, None, np.zeros(4, dtype=bool))
        assert window.draw_count == 1 and not window.ready()
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            _update(window, obs, None, np.zeros(4, dtype=bool))
        elapsed = time.perf_counter() - start
        assert window.draw_count <= 2 + 30 * elapsed
        assert elapsed / n < 100e-6  # cheap enough to call on every training step
        # What was stored last is what a flush draws.
        obs[:] = 255
        _update(window, obs, None, np.zeros(4, dtype=bool))
        draws = window.draw_count
        window.flush()
        assert window.draw_count == draws + 1
        window.flush()  # nothing new: no draw
        assert window.draw_count == draws + 1
    finally:
        window.close()


def test_escape_closes_the_window(tmp_path):
    import pygame

    obs = np.zeros((4, *GEOMETRY.shape), dtype=np.uint8)
    window = VisualizationWindow(4, GEOMETRY.shape, fps=1000)
    assert _update(window, obs, None, np.zeros(4, dtype=bool))
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))
    time.sleep(0.002)
    assert not _update(window, obs, None, np.zeros(4, dtype=bool))
    assert window.closed
    window.close()  # idempotent
    assert window.screenshot(tmp_path / "after.png").stat().st_size > 1000


@pytest.mark.parametrize("action_space", ["multibinary", "discrete"])
def test_policy_outputs(short_map, tiny_model, action_space):
    import torch

    model = tiny_model if action_space == "multibinary" else _tiny_model(short_map, "discrete")
    obs = model.get_env().reset()[0]
    probs, value = policy_outputs(model, obs)
    assert probs.shape == (4,) and np.all((probs >= 0) & (probs <= 1))
    obs_tensor, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        distribution = model.policy.get_distribution(obs_tensor).distribution
        expected_value = float(model.policy.predict_values(obs_tensor)[0, 0])
    assert value == pytest.approx(expected_value)
    if action_space == "multibinary":
        logits = distribution.logits[0].numpy()
        np.testing.assert_allclose(probs, 1 / (1 + np.exp(-logits)), rtol=1e-5)
    else:
        joint = distribution.probs[0].numpy()
        expected = [sum(joint[a] for a in range(16) if a >> k & 1) for k in range(4)]
        np.testing.assert_allclose(probs, expected, rtol=1e-5)


def test_judgement_feed_matches_the_reference_judge(short_map):
    rng = np.random.default_rng(0)
    autoplay = builtin_policy("autoplay", 4)
    feeds: list[JudgementFeed] = []

    def sloppy(obs, sim):  # autoplay with random slips: every kind of judgement
        return autoplay(obs, sim) ^ (rng.random((sim.n_envs, 4)) < 0.05)

    def on_step(sim, obs, held):
        if not feeds:
            feeds.append(JudgementFeed(sim, keep=100_000))
        feeds[0].poll()

    (play,) = play_maps([short_map], sloppy, SimConfig(mods=Mods.NO_FAIL), on_step=on_step)
    assert len({r.judgement for r in play.results}) >= 4
    key = lambda r: (r.time_ms, r.column)  # noqa: E731
    assert sorted(feeds[0].recent, key=key) == sorted(play.results, key=key)


def test_watch_cli_writes_a_screenshot(map_file, tmp_path, capsys):
    shot = tmp_path / "x.png"
    argv = ["watch", str(map_file), "--policy", "autoplay", "--seconds", "2", "--speed", "0"]
    assert main([*argv, "--screenshot", str(shot)]) == 0
    out = capsys.readouterr().out
    assert "fps" in out and "100.00" in out  # autoplay plays the 10 s map to the end
    image = _pixels(shot)
    assert shot.stat().st_size > 5_000 and image.shape[0] > 300 and image.shape[1] > 600


def test_watch_cli_with_a_model_stops_after_seconds(tiny_model, map_file, tmp_path, capsys):
    import torch

    threads = torch.get_num_threads()  # the command sets 1: give the rest of the session its own
    run = tmp_path / "run"
    run.mkdir()
    tiny_model.save(run / "final_model.zip")
    shot = tmp_path / "m.png"
    argv = ["watch", str(map_file), "--model", str(run), "--seconds", "1", "--speed", "2"]
    start = time.perf_counter()
    assert main([*argv, "--screenshot", str(shot)]) == 0
    assert time.perf_counter() - start < 10
    torch.set_num_threads(threads)
    assert "stopped (time limit)" in capsys.readouterr().out
    assert shot.stat().st_size > 5_000


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs Xvfb")
def test_watch_in_a_real_x_window(map_file, tmp_path, monkeypatch):
    monkeypatch.delenv("SDL_VIDEODRIVER")
    shot = tmp_path / "x.png"
    command = [sys.executable, "-m", "ppomania.cli", "watch", str(map_file), "--policy", "random"]
    command += ["--seconds", "1", "--screenshot", str(shot)]
    done = subprocess.run(["xvfb-run", "-a", *command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "stopped (time limit)" in done.stdout
    width, height = make_layout(4, default_geometry(4).shape).size
    assert _pixels(shot).shape[:2] == (height, width)


def test_watch_cli_errors(tiny_model, map_file, tmp_path, capsys):
    assert main(["watch", str(map_file), "--model", str(tmp_path / "nothing")]) == 2
    assert "no such model" in capsys.readouterr().err
    seven = tmp_path / "7k.osu"
    seven.write_bytes(beatmap_to_osu(generate_map(PatternConfig(keys=7, duration_s=5))))
    tiny_model.save(tmp_path / "m.zip")
    assert main(["watch", str(seven), "--model", str(tmp_path / "m.zip")]) == 2
    assert "7K" in capsys.readouterr().err


def test_model_geometry_and_codec(tiny_model):
    assert model_geometry(tiny_model, 4) == GEOMETRY
    assert model_codec(tiny_model, 4).kind == "multibinary"
    with pytest.raises(ValueError, match="3K"):
        model_geometry(tiny_model, 3)
    with pytest.raises(ValueError, match="plays 4K"):
        model_codec(tiny_model, 2)


def test_resolve_model_path(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"best_model\.zip"):
        resolve_model_path(run)
    for i, name in enumerate(["ppo_300_steps.zip", "ppo_200_steps.zip"]):
        (run / "checkpoints" / name).touch()
        os.utime(run / "checkpoints" / name, (1000 + i, 1000 + i))
    assert resolve_model_path(run) == run / "checkpoints" / "ppo_200_steps.zip"  # newest
    (run / "final_model.zip").touch()
    assert resolve_model_path(run) == run / "final_model.zip"
    (run / "best_model.zip").touch()
    assert resolve_model_path(run) == run / "best_model.zip"
    assert resolve_model_path(run / "final_model.zip") == run / "final_model.zip"
    assert resolve_model_path(run / "final_model") == run / "final_model.zip"
    with pytest.raises(FileNotFoundError, match="no such"):
        resolve_model_path(tmp_path / "missing")
