"""Run folders survive kills, full disks, bad configs and resumes; paths from outside stay inside."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest
from stable_baselines3 import PPO

from ppomania.agent.config import TrainConfig
from ppomania.agent.runs import (
    RunWriteError,
    create_run_dir,
    prune_checkpoints,
    read_best_accuracy,
    write_best_accuracy,
)
from ppomania.cli import main
from ppomania.live.songs import find_beatmap_file
from ppomania.protocol.snapshot import BeatmapInfo, GameSnapshot

TINY = [
    "--n-envs", "4", "--n-steps", "64", "--batch-size", "128", "--generated-maps", "4",
    "--map-duration-s", "10", "--eval-generated", "1", "--no-progress",
]  # fmt: skip


def _tb_steps(run: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run / "tb" / "PPO_1"))
    accumulator.Reload()
    if tag not in accumulator.Tags()["scalars"]:
        return []
    return [event.step for event in accumulator.Scalars(tag)]


def _train(runs: Path, *args: str) -> Path:
    assert main(["train", *TINY, "--runs-dir", str(runs), "--eval-every", "100000", *args]) == 0
    (run,) = list(runs.iterdir())
    return run


def test_a_run_killed_before_its_first_checkpoint_resumes_and_loses_its_temporary_files(tmp_path):
    config = TrainConfig(
        n_envs=4, n_steps=64, batch_size=128, generated_maps=4, map_duration_s=10,
        eval_generated=1, eval_every=100_000, progress=False, runs_dir=str(tmp_path),
    )  # fmt: skip
    run = create_run_dir(config)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / ".step_000000000256.0123abcd.tmp.zip").write_bytes(b"half")
    (run / ".best_accuracy.0123abcd.tmp.txt").write_text("0.")
    assert main(["train", "--resume", str(run), "--total-timesteps", "256"]) == 0
    assert PPO.load(run / "final_model.zip").num_timesteps == 256
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]


def test_resume_skips_a_corrupt_checkpoint_and_cuts_what_a_killed_session_logged(tmp_path, caplog):
    run = _train(tmp_path, "--total-timesteps", "768", "--checkpoint-every", "256",
                 "--keep-checkpoints", "10")  # fmt: skip
    assert _tb_steps(run, "time/fps") == [256, 512, 768]
    # Killed after logging step 768 while writing its checkpoint; step 512's is damaged.
    (run / "checkpoints" / "step_000000000768.zip").unlink()
    (run / "final_model.zip").unlink()
    (run / "checkpoints" / "step_000000000512.zip").write_bytes(b"PK\x03\x04 cut short")
    with caplog.at_level(logging.WARNING):
        code = main(["train", "--resume", str(run), "--total-timesteps", "1024", "--no-progress",
                     "--learning-rate", "0.001", "--n-epochs", "2"])  # fmt: skip
    assert code == 0
    assert "step_000000000512.zip" in caplog.text
    assert _tb_steps(run, "time/fps") == [256, 512, 768, 1024]
    assert _tb_steps(run, "eval/accuracy") == [1024]  # the final evaluation, logged
    final = PPO.load(run / "final_model.zip")
    assert final.num_timesteps == 1024 and final.n_epochs == 2
    saved = (run / "config.toml").read_text()
    assert "total_timesteps = 1024\n" in saved and "learning_rate = 0.001\n" in saved


def test_resume_refuses_a_setting_that_cannot_change(tmp_path, capsys):
    config = TrainConfig(runs_dir=str(tmp_path))
    run = create_run_dir(config)
    assert main(["train", "--resume", str(run), "--keys", "5"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "keys" in error
    assert "keys = 4\n" in (run / "config.toml").read_text()


def test_a_full_disk_ends_in_one_line_and_keeps_what_was_saved(tmp_path, capsys, monkeypatch):
    save = PPO.save
    saves = []

    def fill_the_disk(model, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 1:
            return save(model, path, *args, **kwargs)
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PPO, "save", fill_the_disk)
    code = main(["train", *TINY, "--runs-dir", str(tmp_path), "--total-timesteps", "768",
                 "--checkpoint-every", "256", "--eval-every", "100000"])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "No space left on device" in error
    (run,) = list(tmp_path.iterdir())
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_000000000256.zip"]
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]


def test_text_files_of_a_run_are_written_whole(tmp_path, monkeypatch):
    write_best_accuracy(tmp_path, 0.5)
    real_open = Path.open

    def half_then_full_disk(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode:
            handle.write(b"0." if "b" in mode else "0.")
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return handle

    monkeypatch.setattr(Path, "open", half_then_full_disk)
    with pytest.raises(RunWriteError, match="No space left"):
        write_best_accuracy(tmp_path, 0.9)
    monkeypatch.undo()
    assert read_best_accuracy(tmp_path) == 0.5
    assert [p.name for p in tmp_path.iterdir()] == ["best_accuracy.txt"]


def test_pruning_never_deletes_through_a_link_out_of_the_run(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for step in (1, 2, 3):
        (elsewhere / f"step_{step:012d}.zip").write_bytes(b"not ours")
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoints").symlink_to(elsewhere)
    prune_checkpoints(run, 1)
    assert len(list(elsewhere.iterdir())) == 3


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--n-envs", "abc"], "--n-envs"),
        (["--batch-size", "0"], "batch_size"),
        (["--device=gpu"], "--device"),
        (["--run-name", "../x"], "run_name"),
        (["--generated-maps", "0", "--maps", "missing.osu"], "missing.osu"),
        (["--config", "bad.toml"], "n_envs"),
    ],
)
def test_a_bad_config_value_is_one_line_naming_it_and_makes_no_folder(
    args, field, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text('n_envs = "abc"\n')
    assert main(["train", *args, "--runs-dir", "runs/inner", "--total-timesteps", "256"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and field in error, error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_the_game_states_map_path_cannot_leave_the_songs_folder(tmp_path, caplog):
    songs = tmp_path / "Songs"
    (songs / "1 A - B").mkdir(parents=True)
    inside = songs / "1 A - B" / "map.osu"
    inside.write_text("osu file format v14\n")
    secret = tmp_path / "secret.osu"
    secret.write_text("not for the player\n")

    def find(folder: str, file: str) -> Path | None:
        return find_beatmap_file(GameSnapshot(beatmap=BeatmapInfo(folder=folder, file=file)), songs)

    assert find("1 A - B", "map.osu") == inside
    with caplog.at_level(logging.WARNING):
        assert find("..\\..\\..", str(secret)) is None
        assert find("..", "secret.osu") is None
        assert find("1 A - B\\..\\..", "secret.osu") is None
    assert "leads out of the Songs folder" in caplog.text
    (songs / "1 A - B" / "notes.txt").write_text("not a map\n")
    with caplog.at_level(logging.WARNING):
        assert find("1 A - B", "notes.txt") is None
    assert "is no .osu file" in caplog.text
