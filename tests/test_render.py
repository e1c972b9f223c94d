from pathlib import Path

import numpy as np
import pytest

from ppomania.game import Beatmap, TimingPoint, load_beatmap
from ppomania.sim.packed import PackedMaps, scroll_function
from ppomania.sim.render import (
    BODY,
    HEAD,
    LINE,
    CaptureArea,
    FrameStack,
    HighwayGeometry,
    preprocess_capture,
    render_beatmap_frame,
    render_frames,
    scroll_ms_for,
)

DATA = Path(__file__).parent / "data"
MAP_4K = [
    DATA / "reamberPy/maps/MAGiCVLGiRL_ZVPH.osu",
    DATA / "reamberPy/maps/Finixe.osu",
    DATA / "YAVSRG/Cardboard Box - He He He (DannyPX) [SPEEEDDD!!!].osu",
]
BACKBEAT = DATA / "YAVSRG/Camellia - Backbeat Maniac (Evening) [Rewind VIP].osu"


def make_map(objects, keys=4, timing_points=None):
    """Beatmap from (start, end, column) triples."""
    arr = np.array(sorted(objects, key=lambda o: (o[0], o[2])), dtype=np.int64).reshape(-1, 3)
    points = timing_points or [TimingPoint(0.0, 500.0, True)]
    return Beatmap(keys, 8.0, 8.0, arr[:, 0], arr[:, 1], arr[:, 2], points)


def head_rows_in(frame, geometry, column):
    """Rows where the centre pixel of ``column`` shows a head."""
    x = column * geometry.column_width + geometry.column_width // 2
    return np.flatnonzero(frame[:, x] == HEAD)


G4 = HighwayGeometry.for_keys(4)
G7 = HighwayGeometry.for_keys(7)


def test_geometry_defaults():
    assert G4.shape == (84, 84) and G4.column_width == 21 and G4.judgement_row == 76
    assert G7.shape == (84, 84) and G7.column_width == 12
    assert 450 <= G4.scroll_ms <= 600
    assert scroll_ms_for(20) == pytest.approx(11485 / 20)
    with pytest.raises(ValueError):
        scroll_ms_for(0.5)
    with pytest.raises(ValueError):
        HighwayGeometry(keys=4, judgement_row=84)


def test_note_reaches_judgement_line_at_its_time():
    beatmap = make_map([(1000, 1000, 1)])
    at_time = render_beatmap_frame(beatmap, 1000, G4)
    assert head_rows_in(at_time, G4, 1).max() == G4.judgement_row
    assert head_rows_in(at_time, G4, 1).size == G4.head_rows
    assert head_rows_in(at_time, G4, 0).size == 0  # other columns empty
    before = render_beatmap_frame(beatmap, 900, G4)
    bottom = head_rows_in(before, G4, 1).max()
    assert bottom == G4.judgement_row - round(100 / G4.ms_per_row)
    # Moves down as time goes on; enters at the top scroll_ms ahead, leaves under the line.
    rows = [
        head_rows_in(render_beatmap_frame(beatmap, t, G4), G4, 1).max() for t in (700, 800, 900)
    ]
    assert rows == sorted(rows) and len(set(rows)) == 3
    assert head_rows_in(render_beatmap_frame(beatmap, 1000 - G4.scroll_ms, G4), G4, 1).max() == 0
    assert (
        head_rows_in(render_beatmap_frame(beatmap, 1000 - G4.scroll_ms - 50, G4), G4, 1).size == 0
    )
    leaving = 1000 + G4.visible_past_ms
    assert head_rows_in(render_beatmap_frame(beatmap, leaving - 0.01, G4), G4, 1).size == 1
    assert head_rows_in(render_beatmap_frame(beatmap, leaving + 0.01, G4), G4, 1).size == 0


def test_frame_palette_and_line():
    frame = render_beatmap_frame(make_map([(5000, 5000, 0)]), 0, G4)
    assert frame.dtype == np.uint8 and frame.shape == G4.shape
    assert (frame[G4.judgement_row] == LINE).all()
    assert (np.delete(frame, G4.judgement_row, axis=0) == 0).all()


def test_scroll_speed_changes_spacing():
    beatmap = make_map([(1000, 1000, 0), (1200, 1200, 0)])
    gaps = []
    for speed in (15, 30):
        geometry = HighwayGeometry.for_keys(4, scroll_speed=speed)
        rows = head_rows_in(render_beatmap_frame(beatmap, 1000, geometry), geometry, 0)
        gaps.append(rows.max() - rows.min() - geometry.head_rows + 1)
    assert gaps[1] == pytest.approx(2 * gaps[0], abs=1)  # faster scroll, wider spacing
    assert gaps[0] == round(200 / HighwayGeometry.for_keys(4, scroll_speed=15).ms_per_row)


def render_one(beatmap, time_ms, geometry, cursor=None, held=None):
    packed = PackedMaps([beatmap])
    ids = np.zeros(1, dtype=np.int64)
    cursor = packed.first_cursor(ids) if cursor is None else np.asarray([cursor], dtype=np.int64)
    held = np.zeros((1, beatmap.keys), bool) if held is None else np.asarray([held])
    out = np.empty((1, *geometry.shape), np.uint8)
    render_frames(out, np.array([float(time_ms)]), ids, cursor, held, packed, geometry)
    return out[0], packed


def test_judged_notes_vanish():
    beatmap = make_map([(1000, 1000, 2), (1100, 1100, 2), (1000, 1000, 3)])
    frame, packed = render_one(beatmap, 1000, G4)
    assert head_rows_in(frame, G4, 2).size == 2 * G4.head_rows
    cursor = packed.first_cursor(np.zeros(1, np.int64))[0]
    cursor[2] += 1  # the note at 1000 in column 2 was hit
    judged, _ = render_one(beatmap, 1000, G4, cursor=cursor)
    assert head_rows_in(judged, G4, 2).size == G4.head_rows
    assert head_rows_in(judged, G4, 2).max() < G4.judgement_row  # the one left is the later note
    assert head_rows_in(judged, G4, 3).size == G4.head_rows  # column 3 untouched
    assert judged[G4.judgement_row, 2 * G4.column_width + 10] == LINE


def test_held_hold_is_pinned_to_the_line():
    beatmap = make_map([(1000, 1400, 0)])
    x = G4.column_width // 2
    tail_row = G4.judgement_row - round(200 / G4.ms_per_row)
    free, _ = render_one(beatmap, 1200, G4)
    assert head_rows_in(free, G4, 0).size == 0  # head 200 ms past: off screen
    assert (free[tail_row : G4.height, x] == BODY).all()  # body down to the bottom
    held, _ = render_one(beatmap, 1200, G4, held=[True, False, False, False])
    assert head_rows_in(held, G4, 0).max() == G4.judgement_row
    body = np.flatnonzero(held[:, x] == BODY)
    assert body.min() == tail_row and body.max() == G4.judgement_row - G4.head_rows
    before, _ = render_one(beatmap, 900, G4, held=[True, False, False, False])
    unpinned, _ = render_one(beatmap, 900, G4)
    assert np.array_equal(before, unpinned)  # "held" before the head time changes nothing
    past_tail, _ = render_one(beatmap, 1450, G4, held=[True, False, False, False])
    assert not (past_tail[:, x] >= BODY).any()


def test_hold_drawn_head_to_tail():
    beatmap = make_map([(1100, 1300, 1)])
    frame = render_beatmap_frame(beatmap, 1000, G4)
    x = G4.column_width + G4.column_width // 2
    head = head_rows_in(frame, G4, 1)
    body = np.flatnonzero(frame[:, x] == BODY)
    assert head.max() == G4.judgement_row - round(100 / G4.ms_per_row)
    assert body.max() == head.min() - 1
    assert body.min() == G4.judgement_row - round(300 / G4.ms_per_row)
    # Margins stay dark.
    assert (frame[: G4.judgement_row, G4.column_width] == 0).all()


@pytest.fixture(scope="module")
def real_4k():
    return [load_beatmap(p) for p in MAP_4K]


def test_batched_render_equals_single_renders(real_4k):
    packed = PackedMaps(real_4k)
    rng = np.random.default_rng(0)
    n = 24
    ids = rng.integers(0, len(real_4k), n)
    times = rng.uniform(0, 1, n) * np.array([m.duration_ms for m in real_4k])[ids]
    out = np.empty((n, *G4.shape), np.uint8)
    held = np.zeros((n, 4), bool)
    cursor = packed.cursor_at(ids, times - G4.visible_past_ms)
    render_frames(out, times, ids, cursor, held, packed, G4)
    for e in range(n):
        assert np.array_equal(out[e], render_beatmap_frame(real_4k[ids[e]], times[e], G4))
    assert (out == HEAD).any() and (out == BODY).any()
    # A frame stack slot (strided view) gets the same pixels.
    stack = FrameStack(n, G4.shape)
    render_frames(stack.advance(), times, ids, cursor, held, packed, G4)
    assert np.array_equal(stack.stack[:, -1], out)


def test_cursor_at_and_first_cursor(real_4k):
    packed = PackedMaps(real_4k)
    ids = np.array([0, 2])
    first = packed.first_cursor(ids)
    assert np.array_equal(first, packed.col_begin[ids, :-1])
    cursor = packed.cursor_at(ids, np.array([30000.0, 30000.0]))
    for e, m in enumerate(ids):
        for c in range(4):
            lo, hi = packed.col_begin[m, c], packed.col_begin[m, c + 1]
            assert lo <= cursor[e, c] <= hi
            assert (packed.ends[lo : cursor[e, c]] < 30000).all()
            assert cursor[e, c] == hi or packed.ends[cursor[e, c]] >= 30000
    # Packing keeps every object once, column-grouped and time-sorted.
    beatmap = real_4k[1]
    lo, hi = packed.col_begin[1, 0], packed.col_begin[1, -1]
    assert np.array_equal(np.sort(packed.object_index[lo:hi]), np.arange(beatmap.n_objects))
    assert np.array_equal(packed.starts[lo:hi], beatmap.starts[packed.object_index[lo:hi]])
    with pytest.raises(ValueError):
        PackedMaps([real_4k[0], load_beatmap(DATA / "reamberPy/maps/AddictionCut.osu")])


def test_render_frames_checks_its_inputs():
    packed = PackedMaps([make_map([(1000, 1000, 0)])])
    out = np.empty((2, *G4.shape), np.uint8)
    times, held = np.zeros(2), np.zeros((2, 4), bool)
    cursor = packed.first_cursor(np.zeros(2, np.int64))
    with pytest.raises(IndexError):
        render_frames(out, times, np.array([0, 1]), cursor, held, packed, G4)
    with pytest.raises(ValueError):
        render_frames(out, times, np.zeros(2, np.int64), cursor[:1], held, packed, G4)
    with pytest.raises(ValueError):
        render_frames(out, times, np.zeros(2, np.int64), cursor, held, packed, G7)


def test_sv_scroll_doubles_spacing():
    points = [TimingPoint(0.0, 500.0, True), TimingPoint(2000.0, -50.0, False)]  # 2x from 2000
    beatmap = make_map(
        [(1000, 1000, 0), (1100, 1100, 0), (3000, 3000, 0), (3100, 3100, 0)], 4, points
    )
    geometry = HighwayGeometry.for_keys(4, sv_scroll=True)

    def spacing(t):
        rows = head_rows_in(render_beatmap_frame(beatmap, t, geometry), geometry, 0)
        return rows.max() - rows.min() - geometry.head_rows + 1

    assert spacing(3000) == pytest.approx(2 * spacing(1000), abs=1)
    _, positions, multipliers = scroll_function(beatmap)
    assert np.array_equal(multipliers, [1.0, 2.0])
    assert positions[1] - positions[0] == pytest.approx(2000.0)
    constant = HighwayGeometry.for_keys(4)
    assert np.array_equal(
        render_beatmap_frame(beatmap, 3000, constant),
        render_beatmap_frame(beatmap, 1000 + 2000, constant),
    )


def test_sv_bpm_relative_to_most_common_beat_length():
    points = [TimingPoint(0.0, 500.0, True), TimingPoint(10000.0, 250.0, True)]
    beatmap = make_map([(1000, 1000, 0), (20000, 20000, 1)], 4, points)
    _, _, multipliers = scroll_function(beatmap)
    # 500 ms beats last 10 s, 250 ms beats 10 s - 0 s start: most common is 500, the faster part 2x.
    assert np.allclose(multipliers, [1.0, 2.0])


def test_sv_batched_equals_single_on_sv_stress_map():
    beatmap = load_beatmap(BACKBEAT)
    geometry = HighwayGeometry.for_keys(4, sv_scroll=True)
    packed = PackedMaps([beatmap, beatmap])
    times = np.array([30000.0, 61234.5, 90000.0])
    ids = np.array([0, 1, 0])
    out = np.empty((3, *geometry.shape), np.uint8)
    held = np.zeros((3, 4), bool)
    render_frames(out, times, ids, packed.first_cursor(ids), held, packed, geometry)
    for e in range(3):
        assert np.array_equal(out[e], render_beatmap_frame(beatmap, times[e], geometry))
    plain = np.stack([render_beatmap_frame(beatmap, t, HighwayGeometry.for_keys(4)) for t in times])
    assert not np.array_equal(out, plain)  # SV really moves notes on this map


def test_framestack_order_and_reset():
    stack = FrameStack(3, (2, 2), n_stack=4)
    assert stack.stack.shape == (3, 4, 2, 2) and not stack.stack.any()
    for value in (1, 2, 3, 4, 5):
        stack.push(np.full((3, 2, 2), value, np.uint8))
    assert stack.stack[:, :, 0, 0].tolist() == [[2, 3, 4, 5]] * 3  # oldest first
    stack.reset([1])
    assert stack.stack[1].sum() == 0 and stack.stack[0, :, 0, 0].tolist() == [2, 3, 4, 5]
    stack.push(np.full((3, 2, 2), 6, np.uint8))
    assert stack.stack[1, :, 0, 0].tolist() == [0, 0, 0, 6]
    assert stack.stack[2, :, 0, 0].tolist() == [3, 4, 5, 6]
    stack.reset(np.array([0]), frames=np.full((1, 2, 2), 9, np.uint8))
    assert stack.stack[0, :, 0, 0].tolist() == [0, 0, 0, 9]
    out = np.empty((3, 4, 2, 2), np.uint8)
    assert stack.obs(out) is out and np.array_equal(out, stack.stack)
    stack.reset()
    assert not stack.stack.any()


def test_framestack_observation_survives_next_push():
    stack = FrameStack(2, (3, 3))
    first = stack.push(np.full((2, 3, 3), 7, np.uint8))
    kept = first.copy()
    stack.push(np.full((2, 3, 3), 8, np.uint8))
    assert np.array_equal(first, kept)  # SB3 stores the previous observation after step()


def bgra(frame, row_scale, col_scale, pad=(30, 50)):
    big = np.repeat(np.repeat(frame, row_scale, axis=0), col_scale, axis=1)
    screen = np.full((big.shape[0] + 2 * pad[0], big.shape[1] + 2 * pad[1], 4), 40, np.uint8)
    screen[pad[0] : pad[0] + big.shape[0], pad[1] : pad[1] + big.shape[1], :3] = big[..., None]
    return screen


def test_preprocess_capture_inverts_an_integer_upscale(real_4k):
    frame = render_beatmap_frame(real_4k[1], 40000, G4)
    screen = bgra(frame, 5, 3)
    area = CaptureArea(50, 30, 3 * G4.width, 5 * G4.height)
    assert np.array_equal(preprocess_capture(screen, area, G4), frame)
    out = np.zeros(G4.shape, np.uint8)
    assert preprocess_capture(screen[..., :3], area, G4, out=out) is out
    assert np.array_equal(out, frame)
    with pytest.raises(ValueError):
        preprocess_capture(screen, CaptureArea(50, 30, 10_000, 10), G4)


def test_preprocess_capture_of_a_standin_like_window(real_4k):
    """A larger render (the stand-in's look) captured via from_playfield comes back close."""
    big = HighwayGeometry(
        keys=4, height=480, column_width=75, judgement_row=434, head_rows=17, note_margin=4
    )
    time = 52000.0
    window = render_beatmap_frame(real_4k[0], time, big)
    screen = bgra(window, 1, 1)
    px_per_ms = 1 / big.ms_per_row
    judgement_y = 30 + big.judgement_row + 1  # bottom edge of the big judgement row
    area = CaptureArea.from_playfield(50, 50 + big.width, judgement_y, px_per_ms, G4)
    frame = preprocess_capture(screen, area, G4)
    expected = render_beatmap_frame(real_4k[0], time, G4)
    assert (frame == expected).mean() > 0.98
    assert (frame == HEAD).sum() == pytest.approx((expected == HEAD).sum(), rel=0.1)


def test_render_cli_writes_png(tmp_path, capsys):
    from ppomania.cli import main

    output = tmp_path / "frame.png"
    assert main(["render", str(MAP_4K[0]), "--at", "30", "-o", str(output), "--scale", "2"]) == 0
    data = output.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    from ppomania.env.spaces import default_geometry

    agent_frame = default_geometry(4)  # the render shows what the agent sees by default
    assert (width, height) == (2 * agent_frame.width, 2 * agent_frame.height)
    assert "frame.png" in capsys.readouterr().out


def test_render_cli_errors_exit_2(tmp_path, capsys):
    from ppomania.cli import main

    output = tmp_path / "frame.png"
    assert main(["render", str(tmp_path / "missing.osu"), "--at", "1", "-o", str(output)]) == 2
    assert "missing.osu" in capsys.readouterr().err
    broken = tmp_path / "broken.osu"
    broken.write_bytes(b"not a beatmap")
    assert main(["render", str(broken), "--at", "1", "-o", str(output)]) == 2
    assert (
        main(["render", str(MAP_4K[0]), "--at", "1", "-o", str(output), "--scroll-speed", "99"])
        == 2
    )
    assert not output.exists()
