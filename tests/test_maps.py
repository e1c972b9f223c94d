import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from ppomania.game.osu_writer import beatmap_to_osu
from ppomania.sim.maps import (
    MapPool,
    default_songs_folder,
    load_maps,
    notes_per_second,
    scan_maps,
    songs_folder_candidates,
)
from ppomania.sim.patterns import PatternConfig, generate_maps

DATA = Path(__file__).parent / "data"


@pytest.fixture
def songs(tmp_path):
    """A Songs-like tree: 4K and 7K maps in set folders, a broken file, an osu!standard map."""
    root = tmp_path / "Songs"
    (root / "1 set a").mkdir(parents=True)
    (root / "2 set b" / "nested").mkdir(parents=True)
    shutil.copy(DATA / "reamberPy/maps/MAGiCVLGiRL_ZVPH.osu", root / "1 set a")
    shutil.copy(DATA / "rosu-pp/1638954.osu", root / "2 set b" / "nested")
    shutil.copy(DATA / "reamberPy/maps/AddictionCut.osu", root / "2 set b")  # 7K
    broken = b"osu file format v14\r\n[General]\r\nMode: 3\r\n[HitObjects]\r\n64,192,x,1,0\r\n"
    (root / "1 set a" / "broken.osu").write_bytes(broken)
    (root / "1 set a" / "std.osu").write_bytes(b"osu file format v14\r\n[General]\r\nMode: 0\r\n")
    (root / "1 set a" / "audio.mp3").write_bytes(b"not a map")
    return root


def test_scan_folder_skips_and_reports(songs):
    scan = scan_maps([songs], keys=4)
    assert sorted(Path(m.path).name for m in scan.maps) == ["1638954.osu", "MAGiCVLGiRL_ZVPH.osu"]
    assert scan.other_keys == 1 and scan.other_mode == 1 and scan.skipped == 3
    (error,) = scan.errors
    assert "broken.osu" in error
    assert "2 maps loaded" in scan.summary() and "1 unreadable" in scan.summary()
    every_key_count = scan_maps([songs])
    assert len(every_key_count.maps) == 3 and every_key_count.other_keys == 0


def test_load_maps_logs_broken_files(songs, caplog):
    with caplog.at_level(logging.INFO, logger="ppomania.sim.maps"):
        maps = load_maps([str(songs)], keys=7)
    assert [m.keys for m in maps] == [7]
    assert any("broken.osu" in r.message and r.levelno == logging.WARNING for r in caplog.records)
    assert any("1 maps loaded" in r.message for r in caplog.records)


def test_load_single_files_and_missing_source(songs, tmp_path):
    path = songs / "1 set a" / "MAGiCVLGiRL_ZVPH.osu"
    (beatmap,) = load_maps([path], keys=None)
    assert beatmap.n_objects == 1713
    generated = tmp_path / "generated.osu"
    generated.write_bytes(beatmap_to_osu(generate_maps(PatternConfig(), 1, seed=0)[0]))
    assert len(load_maps([path, generated], keys=4)) == 2
    with pytest.raises(FileNotFoundError):
        load_maps([tmp_path / "missing"], keys=4)


def test_songs_folder_candidates():
    windows = songs_folder_candidates(
        {"LOCALAPPDATA": r"C:\Users\me\AppData\Local"}, Path("/h"), "win32"
    )
    assert windows[0] == Path(r"C:\Users\me\AppData\Local", "osu!", "Songs")
    linux = songs_folder_candidates({"USER": "me"}, Path("/home/me"), "linux")
    assert Path("/home/me/.wine/drive_c/users/me/AppData/Local/osu!/Songs") in linux
    mac = songs_folder_candidates({}, Path("/Users/me"), "darwin")
    assert all("osu!" in str(p) for p in mac)
    override = songs_folder_candidates({"PPOMANIA_SONGS": "/songs"}, Path("/h"), "linux")
    assert override[0] == Path("/songs")


def test_default_songs_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PPOMANIA_SONGS", raising=False)
    monkeypatch.delenv("WINEPREFIX", raising=False)
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    assert default_songs_folder() is None
    monkeypatch.setenv("PPOMANIA_SONGS", str(tmp_path))
    assert default_songs_folder() == tmp_path


def test_pool_curriculum_widens_with_progress():
    config = PatternConfig(duration_s=20)
    maps = generate_maps(config.at_difficulty(0.0), 5, seed=1) + generate_maps(
        config.at_difficulty(1.0), 5, seed=2
    )
    pool = MapPool(maps, curriculum=True, start_fraction=0.2)
    rates = np.array([notes_per_second(m) for m in maps])
    early = pool.available(0.0)
    assert len(early) == 2 and set(rates[early]) == set(np.sort(rates)[:2])
    assert len(pool.available(0.5)) == 6 and len(pool.available(1.0)) == 10
    rng = np.random.default_rng(0)
    drawn = pool.sample(rng, 200, progress=0.0)
    assert set(drawn.tolist()) == set(early.tolist())
    assert set(pool.sample(rng, 500, progress=1.0).tolist()) == set(range(10))
    again = MapPool(maps, curriculum=True).sample(np.random.default_rng(0), 200, progress=0.0)
    assert np.array_equal(drawn, again)
    uniform = MapPool(maps)
    assert len(uniform.available(0.0)) == 10


def test_notes_per_second():
    (beatmap,) = generate_maps(
        PatternConfig(density=(6.0, 6.0), weights={"stream": 1.0}), 1, seed=4
    )
    assert notes_per_second(beatmap) == pytest.approx(6.0, rel=0.2)
