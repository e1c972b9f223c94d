"""gosumemory/tosu documents: the spec's fixtures parse, rebuild and round-trip."""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppomania.game.beatmap import load_beatmap
from ppomania.game.rules import Mods
from ppomania.game.score import GameState, Phase, accuracy
from ppomania.protocol.build_v2 import build_tosu_precise
from ppomania.protocol.documents import build_document, dumps, filter_document, filter_items
from ppomania.protocol.parse import MAX_DEPTH, MAX_NUMBER, parse_document
from ppomania.protocol.snapshot import (
    GOSUMEMORY,
    TOSU_PRECISE,
    TOSU_V1,
    TOSU_V2,
    BeatmapInfo,
    GameNotRunning,
    GameSnapshot,
    ParsedState,
    ProtocolError,
)

DATA = Path(__file__).parent / "data" / "game-state"
FIXTURES = {
    "gosumemory-v1": GOSUMEMORY,
    "tosu-v1": TOSU_V1,
    "tosu-v2": TOSU_V2,
    "tosu-precise": TOSU_PRECISE,
    "tosu-precise-legacy": TOSU_PRECISE,
}
COUNTS = [38, 5, 2, 1, 0, 1]  # MAX, 300, 200, 100, 50, miss (spec §10)
HIT_ERRORS_N = 46
# Paths we do not model (pp, profile, client settings, session): everything else must survive.
UNMODELLED = (
    "menu.mainMenu.bassDensity",
    "menu.pp",
    "gameplay.pp",
    "userProfile",
    "session",
    "settings.bassDensity",
    "settings.resolution",
    "settings.client",
    "settings.mouse",
    "settings.mania",
    "settings.sort",
    "settings.skin.ignoreBeatmapSkins",
    "settings.audio",
    "profile",
    "beatmap.tags",
    "play.pp",
    "performance",
)


def load(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def shape(x: object) -> object:
    """Key order, nesting and JSON types (numbers as one type), without values or list lengths."""
    if isinstance(x, dict):
        return [(k, shape(v)) for k, v in x.items()]
    if isinstance(x, bool) or x is None:
        return repr(x) if x is None else "bool"
    if isinstance(x, (int, float)):
        return "number"
    return type(x).__name__


def leaves(x: object, path: str = ""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, f"{path}.{k}" if path else k)
    else:
        yield path, x


def at(doc: dict, path: str) -> object:
    for key in path.split("."):
        doc = doc[key]
    return doc


def rebuild(name: str) -> tuple[dict, dict]:
    doc = load(name)
    parsed = parse_document(doc)
    if parsed.snapshot is None:
        state = GameState(time_ms=parsed.time_ms or 0, phase=Phase.PLAYING)
        snap = GameSnapshot(state=state, hit_errors=parsed.hit_errors)
        return doc, build_tosu_precise(snap, legacy_time=parsed.time_ms is not None)
    return doc, build_document(parsed.snapshot, parsed.source)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_source_detected(name: str) -> None:
    assert parse_document((DATA / f"{name}.json").read_text()).source == FIXTURES[name]


@pytest.mark.parametrize("name", ["gosumemory-v1", "tosu-v1", "tosu-v2"])
def test_fixture_parses_to_expected_state(name: str) -> None:
    parsed = parse_document((DATA / f"{name}.json").read_text())
    s = parsed.state
    assert s is not None
    assert s.time_ms == 12840
    assert s.phase == Phase.PLAYING
    assert (s.combo, s.max_combo, s.score) == (35, 35, 29783)
    assert s.counts.tolist() == COUNTS
    assert s.hp == pytest.approx(0.9575)  # 191.5 / 200 and 95.75 / 100
    expected_acc = 0.9504 if name == "gosumemory-v1" else accuracy(COUNTS)  # gosumemory rounds
    assert s.accuracy == pytest.approx(expected_acc, abs=1e-12)
    assert len(parsed.hit_errors) == HIT_ERRORS_N
    snap = parsed.snapshot
    assert snap.state_code == 2 and snap.mode == 3 and snap.mods == 0
    assert snap.player_name == "ExamplePlayer"
    b = snap.beatmap
    assert (b.md5, b.keys, b.od, b.beatmap_id) == (
        "3f1a9c0d5b7e4f2a8c6d1e9b0a7f5c3d",
        4,
        8,
        2345678,
    )
    assert b.file == "Example Artist - Example Song (ExampleMapper) [4K Hard].osu"
    assert b.folder == "1234567 Example Artist - Example Song"
    if name != "gosumemory-v1":  # gosumemory's mania time fields are 0 (spec §2.6)
        assert (b.first_object_ms, b.last_object_ms) == (1250, 151230)


def test_precise_fixtures() -> None:
    new, legacy = parse_document(load("tosu-precise")), parse_document(load("tosu-precise-legacy"))
    assert new.snapshot is None and new.time_ms is None and len(new.hit_errors) == HIT_ERRORS_N
    assert legacy.time_ms == 12840 and legacy.hit_errors == new.hit_errors


@pytest.mark.parametrize("name", FIXTURES)
def test_rebuild_keeps_layout_and_modelled_fields(name: str) -> None:
    doc, built = rebuild(name)
    assert shape(built) == shape(doc)
    for path, value in leaves(doc):
        if path.startswith(UNMODELLED):
            continue
        got = at(built, path)
        if isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-12), path
        else:
            assert got == value, path


@pytest.mark.parametrize("name", FIXTURES)
def test_serialised_like_the_tools(name: str) -> None:
    doc, built = rebuild(name)
    text = dumps(built, FIXTURES[name])
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert ".0," not in text and ".0}" not in text  # integral numbers print without .0
    assert parse_document(text).hit_errors == parse_document(doc).hit_errors


def test_gosumemory_escapes_like_go() -> None:
    snap = GameSnapshot(beatmap=BeatmapInfo(title="Rock & <Roll> é"))
    gosu = dumps(build_document(snap, GOSUMEMORY), GOSUMEMORY)
    assert r'"Rock \u0026 \u003cRoll\u003e é"' in gosu
    assert '"Rock & <Roll> é"' in dumps(build_document(snap, TOSU_V2), TOSU_V2)
    assert parse_document(gosu).snapshot.beatmap.title == "Rock & <Roll> é"


def playing(**state: object) -> GameSnapshot:
    counts = np.array([10, 4, 3, 2, 1, 1], dtype=np.int64)
    base = dict(time_ms=5000.0, phase=Phase.PLAYING, combo=7, max_combo=12, score=12345)
    base.update(accuracy=accuracy(counts), counts=counts, hp=0.5)
    base.update(state)
    return GameSnapshot(state=GameState(**base), player_name="p", mods=int(Mods.HARD_ROCK))


def test_mania_mapping_and_hp_scales() -> None:
    snap = playing()
    v1, v2 = build_document(snap, TOSU_V1), build_document(snap, TOSU_V2)
    hits = {k: v1["gameplay"]["hits"][k] for k in ("geki", "300", "katu", "100", "50", "0")}
    assert hits == {"geki": 10, "300": 4, "katu": 3, "100": 2, "50": 1, "0": 1}
    assert {k: v2["play"]["hits"][k] for k in hits} == hits
    assert v1["gameplay"]["hp"]["normal"] == 100  # 0–200
    assert v2["play"]["healthBar"]["normal"] == 50  # 0–100
    assert build_document(snap, GOSUMEMORY)["gameplay"]["accuracy"] == round(
        100 * accuracy(snap.state.counts), 2
    )
    assert v2["play"]["mods"]["name"] == "HR" and v2["beatmap"]["stats"]["od"]["converted"] == 10


def test_state_codes_and_phases() -> None:
    assert build_document(playing(phase=Phase.MENU), TOSU_V2)["state"] == {
        "number": 5,
        "name": "selectPlay",
    }
    paused = build_document(playing(phase=Phase.PAUSED), TOSU_V2)
    assert paused["state"]["number"] == 2 and paused["game"]["paused"] is True
    assert parse_document(paused).state.phase == Phase.PAUSED
    failed = build_document(playing(phase=Phase.FAILED, hp=0.0), TOSU_V2)
    assert failed["play"]["failed"] is True and parse_document(failed).state.phase == Phase.FAILED
    # stable has no pause or fail state: v1 documents say 2 and leave it to the frame history
    assert (
        parse_document(build_document(playing(phase=Phase.FAILED), GOSUMEMORY)).state.phase
        == Phase.PLAYING
    )


@pytest.mark.parametrize("source", [GOSUMEMORY, TOSU_V1, TOSU_V2])
def test_results_screen_filled_only_in_state_7(source: str) -> None:
    results = build_document(playing(phase=Phase.RESULTS), source)["resultsScreen"]
    during = build_document(playing(), source)["resultsScreen"]
    assert results["score"] == 12345 and results["maxCombo"] == 12
    assert during["score"] == 0 and during["maxCombo"] == 0
    assert (
        parse_document(build_document(playing(phase=Phase.RESULTS), source)).state.phase
        == Phase.RESULTS
    )


def test_song_select_zeroes_gameplay_like_the_tools() -> None:
    snap = playing(phase=Phase.MENU)
    gosu = build_document(snap, GOSUMEMORY)["gameplay"]
    assert (gosu["score"], gosu["accuracy"], gosu["name"], gosu["hits"]["hitErrorArray"]) == (
        0,
        0,
        "",
        None,
    )
    tosu = build_document(snap, TOSU_V2)["play"]
    assert (tosu["score"], tosu["accuracy"], tosu["playerName"], tosu["hitErrorArray"]) == (
        0,
        100,
        "p",
        [],
    )


def test_tosu_mods_checksum() -> None:
    assert build_document(GameSnapshot(), TOSU_V2)["play"]["mods"] == {
        "checksum": "d751713988987e9331980363e24189ce",  # MD5 of "[]": tosu's value for no mod
        "number": 0,
        "name": "",
        "array": [],
        "rate": 1,
    }
    dt = build_document(GameSnapshot(mods=int(Mods.DOUBLE_TIME)), TOSU_V2)["play"]["mods"]
    assert dt["array"] == [{"acronym": "DT"}] and dt["rate"] == 1.5


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 5000), min_size=6, max_size=6),
    time_ms=st.integers(-3000, 600_000),
    hp=st.integers(0, 200),
    score=st.integers(0, 1_000_000),
    combo=st.integers(0, 5000),
    errors=st.lists(st.integers(-188, 188), max_size=50),
    source=st.sampled_from([GOSUMEMORY, TOSU_V1, TOSU_V2]),
)
def test_parse_inverts_build(counts, time_ms, hp, score, combo, errors, source) -> None:
    arr = np.array(counts, dtype=np.int64)
    state = GameState(time_ms, Phase.PLAYING, combo, combo, score, accuracy(arr), arr, hp / 200)
    snap = GameSnapshot(
        state=state, hit_errors=tuple(errors), beatmap=BeatmapInfo(md5="m", keys=7, od=7.5)
    )
    back = parse_document(dumps(build_document(snap, source), source)).snapshot
    s = back.state
    assert (s.time_ms, s.combo, s.max_combo, s.score) == (time_ms, combo, combo, score)
    assert s.counts.tolist() == counts and s.hp == pytest.approx(hp / 200)
    assert s.accuracy == pytest.approx(state.accuracy, abs=5e-5 if source == GOSUMEMORY else 1e-12)
    assert back.hit_errors == tuple(errors) and back.beatmap.keys == 7 and back.beatmap.od == 7.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty frame"),
        ("   ", "empty frame"),
        ('{"menu": {"state": 2}', "unparsable"),
        ("[1, 2]", "expected a JSON object"),
        ('{"hello": 1}', "not a gosumemory/tosu document"),
        ('{"menu": {"state": "two"}}', "menu.state"),
        ('{"menu": {"bm": []}}', "menu.bm"),
        ('{"gameplay": {"hits": {"geki": true}}}', "gameplay.hits.geki"),
        ('{"play": {"hitErrorArray": [1, "x"]}}', "play.hitErrorArray"),
        ('{"state": {"number": 2}, "play": {"score": 1e999}}', "play.score"),
        ("[" * 100_000 + "]" * 100_000, "nested 100000 deep"),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested 100000 deep"),
        ('{"gameplay": {"score": 1' + "0" * 100_000 + "}}", "unparsable"),
        ('{"gameplay": {"score": 1' + "0" * 4000 + "}}", "gameplay.score"),
        ('{"gameplay": {"score": -1' + "0" * 400 + ".5}}", "gameplay.score"),
        ('{"gameplay": {"hits": {"hitErrorArray": [1, 1' + "0" * 4000 + "]}}}", "hitErrorArray"),
        ('{"hitErrors": [1.5, 1' + "0" * 4000 + "]}", "hitErrors"),
        ('{"hitErrors": [], "currentTime": NaN}', "currentTime"),
        ('{"menu": {"bm": {"metadata": {"title": ["' + "x" * 10**6 + '"]}}}}', "title"),
    ],
)
def test_malformed_documents_raise(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_document(text)


def test_bad_values_are_shown_in_excerpts() -> None:
    with pytest.raises(ProtocolError) as err:
        parse_document('{"menu": {"bm": {"metadata": {"title": ["' + "x" * 10**6 + '"]}}}}')
    assert len(str(err.value)) < 200


def test_nesting_and_numbers_are_bounded() -> None:
    # brackets inside strings do not nest, escaped quotes included
    title = '[{"\\' + "[" * 100 + "{" * 100
    parsed = parse_document(json.dumps({"menu": {"bm": {"metadata": {"title": title}}}}))
    assert parsed.snapshot.beatmap.title == title
    parsed = parse_document(json.dumps({"menu": {"bm": {"metadata": {"title": title}}}}).encode())
    assert parsed.snapshot.beatmap.title == title

    def nested(depth: int) -> str:  # a precise document with an extra key nested this deep
        return '{"hitErrors": [], "x": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"

    assert parse_document(nested(MAX_DEPTH)).source == TOSU_PRECISE
    with pytest.raises(ProtocolError, match="nested"):
        parse_document(nested(MAX_DEPTH + 1))
    edge = {"gameplay": {"score": MAX_NUMBER, "hits": {"hitErrorArray": [-MAX_NUMBER]}}}
    assert parse_document(json.dumps(edge)).state.score == MAX_NUMBER
    with pytest.raises(ProtocolError, match=r"gameplay\.score"):
        parse_document(json.dumps({"gameplay": {"score": MAX_NUMBER + 1}}))
    with pytest.raises(ProtocolError, match="hitErrorArray"):
        parse_document(json.dumps({"gameplay": {"hits": {"hitErrorArray": [MAX_NUMBER + 1]}}}))


def test_error_documents_mean_game_not_running() -> None:
    with pytest.raises(GameNotRunning, match="not fully loaded"):
        parse_document('{"error": "osu! is not fully loaded!"}')
    with pytest.raises(GameNotRunning):
        parse_document(b'{"error":"osu is not ready/running"}')


def test_expected_source_is_checked() -> None:
    with pytest.raises(ProtocolError, match="expected a tosu-v2"):
        parse_document(load("gosumemory-v1"), expected=TOSU_V2)
    assert parse_document(load("tosu-v1"), expected=GOSUMEMORY).source == TOSU_V1


def test_missing_fields_get_defaults() -> None:
    parsed = parse_document('{"menu": {"state": 2, "bm": {"time": {"current": 1500}}}}')
    s = parsed.state
    assert (s.time_ms, s.phase, s.score, s.accuracy, s.hp) == (1500, Phase.PLAYING, 0, 1.0, 0.0)
    assert parsed.hit_errors == () and parsed.snapshot.beatmap.keys == 4
    # gosumemory's null hitErrorArray before the first hit
    assert parse_document('{"gameplay": {"hits": {"hitErrorArray": null}}}').hit_errors == ()
    # a frame filtered by applyFilters
    filtered = parse_document(
        '{"state": {"number": 7, "name": "resultScreen"}, "play": {"score": 9}}'
    )
    assert filtered.state.phase == Phase.RESULTS and filtered.state.score == 9


def test_filter_document() -> None:
    doc = load("tosu-v2")
    filters = ["state", {"field": "play", "keys": ["score", {"field": "combo", "keys": ["max"]}]}]
    assert filter_document(doc, filters) == {
        "state": {"number": 2, "name": "play"},
        "play": {"score": 29783, "combo": {"max": 35}},
    }
    with pytest.raises(ProtocolError):
        filter_document(doc, [{"field": "play", "keys": [3]}])
    assert math.isclose(parse_document(filter_document(doc, filters)).state.max_combo, 35)
    assert filter_items(filters) == 5 and filter_items([{"field": "a", "keys": [3]}, 4]) == 3


def test_beatmap_info_from_a_beatmap() -> None:
    path = Path(__file__).parent / "data" / "ppy-osu" / "4K.osu"
    beatmap = load_beatmap(path)
    info = BeatmapInfo.from_beatmap(beatmap, audio="audio.mp3")
    assert (info.keys, info.od, info.md5) == (4, beatmap.od, "26945eeae38436a353e89cd42e4d6452")
    assert (info.folder, info.file, info.audio) == ("ppy-osu", "4K.osu", "audio.mp3")
    assert info.n_notes + info.n_holds == beatmap.n_objects
    doc = build_document(GameSnapshot(beatmap=info), TOSU_V2)
    assert doc["directPath"]["beatmapFile"] == "ppy-osu\\4K.osu"


def test_v1_and_v2_documents_parse_alike() -> None:
    """The parser's one field table: a snapshot with a distinct value in every modelled field comes
    back the same from tosu's v1 and v2 documents (and as it was built)."""
    beatmap = BeatmapInfo(
        artist="a", artist_unicode="au", title="t", title_unicode="tu", mapper="m", version="v",
        md5="5d", beatmap_id=11, set_id=12, ranked_status=4, folder="fo", file="fi.osu",
        background="bg.jpg", audio="au.mp3", keys=7, od=7.5, hp=6.5, ar=5.5, stars=4.25, bpm=180,
        bpm_min=170, bpm_max=190, first_object_ms=1000, last_object_ms=90000, length_ms=95000,
        n_notes=500, n_holds=40, max_combo=580,
    )  # fmt: skip
    snap = replace(
        playing(hp=0.75),
        beatmap=beatmap,
        state_code=2,
        mods=int(Mods.HARD_ROCK | Mods.DOUBLE_TIME),
        player_name="player",
        hit_errors=(-3, 4, 12),
        hp_smooth=0.625,
        stars_live=3.5,
        game_folder="game",
        songs_folder="songs",
        skin="skin",
        scroll_speed=25.0,
    )

    def values(parsed: ParsedState) -> dict:
        out = {f.name: getattr(parsed.snapshot, f.name) for f in fields(GameSnapshot)}
        out["state"] = {f.name: getattr(parsed.state, f.name) for f in fields(GameState)}
        out["state"]["counts"] = out["state"]["counts"].tolist()
        return out

    v1 = parse_document(dumps(build_document(snap, TOSU_V1), TOSU_V1))
    v2 = parse_document(dumps(build_document(snap, TOSU_V2), TOSU_V2))
    assert (v1.source, v2.source) == (TOSU_V1, TOSU_V2)
    assert values(v1) == {**values(v2), "scroll_speed": None}  # v1 does not serve it
    assert v1.hit_errors == v2.hit_errors == snap.hit_errors
    built = values(ParsedState(TOSU_V2, snap, snap.hit_errors, snap.state.time_ms))
    built["state"]["accuracy"] = pytest.approx(built["state"]["accuracy"], abs=1e-12)
    assert values(v2) == built
