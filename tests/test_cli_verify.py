"""``ppomania verify-replay``: output, JSON, map lookup by MD5, warnings and errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ppomania.cli import main
from ppomania.game import load_beatmap
from ppomania.game.judge import KeyEvent
from ppomania.game.replay import Replay, events_to_frames, load_replay, write_replay
from ppomania.sim.core import BatchedSim, SimConfig

DATA = Path(__file__).parent / "data"
HE_REPLAY = (
    DATA / "YAVSRG/Lylcaruis - Cardboard Box - He He He [SPEEEDDD!!!] (2023-09-29) OsuMania.osr"
)
HE_MAP = DATA / "YAVSRG/Cardboard Box - He He He (DannyPX) [SPEEEDDD!!!].osu"
OTHER_MAP = DATA / "reamberPy/maps/MAGiCVLGiRL_ZVPH.osu"
HE_HEADER = {"max": 1263, "300": 735, "200": 271, "100": 69, "50": 21, "miss": 34}
KEYS = ["max", "300", "200", "100", "50", "miss", "score", "accuracy", "max_combo"]


def run_cli(capsys, *args: str | Path) -> tuple[int, str, str]:
    code = main(["verify-replay", *(str(a) for a in args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_output(capsys):
    code, out, err = run_cli(capsys, HE_REPLAY, "--map", HE_MAP)
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("Cardboard Box - He He He [SPEEEDDD!!!]")
    assert "Lylcaruis" in lines[0]
    assert "NM" in lines[0]
    assert lines[1].split() == ["header", "ours", "diff"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(rows) == KEYS
    for key, value in HE_HEADER.items():
        assert rows[key] == [str(value), str(value), "+0"]  # He He He: counts exact
    header_score, ours_score, diff = rows["score"]
    assert int(header_score) == 725496
    assert abs(int(ours_score) - 725496) <= 40
    assert int(diff) == int(ours_score) - int(header_score)
    assert rows["accuracy"][:2] == ["92.15", "92.15"]
    assert rows["max_combo"][0] == "679"


def test_json_output(capsys):
    code, out, err = run_cli(capsys, HE_REPLAY, "--map", HE_MAP, "--json")
    assert code == 0
    assert err == ""
    result = json.loads(out)
    assert list(result) == ["header", "ours"]
    for side in ("header", "ours"):
        assert set(result[side]) == set(KEYS)
        assert len(result[side]) == len(KEYS)
        assert {k: result[side][k] for k in HE_HEADER} == HE_HEADER
        assert result[side]["accuracy"] == pytest.approx(92.1507, abs=1e-4)
    assert result["header"]["score"] == 725496
    assert result["header"]["max_combo"] == 679
    assert abs(result["ours"]["score"] - 725496) <= 40


def test_songs_folder_finds_map_by_md5(capsys):
    code, out, err = run_cli(capsys, HE_REPLAY, "--songs", DATA, "--json")
    assert code == 0
    assert err == ""
    assert {k: json.loads(out)["ours"][k] for k in HE_HEADER} == HE_HEADER
    code, out, _ = run_cli(capsys, HE_REPLAY, "--songs", DATA)
    assert code == 0
    assert out.startswith("Cardboard Box - He He He [SPEEEDDD!!!]")


def test_songs_folder_with_renamed_copy(capsys, tmp_path):
    # found by the bytes' MD5, not by the file name; other .osu files are skipped
    (tmp_path / "sub").mkdir()
    shutil.copyfile(HE_MAP, tmp_path / "sub" / "renamed.osu")
    shutil.copyfile(OTHER_MAP, tmp_path / "other.osu")
    (tmp_path / "lf.osu").write_bytes(HE_MAP.read_bytes().replace(b"\r\n", b"\n"))
    code, out, err = run_cli(capsys, HE_REPLAY, "--songs", tmp_path, "--json")
    assert code == 0, err
    assert {k: json.loads(out)["header"][k] for k in HE_HEADER} == HE_HEADER


def test_md5_mismatch_warns_and_judges_anyway(capsys):
    code, out, err = run_cli(capsys, HE_REPLAY, "--map", OTHER_MAP, "--json")
    assert code == 0
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 1
    assert err_lines[0].startswith("warning:")
    assert "a7264b90284062c88e1736c1ffd0768b" in err  # the replay's map
    assert "044fae2c733dd6621ca7e05c20e2f808" in err  # the map given
    result = json.loads(out)
    # judged on the other map (1713 objects), where the play fails early: up to the fail only
    assert result["failed"] is True
    assert sum(result["ours"][k] for k in HE_HEADER) == 30


#: The failing play below holds the real replay's keys up to here (map ms), then none.
CUT_MS = 20_000


def _failing_replay(path: Path) -> tuple[Path, int]:
    """He He He played in the simulator without NoFail: the real replay's keys until
    :data:`CUT_MS`, then no key, until the play fails. Written as an ``.osr`` whose header holds
    the simulator's counts, as ``ppomania eval --replay-dir`` writes one; returns it and the
    simulator's failing millisecond."""
    beatmap = load_beatmap(HE_MAP)
    real = load_replay(HE_REPLAY).key_events(beatmap.keys)
    sim = BatchedSim([beatmap], 1, SimConfig())
    sim.reset([0], [0])
    held = np.zeros((1, beatmap.keys), dtype=np.bool_)
    events: list[KeyEvent] = []
    next_real = 0
    for _ in range(10_000):
        if sim.done[0]:
            break
        t = float(sim.input_ms[0])
        previous = held.copy()
        while next_real < len(real) and real[next_real].time_ms <= t:
            event = real[next_real]
            held[0, event.column] = event.down
            next_real += 1
        if t >= CUT_MS:
            held[:] = False
        sim.step(held)
        for column in np.flatnonzero(held[0] != previous[0]).tolist():
            events.append(KeyEvent(int(sim.event_times[0]), column, bool(held[0, column])))
    state = sim.state
    assert state.failed[0] and int(state.judged[0]) < beatmap.n_objects
    replay = Replay(
        beatmap_md5=beatmap.md5,
        player="ppomania",
        score=int(state.score[0]),
        max_combo=int(state.max_combo[0]),
        frames=events_to_frames(events, int(beatmap.duration_ms) + 1000),
    )
    replay.counts = state.counts[0]
    return write_replay(replay, path), int(state.batch_time[0])


def test_failed_play_is_judged_up_to_the_fail(capsys, tmp_path):
    """A failed play's header counts stop at the fail; so do ours (not the whole map)."""
    failing, fail_ms = _failing_replay(tmp_path / "failed.osr")
    code, out, err = run_cli(capsys, failing, "--map", HE_MAP, "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["ours"] == result["header"]
    assert sum(result["ours"][k] for k in HE_HEADER) < sum(HE_HEADER.values())  # not the map
    assert result["failed"] is True
    assert result["failed_at_ms"] == fail_ms > CUT_MS
    code, out, err = run_cli(capsys, failing, "--map", HE_MAP)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[-1] == f"failed at {fail_ms} ms: ours are the counts up to the fail"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:-1]}
    assert list(rows) == KEYS
    assert all(diff in ("+0", "+0.00") for _, _, diff in rows.values())


def _assert_one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ppomania verify-replay: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


def test_missing_replay(capsys, tmp_path):
    missing = tmp_path / "nope.osr"
    code, out, err = run_cli(capsys, missing, "--map", HE_MAP)
    _assert_one_line_error(code, out, err, str(missing))


def test_corrupt_replay(capsys, tmp_path):
    corrupt = tmp_path / "corrupt.osr"
    corrupt.write_bytes(HE_REPLAY.read_bytes()[:300])
    code, out, err = run_cli(capsys, corrupt, "--map", HE_MAP)
    _assert_one_line_error(code, out, err, str(corrupt))
    garbage = tmp_path / "garbage.osr"
    garbage.write_bytes(b"\x03not a replay at all")
    code, out, err = run_cli(capsys, garbage, "--map", HE_MAP)
    _assert_one_line_error(code, out, err, str(garbage))


def test_broken_map(capsys, tmp_path):
    broken = tmp_path / "broken.osu"
    broken.write_bytes(HE_MAP.read_bytes().replace(b"[HitObjects]\r\n", b"[HitObjects]\r\nx,y\r\n"))
    code, out, err = run_cli(capsys, HE_REPLAY, "--map", broken)
    _assert_one_line_error(code, out, err, str(broken))
    missing = tmp_path / "missing.osu"
    code, out, err = run_cli(capsys, HE_REPLAY, "--map", missing)
    _assert_one_line_error(code, out, err, str(missing))


def test_songs_folder_without_the_map(capsys, tmp_path):
    shutil.copyfile(OTHER_MAP, tmp_path / "other.osu")
    code, out, err = run_cli(capsys, HE_REPLAY, "--songs", tmp_path)
    _assert_one_line_error(code, out, err, "a7264b90284062c88e1736c1ffd0768b")
    code, out, err = run_cli(capsys, HE_REPLAY, "--songs", tmp_path / "no-such-folder")
    _assert_one_line_error(code, out, err, "not a folder")


def test_map_and_songs_are_exclusive_and_one_is_required(capsys):
    with pytest.raises(SystemExit) as info:
        main(["verify-replay", str(HE_REPLAY)])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["verify-replay", str(HE_REPLAY), "--map", str(HE_MAP), "--songs", str(DATA)])
    assert info.value.code == 2
    capsys.readouterr()


def _console_script() -> str:
    script = Path(sys.executable).with_name("ppomania")
    if not script.exists():
        pytest.skip("the ppomania console script is not installed next to this interpreter")
    return str(script)


def test_console_script_exit_codes(tmp_path):
    script = _console_script()
    ok = subprocess.run(
        [script, "verify-replay", str(HE_REPLAY), "--map", str(HE_MAP), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert {k: json.loads(ok.stdout)["ours"][k] for k in HE_HEADER} == HE_HEADER
    bad = subprocess.run(
        [script, "verify-replay", str(tmp_path / "missing.osr"), "--map", str(HE_MAP)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr


def test_python_dash_m_exit_codes(tmp_path):
    command = [sys.executable, "-m", "ppomania.cli", "verify-replay"]
    ok = subprocess.run(
        [*command, str(HE_REPLAY), "--map", str(HE_MAP)], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert "header" in ok.stdout
    bad = subprocess.run(
        [*command, str(tmp_path / "x.osr"), "--map", str(HE_MAP)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
