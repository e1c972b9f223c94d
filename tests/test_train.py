"""Smoke tests of the main job: train a few hundred steps, evaluate, resume, interrupt, kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import PPO

from ppomania.agent.config import TrainConfig
from ppomania.agent.runs import save_atomic
from ppomania.agent.train import map_pool
from ppomania.cli import main
from ppomania.game.replay import load_replay
from ppomania.sim.maps import bundled_map_paths, notes_per_second, star_rating
from ppomania.sim.patterns import PatternConfig, generate_maps

DATA = Path(__file__).parent / "data"
SHORT_MAP = DATA / "ppy-osu" / "diffcalc-test.osu"

TINY = [
    "--n-envs", "4", "--n-steps", "64", "--batch-size", "128", "--generated-maps", "4",
    "--map-duration-s", "10", "--eval-generated", "1", "--no-progress",
]  # fmt: skip


def _run_dir(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def _tb_steps(run: Path) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tb,) = list((run / "tb").iterdir())
    accumulator = EventAccumulator(str(tb))
    accumulator.Reload()
    return [event.step for event in accumulator.Scalars("time/fps")]


def test_train_then_eval_writes_checkpoints_tensorboard_and_rejudged_replays(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(
        ["train", *TINY, "--total-timesteps", "512", "--checkpoint-every", "256",
         "--eval-every", "256", "--runs-dir", str(runs), "--seed", "3"]
    )  # fmt: skip
    assert code == 0
    run = _run_dir(runs)
    assert run.name.startswith("4k__ppo__3__")
    assert (run / "config.toml").read_text().count("total_timesteps = 512") == 1
    checkpoints = sorted((run / "checkpoints").glob("step_*.zip"))
    assert [c.name for c in checkpoints] == ["step_000000000256.zip", "step_000000000512.zip"]
    assert (run / "best_model.zip").exists() and (run / "final_model.zip").exists()
    assert list((run / "tb").glob("PPO_1/events.out.tfevents.*"))
    assert _tb_steps(run)[-1] == 512

    replays = tmp_path / "replays"
    capsys.readouterr()
    code = main(
        ["eval", str(SHORT_MAP), "--model", str(run), "--mods", "NF", "--json",
         "--replay-dir", str(replays)]
    )  # fmt: skip
    assert code == 0
    (result,) = json.loads(capsys.readouterr().out)
    for key in ("max", "300", "200", "100", "50", "miss", "accuracy", "score", "max_combo",
                "grade", "stars", "pp"):  # fmt: skip
        assert key in result
    (replay_path,) = list(replays.glob("*.osr"))
    replay = load_replay(replay_path)
    assert [replay.count_geki, replay.count_300, replay.count_katu, replay.count_100,
            replay.count_50, replay.count_miss] == [result[k] for k in
            ("max", "300", "200", "100", "50", "miss")]  # fmt: skip
    code = main(["verify-replay", str(replay_path), "--map", str(SHORT_MAP), "--json"])
    assert code == 0
    verified = json.loads(capsys.readouterr().out)
    for key in ("max", "300", "200", "100", "50", "miss", "score"):
        assert verified["ours"][key] == verified["header"][key]


def test_resume_continues_the_step_count_and_tensorboard_run(tmp_path):
    runs = tmp_path / "runs"
    assert main(["train", *TINY, "--total-timesteps", "256", "--checkpoint-every", "256",
                 "--eval-every", "100000", "--runs-dir", str(runs)]) == 0  # fmt: skip
    run = _run_dir(runs)
    assert main(["train", "--resume", str(run), "--total-timesteps", "512", "--no-progress"]) == 0
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*.zip"))[-1] == (
        "step_000000000512.zip"
    )
    assert [p.name for p in (run / "tb").iterdir()] == ["PPO_1"]
    steps = _tb_steps(run)
    assert steps[0] == 256 and steps[-1] == 512
    assert PPO.load(run / "final_model.zip").num_timesteps == 512


def _spawn_training(runs: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "ppomania.cli", "train", *TINY, "--total-timesteps", "1000000",
        "--checkpoint-every", "256", "--keep-checkpoints", "100", "--eval-every", "1000000",
        "--runs-dir", str(runs),
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_checkpoints(runs: Path, count: int, process: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        found = list(runs.glob("*/checkpoints/step_*.zip"))
        if len(found) >= count:
            return found[0].parent.parent
        time.sleep(0.2)
    process.kill()
    pytest.fail("training wrote no checkpoints in time")


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    runs = tmp_path / "runs"
    process = _spawn_training(runs)
    run = _wait_for_checkpoints(runs, 1, process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "interrupted at" in output
    steps = int(output.split("interrupted at ")[1].split()[0])
    newest = sorted((run / "checkpoints").glob("step_*.zip"))[-1]
    assert newest.name == f"step_{steps:012d}.zip"
    assert PPO.load(newest).num_timesteps == steps


def test_a_killed_run_leaves_only_whole_checkpoints(tmp_path):
    runs = tmp_path / "runs"
    process = _spawn_training(runs)
    run = _wait_for_checkpoints(runs, 3, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    checkpoints = sorted((run / "checkpoints").glob("step_*.zip"))
    assert len(checkpoints) >= 3
    for checkpoint in checkpoints:
        with zipfile.ZipFile(checkpoint) as archive:
            assert archive.testzip() is None
        PPO.load(checkpoint)


def test_a_checkpoint_write_holds_ctrl_c_until_it_is_done(tmp_path):
    class Model:
        def save(self, path):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the signal's handler runs here, in the middle of the write
            Path(path).write_bytes(b"whole")

    with pytest.raises(KeyboardInterrupt):
        save_atomic(Model(), tmp_path / "model.zip")
    assert (tmp_path / "model.zip").read_bytes() == b"whole"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]


def test_a_failed_checkpoint_write_leaves_no_temporary_file(tmp_path):
    class Model:
        def save(self, path):
            Path(path).write_bytes(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_atomic(Model(), tmp_path / "model.zip")
    assert list(tmp_path.iterdir()) == []


def test_bundled_real_maps_are_packaged():
    names = {p.name for p in bundled_map_paths()}
    assert {"1638954.osu", "diffcalc-test.osu", "MAGiCVLGiRL_ZVPH.osu", "4869637.osu"} <= names


def test_a_checkpoint_is_saved_when_ctrl_c_comes_before_the_callbacks_start(tmp_path):
    """Ctrl+C during ``learn``'s own setup: the callbacks have no model yet, the trainer's does."""
    from ppomania.agent.callbacks import Checkpoints

    class Model:
        num_timesteps = 4096

        def save(self, path):
            Path(path).write_bytes(b"whole")

    checkpoints = Checkpoints(tmp_path, every=256, keep=3)
    path = checkpoints.save(Model())
    assert path.name == "step_000000004096.zip" and path.read_bytes() == b"whole"


def test_the_curriculum_orders_maps_by_star_rating():
    maps = generate_maps(PatternConfig(duration_s=10), 12, seed=5)
    stars = np.array([star_rating(m) for m in maps])
    pool = map_pool(TrainConfig(curriculum=True), maps)
    assert np.array_equal(pool.difficulties, stars)
    early = pool.available(0.0)
    assert set(stars[early]) == set(np.sort(stars)[: len(early)])
    assert np.all(np.diff(stars[pool.order]) >= 0)
    # Without a curriculum nothing is rated (notes/s is free), and every map is drawn.
    uniform = map_pool(TrainConfig(), maps)
    assert np.array_equal(uniform.difficulties, [notes_per_second(m) for m in maps])
    assert len(uniform.available(0.0)) == len(maps)
