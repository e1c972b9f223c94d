"""``ppomania results``: the table against humans (median and best of the replays, blank columns
without any, Markdown quoting), replays matched to maps by MD5 and mods, notes for what is skipped,
the bundled models by default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ppomania.agent import bundled
from ppomania.agent.evaluate import PlayResult
from ppomania.agent.versus import HEADER, HumanStats, VersusRow, markdown_table
from ppomania.cli import main
from ppomania.cli.results import DEFAULT_FOLDER
from ppomania.game.beatmap import load_beatmap
from ppomania.game.osu_writer import beatmap_to_osu
from ppomania.game.replay import Replay, load_replay, write_replay
from ppomania.game.rules import JUDGEMENT_KEYS, Mods
from ppomania.game.score import accuracy
from ppomania.sim.patterns import PatternConfig, generate_map

DATA = Path(__file__).parent / "data"
MODEL = DATA / "models" / "ppo-4k.zip"
HE_MAP = DATA / "YAVSRG/Cardboard Box - He He He (DannyPX) [SPEEEDDD!!!].osu"
HE_REPLAY = (
    DATA / "YAVSRG/Lylcaruis - Cardboard Box - He He He [SPEEEDDD!!!] (2023-09-29) OsuMania.osr"
)


def _play(counts, name: str = "A | B", failed: bool = False) -> PlayResult:
    beatmap = generate_map(PatternConfig(duration_s=4))
    beatmap.title = name
    counts = np.array(counts, np.int64)
    return PlayResult(beatmap, Mods.NO_FAIL, counts, 0, 0, failed, [], [], stars=3.25, pp=123.4)


def test_human_stats_are_the_best_and_the_medians():
    assert HumanStats.of([]) is None
    replays = [[10, 0, 0, 0, 0, 0], [5, 0, 0, 0, 0, 5], [8, 0, 0, 0, 0, 2], [9, 0, 0, 0, 0, 1]]
    stats = HumanStats.of([np.array(c) for c in replays])
    assert stats.count == 4
    assert stats.best_accuracy == 1.0
    assert stats.median_accuracy == pytest.approx((0.8 + 0.9) / 2)
    assert stats.median_misses == 1.5
    # mania's ScoreV1 accuracy: MAX and 300 are worth 300, 200 is 200
    assert HumanStats.of([[1, 1, 1, 0, 0, 0]]).best_accuracy == pytest.approx(800 / 900)


def test_the_markdown_table_has_blank_human_columns_without_replays():
    humans = HumanStats.of([[5, 0, 0, 0, 0, 5], [8, 0, 0, 0, 0, 2], [9, 0, 0, 0, 0, 1]])
    play = _play([50, 0, 0, 0, 0, 4])
    rows = [VersusRow(play, humans), VersusRow(_play([54, 0, 0, 0, 0, 0]))]
    lines = markdown_table(rows).splitlines()
    assert len(lines) == 4 and lines[0] == "| " + " | ".join(HEADER) + " |"
    with_humans = lines[2].split(" | ")
    assert with_humans[0] == f"| ppomania - A \\| B [{play.beatmap.version}]"
    assert with_humans[1:5] == ["3.25", "4K", f"{100 * rows[0].long_note_share:.0f}", "92.59"]
    assert with_humans[5:] == ["4", "123", "3", "90.00", "80.00", "2", "+2 |"]
    assert lines[3].endswith("| 0 | 123 |  |  |  |  |  |")
    assert rows[0].as_dict()["misses_vs_median_human"] == 2
    assert rows[1].as_dict()["humans"] is None


def test_results_match_real_replays_by_md5(capsys, tmp_path):
    assert DEFAULT_FOLDER == DATA  # what results reads without folders
    assert main(["results", str(HE_MAP), str(HE_REPLAY), "--policy", "autoplay", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    counts = load_replay(HE_REPLAY).counts
    assert row["accuracy"] == 100.0 and row["miss"] == 0 and row["keys"] == 4
    assert row["humans"] == {
        "count": 1,
        "best_accuracy": round(100 * accuracy(counts), 4),
        "median_accuracy": round(100 * accuracy(counts), 4),
        "median_misses": int(counts[5]),
    }
    assert row["misses_vs_median_human"] == -counts[5]


@pytest.fixture
def folder(tmp_path) -> Path:
    """A 4K map with three replays (one with DT), a broken replay, a 7K map and a taiko map."""
    folder = tmp_path / "data"
    (folder / "replays").mkdir(parents=True)
    data = beatmap_to_osu(generate_map(PatternConfig(keys=4, duration_s=8)))
    (folder / "4k.osu").write_bytes(data)
    (folder / "taiko.osu").write_bytes(data.replace(b"Mode: 3", b"Mode: 1"))
    seven = beatmap_to_osu(generate_map(PatternConfig(keys=7, duration_s=4)))
    (folder / "7k.osu").write_bytes(seven)
    md5 = load_beatmap(folder / "4k.osu").md5
    for i, (misses, mods) in enumerate([(3, Mods.NONE), (1, Mods.MIRROR), (0, Mods.DOUBLE_TIME)]):
        replay = Replay(beatmap_md5=md5, mods=mods)
        replay.counts = [20, 10, 0, 0, 0, misses]
        write_replay(replay, folder / "replays" / f"{i}.osr")
    (folder / "replays" / "broken.osr").write_bytes(b"\x03garbage")
    return folder


def test_results_use_the_bundled_models_and_note_what_they_skip(
    folder, tmp_path, monkeypatch, capsys
):
    models = tmp_path / "models"
    models.mkdir()
    assert main(["export", str(MODEL), "-o", str(models / "4k.zip")]) == 0
    capsys.readouterr()
    monkeypatch.setattr(bundled, "bundled_models_folder", lambda: models)
    output = tmp_path / "table.md"
    assert main(["results", str(folder), "-o", str(output)]) == 0
    out, err = capsys.readouterr()
    notes = err.splitlines()
    assert notes[1].startswith(f"skipped replay {folder / 'replays' / 'broken.osr'}: ")
    assert notes[:1] + notes[2:] == [
        "skipped 1 maps of other modes than osu!mania",
        "skipped 1 replays with other EZ/HR/DT/HT mods than NF",
        f"using the bundled 4K model ({models / '4k.zip'})",
        "skipped the 7K maps: no bundled model for them",
    ]
    assert output.read_text() == out
    (row,) = out.splitlines()[2:]
    assert row.endswith(" | 2 | 96.77 | 93.84 | 2 | " + f"{int(row.split(' | ')[5]) - 2:+d} |")
    assert main(["results", str(folder), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert [key for key in result if key in JUDGEMENT_KEYS] == list(JUDGEMENT_KEYS)
    assert result["humans"]["count"] == 2


def test_results_without_a_model_for_any_map_is_a_one_line_error(
    folder, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(bundled, "bundled_models_folder", lambda: tmp_path / "none")
    assert main(["results", str(folder)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "ppomania results: error: no bundled model for 4K, 7K maps: pass --model (a run folder "
        "or model .zip) or --policy"
    )
    assert main(["results", str(folder), "--model", str(MODEL), "--json"]) == 0
    out, err = capsys.readouterr()
    assert "bundled" not in err and "skipped the 7K maps: the model plays 4K" in err
    assert len(json.loads(out)) == 1
