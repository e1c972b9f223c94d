"""The :class:`~ppomania.env.perception.SkinPerception` of a player's skin: its colour tables from
the skin's own note, hold and tail images against each column's background and every overlay
(hit lighting, column light, bursts, combo digits, keys, stage hint, lines), and the rows each
overlay covers, placed by the skin's :class:`~ppomania.skin.layout.ManiaLayout` on screen."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ppomania.env.perception import (
    LUT_BITS,
    SAMPLES,
    SkinPerception,
    cell_colours,
    column_xs,
    conflicts,
    note_table,
    quantize,
)
from ppomania.sim.render import HighwayGeometry
from ppomania.skin.files import Skin, SkinImage
from ppomania.skin.layout import ManiaLayout
from ppomania.skin.timing import BURST_ELEMENTS


def _over(rgba: np.ndarray, under: np.ndarray, additive: bool = False) -> np.ndarray:
    """The table cells (as colours) of ``rgba``'s visible pixels drawn over the colour ``under``
    (or added to it)."""
    pixels = rgba.reshape(-1, 4)
    if len(pixels) > 1:
        pixels = pixels[pixels[:, 3] >= 24]
    pixels = pixels.astype(np.float32)
    alpha = pixels[:, 3:4] / 255.0
    if additive:
        rgb = np.minimum(255.0, under + pixels[:, :3] * alpha)
    else:
        rgb = pixels[:, :3] * alpha + under * (1 - alpha)
    rgb = rgb.astype(np.uint8)
    seen = np.zeros(1 << (3 * LUT_BITS), bool)
    seen[quantize(rgb[:, ::-1])] = True
    return cell_colours()[seen]


def _tinted(rgba: np.ndarray, tint: tuple[int, int, int, int]) -> np.ndarray:
    out = rgba.astype(np.float32)
    out[..., :3] *= np.asarray(tint[:3], np.float32) / 255.0
    out[..., 3] *= tint[3] / 255.0
    return out.astype(np.uint8)


def _stack(colours: list[np.ndarray]) -> np.ndarray:
    colours = [c for c in colours if len(c)]
    return np.unique(np.concatenate(colours), axis=0) if colours else np.zeros((0, 3), np.float32)


def _light_rows(
    lights: list[SkinImage], tint: tuple[int, int, int, int], under: np.ndarray,
    notes: np.ndarray, height: Callable[[SkinImage], float],
) -> np.ndarray:  # fmt: skip
    """Which rows of an image drawn squeezed into ``round(height)`` rows (the column light, any
    frame; the stage hint) have a note's colour (the same table cell)."""
    if not lights:
        return np.zeros(0, bool)
    note_cells = np.zeros(1 << (3 * LUT_BITS), bool)
    note_cells[quantize(notes[:, ::-1].astype(np.uint8))] = True
    rows = max(1, round(max(height(f) for f in lights)))
    out = np.zeros(rows, bool)
    for frame in lights:
        pixels = _tinted(frame.pixels, tint).astype(np.float32)
        alpha = pixels[..., 3:4] / 255.0
        rgb = (pixels[..., :3] * alpha + under * (1 - alpha)).astype(np.uint8)
        hit = (note_cells[quantize(rgb[..., ::-1])] & (pixels[..., 3] >= 24)).any(axis=1)
        out |= hit[np.arange(rows) * len(hit) // rows]
    return out


def skin_perception(
    skin: Skin,
    layout: ManiaLayout,
    judgement_y: float,
    left: float,
    grab: tuple[int, int, int, int],
    geometry: HighwayGeometry,
    row_px: float,
    tolerance: float = 40.0,
) -> SkinPerception:
    """A :class:`SkinPerception` for ``skin`` laid out as ``layout`` on screen.

    :param judgement_y, left: screen row of the layout's judgement line and screen x of its first
        column's left edge (the layout's window placed on screen).
    :param grab: the grabbed screen rectangle ``(left, top, width, height)``.
    :param geometry: the agent's frame.
    :param row_px: screen pixels per frame row (``px_per_ms * geometry.ms_per_row``).
    :raises ValueError: for an upside-down skin (not supported yet) or a layout of other keys.
    """
    keys = geometry.keys
    config = skin.ini.mania(keys)
    if layout.keys != keys:
        raise ValueError(f"the layout has {layout.keys} columns, the frame {keys}")
    if layout.upside_down:
        raise ValueError("upside-down skins are not supported by the live perception yet")
    grab_left, grab_top, grab_width, grab_height = grab
    dx, dy = left - layout.columns[0][0], judgement_y - layout.hit_y
    columns = [(a + dx, b + dx) for a, b in layout.columns]
    xs = column_xs(columns, grab_left, grab_width)

    def height(image: SkinImage) -> float:
        return image.pixels.shape[0] / image.scale * layout.scale

    prefix = skin.ini.fonts.get("ComboPrefix", "score")  # osu!'s combo font
    bursts = [f for name in BURST_ELEMENTS.values() for f in skin.frames(config.element(name))]
    digits = [skin.image(f"{prefix}-{d}") for d in range(10)]
    keys_img = [skin.image(config.key_image(c, d)) for c in range(keys) for d in (False, True)]
    lighting = [f for name in ("LightingN", "LightingL") for f in skin.frames(config.element(name))]
    lights = skin.frames(config.element("StageLight"))
    hint = skin.image(config.element("StageHint"))
    hint_h = layout.hint_height(hint)
    lines = np.array(
        [config.colour(n)[:3] for n in ("ColourColumnLine", "ColourJudgementLine")], np.float32
    )
    tables = np.zeros((keys, 1 << (3 * LUT_BITS)), np.uint8)
    note_px = np.zeros(keys)
    glow_on = np.zeros(keys, bool)
    light_rows: list[np.ndarray] = [np.zeros(0, bool)] * keys
    hint_rows: list[np.ndarray] = [np.zeros(0, bool)] * keys
    cache: dict[tuple, tuple[np.ndarray, bool, np.ndarray, np.ndarray]] = {}
    for c in range(keys):
        r, g, b, a = config.colour(f"Colour{c + 1}")
        k = min(1.0, 2 * a / 255)  # stable draws column colours with doubled alpha
        under = np.array([r * k, g * k, b * k], np.float32)
        parts = [skin.image(config.note_image(c, part)) for part in ("", "H", "T")]
        bodies = skin.frames(config.note_image(c, "L"))
        note_px[c] = layout.note_height(parts[0], c)
        tint = config.colour(f"ColourLight{c + 1}")
        key = (*(image.name for image in parts), bodies[0].name, tuple(under.tolist()), tint)
        if key not in cache:
            notes = _stack([_over(image.pixels, under) for image in parts + bodies])
            glows = _stack([_over(f.pixels, under, additive=True) for f in lighting])
            shines = _stack([_over(_tinted(f.pixels, tint), under) for f in lights])
            drawn = bursts + digits + keys_img + [hint]
            overlays = _stack([_over(image.pixels, under) for image in drawn] + [glows, shines])
            stage = _over(np.zeros((1, 1, 4), np.uint8), under)  # the background's cell
            cache[key] = (
                note_table(notes, stage, _stack([overlays, lines]), tolerance),
                bool(conflicts(glows, notes).any()),
                _light_rows(lights, tint, under, notes, height),
                _light_rows([hint], (255, 255, 255, 255), under, notes, lambda _: hint_h),
            )
        tables[c], glow_on[c], light_rows[c], hint_rows[c] = cache[key]
    # Rows doubted while a key is held (or was just let go), where an overlay looks like a note:
    # the hit lighting around the judgement line, the column light above LightPosition.
    hit = judgement_y - grab_top
    fixed = np.zeros((grab_height, keys), bool)
    hint_top = round(judgement_y) - hint_h // 2 - grab_top
    for c in range(keys):
        for i in np.flatnonzero(hint_rows[c]):
            if 0 <= hint_top + i < grab_height:
                fixed[hint_top + i, c] = True
    light = layout.light_y + dy - grab_top
    # The hit lighting, centred on its column, at its own size or LightingNWidth/LightingLWidth
    # (its aspect kept): where it covers columns in which it looks like a note.
    doubt = np.zeros((keys, 2))
    reach = np.zeros((keys, keys), bool)
    for c, (a, b) in enumerate(columns):
        sizes = [
            (w_units * layout.scale if w_units > 0 else f.size[0] * layout.scale)
            * np.array([1.0, f.size[1] / f.size[0]])
            for name, w_units in (
                ("LightingN", config.lighting_n_width[c]),
                ("LightingL", config.lighting_l_width[c]),
            )
            for f in skin.frames(config.element(name))
        ]
        if not sizes:
            continue
        glow_w, glow_h = np.max(sizes, axis=0)
        centre = (a + b) / 2
        doubt[c] = [hit - glow_h / 2, hit + glow_h / 2]
        for d, (a2, b2) in enumerate(columns):  # where it covers most of a column's samples
            inside = [abs(a2 + f * (b2 - a2) - centre) < glow_w / 2 for f in SAMPLES]
            reach[c, d] = glow_on[d] and 2 * sum(inside) > len(SAMPLES)
    shine = np.tile([light, max((height(f) for f in lights), default=0.0)], (keys, 1))
    blind = None
    if not config.keys_under_notes:  # the keys hide whatever passes the line
        keys_top = layout.window[1] - max(height(image) for image in keys_img)
        blind = math.ceil(max(keys_top + dy - grab_top, hit))
    burst_h = max((height(f) for f in bursts), default=0.0)
    digit_h = max(height(d) for d in digits)
    bands = [
        (y + dy - grab_top - h / 2, y + dy - grab_top + h / 2)
        for y, h in ((layout.score_y, burst_h), (layout.combo_y, digit_h))
    ]
    return SkinPerception(
        geometry,
        grab_height,
        xs,
        hit,
        tables,
        note_px,
        doubt,
        shine,
        light_rows,
        row_px,
        blind,
        bands,
        fixed,
        reach,
    )
