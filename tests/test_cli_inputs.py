"""Bad input on the command line and text from files: one-line errors, escaped terminal output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ppomania.cli import main
from ppomania.game import load_beatmap
from ppomania.game.replay import load_replay, write_replay
from ppomania.text import printable

DATA = Path(__file__).parent / "data"
HE_REPLAY = (
    DATA / "YAVSRG/Lylcaruis - Cardboard Box - He He He [SPEEEDDD!!!] (2023-09-29) OsuMania.osr"
)
HE_MAP = DATA / "YAVSRG/Cardboard Box - He He He (DannyPX) [SPEEEDDD!!!].osu"
SMALL_MAP = DATA / "ppy-osu/4K.osu"
EVIL = "\x1b]0;pwned\x07\x1b[2J\x9b1m\u202eevil"


def run_cli(capsys, *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_printable_escapes_controls_and_keeps_the_rest():
    assert printable(EVIL) == "\\x1b]0;pwned\\x07\\x1b[2J\\x9b1m\\u202eevil"
    assert printable("a\nb\tc\x7f") == "a\\x0ab\\x09c\\x7f"
    plain = "Camellia - Backbeat Maniac [Rewind VIP] \u3000\u6771\u65b9 \u00e9"
    assert printable(plain) == plain


def test_verify_replay_escapes_the_player_name(capsys, tmp_path):
    replay = load_replay(HE_REPLAY)
    replay.player = EVIL
    path = write_replay(replay, tmp_path / "evil.osr")
    code, out, err = run_cli(capsys, "verify-replay", path, "--map", HE_MAP)
    assert code == 0
    assert "\x1b" not in out + err and "\x07" not in out and "\x9b" not in out
    assert f"played by {printable(EVIL)}" in out.splitlines()[0]


def test_map_title_and_file_names_are_escaped(capsys, tmp_path):
    data = SMALL_MAP.read_bytes()
    title_line = next(line for line in data.splitlines() if line.startswith(b"Title:"))
    evil_map = tmp_path / "evil.osu"
    evil_map.write_bytes(data.replace(title_line, b"Title:" + EVIL.encode()))
    code, out, _err = run_cli(capsys, "eval", evil_map, "--policy", "idle")
    assert code == 0
    assert "\x1b" not in out and printable(EVIL) in out
    code, out, err = run_cli(capsys, "render", evil_map, "--at", "1", "-o", tmp_path / "f.png")
    assert code == 0 and "\x1b" not in out and printable(EVIL) in out
    # error messages quote file names
    code, out, err = run_cli(capsys, "verify-replay", tmp_path / f"{EVIL}.osr", "--map", evil_map)
    assert code == 2 and "\x1b" not in err and printable(EVIL) in err


def test_results_table_escapes_map_names():
    from ppomania.agent.evaluate import PlayResult, results_table
    from ppomania.game import Mods

    beatmap = load_beatmap(SMALL_MAP)
    beatmap.title = EVIL
    play = PlayResult(beatmap, Mods.NONE, np.zeros(6, np.int64), 0, 0, False, [], [])
    table = results_table([play])
    assert "\x1b" not in table and printable(EVIL)[:40] in table


@pytest.mark.parametrize("at", ["nan", "inf", "-inf", "-1"])
def test_render_refuses_non_finite_and_negative_times(capsys, tmp_path, at):
    code, out, err = run_cli(capsys, "render", SMALL_MAP, f"--at={at}", "-o", tmp_path / "f.png")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "--at must be a finite time" in err
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("option", ["--replay-dir", "--plot"])
def test_eval_refuses_an_output_folder_that_is_a_file_before_playing(
    capsys, tmp_path, monkeypatch, option
):
    import ppomania.agent.evaluate as evaluate

    def no_play(*args, **kwargs):
        raise AssertionError("played before checking the options")

    monkeypatch.setattr(evaluate, "play_maps", no_play)
    existing = tmp_path / "a file"
    existing.write_text("")
    code, _out, err = run_cli(capsys, "eval", SMALL_MAP, option, existing)
    assert code == 2
    assert err == f"ppomania eval: error: {option} {existing}: exists and is not a folder\n"


def test_eval_prints_the_results_then_a_one_line_error_for_counts_past_the_header(
    capsys, tmp_path, monkeypatch
):
    """A 70k-note play: the replay header's 16-bit counts cannot hold it. ``struct`` used to end
    ``eval --replay-dir`` in a traceback; now the results are printed, then one error line."""
    import ppomania.agent.evaluate as evaluate
    from ppomania.game import KeyEvent, Mods

    beatmap = load_beatmap(SMALL_MAP)
    counts = np.array([70_000, 0, 0, 0, 0, 3], np.int64)
    events = [KeyEvent(1000, 0, True), KeyEvent(1050, 0, False)]
    play = evaluate.PlayResult(beatmap, Mods.NONE, counts, 1_000_000, 70_000, False, events, [])
    monkeypatch.setattr(evaluate, "play_maps", lambda *args, **kwargs: [play])
    code, out, err = run_cli(
        capsys, "eval", SMALL_MAP, "--policy", "autoplay", "--replay-dir", tmp_path / "replays"
    )
    assert code == 2
    assert "70000" in out.splitlines()[1]  # the results table
    assert err == (
        f"ppomania eval: error: cannot write replays to {tmp_path / 'replays'}: "
        "count_geki 70000 does not fit the replay header (0 to 65535)\n"
    )
