"""Result plots of evaluated plays and a run's learning curves (``ppomania plot``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from ppomania.agent.evaluate import PlayResult, builtin_policy, play_maps
from ppomania.agent.plots import (
    plot_learning_curves,
    read_scalars,
    sanitize_name,
    write_eval_plots,
)
from ppomania.cli import main
from ppomania.game.rules import Judgement, Mods
from ppomania.sim.core import SimConfig
from ppomania.sim.patterns import PatternConfig, generate_map


@pytest.fixture(scope="module")
def plays() -> list[PlayResult]:
    """A sloppy autoplay (every judgement, misses included) and a clean one of the same map."""
    beatmap = generate_map(PatternConfig(duration_s=10), seed=3)
    rng = np.random.default_rng(0)
    autoplay = builtin_policy("autoplay", 4)

    def sloppy(obs, sim):
        return autoplay(obs, sim) ^ (rng.random((sim.n_envs, 4)) < 0.05)

    config = SimConfig(mods=Mods.NO_FAIL, jitter_ms=10)
    return [*play_maps([beatmap], sloppy, config), *play_maps([beatmap], autoplay, config)]


def _size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of a PNG."""
    height, width = imread(path).shape[:2]
    return width, height


def test_write_eval_plots(plays, tmp_path):
    assert {r.judgement for r in plays[0].results} >= {Judgement.MAX, Judgement.MISS}
    paths = write_eval_plots(plays, tmp_path / "plots")
    stem = sanitize_name(plays[0].beatmap.name)
    assert [p.name for p in paths] == [
        f"{stem}_hit_errors.png",
        f"{stem}_histogram.png",
        f"{stem}-2_hit_errors.png",
        f"{stem}-2_histogram.png",
    ]
    for path in paths:
        assert path.stat().st_size > 20_000
    assert _size(paths[0]) == (1200, 700)  # 12 × (1.4 per column × 4 + 1.4) inches at 100 dpi
    assert _size(paths[1]) == (1200, 450)


def test_plots_do_not_load_pygame():
    """The plots take their colours from a pygame-free module, not from the live window."""
    code = "import sys, ppomania.agent.plots; sys.exit('pygame' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_sanitize_name():
    assert sanitize_name("Artist - Title [Hard / 4K]") == "Artist_-_Title_Hard_4K"
    assert sanitize_name("../..") == "map"
    assert len(sanitize_name("x" * 300)) == 80


def _write_events(folder: Path, scalars: dict[str, list[tuple[int, float]]]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for tag, points in scalars.items():
        for step, value in points:
            writer.add_scalar(tag, value, step)
    writer.close()


def test_plot_cli_writes_learning_curves(tmp_path, capsys):
    run = tmp_path / "runs" / "demo"
    accuracy = [(step, 0.5 + step / 40_000) for step in range(0, 20_001, 2_000)]
    _write_events(run / "PPO_1", {"eval/accuracy": accuracy})
    _write_events(run / "PPO_2", {"rollout/ep_rew_mean": [(20_000, 3.0), (22_000, 4.0)]})
    assert main(["plot", str(run), "-o", str(tmp_path / "out")]) == 0
    path = tmp_path / "out" / "learning_curves.png"
    assert capsys.readouterr().out.strip() == str(path)
    assert path.stat().st_size > 20_000
    assert _size(path) == (1000, 700)  # two panels: accuracy and reward
    # Without -o the PNGs go to RUN/plots.
    assert main(["plot", str(run)]) == 0
    assert (run / "plots" / "learning_curves.png").is_file()


def test_read_scalars_merges_files_in_step_order(tmp_path):
    _write_events(tmp_path / "a", {"eval/accuracy": [(0, 0.1), (2, 0.3)]})
    _write_events(tmp_path / "b", {"eval/accuracy": [(1, 0.2), (2, 0.35)], "other": [(0, 1.0)]})
    scalars = read_scalars(tmp_path, ["eval/accuracy", "rollout/accuracy"])
    steps, values = scalars["eval/accuracy"]
    assert steps.tolist() == [0, 1, 2]
    np.testing.assert_allclose(values, [0.1, 0.2, 0.35])  # the later write of step 2 wins
    assert set(scalars) == {"eval/accuracy"}


def test_learning_curves_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no TensorBoard event files"):
        plot_learning_curves(tmp_path, tmp_path / "x.png")
    _write_events(tmp_path / "run", {"train/loss": [(0, 1.0)]})
    assert main(["plot", str(tmp_path / "run")]) == 2
    assert "eval/accuracy" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
