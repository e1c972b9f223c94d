"""osu!stable skins: skin.ini, image lookup, layout, the generated looks and the ppomania skin."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ppomania.cli import main
from ppomania.skin.elements import default_element
from ppomania.skin.files import SkinError, SkinImage, decode_image, load_skin
from ppomania.skin.ini import ManiaConfig, SkinWarning, column_type, parse_skin_ini
from ppomania.skin.layout import mania_layout
from ppomania.skin.ppomania_skin import (
    COLUMN_WIDTH,
    FrameLook,
    encode_png,
    osk_bytes,
    skin_files,
)

SPECIAL = Path(__file__).parent / "data" / "osu-special-skin"


def grey(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(float) @ np.array([0.299, 0.587, 0.114])


# --- skin.ini ---------------------------------------------------------------------------------


def test_defaults_are_stables():
    c = parse_skin_ini("", "x").mania(4)
    assert c.column_start == 136 and c.column_right == 19
    assert c.column_width == (30.0,) * 4
    assert c.column_spacing == (0.0,) * 3 and c.column_line_width == (2.0,) * 5
    assert (c.hit_position, c.light_position, c.score_position, c.combo_position) == (
        402,
        413,
        300,
        111,
    )
    assert c.judgement_line and not c.upside_down and not c.keys_under_notes
    assert c.colour("Colour1") == (0, 0, 0, 255)
    assert c.colour("ColourLight4") == (55, 255, 255, 255)
    assert c.colour("ColourHold") == (255, 191, 51, 255)
    # no Version in a skin.ini is 1.0: long-note bodies stretch; 2.5 cascades
    assert c.note_body_style == 0
    assert parse_skin_ini("[General]\nVersion: 2.5\n", "x").mania(4).note_body_style == 1


def test_column_types_follow_osus_pattern():
    assert [column_type(4, c) for c in range(4)] == ["1", "2", "2", "1"]
    assert [column_type(7, c) for c in range(7)] == ["1", "2", "1", "S", "1", "2", "1"]
    c = ManiaConfig(7)
    assert c.note_image(3) == "mania-noteS" and c.note_image(1, "H") == "mania-note2H"
    assert c.key_image(0, down=True) == "mania-key1D"
    assert c.element("Hit300g") == "mania-hit300g" and c.element("LightingN") == "lightingN"
    assert c.element("StageLeft") == "mania-stage-left"


def test_sections_per_key_count_and_pending_lines():
    text = """[General]
Version: 2.5
[Mania]
HitPosition: 420
Keys: 4
ColumnWidth: 40,41,42
ColumnSpacing: 1,x,3
UpsideDown: 1
NoteImage0H: Notes\\head@2x
Colour2: 10,20,30
[Mania]
Keys: 7
ColumnStart: 200
[Mania]
Keys: 4
ColumnStart: 999
"""
    ini = parse_skin_ini(text, "s/skin.ini")
    four = ini.mania(4)
    assert four.hit_position == 420  # written before Keys: held until the section knows its keys
    assert four.column_width == (40, 41, 42, 30)
    assert four.column_spacing == (1, 0, 3)  # an unreadable entry reads as 0 (stable)
    assert four.upside_down and four.images["NoteImage0H"] == "Notes/head"
    assert four.colour("Colour2") == (10, 20, 30, 255)
    assert four.column_start == 136  # the repeated 4K section is ignored
    assert ini.mania(7).column_start == 200
    assert ini.mania(5) == ManiaConfig(5, note_body_style=1, source="s/skin.ini")


def test_bad_lines_warn_with_file_and_line_and_keep_defaults():
    text = (
        "[Mania]\nKeys: 4\nthis line has no colon\nHitPosition: high\nColumnWidth: 1e9\nKeys: 99\n"
    )
    with pytest.warns(SkinWarning) as record:
        ini = parse_skin_ini(text, "bad/skin.ini")
    messages = [str(w.message) for w in record]
    assert any(m.startswith("bad/skin.ini:3:") for m in messages)
    assert any(m.startswith("bad/skin.ini:4:") and "HitPosition" in m for m in messages)
    assert any(m.startswith("bad/skin.ini:5:") and "ColumnWidth" in m for m in messages)
    assert any(m.startswith("bad/skin.ini:6:") and "Keys" in m for m in messages)
    c = ini.mania(4)
    assert c.hit_position == 402 and c.column_width == (30.0,) * 4


def test_hit_position_is_clamped_like_stable():
    ini = parse_skin_ini("[Mania]\nKeys: 4\nHitPosition: 100\n", "x")
    assert ini.mania(4).hit_position == 240


# --- files and lookup -------------------------------------------------------------------------


def test_special_skin_lookup():
    skin = load_skin(SPECIAL)
    c = skin.ini.mania(4)
    assert c.column_line_width == (3, 1, 3, 1, 1) and c.light_frame_per_second == 15
    # sub-folder, a @2x value in skin.ini, animation frames standing in for the name
    burst = skin.image(c.element("Hit300g"))
    assert burst.scale == 2.0 and "hit300g-0@2x" in burst.name
    assert len(skin.frames(c.element("Hit300g"))) == 2
    assert len(skin.frames(c.element("StageLight"))) == 4
    # @2x at the skin's root, case-insensitive
    key = skin.image("MANIA-KEY1")
    assert key.scale == 2.0 and key.pixels.shape[2] == 4
    # the skin lacks notes and the other keys: osu!'s default (ours) stands in
    assert skin.image(c.note_image(0)).name == "<default>:mania-note1"
    assert skin.image(c.key_image(1)).name == "<default>:mania-key2"
    # a renamed long-note body found under its skin.ini name
    body = skin.image(c.note_image(0, "L"), fallback="mania-note1L")
    assert "LongNoteTailWang" in body.name


def test_osk_zip_and_corrupt_zips(tmp_path):
    osk = tmp_path / "special.osk"
    with zipfile.ZipFile(osk, "w") as z:
        for file in SPECIAL.rglob("*"):
            if file.is_file():
                z.write(file, file.relative_to(SPECIAL).as_posix())
    skin = load_skin(osk)
    assert skin.ini.mania(4).column_line_width == (3, 1, 3, 1, 1)
    assert skin.image("mania/stage-left").name.endswith("mania/stage-left.png")
    bad = tmp_path / "bad.osk"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(SkinError, match=r"bad\.osk"):
        load_skin(bad)
    with pytest.raises(SkinError, match="no such"):
        load_skin(tmp_path / "missing")


def test_missing_and_unreadable_images_fall_back(tmp_path):
    folder = tmp_path / "skin"
    shutil.copytree(SPECIAL, folder)
    (folder / "mania-note1.png").write_bytes(b"not a png")
    skin = load_skin(folder)
    with pytest.warns(SkinWarning, match="mania-note1"):
        image = skin.image("mania-note1")
    assert image.name == "<default>:mania-note1"
    nothing = skin.image("no-such-element")
    assert nothing.pixels.shape == (1, 1, 4) and nothing.pixels[..., 3].max() == 0


def test_oversized_images_are_refused():
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + (100000).to_bytes(4, "big") * 2
    with pytest.raises(SkinError, match="too large"):
        decode_image(header + b"\x00" * 16, "bomb.png")


# --- the generated default-like look ----------------------------------------------------------


def test_default_look_matches_the_measured_default_skin():
    note = default_element("mania-note1")
    assert note is not None
    opaque = note[..., 3] == 255
    g = grey(note)[opaque]
    assert 175 <= np.median(g) <= 200 and g.min() >= 150 and g.max() <= 240
    bodies = [default_element(f"mania-note1L-{i}") for i in range(6)]
    levels = [grey(b)[b[..., 3] == 255].max() for b in bodies if b is not None]
    assert len(levels) == 6 and min(levels) < 195 and max(levels) > 235
    light = default_element("lightingN-0")
    assert light is not None and grey(light)[light[..., 3] > 200].min() >= 253
    stage_light = default_element("mania-stage-light")
    assert stage_light is not None and grey(stage_light).min() >= 253
    max_burst = default_element("mania-hit300g")
    assert max_burst is not None
    ink = max_burst[..., 3] == 255
    assert 195 <= np.median(grey(max_burst)[ink]) <= 215
    miss = default_element("mania-hit0")
    assert miss is not None and miss[miss[..., 3] == 255][:, 0].mean() > 200
    for name in (
        "score-0",
        "score-9",
        "mania-key1",
        "mania-key2D",
        "mania-keyS",
        "mania-stage-hint",
    ):
        assert default_element(name) is not None, name
    assert default_element("mania-note1L") is None  # only as frames, as osu! ships it
    assert default_element("nonsense") is None


def test_default_skin_never_misses_a_known_element():
    skin = load_skin(None)
    c = skin.ini.mania(7)
    for col in range(7):
        for part in ("", "H", "L", "T"):
            assert skin.image(c.note_image(col, part)).name.startswith("<default>:")
        assert skin.image(c.key_image(col, True)).name.startswith("<default>:")
    assert len(skin.frames("lightingN")) == 6
    assert len(skin.frames(c.note_image(0, "L"))) == 6


# --- layout -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "window", "left", "right", "hit_y"),
    [
        # 480 units scaled to the height (1.5 at 720, 1.25 at 600); ColumnStart 136, width 30
        (4, (1280, 720), 204.0, 384.0, 603.0),
        (7, (1280, 720), 204.0, 519.0, 603.0),
        (4, (800, 600), 170.0, 320.0, 502.5),
        (7, (800, 600), 170.0, 432.5, 502.5),
    ],
)
def test_default_layout_worked_examples(keys, window, left, right, hit_y):
    layout = mania_layout(ManiaConfig(keys), window)
    assert layout.stage_left == pytest.approx(left)
    assert layout.stage_right == pytest.approx(right)
    assert layout.hit_y == pytest.approx(hit_y)
    width = (right - left) / keys
    assert layout.columns[1] == pytest.approx((left + width, left + 2 * width))
    assert layout.combo_y == pytest.approx(111 * window[1] / 480)


def test_layout_spacing_and_upside_down():
    c = ManiaConfig(3, column_width=(20, 30, 40), column_spacing=(5, 10), upside_down=True)
    layout = mania_layout(c, (640, 480))
    assert layout.columns == ((136, 156), (161, 191), (201, 241))
    assert layout.hit_y == 78 and layout.upside_down


def test_scroll_fall_time_is_stables():
    layout = mania_layout(ManiaConfig(4), (1280, 720))
    # stable: speed * 21 / 600 units per ms; 402 units to the default line
    assert layout.fall_ms(22) == pytest.approx(402 * 600 / 21 / 22, rel=1e-4)
    assert layout.fall_ms(22) == pytest.approx(11485 / 22)
    assert layout.px_per_ms(20) == pytest.approx(1.5 * 20 * 21 / 600, rel=1e-4)
    # speed does not depend on HitPosition: a lower line just takes longer to reach
    low = mania_layout(ManiaConfig(4, hit_position=440), (1280, 720))
    assert low.px_per_ms(22) == pytest.approx(layout.px_per_ms(22))
    assert low.fall_ms(22) == pytest.approx(layout.fall_ms(22) * 440 / 402)


def test_note_height_scales_to_the_column_width():
    layout = mania_layout(ManiaConfig(4), (1280, 720))
    image = SkinImage(np.zeros((24, 60, 4), np.uint8))
    assert layout.note_height(image, 0) == pytest.approx(45 * 24 / 60)
    narrow = mania_layout(ManiaConfig(2, column_width=(20, 40)), (640, 480))
    assert narrow.note_height((10, 40), 1) == pytest.approx(5)  # the narrowest column sets it


def test_stage_hint_height_is_nine_tenths_of_the_image_in_layout_units():
    layout = mania_layout(ManiaConfig(4), (1280, 720))  # 1.5 px per unit
    assert layout.hint_height(SkinImage(np.zeros((12, 30, 4), np.uint8))) == 16  # 12 * 0.9 * 1.5
    hd = SkinImage(np.zeros((24, 60, 4), np.uint8), scale=2.0)  # an @2x image: the same units
    assert layout.hint_height(hd) == 16
    assert layout.hint_height((1, 30)) == 1  # never nothing


# --- the ppomania skin ------------------------------------------------------------------------


LOOK = FrameLook(head_rows=2, judgement_row=43, scroll_ms=11485 / 22, column_width=4, note_margin=0)


def test_png_round_trip():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    assert np.array_equal(decode_image(encode_png(pixels), "x.png"), pixels)


def test_ppomania_skin_round_trip(tmp_path):
    osk = tmp_path / "ppomania.osk"
    osk.write_bytes(osk_bytes({4: LOOK, 7: LOOK}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        skin = load_skin(osk)
    assert skin.name == "ppomania"
    for keys in (4, 7):
        c = skin.ini.mania(keys)
        assert c.column_width == (COLUMN_WIDTH,) * keys and c.hit_position == 402
        assert c.column_line_width == (0,) * (keys + 1)
        layout = mania_layout(c, (1280, 720))
        centre = (layout.stage_left + layout.stage_right) / 2
        assert abs(centre - 640) <= 3  # centred on a 16:9 window
        assert all(float(x).is_integer() for col in layout.columns for x in col)
        head = skin.image(c.note_image(0, "H"))
        assert (head.pixels[..., :3] == 255).all() and (head.pixels[..., 3] == 255).all()
        # a head covers head_rows rows of the frame at the trained scroll speed
        head_ms = layout.note_height(head, 0) / layout.px_per_ms(LOOK.scroll_speed)
        assert head_ms == pytest.approx(2 * LOOK.scroll_ms / 43, rel=0.02)
        body = skin.image(c.note_image(0, "L"))
        assert (body.pixels[..., :3] == 160).all()
        assert c.colour("ColourJudgementLine")[:3] == (96, 96, 96)
        for element in ("Hit300g", "Hit0", "LightingN", "LightingL", "StageLight", "StageHint"):
            assert skin.image(c.element(element)).pixels[..., 3].max() == 0, element
        for col in range(keys):
            assert skin.image(c.key_image(col)).pixels[..., 3].max() == 0
            assert skin.image(c.note_image(col, "T")).pixels[..., 3].max() == 0
        assert c.colour("ColourBarline")[3] == 0 and c.barline_height == 0
    assert skin.image("score-5").pixels[..., 3].max() == 0  # the combo counter's digits


def test_ppomania_skin_note_margins():
    look = FrameLook(head_rows=3, judgement_row=76, scroll_ms=500, column_width=21, note_margin=1)
    files = skin_files({4: look})
    head = decode_image(files["ppomania/4k-note.png"], "head")
    alpha = head[0, :, 3]
    assert alpha[:16].max() == 0 and alpha[-16:].max() == 0 and alpha[16:-16].min() == 255


def test_cli_writes_the_skin_and_maps_errors_to_exit_2(tmp_path, capsys):
    out = tmp_path / "p.osk"
    assert main(["skin", "--keys", "4", "7", "-o", str(out)]) == 0
    skin = load_skin(out)
    assert set(skin.ini.sections) == {4, 7}
    assert main(["skin", "--keys", "12", "-o", str(out)]) == 2
    assert main(["skin", "-o", str(tmp_path / "missing" / "p.osk")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "missing" in err


def test_the_skin_layer_imports_only_the_game_and_text():
    code = (
        "import sys, importlib, pkgutil, ppomania.skin as skin\n"
        "for m in pkgutil.iter_modules(skin.__path__):\n"
        "    importlib.import_module('ppomania.skin.' + m.name)\n"
        "allowed = {'ppomania', 'ppomania.skin', 'ppomania.game', 'ppomania.text'}\n"
        "print(','.join(m for m in sys.modules if m.startswith('ppomania') and\n"
        "               '.'.join(m.split('.')[:2]) not in allowed))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == ""
