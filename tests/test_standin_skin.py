"""The stand-in draws the playfield as osu!stable does from a skin (issue 10).

Headless: :class:`~ppomania.standin.playfield.SkinnedPlayfield` pictures at chosen map times with
the default-like skin and osu!'s special test skin, compared with the skin layout's numbers. One
real window under Xvfb: ``ppomania standin MAP --skin DIR`` starts, says where its playfield is,
serves the scroll speed, and draws a note where the layout says.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from ppomania.game.beatmap import Beatmap, parse_beatmap
from ppomania.game.judge import Judge
from ppomania.game.scroll import DEFAULT_SCROLL_SPEED
from ppomania.skin.files import load_skin
from ppomania.skin.layout import mania_layout
from ppomania.standin.game import StandinConfig, StandinGame, StandinLook
from ppomania.standin.playfield import BURST_MS, SkinnedPlayfield
from test_live_e2e import start_xvfb

DATA = Path(__file__).parent / "data"
SPECIAL = DATA / "osu-special-skin"

# 4K: a note in column 0 at 1000, a hold in column 1 from 1000 to 1300, a note in column 2 at 1200
OBJECTS = [(0, 1000, 1000), (1, 1000, 1300), (2, 1200, 1200)]


def _osu_text(objects: list[tuple[int, int, int]], keys: int = 4) -> str:
    head = (
        "osu file format v14\n[General]\nMode: 3\n[Metadata]\nTitle:skin test\nVersion:t\n"
        f"[Difficulty]\nCircleSize:{keys}\nOverallDifficulty:8\nHPDrainRate:5\n"
        "[TimingPoints]\n0,500,4,1,0,100,1,0\n[HitObjects]\n"
    )
    lines = []
    for column, start, end in objects:
        x = int((column + 0.5) * 512 / keys)
        if end > start:
            lines.append(f"{x},192,{start},128,0,{end}:0:0:0:0:")
        else:
            lines.append(f"{x},192,{start},1,0,0:0:0:0:")
    return head + "\n".join(lines) + "\n"


def _beatmap(objects=OBJECTS, keys: int = 4) -> Beatmap:
    return parse_beatmap(_osu_text(objects, keys).encode(), "skin-test.osu")


class NoNotes:
    """A judge view with every object judged: the picture without notes."""

    results: tuple = ()

    def current_object(self, column: int) -> int:
        return -1

    def holding(self, column: int) -> bool:
        return False


def _skins():
    return [pytest.param(None, id="default"), pytest.param(SPECIAL, id="special")]


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).sum(axis=2) > 24


def _pictures(skin_path, time_ms: float, judge=None, held=None, beatmap=None):
    beatmap = beatmap or _beatmap()
    field = SkinnedPlayfield(load_skin(skin_path), beatmap)
    held = held or [False] * beatmap.keys
    judge = judge or Judge(beatmap)
    with_notes = field.draw(time_ms, judge, held).copy()
    empty = SkinnedPlayfield(load_skin(skin_path), beatmap).draw(time_ms, NoNotes(), held).copy()
    return field, with_notes, empty


@pytest.mark.parametrize("skin_path", _skins())
def test_notes_fall_onto_the_hit_position_at_their_time(skin_path):
    field, picture, empty = _pictures(skin_path, 1200.0)
    lay = field.layout
    assert picture.shape == (720, 1280, 3)
    assert field.px_per_ms == pytest.approx(lay.px_per_ms(DEFAULT_SCROLL_SPEED))
    changed = _changed(picture, empty)
    # column 2's note is at its time: its bottom edge on hit_y
    left, right = lay.columns[2]
    rows = np.flatnonzero(changed[:, round((left + right) / 2)])
    assert abs(rows.max() + 1 - lay.hit_y) <= 1
    # column 0's note (time 1000) is past; 100 ms before its time it is 100 ms of scroll higher
    field, picture, empty = _pictures(skin_path, 900.0)
    left, right = lay.columns[0]
    rows = np.flatnonzero(_changed(picture, empty)[:, round((left + right) / 2)])
    assert abs(rows.max() + 1 - (lay.hit_y - 100 * field.px_per_ms)) <= 1
    # the note fills its column between the layout's x edges
    cols = np.flatnonzero(_changed(picture, empty)[rows.max() - 2, : round(lay.columns[1][0])])
    assert abs(cols.min() - left) <= 1 and abs(cols.max() + 1 - right) <= 1


@pytest.mark.parametrize("skin_path", _skins())
def test_a_hold_body_spans_head_to_tail(skin_path):
    field, picture, empty = _pictures(skin_path, 900.0)
    lay, p = field.layout, field.px_per_ms
    left, right = lay.columns[1]
    column = _changed(picture, empty)[:, round((left + right) / 2)]
    y_head, y_tail = lay.hit_y - 100 * p, lay.hit_y - 400 * p
    assert abs(np.flatnonzero(column).max() + 1 - y_head) <= 1
    first = np.flatnonzero(column).min()
    assert y_tail - 30 <= first <= y_tail  # the tail, its bottom edge at the tail's time
    inside = column[round(y_tail) : round(y_head)]
    assert inside.mean() > 0.8  # drawn from the tail down to the head (this body fades at the top)
    assert column[round(y_head) - 100 : round(y_head)].all()


@pytest.mark.parametrize("skin_path", _skins())
def test_lighting_only_while_a_key_is_down_or_after_a_hit(skin_path):
    beatmap = _beatmap()
    skin = load_skin(skin_path)
    lay = mania_layout(skin.ini.mania(4), (1280, 720))
    hit_y = round(lay.hit_y)
    x1 = round(lay.columns[1][0])

    def spill(picture: np.ndarray) -> float:
        """Brightness just left of column 1 above the hit position (where its lighting spills)."""
        return float(picture[hit_y - 14 : hit_y - 4, x1 - 12 : x1 - 2].astype(float).mean())

    def light(picture: np.ndarray) -> float:
        """Brightness of column 3 between the top and the hit position (its column light)."""
        (l3, r3) = lay.columns[3]
        return float(picture[100 : hit_y - 40, round(l3) + 2 : round(r3) - 2].astype(float).mean())

    idle = Judge(beatmap)
    quiet = SkinnedPlayfield(skin, beatmap).draw(1100.0, idle, [False] * 4).copy()
    down = SkinnedPlayfield(skin, beatmap).draw(1100.0, idle, [False, False, False, True]).copy()
    assert light(down) > light(quiet) + 5  # the column light while the key is down
    field = SkinnedPlayfield(skin, beatmap)
    field.draw(1100.0, idle, [False, False, False, True])
    field.draw(1150.0, idle, [False] * 4)  # let go: it shrinks away…
    gone = field.draw(1150.0 + 300, idle, [False] * 4).copy()
    assert light(gone) == pytest.approx(light(quiet), abs=0.5)  # …and is gone after 250 ms
    holding = Judge(beatmap)
    holding.press(1000, 1)
    assert holding.holding(1)
    held = SkinnedPlayfield(skin, beatmap).draw(1100.0, holding, [False, True, False, False])
    assert spill(held) > spill(quiet) + 5  # LightingL while the hold is held
    hit = Judge(beatmap)
    hit.press(1000, 0)
    hit.release(1030, 0)
    assert hit.results and hit.results[-1].column == 0
    x0 = round(lay.columns[0][1])  # LightingN spills right of column 0
    after = SkinnedPlayfield(skin, beatmap).draw(1060.0, hit, [False] * 4).copy()
    later = SkinnedPlayfield(skin, beatmap).draw(1300.0, hit, [False] * 4).copy()
    region = (slice(hit_y - 14, hit_y - 4), slice(x0 + 2, x0 + 12))
    assert after[region].mean() > later[region].mean() + 5


@pytest.mark.parametrize("skin_path", _skins())
def test_judgement_burst_at_score_position_then_gone(skin_path):
    beatmap = _beatmap([(0, 1000, 1000)])
    skin = load_skin(skin_path)
    judge = Judge(beatmap)
    judge.press(1000, 0)
    field = SkinnedPlayfield(skin, beatmap)
    lay = field.layout
    shown = field.draw(1010.0, judge, [False] * 4).copy()
    gone = field.draw(1000.0 + BURST_MS + 10, judge, [False] * 4).copy()
    rows = slice(round(lay.combo_y) + 40, round(lay.hit_y) - 60)
    changed = _changed(shown[rows], gone[rows])
    ys, xs = np.nonzero(changed)
    assert ys.size > 50
    centre_y = rows.start + (ys.min() + ys.max() + 1) / 2
    centre_x = (xs.min() + xs.max() + 1) / 2
    assert abs(centre_y - lay.score_y) <= 4
    assert abs(centre_x - (lay.stage_left + lay.stage_right) / 2) <= 4
    later = field.draw(1000.0 + BURST_MS + 200, judge, [False] * 4)
    assert not _changed(later[rows], gone[rows]).any()


@pytest.mark.parametrize("skin_path", _skins())
def test_combo_digits_at_combo_position(skin_path):
    beatmap = _beatmap()
    field = SkinnedPlayfield(load_skin(skin_path), beatmap)
    lay = field.layout
    none = field.draw(500.0, NoNotes(), [False] * 4, combo=0).copy()
    some = field.draw(500.0, NoNotes(), [False] * 4, combo=123).copy()
    ys, xs = np.nonzero(_changed(some, none))
    assert ys.size > 20
    assert abs((ys.min() + ys.max() + 1) / 2 - lay.combo_y) <= 3
    assert abs((xs.min() + xs.max() + 1) / 2 - (lay.stage_left + lay.stage_right) / 2) <= 3


def test_upside_down_skins_are_mirrored(tmp_path):
    (tmp_path / "skin.ini").write_text("[General]\nVersion: 2.5\n[Mania]\nKeys: 4\nUpsideDown: 1\n")
    field, picture, empty = _pictures(tmp_path, 1100.0)
    lay = field.layout
    assert lay.upside_down and lay.hit_y < 360
    left, right = lay.columns[2]
    rows = np.flatnonzero(_changed(picture, empty)[:, round((left + right) / 2)])
    # rising from the bottom: 100 ms before its time the note's edge is 100 ms of scroll below
    assert abs(rows.min() - (lay.hit_y + 100 * field.px_per_ms)) <= 1


def test_sim_look_stays_the_default_of_the_library_and_on_request():
    beatmap = _beatmap()
    game = StandinGame(beatmap)
    assert game.skinned is None and game.look == StandinLook(4)
    ready = game.ready_line()
    assert ready["judgement_y"] == game.playfield[1] + game.look.judgement_y
    assert ready["px_per_ms"] == game.look.px_per_ms
    assert ready["scroll_speed"] == 22 and ready["skin"] == ""
    game.freeze_at(1000.0)
    picture = game.render(time.monotonic())
    assert (picture[: game.look.judgement_y, 30] == 255).any()  # column 0's head at its time
    assert np.flatnonzero(picture[:, 30] == 255).max() == game.look.judgement_y


def test_skinned_game_reports_the_layout_and_serves_the_scroll_speed():
    beatmap = _beatmap()
    config = StandinConfig(skin=SPECIAL, scroll_speed=25, port=_free_port())
    game = StandinGame(beatmap, config)
    lay = game.skinned.layout
    ready = game.ready_line()
    left, top, width, height = ready["playfield"]
    assert (left, top, height) == (round(lay.stage_left), 0, 720)
    assert left + width == round(lay.stage_right)
    assert ready["judgement_y"] == lay.hit_y and ready["window"] == [1280, 720]
    assert ready["px_per_ms"] == pytest.approx(lay.px_per_ms(25))
    assert ready["scroll_speed"] == 25 and ready["skin"] == game.skinned.skin.name
    from ppomania.protocol.documents import build_document
    from ppomania.protocol.snapshot import TOSU_V2

    document = build_document(game.snapshot(time.monotonic()), TOSU_V2)
    assert document["settings"]["mania"]["scrollSpeed"] == 25
    assert document["settings"]["skin"]["name"] == game.skinned.skin.name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tosu_v2(port: int) -> dict:
    """tosu's v2 document from the stand-in (500 until its first snapshot)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/v2", timeout=5) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def wide_display():
    name, proc = start_xvfb("1280x800x24", 140, 240)
    yield name
    proc.terminate()
    proc.wait(timeout=10)


def test_standin_window_draws_the_skin(wide_display, tmp_path):
    import mss

    map_path = tmp_path / "one.osu"
    map_path.write_text(_osu_text([(2, 2500, 2500), (2, 9000, 9000)]))
    port = _free_port()
    env = dict(os.environ, DISPLAY=wide_display, SDL_VIDEO_WINDOW_POS="0,0")
    env["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
    command = [sys.executable, "-m", "ppomania.cli", "standin", str(map_path), "--port", str(port)]
    command += ["--skin", str(SPECIAL), "--lead-in-ms", "0", "--seconds", "20"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        ready = json.loads(proc.stdout.readline())
        lay = mania_layout(load_skin(SPECIAL).ini.mania(4), (1280, 720))
        assert ready["playfield"] == [
            round(lay.stage_left),
            0,
            round(lay.stage_right) - round(lay.stage_left),
            720,
        ]
        assert ready["judgement_y"] == lay.hit_y and ready["keys"] == 4
        assert ready["px_per_ms"] == pytest.approx(lay.px_per_ms(DEFAULT_SCROLL_SPEED))
        assert _tosu_v2(port)["settings"]["mania"]["scrollSpeed"] == 22
        with mss.MSS(display=wide_display) as grabber:
            area = {"left": 0, "top": 0, "width": 1280, "height": 720}
            before = np.asarray(grabber.grab(area))[..., :3]  # no note on screen yet
            assert _tosu_v2(port)["beatmap"]["time"]["live"] < 1500
            while _tosu_v2(port)["beatmap"]["time"]["live"] < 2000:
                time.sleep(0.01)
            times = [_tosu_v2(port)["beatmap"]["time"]["live"]]
            during = np.asarray(grabber.grab(area))[..., :3]
            times.append(_tosu_v2(port)["beatmap"]["time"]["live"])
        grab_ms, slack_ms = sum(times) / 2, (times[1] - times[0]) / 2 + 60
        # the note of column 2 on its way down to the hit position (± the state's sampling)
        stage = (slice(0, round(lay.hit_y)), slice(0, round(lay.stage_right) + 40))  # no HUD
        rows, cols = np.nonzero(_changed(during[stage], before[stage]))
        assert rows.size > 100
        left, right = lay.columns[2]
        assert abs(cols.min() - left) <= 1 and abs(cols.max() + 1 - right) <= 1
        expected = lay.hit_y - (2500 - grab_ms) * ready["px_per_ms"]
        assert abs(rows.max() + 1 - expected) <= slack_ms * ready["px_per_ms"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
