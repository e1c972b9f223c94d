import hashlib
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import rosu_pp_py as rosu

from ppomania.game import load_beatmap, parse_beatmap
from ppomania.game.osu_writer import beatmap_to_osu
from ppomania.sim.patterns import PATTERN_KINDS, PatternConfig, generate_map, generate_maps

DATA = Path(__file__).parent / "data"


def arrays(beatmap):
    return beatmap.starts, beatmap.ends, beatmap.columns


def stars(beatmap):
    return rosu.Difficulty().calculate(rosu.Beatmap(content=beatmap_to_osu(beatmap))).stars


def test_same_seed_same_map():
    config = PatternConfig()
    a, b = generate_map(config, 7), generate_map(config, 7)
    for x, y in zip(arrays(a), arrays(b), strict=True):
        assert np.array_equal(x, y)
    assert a.md5 == b.md5 and a.od == b.od and a.timing_points == b.timing_points
    assert a.md5 != generate_map(config, 8).md5
    first, second = generate_maps(config, 3, seed=1), generate_maps(config, 3, seed=1)
    assert [m.md5 for m in first] == [m.md5 for m in second]
    assert len({m.md5 for m in first}) == 3
    assert generate_map(PatternConfig(seed=5)).md5 == generate_map(config, 5).md5


def assert_valid(beatmap, keys, duration_s):
    """The generator's hard guarantees: grid, order, no overlap, the gap after a hold."""
    assert beatmap.keys == keys and beatmap.n_objects > 20
    assert beatmap.starts.dtype == np.int64 and beatmap.ends.dtype == np.int64
    assert beatmap.columns.min() >= 0 and beatmap.columns.max() < keys
    order = np.lexsort((beatmap.columns, beatmap.starts))
    assert np.array_equal(order, np.arange(beatmap.n_objects))
    (point,) = beatmap.timing_points
    beat = point.beat_length
    quarter = math.ceil(beat / 4)
    ticks = (beatmap.starts - point.time) / (beat / 4)
    assert np.abs(ticks - np.round(ticks)).max() * beat / 4 <= 0.5 + 1e-9  # 1/4 grid, rounded
    tails = (beatmap.ends - point.time) / (beat / 12)
    assert np.abs(tails - np.round(tails)).max() * beat / 12 <= 0.5 + 1e-9  # 1/12 grid, rounded
    for column in range(keys):
        index = beatmap.column_objects(column)
        starts, ends = beatmap.starts[index], beatmap.ends[index]
        assert (starts[1:] > ends[:-1]).all()  # no overlap, no two notes at one time
        after_hold = ends[:-1] > starts[:-1]
        assert (starts[1:][after_hold] - ends[:-1][after_hold] >= quarter).all()
    assert beatmap.duration_ms <= point.time + duration_s * 1000 + 2 * beat + 1


@pytest.mark.parametrize("keys", [1, 2, 4, 7, 10])
def test_generated_maps_are_valid(keys):
    config = PatternConfig(keys=keys, hold_fraction=0.3, duration_s=40)
    for beatmap in generate_maps(config, 4, seed=keys):
        assert_valid(beatmap, keys, 40)


@pytest.mark.parametrize("kind", PATTERN_KINDS)
@pytest.mark.parametrize("keys", [1, 4, 7])
def test_every_kind_makes_valid_maps(kind, keys):
    config = PatternConfig(keys=keys, duration_s=20, density=(2.0, 28.0), weights={kind: 1.0})
    for beatmap in generate_maps(config, 3, seed=keys):
        assert_valid(beatmap, keys, 20)


def test_hold_fraction_and_weights_steer_the_patterns():
    no_holds = PatternConfig(hold_fraction=0.0, weights={"stream": 1.0})
    assert all(m.n_holds == 0 for m in generate_maps(no_holds, 3, seed=0))
    streams = generate_maps(no_holds, 3, seed=0)
    # A stream never has two notes in one row.
    assert all(len(np.unique(m.starts)) == m.n_objects for m in streams)
    only_holds = PatternConfig(weights={"holds": 1.0})
    assert all(m.n_holds == m.n_objects for m in generate_maps(only_holds, 3, seed=0))
    chords = generate_maps(PatternConfig(weights={"chord": 1.0}), 3, seed=0)
    assert all(np.bincount(np.unique(m.starts, return_inverse=True)[1]).max() >= 3 for m in chords)


def test_osu_round_trip(tmp_path):
    beatmap = generate_map(PatternConfig(hold_fraction=0.3), 3)
    data = beatmap_to_osu(beatmap)
    assert data.startswith(b"osu file format v14\r\n")
    assert data.count(b"\n") == data.count(b"\r\n")
    assert hashlib.md5(data).hexdigest() == beatmap.md5
    path = tmp_path / "generated.osu"
    path.write_bytes(data)
    loaded = load_beatmap(path)
    for x, y in zip(arrays(loaded), arrays(beatmap), strict=True):
        assert np.array_equal(x, y)
    assert (loaded.keys, loaded.od, loaded.hp) == (beatmap.keys, beatmap.od, beatmap.hp)
    assert loaded.timing_points == beatmap.timing_points
    assert (loaded.title, loaded.version, loaded.md5) == (
        beatmap.title,
        beatmap.version,
        beatmap.md5,
    )


def test_osu_round_trip_of_a_real_map():
    real = load_beatmap(DATA / "reamberPy/maps/DoppelGanger.osu")  # 7K, holds, 753 timing points
    again = parse_beatmap(beatmap_to_osu(real))
    for x, y in zip(arrays(again), arrays(real), strict=True):
        assert np.array_equal(x, y)
    assert again.timing_points == real.timing_points
    assert (again.keys, again.od, again.hp) == (real.keys, real.od, real.hp)


def test_default_maps_have_sane_star_ratings():
    ratings = [stars(m) for m in generate_maps(PatternConfig(), 16, seed=2024)]
    assert min(ratings) >= 0.8 and max(ratings) <= 8.5
    assert max(ratings) - min(ratings) >= 1.0  # a spread, not one difficulty
    # From easy maps to the 5–8 stars of the real maps the agent is weak on.
    assert min(ratings) <= 2.0 and max(ratings) >= 5.5


def test_difficulty_knob_orders_maps():
    config = PatternConfig()
    easy, hard = config.at_difficulty(0.0), config.at_difficulty(1.0)
    assert easy.density[0] == config.density[0] and hard.density[1] == pytest.approx(
        config.density[1]
    )
    assert easy.density[1] < hard.density[0] and easy.bpm[1] < hard.bpm[0]
    easy_stars = [stars(m) for m in generate_maps(easy, 6, seed=3)]
    hard_stars = [stars(m) for m in generate_maps(hard, 6, seed=3)]
    assert np.median(easy_stars) + 1.0 < np.median(hard_stars)
    with pytest.raises(ValueError):
        config.at_difficulty(1.5)


def test_config_validation():
    with pytest.raises(ValueError):
        PatternConfig(keys=11)
    with pytest.raises(ValueError):
        PatternConfig(density=(5.0, 2.0))
    with pytest.raises(ValueError):
        PatternConfig(weights={"polyrhythm": 1.0})
    with pytest.raises(ValueError):
        PatternConfig(ln_maps=1.5)


def rows_of(beatmap):
    """The rows of a map as sets of columns, in time order."""
    times, inverse = np.unique(beatmap.starts, return_inverse=True)
    return times, [set(beatmap.columns[inverse == i].tolist()) for i in range(len(times))]


def test_chordjack_repeats_chords():
    config = PatternConfig(weights={"chordjack": 1.0}, hold_fraction=0.0, density=(8.0, 16.0))
    for beatmap in generate_maps(config, 3, seed=0):
        beat = beatmap.timing_points[0].beat_length
        times, rows = rows_of(beatmap)
        assert np.mean([len(row) >= 2 for row in rows]) >= 0.9
        close = np.diff(times) <= beat  # rows of one section, not across a pause
        shared = [bool(a & b) for a, b in itertools.pairwise(rows)]
        assert np.mean(np.array(shared)[close]) >= 0.8


def test_inverse_holds_fill_the_gaps():
    config = PatternConfig(weights={"inverse": 1.0}, density=(6.0, 16.0))
    for beatmap in generate_maps(config, 3, seed=1):
        beat = beatmap.timing_points[0].beat_length
        assert beatmap.n_holds >= 0.6 * beatmap.n_objects
        gaps = []
        for column in range(beatmap.keys):
            index = beatmap.column_objects(column)
            starts, ends = beatmap.starts[index], beatmap.ends[index]
            after_hold = ends[:-1] > starts[:-1]
            gaps += (starts[1:][after_hold] - ends[:-1][after_hold]).tolist()
        # Each release is followed shortly by the next press: mostly 1/4 to 1/2 beat.
        assert np.mean(np.array(gaps) <= beat / 2 + 1) >= 0.8


def test_hold_taps_hold_long_notes_under_taps():
    config = PatternConfig(weights={"hold_taps": 1.0}, hold_fraction=0.0, density=(6.0, 12.0))
    for beatmap in generate_maps(config, 3, seed=2):
        beat = beatmap.timing_points[0].beat_length
        long = np.flatnonzero(beatmap.ends - beatmap.starts >= beat - 1)
        assert len(long) >= 5
        for i in long:
            inside = (beatmap.starts > beatmap.starts[i]) & (beatmap.starts < beatmap.ends[i])
            assert (beatmap.columns[inside] != beatmap.columns[i]).all()
        busy = [
            ((beatmap.starts > beatmap.starts[i]) & (beatmap.starts < beatmap.ends[i])).sum()
            for i in long
        ]
        assert np.median(busy) >= 2  # other columns keep tapping through the hold


def test_release_timing_varies():
    beatmap = generate_map(PatternConfig(weights={"holds": 1.0}, duration_s=30), 0)
    point = beatmap.timing_points[0]
    lengths = (beatmap.ends - beatmap.starts) / point.beat_length
    on_quarter = np.abs(lengths * 4 - np.round(lengths * 4)) < 0.02
    on_third = np.abs(lengths * 3 - np.round(lengths * 3)) < 0.02
    assert on_quarter.any() and (on_third & ~on_quarter).any()
    assert lengths.min() < 0.5 and lengths.max() >= 1.0


def test_ln_maps_are_as_long_note_heavy_as_real_ln_maps():
    # Carnation [LN Master] 66%, Raijin no Hidariude [Tempest] 77%, 4K LN Dan 12th 81% holds.
    shares = [
        m.n_holds / m.n_objects
        for m in generate_maps(PatternConfig(ln_maps=1.0, duration_s=30), 12, seed=3)
    ]
    assert 0.6 <= np.median(shares) <= 0.85
    tap_shares = [
        m.n_holds / m.n_objects
        for m in generate_maps(PatternConfig(ln_maps=0.0, duration_s=30), 12, seed=3)
    ]
    assert np.median(tap_shares) < 0.4
