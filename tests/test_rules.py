"""Rules of osu!stable mania (ScoreV1) against the test vectors of ``specs/mania-rules.md``.

- §2.6: lazer's boundary tables (TestSceneLegacyReplayPlayback), judged through :func:`judge_play`.
- §2.6 / §3: YAVSRG's late/early tap vectors and column-lock tables.
- §4.1: YAVSRG's OD8 hold table (all 144 cells) and the early-head vector for OD 0..10.
- §5-§7: ScoreV1 score, bonus order, accuracy, grades; mods parsing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppomania.game import (
    Beatmap,
    Judge,
    Judgement,
    KeyEvent,
    Mods,
    ScoreProcessor,
    accuracy,
    grade,
    hit_windows,
    judge_play,
)
from ppomania.game.score import SAME_MS_LIMIT, Phase

MAX, GREAT, GOOD, OK, MEH, MISS = (
    Judgement.MAX,
    Judgement.GREAT,
    Judgement.GOOD,
    Judgement.OK,
    Judgement.MEH,
    Judgement.MISS,
)
LABELS = {"MAX": MAX, "300": GREAT, "200": GOOD, "100": OK, "50": MEH, "MISS": MISS}


def one_key_map(od: float, starts: list[int], ends: list[int] | None = None) -> Beatmap:
    """A 1-key map built in code (no parser involved)."""
    ends = list(starts) if ends is None else ends
    return Beatmap(
        keys=1,
        od=od,
        hp=5.0,
        starts=np.array(starts, dtype=np.int64),
        ends=np.array(ends, dtype=np.int64),
        columns=np.zeros(len(starts), dtype=np.int64),
    )


def taps(*downs: int, hold_ms: int = 30) -> list[KeyEvent]:
    """Key-down at each time, key-up ``hold_ms`` later (column 0), sorted by time."""
    events = []
    for t in downs:
        events.append(KeyEvent(t, 0, True))
        events.append(KeyEvent(t + hold_ms, 0, False))
    return sorted(events, key=lambda e: (e.time_ms, e.down))


# --------------------------------------------------------------------------------------------
# §2.6 lazer boundary tables (text copied from the spec, Unicode minus replaced by '-').
# (case, od, mods, convert, windows MAX/300/200/100/50, "offset result, ...", stable-only MISS)
# --------------------------------------------------------------------------------------------

BOUNDARY_TABLES = [
    (
        "V1 OD5",
        5.0,
        Mods.NONE,
        False,
        (16, 49, 82, 112, 136),
        "-15 MAX, -16 MAX, -17 300, -18 300, -48 300, -49 300, -50 200, -51 200, -81 200, "
        "-82 200, -83 100, -84 100, -111 100, -112 100, -113 50, -114 50, -135 50, -136 50, "
        "-137 MISS, -138 MISS, +111 100",
        "+112 +113 +114 +135 +136 +137 +138",
    ),
    (
        "V1 OD9.3",
        9.3,
        Mods.NONE,
        False,
        (16, 36, 69, 99, 123),
        "+15 MAX, +16 MAX, +17 300, +18 300, +35 300, +36 300, +37 200, +38 200, +68 200, "
        "+69 200, +70 100, +71 100, +98 100, -98 100, -99 100, -100 50, -101 50, -122 50, "
        "-123 50, -124 MISS, -125 MISS",
        "+99 +100 +101 +122 +123 +124 +125",
    ),
    (
        "V1 OD3.1",
        3.1,
        Mods.NONE,
        False,
        (16, 54, 87, 117, 141),
        "+15 MAX, +16 MAX, +17 300, +18 300, +53 300, +54 300, +55 200, +56 200, +86 200, "
        "+87 200, +88 100, +89 100, +116 100, -116 100, -117 100, -118 50, -119 50, -140 50, "
        "-141 50, -142 MISS, -143 MISS",
        "+117 +118 +119 +140 +141 +142 +143",
    ),
    (
        "V1 convert OD5",
        5.0,
        Mods.NONE,
        True,
        (16, 34, 67, 97, 121),
        "-15 MAX, -16 MAX, -17 300, -18 300, -33 300, -34 300, -35 200, -36 200, -66 200, "
        "-67 200, -68 100, -69 100, -96 100, -97 100, -98 50, -99 50, -120 50, -121 50, "
        "-122 MISS, -123 MISS, +96 100",
        "+97 +98 +99 +120 +121 +122 +123",
    ),
    (
        "V1 convert OD3.1",
        3.1,
        Mods.NONE,
        True,
        (16, 47, 77, 97, 121),
        "+15 MAX, +16 MAX, +17 300, +18 300, +46 300, +47 300, +48 200, +49 200, +76 200, "
        "+77 200, +78 100, +79 100, +96 100, -96 100, -97 100, -98 50, -99 50, -120 50, "
        "-121 50, -122 MISS, -123 MISS",
        "+97 +98 +99 +120 +121 +122 +123",
    ),
    (
        "V1 HR OD5",
        5.0,
        Mods.HARD_ROCK,
        False,
        (11, 35, 58, 80, 97),
        "-10 MAX, -11 MAX, -12 300, -13 300, -34 300, -35 300, -36 200, -37 200, -57 200, "
        "-58 200, -59 100, -60 100, -79 100, -80 100, -81 50, -82 50, -96 50, -97 50, "
        "-98 MISS, -99 MISS, +79 100",
        "+80 +81 +82 +96 +97 +98 +99",
    ),
    (
        "V1 HR OD9.3",
        9.3,
        Mods.HARD_ROCK,
        False,
        (11, 25, 49, 70, 87),
        "+10 MAX, +11 MAX, +12 300, +13 300, +24 300, +25 300, +26 200, +27 200, +48 200, "
        "+49 200, +50 100, +51 100, +69 100, -69 100, -70 100, -71 50, -72 50, -86 50, "
        "-87 50, -88 MISS, -89 MISS",
        "+70 +71 +72 +86 +87 +88 +89",
    ),
    (
        "V1 EZ OD5",
        5.0,
        Mods.EASY,
        False,
        (22, 68, 114, 156, 190),
        "-21 MAX, -22 MAX, -23 300, -24 300, -67 300, -68 300, -69 200, -70 200, -113 200, "
        "-114 200, -115 100, -116 100, -155 100, -156 100, -157 50, -158 50, -189 50, "
        "-190 50, -191 MISS, -192 MISS, +155 100",
        "+156 +157 +158 +189 +190 +191 +192",
    ),
    (
        "V1 DT OD5",
        5.0,
        Mods.DOUBLE_TIME,
        False,
        (24, 73, 123, 168, 204),
        "-23 MAX, -24 MAX, -25 300, -26 300, -72 300, -73 300, -74 200, -75 200, -122 200, "
        "-123 200, -124 100, -125 100, -167 100, -168 100, -169 50, -170 50, -203 50, "
        "-204 50, -205 MISS, -206 MISS, +167 100",
        "+168 +169 +170 +203 +204 +205 +206",
    ),
    (
        "V1 HT OD5",
        5.0,
        Mods.HALF_TIME,
        False,
        (12, 36, 61, 84, 102),
        "-11 MAX, -12 MAX, -13 300, -14 300, -35 300, -36 300, -37 200, -38 200, -60 200, "
        "-61 200, -62 100, -63 100, -83 100, -84 100, -85 50, -86 50, -101 50, -102 50, "
        "-103 MISS, -104 MISS, +83 100",
        "+84 +85 +86 +101 +102 +103 +104",
    ),
    (
        "ScoreV2 OD5",
        5.0,
        Mods.SCORE_V2,
        False,
        (19, 49, 82, 112, 136),
        "-18 MAX, -19 MAX, -20 300, -21 300, -48 300, -49 300, -50 200, -51 200, -81 200, "
        "-82 200, -83 100, -84 100, -111 100, -112 100, -113 50, -114 50, -135 50, -136 50, "
        "-137 MISS, -138 MISS, +111 100",
        "",
    ),
    (
        "ScoreV2 OD9.3",
        9.3,
        Mods.SCORE_V2,
        False,
        (14, 36, 69, 99, 123),
        "+13 MAX, +14 MAX, +15 300, +16 300, +35 300, +36 300, +37 200, +38 200, +68 200, "
        "+69 200, +70 100, +71 100, +98 100, -98 100, -99 100, -100 50, -101 50, -122 50, "
        "-123 50, -124 MISS, -125 MISS",
        "",
    ),
]


def _boundary_cases() -> list:
    cases = []
    for name, od, mods, convert, _windows, results, _stable in BOUNDARY_TABLES:
        for item in results.split(","):
            offset, label = item.split()
            cases.append(
                pytest.param(od, mods, convert, int(offset), LABELS[label], id=f"{name} {offset}")
            )
    return cases


def _stable_only_cases() -> list:
    cases = []
    for name, od, mods, convert, _windows, _results, stable in BOUNDARY_TABLES:
        for offset in stable.split():
            cases.append(pytest.param(od, mods, convert, int(offset), id=f"{name} {offset}"))
    return cases


def judge_single_tap(od: float, mods: Mods, offset: int):
    """The lazer setup: one note at 300 ms, key down at 300 + offset, up 20 ms later."""
    beatmap = one_key_map(od, [300])
    events = [KeyEvent(300 + offset, 0, True), KeyEvent(300 + offset + 20, 0, False)]
    return judge_play(beatmap, events, mods)


@pytest.mark.parametrize(
    ("name", "od", "mods", "convert", "windows"),
    [pytest.param(*row[:5], id=row[0]) for row in BOUNDARY_TABLES],
)
def test_boundary_table_windows(name, od, mods, convert, windows):
    w = hit_windows(od, mods, convert=convert)
    assert (w.max, w.great, w.good, w.ok, w.meh) == windows


def test_miss_windows_of_the_spec_examples():
    # §2.1 / §2.2 examples: (od, mods) -> MAX/300/200/100/50/miss
    expected = {
        (5.0, Mods.NONE): (16, 49, 82, 112, 136, 173),
        (7.2, Mods.NONE): (16, 42, 75, 105, 129, 166),
        (8.0, Mods.NONE): (16, 40, 73, 103, 127, 164),
        (9.3, Mods.NONE): (16, 36, 69, 99, 123, 160),
        (3.1, Mods.NONE): (16, 54, 87, 117, 141, 178),
        (10.0, Mods.NONE): (16, 34, 67, 97, 121, 158),
        (5.0, Mods.HARD_ROCK): (11, 35, 58, 80, 97, 123),
        (5.0, Mods.EASY): (22, 68, 114, 156, 190, 242),
        (5.0, Mods.DOUBLE_TIME): (24, 73, 123, 168, 204, 259),
        (5.0, Mods.NIGHTCORE | Mods.DOUBLE_TIME): (24, 73, 123, 168, 204, 259),
        (5.0, Mods.HALF_TIME): (12, 36, 61, 84, 102, 129),
    }
    for (od, mods), windows in expected.items():
        w = hit_windows(od, mods)
        assert (w.max, w.great, w.good, w.ok, w.meh, w.miss) == windows, (od, mods)


def test_convert_windows_and_od_clamp():
    # round(OD) > 4 (half to even): OD 4.5 rounds to 4 -> lenient windows, 4.6 -> strict.
    assert hit_windows(4.5, convert=True).great == 47
    assert hit_windows(4.6, convert=True).great == 34
    assert hit_windows(5.5, convert=True).good == 67
    w = hit_windows(5.0, convert=True)
    assert (w.ok, w.meh, w.miss) == (97, 121, 158)
    # OD is clamped to [0, 10]
    assert hit_windows(12.0) == hit_windows(10.0)
    assert hit_windows(-3.0) == hit_windows(0.0)


@pytest.mark.parametrize(("od", "mods", "convert", "offset", "expected"), _boundary_cases())
def test_boundary_table(od, mods, convert, offset, expected):
    windows = hit_windows(od, mods, convert=convert)
    expected_error = offset
    if expected == MISS and offset > 0:
        expected_error = None
    if convert:
        # Converts are not judged by judge_play (mode 3 only): check the window function itself.
        result = windows.tap_judgement(offset)
        assert result == (None if expected_error is None else expected)
        return
    play = judge_single_tap(od, mods, offset)
    assert len(play.results) == 1
    result = play.results[0]
    assert result.judgement == expected
    assert result.hit_error_ms == expected_error
    assert result.object_index == 0
    assert play.state.counts[expected] == 1
    assert play.state.counts.sum() == 1


@pytest.mark.parametrize(("od", "mods", "convert", "offset"), _stable_only_cases())
def test_boundary_table_stable_only_miss(od, mods, convert, offset):
    # Late presses at or beyond the exclusive OK edge do not reach the note: it misses unpressed.
    windows = hit_windows(od, mods, convert=convert)
    assert windows.tap_judgement(offset) is None
    if convert:
        return
    play = judge_single_tap(od, mods, offset)
    assert [(r.judgement, r.hit_error_ms) for r in play.results] == [(MISS, None)]
    # The miss is judged when the OK window closes, not at the press.
    assert play.results[0].time_ms == 300 + windows.ok


# --------------------------------------------------------------------------------------------
# YAVSRG late/early tap vectors at OD8 (§2.6 end)
# --------------------------------------------------------------------------------------------

NOTE = 1000  # shifted so that no input is truncated at 0


@pytest.mark.parametrize(("offset", "expected"), [(102, OK), (101, OK), (73, GOOD), (74, OK)])
def test_yavsrg_late_hits(offset, expected):
    play = judge_play(one_key_map(8.0, [NOTE]), taps(NOTE + offset))
    assert [(r.judgement, r.hit_error_ms) for r in play.results] == [(expected, offset)]


@pytest.mark.parametrize("offset", [103, 104, 105])
def test_yavsrg_late_press_misses(offset):
    play = judge_play(one_key_map(8.0, [NOTE]), taps(NOTE + offset))
    assert [(r.judgement, r.hit_error_ms) for r in play.results] == [(MISS, None)]


@pytest.mark.parametrize("offset", [-163, -164])
def test_yavsrg_early_press_consumes_note(offset):
    # The early press takes the note as a MISS; the on-time press that follows hits nothing.
    play = judge_play(one_key_map(8.0, [NOTE]), taps(NOTE + offset, NOTE))
    assert [(r.judgement, r.hit_error_ms, r.time_ms) for r in play.results] == [
        (MISS, offset, NOTE + offset)
    ]
    assert play.state.combo == 0


@pytest.mark.parametrize("offset", [-165, -166, -300])
def test_yavsrg_early_press_is_ghost_tap(offset):
    play = judge_play(one_key_map(8.0, [NOTE]), taps(NOTE + offset, NOTE))
    assert [(r.judgement, r.hit_error_ms) for r in play.results] == [(MAX, 0)]


def test_early_inputs_truncated_to_zero():
    # §2.5: inputs before map time 0 count as 0. A note at 100 pressed at -50: the press becomes 0,
    # an error of -100 -> 100 (OD8), not the -150 early miss it would be untruncated.
    play = judge_play(one_key_map(8.0, [100]), [KeyEvent(-50, 0, True), KeyEvent(-20, 0, False)])
    assert [(r.judgement, r.hit_error_ms) for r in play.results] == [(OK, -100)]


# --------------------------------------------------------------------------------------------
# §3 column lock (YAVSRG), notes shifted by +1000 ms, presses held 30 ms
# --------------------------------------------------------------------------------------------

COLUMN_LOCK_ROWS = [
    # od, notes, presses, [(object index, judgement, hit error)] in emission order
    (8.0, [0, 108, 222], [-71, -13, 97, 222], [(0, GOOD, -71), (1, MAX, -11), (2, MAX, 0)]),
    (
        10.0,
        [0, 125, 250, 375],
        [78, 222, 366],
        [(0, OK, 78), (1, MISS, None), (2, GREAT, -28), (3, MAX, -9)],
    ),
    (
        8.0,
        [0, 125, 250, 375],
        [78, 228, 366],
        [(0, OK, 78), (1, MISS, None), (2, GREAT, -22), (3, MAX, -9)],
    ),
    (
        8.0,
        [0, 125, 250, 375],
        [78, 227, 366],
        [(0, OK, 78), (1, OK, 102), (2, MISS, None), (3, MAX, -9)],
    ),
]


@pytest.mark.parametrize(("od", "notes", "presses", "expected"), COLUMN_LOCK_ROWS)
def test_column_lock(od, notes, presses, expected):
    beatmap = one_key_map(od, [1000 + t for t in notes])
    play = judge_play(beatmap, taps(*(1000 + t for t in presses)))
    assert [(r.object_index, r.judgement, r.hit_error_ms) for r in play.results] == expected


def test_column_lock_press_without_lock_would_hit_next_note():
    # Control for row 1: without the early hit on note 0 (no press at -71), the press at -13
    # hits note 0 (MAX) and the press at 97 takes 108 at -11.
    beatmap = one_key_map(8.0, [1000, 1108, 1222])
    play = judge_play(beatmap, taps(1000 - 13, 1097, 1222))
    assert [(r.object_index, r.judgement, r.hit_error_ms) for r in play.results] == [
        (0, MAX, -13),
        (1, MAX, -11),
        (2, MAX, 0),
    ]


def test_columns_are_independent():
    beatmap = Beatmap(
        keys=2,
        od=8.0,
        hp=5.0,
        starts=np.array([1000, 1000], dtype=np.int64),
        ends=np.array([1000, 1000], dtype=np.int64),
        columns=np.array([0, 1], dtype=np.int64),
    )
    events = [KeyEvent(960, 1, True), KeyEvent(1005, 0, True), KeyEvent(1030, 0, False)]
    events.append(KeyEvent(1040, 1, False))
    play = judge_play(beatmap, events)
    assert sorted((r.column, r.judgement, r.hit_error_ms) for r in play.results) == [
        (0, MAX, 5),
        (1, GREAT, -40),
    ]


# --------------------------------------------------------------------------------------------
# §4.1 YAVSRG OD8 hold table: hold 1000..1800, key down at 1000 + h, up at 1800 + r
# --------------------------------------------------------------------------------------------

HOLD_OFFSETS = [-164, -127, -103, -73, -44, -19, 19, 44, 73, 103, 127, 164]
HOLD_TABLE = """
-164 | MISS 50 50 50 50 50 50 50 50 50 50 50
-127 | MISS 50 50 50 50 50 50 50 50 50 50 50
-103 | MISS 50 100 100 100 100 100 100 100 50 50 50
-73 | MISS 100 100 200 200 200 200 200 200 100 100 100
-44 | MISS 100 100 200 300 300 300 300 200 100 100 100
-19 | MISS 200 200 200 300 MAX MAX 300 200 200 200 200
+19 | MISS 200 200 200 300 MAX MAX 300 200 200 200 200
+44 | MISS 100 100 200 300 300 300 300 200 100 100 100
+73 | MISS 100 100 200 200 200 200 200 200 100 100 100
+103 | MISS 50 100 100 100 100 100 100 100 50 50 50
+127 | MISS 50 50 50 50 50 50 50 50 50 50 50
+164 | MISS 50 50 50 50 50 50 50 50 50 50 50
"""


def _hold_cells() -> list:
    cells = []
    for line in HOLD_TABLE.strip().splitlines():
        head, row = line.split("|")
        labels = row.split()
        assert len(labels) == len(HOLD_OFFSETS)
        for release, label in zip(HOLD_OFFSETS, labels, strict=True):
            cells.append(
                pytest.param(int(head), release, LABELS[label], id=f"h{head} r{release:+d}")
            )
    return cells


def test_hold_table_has_144_cells():
    assert len(_hold_cells()) == 144


@pytest.mark.parametrize(("head", "release", "expected"), _hold_cells())
def test_hold_table_od8(head, release, expected):
    # All 144 cells agree with the judge. Row -164 goes through judge.py's documented early-head
    # quirk (judged as pressed 1 ms before the tail: head error +799 here, so 50 as in the table);
    # row -127 is exactly -meh and is judged normally (127 > w100 -> 50).
    beatmap = one_key_map(8.0, [1000], [1800])
    events = [KeyEvent(1000 + head, 0, True), KeyEvent(1800 + release, 0, False)]
    play = judge_play(beatmap, events)
    assert [r.judgement for r in play.results] == [expected]
    assert play.state.counts.sum() == 1


def test_hold_break_and_regrab():
    # A note, then a hold broken in the middle and never re-grabbed: MISS, combo reset.
    beatmap = one_key_map(8.0, [500, 1000], [500, 1800])
    events = [*taps(500), KeyEvent(1000, 0, True), KeyEvent(1300, 0, False)]
    play = judge_play(beatmap, events)
    assert [r.judgement for r in play.results] == [MAX, MISS]
    assert play.state.combo == 0
    # Released exactly at tail - meh (1673): not a break; combined rule, 0 + 127 <= 146 -> 200.
    events = [*taps(500), KeyEvent(1000, 0, True), KeyEvent(1673, 0, False)]
    assert [r.judgement for r in judge_play(beatmap, events).results] == [MAX, GOOD]
    # One ms earlier it is a break.
    events = [*taps(500), KeyEvent(1000, 0, True), KeyEvent(1672, 0, False)]
    assert [r.judgement for r in judge_play(beatmap, events).results] == [MAX, MISS]
    # Re-grabbed and held to the tail: judged like a hold pressed at the re-grab (+400): 50.
    events = [
        *taps(500),
        KeyEvent(1000, 0, True),
        KeyEvent(1300, 0, False),
        KeyEvent(1400, 0, True),
        KeyEvent(1800, 0, False),
    ]
    play = judge_play(beatmap, events)
    assert [r.judgement for r in play.results] == [MAX, MEH]
    # A re-grab close to the head would be a 300 by the combined rule; it is capped at 200.
    short = one_key_map(8.0, [1000], [1300])
    events = [
        KeyEvent(1000, 0, True),
        KeyEvent(1010, 0, False),
        KeyEvent(1020, 0, True),
        KeyEvent(1300, 0, False),
    ]
    assert [r.judgement for r in judge_play(short, events).results] == [GOOD]


def test_broken_hold_can_be_grabbed_until_its_tail_window_closes():
    # OD8 (ok 103, meh 127): hold 1000-1800 let go at 1300, a note at 1850 in the same column.
    beatmap = one_key_map(8.0, [1000, 1850], [1800, 1850])
    broken = [KeyEvent(1000, 0, True), KeyEvent(1300, 0, False)]
    # A press after the tail, before tail + ok, re-grabs the hold (a 50), not the note.
    events = [*broken, KeyEvent(1850, 0, True), KeyEvent(1880, 0, False)]
    play = judge_play(beatmap, events)
    assert [(r.object_index, r.judgement) for r in play.results] == [(0, MEH), (1, MISS)]
    # At tail + ok the hold is a MISS first, and the press takes the note.
    beatmap = one_key_map(8.0, [1000, 1903], [1800, 1903])
    events = [*broken, KeyEvent(1903, 0, True), KeyEvent(1933, 0, False)]
    play = judge_play(beatmap, events)
    assert [(r.object_index, r.judgement, r.time_ms) for r in play.results] == [
        (0, MISS, 1903),
        (1, MAX, 1903),
    ]


def test_head_window_closes_at_meh():
    # OD8: an unpressed head breaks combo at start + meh + 1; a press at +meh still takes it.
    beatmap = one_key_map(8.0, [500, 1000], [500, 1800])
    judge = Judge(beatmap)
    judge.feed(KeyEvent(500, 0, True))
    judge.feed(KeyEvent(530, 0, False))
    judge.advance(1127)
    assert judge.state.combo == 1
    judge.advance(1128)
    assert judge.state.combo == 0
    # Pressed at +110 (past ok, within meh): a held head, no combo break, judged 50.
    events = [*taps(500), KeyEvent(1110, 0, True), KeyEvent(1800, 0, False)]
    play = judge_play(beatmap, events)
    assert [r.judgement for r in play.results] == [MAX, MEH]
    assert play.state.combo == 2


def test_key_held_across_an_unpressed_head():
    # The key goes down for the note at 500 and stays down past the hold's head: no press, so
    # no head; stable checks the hold when the key comes up.
    beatmap = one_key_map(8.0, [500, 1000], [500, 1800])
    judge = Judge(beatmap)
    judge.feed(KeyEvent(500, 0, True))
    judge.advance(1500)
    assert judge.state.combo == 1  # no break while the key is down
    judge.feed(KeyEvent(1500, 0, False))  # up in the body: break, the hold can still be grabbed
    assert judge.state.combo == 0
    judge.feed(KeyEvent(1600, 0, True))
    judge.feed(KeyEvent(1800, 0, False))
    assert [r.judgement for r in judge.results] == [MAX, MEH]
    # Up only in the tail window: a MISS right then.
    play = judge_play(beatmap, [KeyEvent(500, 0, True), KeyEvent(1700, 0, False)])
    assert [(r.judgement, r.time_ms) for r in play.results] == [(MAX, 500), (MISS, 1700)]
    # Down until the end: a MISS at tail + ok.
    play = judge_play(beatmap, [KeyEvent(500, 0, True), KeyEvent(3000, 0, False)])
    assert [(r.judgement, r.time_ms) for r in play.results] == [(MAX, 500), (MISS, 1903)]


def test_short_hold_let_go_in_its_head_window_is_missed_at_tail_minus_meh():
    # OD8 hold 1000-1200: let go at 1020 (before 1200 - 127 and within the head window), stable
    # still checks it every frame and finalises it as a MISS at 1073; a press after that takes
    # the next note.
    beatmap = one_key_map(8.0, [1000, 1150], [1200, 1150])
    events = [KeyEvent(990, 0, True), KeyEvent(1020, 0, False), KeyEvent(1150, 0, True)]
    play = judge_play(beatmap, events)
    assert [(r.object_index, r.judgement, r.time_ms) for r in play.results] == [
        (0, MISS, 1073),
        (1, MAX, 1150),
    ]
    # Pressed again before 1073 it is a re-grab.
    events = [KeyEvent(990, 0, True), KeyEvent(1020, 0, False), KeyEvent(1050, 0, True)]
    play = judge_play(beatmap, [*events, KeyEvent(1200, 0, False)])
    assert [(r.object_index, r.judgement) for r in play.results] == [(0, GOOD), (1, MISS)]


def test_regrabbed_hold_held_past_its_tail():
    # Re-grabbed 20 ms after the head and never let go: judged like an overhold from the
    # re-grab (20 > 19 -> 100).
    beatmap = one_key_map(8.0, [1000], [1300])
    events = [KeyEvent(1000, 0, True), KeyEvent(1010, 0, False), KeyEvent(1020, 0, True)]
    play = judge_play(beatmap, [*events, KeyEvent(2000, 0, False)])
    assert [(r.judgement, r.time_ms) for r in play.results] == [(OK, 1403)]


def test_hold_judged_before_its_head_locks_the_column():
    # A 1 ms hold pressed 140 ms early and let go 100 ms early is judged at once (the tail
    # window is open); like an early tap it locks the column until its time.
    beatmap = one_key_map(8.0, [1000, 1001], [1001, 1001])
    events = [KeyEvent(860, 0, True), KeyEvent(900, 0, False), KeyEvent(950, 0, True)]
    play = judge_play(beatmap, events)
    assert play.results[0].time_ms == 900
    assert [r.object_index for r in play.results] == [0, 1]
    assert play.results[1].judgement == MISS  # the press at 950 was eaten by the lock


def test_overhold_judged_from_head_only():
    # OD8: released at tail + 103 (the exclusive late OK edge) or never: head-only rule,
    # 200 if |h| <= floor(43 - 3*OD) = 19, 100 if |h| <= floor(103 - 3*OD) = 79, else 50.
    beatmap = one_key_map(8.0, [1000], [1800])
    for head, expected in [(0, GOOD), (-19, GOOD), (20, OK), (-79, OK), (80, MEH)]:
        for release in (1903, 5000):
            events = [KeyEvent(1000 + head, 0, True), KeyEvent(release, 0, False)]
            play = judge_play(beatmap, events)
            assert [r.judgement for r in play.results] == [expected], (head, release)
    # Head -44: released at tail + 102 it is still the combined rule (44 + 102 <= 146 -> 200),
    # at tail + 103 the head-only rule (44 > 19 -> 100).
    events = [KeyEvent(956, 0, True), KeyEvent(1902, 0, False)]
    assert [r.judgement for r in judge_play(beatmap, events).results] == [GOOD]
    events = [KeyEvent(956, 0, True), KeyEvent(1903, 0, False)]
    assert [r.judgement for r in judge_play(beatmap, events).results] == [OK]


def test_unpressed_hold_is_a_single_miss():
    play = judge_play(one_key_map(8.0, [1000], [1800]), [])
    assert [(r.judgement, r.hit_error_ms) for r in play.results] == [(MISS, None)]


# --------------------------------------------------------------------------------------------
# §4.1 LN early-head vector (YAVSRG OsuRuleset_LnEarlyHeadPerfectReleaseWindows)
# --------------------------------------------------------------------------------------------


def _early_head_cases() -> list:
    cases = []
    for step in range(21):
        od = step * 0.5
        w = hit_windows(od)
        points = [
            (math.floor(1.2 * w.max), MAX),
            (math.floor(1.2 * w.max) + 1, GREAT),
            (math.floor(1.1 * w.great), GREAT),
            (math.floor(1.1 * w.great) + 1, GOOD),
            (w.good, GOOD),
            (w.good + 1, OK),
            (w.ok, OK),
            (w.ok + 1, MEH),
            (w.meh, MEH),
        ]
        for early, expected in points:
            cases.append(pytest.param(od, -early, expected, id=f"OD{od} h-{early}"))
    return cases


@pytest.mark.parametrize(("od", "head", "expected"), _early_head_cases())
def test_ln_early_head_release_on_tail(od, head, expected):
    beatmap = one_key_map(od, [1000], [2000])
    play = judge_play(beatmap, [KeyEvent(1000 + head, 0, True), KeyEvent(2000, 0, False)])
    assert [(r.judgement, r.hit_error_ms) for r in play.results] == [(expected, head)]


# --------------------------------------------------------------------------------------------
# §5 ScoreV1, §6 accuracy, §7 grades
# --------------------------------------------------------------------------------------------


def _score_of(n: int, judgements: list[Judgement], mods: Mods = Mods.NONE) -> int:
    processor = ScoreProcessor(n, 5.0, mods)
    for j in judgements:
        processor.apply(j)
    return processor.state.score


@pytest.mark.parametrize(
    ("n_max", "n_300"), [(1702, 11), (1665, 48), (1713, 0), (0, 1713), (856, 857)]
)
def test_score_only_max_and_300(n_max, n_300):
    n = n_max + n_300
    expected = round(500000 * (320 * n_max + 300 * n_300) / (320 * n)) + 500000
    assert _score_of(n, [MAX] * n_max + [GREAT] * n_300) == expected
    # Order does not matter while Bonus stays at 100.
    assert _score_of(n, [GREAT] * n_300 + [MAX] * n_max) == expected


def test_score_vector_magicvlgirl():
    # §5: N = 1713, MAX 1702, 300 11 -> 999,799
    assert _score_of(1713, [MAX] * 1702 + [GREAT] * 11) == 999_799


def test_score_full_max_is_one_million():
    assert _score_of(2393, [MAX] * 2393) == 1_000_000


def test_bonus_applied_after_own_judgement():
    # One 200 on a one-object map: Bonus 100 -> 92 before its BonusScore is computed.
    base = 500000 * 200 / 320
    bonus = 500000 * 16 * math.sqrt(92) / 320
    assert _score_of(1, [GOOD]) == round(base) + round(bonus)
    assert _score_of(1, [GOOD]) != round(base) + round(500000 * 16 * math.sqrt(100) / 320)
    # A miss drops Bonus to 0; the following MAX raises it to 2 and uses sqrt(2).
    per = 500000 / 2
    expected = round(per) + round(per * 32 * math.sqrt(2) / 320)
    assert _score_of(2, [MISS, MAX]) == expected
    # Bonus is order dependent: the same judgements in the other order give a different score.
    assert _score_of(2, [MAX, MISS]) == round(per) + round(per * 32 * 10 / 320)
    assert _score_of(2, [MAX, MISS]) != _score_of(2, [MISS, MAX])


def _reference_score(n: int, judgements: list[Judgement], multiplier=1.0, divider=1.0) -> int:
    hit_value = {MAX: 320, GREAT: 300, GOOD: 200, OK: 100, MEH: 50, MISS: 0}
    bonus_value = {MAX: 32, GREAT: 32, GOOD: 16, OK: 8, MEH: 4, MISS: 0}
    change = {MAX: 2, GREAT: 1, GOOD: -8 / divider, OK: -24 / divider, MEH: -44 / divider}
    per = 1_000_000 * multiplier * 0.5 / n
    bonus, base_sum, bonus_sum = 100.0, 0.0, 0.0
    for j in judgements:
        bonus = 0.0 if j == MISS else min(100.0, max(0.0, bonus + change[j]))
        base_sum += per * hit_value[j] / 320
        bonus_sum += per * bonus_value[j] * math.sqrt(bonus) / 320
    return round(base_sum) + round(bonus_sum)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(Judgement)), min_size=1, max_size=60))
def test_score_matches_reference_formula(judgements):
    n = len(judgements)
    assert _score_of(n, judgements) == _reference_score(n, judgements)


def test_score_mod_multiplier_and_divider():
    judgements = [MAX, GOOD, OK, MISS, MEH, GREAT]
    # EZ / NF / HT halve the score; HR divides the punishment by 1.08, DT by 1.1, HD by 1.06.
    assert _score_of(6, judgements, Mods.EASY) == _reference_score(6, judgements, 0.5)
    assert _score_of(6, judgements, Mods.EASY | Mods.NO_FAIL) == _reference_score(
        6, judgements, 0.25
    )
    assert _score_of(6, judgements, Mods.HALF_TIME) == _reference_score(6, judgements, 0.5)
    assert _score_of(6, judgements, Mods.HARD_ROCK) == _reference_score(6, judgements, 1.0, 1.08)
    assert _score_of(6, judgements, Mods.DOUBLE_TIME) == _reference_score(6, judgements, 1.0, 1.1)
    assert _score_of(6, judgements, Mods.HIDDEN) == _reference_score(6, judgements, 1.0, 1.06)
    assert _score_of(6, judgements, Mods.HARD_ROCK) != _score_of(6, judgements)


def test_combo_and_max_combo():
    processor = ScoreProcessor(10)
    for j in [MAX, GREAT, GOOD, MISS, OK, MEH]:
        processor.apply(j)
    assert processor.state.combo == 2
    assert processor.state.max_combo == 3
    processor.break_combo()
    assert processor.state.combo == 0
    assert processor.state.max_combo == 3


def _state_of(bookings: list[tuple[Judgement | None, int, int]]) -> tuple:
    """Final (score, combo, max combo, hp, counts) after ``(judgement or None for a hold break,
    time, object)`` bookings, in the order given."""
    processor = ScoreProcessor(10)
    for judgement, time_ms, order in bookings:
        if judgement is None:
            processor.break_combo(time_ms, order)
        else:
            processor.apply(judgement, time_ms, order)
    s = processor.state
    return s.score, s.combo, s.max_combo, s.hp, s.counts.tolist(), s.time_ms


def test_same_millisecond_judgements_count_in_object_order():
    in_order = [(GOOD, 100, 3), (MISS, 100, 4), (MAX, 100, 7)]
    expected = _state_of(in_order)
    # Any arrival order of one millisecond gives the object-order state...
    for arrival in ([2, 1, 0], [1, 0, 2], [0, 2, 1], [2, 0, 1]):
        assert _state_of([in_order[k] for k in arrival]) == expected
    # ...which is not what counting them as they come would give.
    reversed_times = [(j, t + k, o) for k, (j, t, o) in enumerate(reversed(in_order))]
    assert _state_of(reversed_times)[:3] != expected[:3]


def test_judgements_of_different_milliseconds_keep_their_order():
    assert _state_of([(MAX, 100, 7), (MISS, 101, 3)]) != _state_of([(MISS, 100, 3), (MAX, 101, 7)])
    assert (
        _state_of([(MAX, 100, 7), (MISS, 101, 3)])[:2]
        == _state_of([(MAX, None, 7), (MISS, None, 3)])[:2]
    )


def test_booking_in_the_past_joins_the_last_millisecond():
    late = _state_of([(MAX, 100, 7), (MISS, 90, 3)])
    assert late[:5] == _state_of([(MISS, 100, 3), (MAX, 100, 7)])[:5]
    assert late[5] == 100


def test_hold_break_is_ordered_with_the_judgements_of_its_millisecond():
    # A break of object 2 and a hit of object 5 in one ms: combo 1 after, whatever came first.
    assert _state_of([(MAX, 50, 1), (MAX, 100, 5), (None, 100, 2)])[1:3] == (1, 1)
    assert _state_of([(MAX, 50, 1), (None, 100, 2), (MAX, 100, 5)])[1:3] == (1, 1)
    assert _state_of([(MAX, 50, 1), (MAX, 100, 2), (None, 100, 5)])[1:3] == (0, 2)


def test_same_millisecond_reordering_is_bounded():
    n = SAME_MS_LIMIT + 1
    # The object after the limit arrives first in the millisecond's second batch: not reordered.
    bookings = [(MAX, 100, 10 + k) for k in range(SAME_MS_LIMIT)] + [(MISS, 100, 0)]
    processor = ScoreProcessor(n)
    for judgement, time_ms, order in bookings:
        processor.apply(judgement, time_ms, order)
    assert processor.state.combo == 0
    assert processor.state.max_combo == SAME_MS_LIMIT


# --------------------------------------------------------------------------------------------
# §9 Fail: health 0 without NoFail stops the play
# --------------------------------------------------------------------------------------------


def _fail_map() -> Beatmap:
    """2 keys, HP 5 (a miss costs 0.045 health, so the 23rd miss fails): notes every 100 ms in
    column 0 from 1000 ms, and one in column 1 beside the 23rd."""
    starts = [1000 + 100 * i for i in range(40)]
    columns = [0] * 40
    starts.insert(23, starts[22])
    columns.insert(23, 1)
    return Beatmap(
        keys=2,
        od=8.0,
        hp=5.0,
        starts=np.array(starts, dtype=np.int64),
        ends=np.array(starts, dtype=np.int64),
        columns=np.array(columns, dtype=np.int64),
    )


def test_failed_play_is_judged_up_to_the_fail():
    beatmap = _fail_map()
    fail_ms = 1000 + 100 * 22 + hit_windows(8.0).ok  # the 23rd note expires unpressed
    # A tap after the fail (on note 30) is not judged, nor is the rest of the map.
    late = [KeyEvent(4000, 0, True), KeyEvent(4030, 0, False)]
    play = judge_play(beatmap, late)
    assert play.failed_at_ms == fail_ms
    assert play.state.phase == Phase.FAILED and play.state.hp == 0.0
    # The miss beside the 23rd has the failing millisecond: one frame, it counts.
    assert [r.time_ms for r in play.results[-2:]] == [fail_ms, fail_ms]
    assert play.state.counts.tolist() == [0, 0, 0, 0, 0, 24]
    assert len(play.results) == 24
    judge = Judge(beatmap)
    assert judge.advance(fail_ms - 1) and judge.failed_at_ms is None
    assert len(judge.advance(fail_ms)) == 2 and judge.failed_at_ms == fail_ms
    assert judge.press(fail_ms + 1, 1) == [] and not judge.key_down(1)
    assert judge.release(5000, 0) == []
    assert judge.finish() == [] and len(judge.results) == 24


def test_no_fail_play_is_judged_to_the_end():
    beatmap = _fail_map()
    play = judge_play(beatmap, [], Mods.NO_FAIL)
    assert play.failed_at_ms is None
    assert play.state.hp == 0.0 and play.state.phase == Phase.PLAYING
    assert play.state.counts.tolist() == [0, 0, 0, 0, 0, beatmap.n_objects]


def test_accuracy_vector_he_he_he():
    counts = [1263, 735, 271, 69, 21, 34]
    assert accuracy(counts) == 661550 / 717900
    assert round(100 * accuracy(counts), 2) == 92.15
    processor = ScoreProcessor(sum(counts))
    for j, n in zip(Judgement, counts, strict=True):
        for _ in range(n):
            processor.apply(j)
    assert processor.state.accuracy == pytest.approx(661550 / 717900, abs=1e-12)


def test_accuracy_edges():
    assert accuracy([5, 3, 0, 0, 0, 0]) == 1.0
    assert accuracy([0, 0, 0, 0, 0, 4]) == 0.0
    assert accuracy([0, 0, 0, 0, 1, 0]) == pytest.approx(1 / 6)
    assert accuracy([0, 0, 1, 1, 0, 0]) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("counts", "mods", "expected"),
    [
        ([10, 5, 0, 0, 0, 0], Mods.NONE, "X"),
        ([10, 5, 0, 0, 0, 0], Mods.HIDDEN, "XH"),
        ([10, 5, 0, 0, 0, 0], Mods.FLASHLIGHT, "XH"),
        ([10, 5, 0, 0, 0, 0], Mods.FADE_IN, "XH"),
        ([0, 19, 0, 1, 0, 0], Mods.NONE, "S"),  # 96.67%
        ([0, 19, 0, 1, 0, 0], Mods.HIDDEN, "SH"),
        ([0, 18, 1, 1, 0, 0], Mods.NONE, "A"),  # exactly 95%: S needs > 95%
        ([0, 18, 1, 1, 0, 0], Mods.HIDDEN, "A"),
        ([0, 9, 1, 0, 0, 0], Mods.NONE, "S"),  # 96.67% with a 200: S, not SS
        ([0, 9, 0, 0, 0, 1], Mods.NONE, "B"),  # exactly 90%
        ([0, 8, 0, 0, 0, 2], Mods.NONE, "C"),  # exactly 80%
        ([0, 7, 0, 0, 0, 3], Mods.NONE, "D"),  # exactly 70%
        ([0, 71, 0, 0, 0, 29], Mods.NONE, "C"),  # 71%
        ([0, 0, 0, 0, 0, 5], Mods.NONE, "D"),
        ([1263, 735, 271, 69, 21, 34], Mods.NONE, "A"),  # He He He: 92.15%
    ],
)
def test_grades(counts, mods, expected):
    assert grade(counts, mods) == expected
    assert grade(np.array(counts), mods) == expected


# --------------------------------------------------------------------------------------------
# Mods
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Mods.NONE),
        ("NM", Mods.NONE),
        ("none", Mods.NONE),
        ("HR", Mods.HARD_ROCK),
        ("hrdt", Mods.HARD_ROCK | Mods.DOUBLE_TIME),
        ("HR,MR", Mods.HARD_ROCK | Mods.MIRROR),
        ("HD+FL", Mods.HIDDEN | Mods.FLASHLIGHT),
        ("EZ HT", Mods.EASY | Mods.HALF_TIME),
        ("NC", Mods.NIGHTCORE | Mods.DOUBLE_TIME),
        ("PF", Mods.PERFECT | Mods.SUDDEN_DEATH),
        ("V2", Mods.SCORE_V2),
        ("RD", Mods.RANDOM),
        ("FI", Mods.FADE_IN),
        ("NF", Mods.NO_FAIL),
    ],
)
def test_mods_parse(text, expected):
    assert Mods.parse(text) == expected


@pytest.mark.parametrize("text", ["X", "HRX", "ZZ", "HRZZ", "HR DT X", "12", "H R D"])
def test_mods_parse_rejects_bad_text(text):
    with pytest.raises(ValueError):
        Mods.parse(text)


def test_mods_bits_match_osr_format():
    # osr-format.md §2
    assert int(Mods.parse("MR")) == 1073741824
    assert int(Mods.parse("PF")) == 16416
    assert int(Mods.parse("PFMR")) == 1073758240
    assert int(Mods.parse("V2")) == 536870912
    assert int(Mods.parse("NC")) == 576


@pytest.mark.parametrize(
    ("mods", "text"),
    [
        (Mods.NONE, "NM"),
        (Mods.HARD_ROCK | Mods.DOUBLE_TIME, "HRDT"),
        (Mods.NIGHTCORE | Mods.DOUBLE_TIME, "NC"),
        (Mods.PERFECT | Mods.SUDDEN_DEATH, "PF"),
        (Mods.SUDDEN_DEATH, "SD"),
        (Mods.PERFECT | Mods.SUDDEN_DEATH | Mods.MIRROR, "PFMR"),
        (Mods.SCORE_V2, "V2"),
    ],
)
def test_mods_acronyms(mods, text):
    assert mods.acronyms == text


ACRONYMS = ["NF", "EZ", "HD", "HR", "SD", "DT", "HT", "NC", "FL", "PF", "FI", "RD", "V2", "MR"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(ACRONYMS), unique=True, max_size=6))
def test_mods_round_trip(acronyms):
    mods = Mods.parse("".join(acronyms))
    assert Mods.parse(mods.acronyms) == mods
    for acronym in acronyms:
        assert Mods.parse(acronym) & mods == Mods.parse(acronym)


def test_mods_rate():
    assert Mods.NONE.rate == 1.0
    assert Mods.DOUBLE_TIME.rate == 1.5
    assert (Mods.NIGHTCORE | Mods.DOUBLE_TIME).rate == 1.5
    assert Mods.HALF_TIME.rate == 0.75
