"""The project's own look close to osu!'s default mania skin, drawn with numpy (no osu! assets).

What it imitates, measured from the real default skin (``shared/skins/README.md``): notes light grey
(median grey ~187, 154–237, a rounded rectangle with a lighter centre), long-note bodies animated
frames from ~188 to ~245 grey, white hit lighting and column light (~253–255), coloured judgement
text (MAX/300 yellow-orange at grey ~204, 200 yellow-green, 100 green, 50 blue, miss red), white
combo digits (``score-0`` … ``score-9``: stable's mania combo uses the ``ComboPrefix`` font, which
defaults to ``score``, lazer ``LegacySkin.comboPrefix``), dark keys that light up when pressed.

Images are RGBA uint8 ``(h, w, 4)`` at osu!'s 1x size (scale 1). :func:`default_element` returns a
fresh array each call, ``None`` for a name osu!'s default skin does not have.
"""

from __future__ import annotations

import re

import numpy as np

#: 5x7 glyphs of the judgement words and digits (``#`` = ink).
_GLYPHS = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11110", "00001", "00001", "01110", "00001", "00001", "11110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    "M": ("10001", "11011", "10101", "10101", "10001", "10001", "10001"),
    "A": ("01110", "10001", "10001", "11111", "10001", "10001", "10001"),
    "X": ("10001", "10001", "01010", "00100", "01010", "10001", "10001"),
    "I": ("01110", "00100", "00100", "00100", "00100", "00100", "01110"),
    "S": ("01111", "10000", "10000", "01110", "00001", "00001", "11110"),
    "x": ("00000", "00000", "10001", "01010", "00100", "01010", "10001"),
    ",": ("00000", "00000", "00000", "00000", "00110", "00100", "01000"),
    ".": ("00000", "00000", "00000", "00000", "00000", "01100", "01100"),
    "%": ("11001", "11010", "00010", "00100", "01000", "01011", "10011"),
}
#: Judgement bursts: text and RGB (MAX's grey level 0.299 R + 0.587 G + 0.114 B ≈ 204).
_BURSTS = {
    "mania-hit300g": ("MAX", (255, 200, 90)),
    "mania-hit300": ("300", (255, 210, 40)),
    "mania-hit200": ("200", (170, 230, 60)),
    "mania-hit100": ("100", (60, 220, 90)),
    "mania-hit50": ("50", (70, 140, 255)),
    "mania-hit0": ("MISS", (240, 40, 40)),
}
_DIGIT_NAMES = {
    **{f"score-{d}": d for d in "0123456789"},
    "score-x": "x",
    "score-comma": ",",
    "score-dot": ".",
    "score-percent": "%",
}
#: Animation frames of the default look (``name-0`` … ``name-{n-1}``).
FRAMES = {"lightingN": 6, "lightingL": 6, "mania-note1L": 6, "mania-note2L": 6, "mania-noteSL": 6}
#: Note grey levels per column type (the default skin's notes: median ~187, 154–237).
_NOTE_GREY = {"1": 187, "2": 178, "S": 196}
_FRAME = re.compile(r"^(?P<base>.+)-(?P<index>\d+)$")


def _rgba(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w, 4), np.uint8)


def _rounded(h: int, w: int, radius: float) -> np.ndarray:
    """A float mask (0..1) of a rounded rectangle filling ``(h, w)``, antialiased at the corners."""
    y = np.arange(h)[:, None] + 0.5
    x = np.arange(w)[None, :] + 0.5
    dx = np.maximum(np.maximum(radius - x, x - (w - radius)), 0.0)
    dy = np.maximum(np.maximum(radius - y, y - (h - radius)), 0.0)
    return np.clip(radius + 0.5 - np.hypot(dx, dy), 0.0, 1.0)


def _note(kind: str, part: str) -> np.ndarray:
    """A note or hold head/tail: a grey rounded rectangle, lighter towards its middle row."""
    h, w = 24, 60
    grey = _NOTE_GREY[kind] + (6 if part == "H" else 0)
    y = (np.arange(h)[:, None] + 0.5) / h
    x = (np.arange(w)[None, :] + 0.5) / w
    # 154 at the rim to ~237 in the centre: the default note's bevel
    light = 1.0 - np.maximum(np.abs(y - 0.5) * 2.0, np.abs(x - 0.5) * 2.0) ** 2
    level = np.clip(grey - 35 + light * 75, 154, 237)
    out = _rgba(h, w)
    out[..., :3] = level[..., None].astype(np.uint8)
    out[..., 3] = (_rounded(h, w, 7.0) * 255).astype(np.uint8)
    if part == "T":
        out[h // 2 :, :, 3] = 0  # a tail is the head's upper half: the body ends under it
    return out


def _body(kind: str, frame: int) -> np.ndarray:
    """One frame of a hold body: a vertical band whose brightness pulses ~188 -> ~245."""
    h, w = 64, 60
    phase = frame / FRAMES["mania-note1L"]
    level = 188 + 57 * (0.5 - 0.5 * np.cos(2 * np.pi * phase)) - (6 if kind == "2" else 0)
    x = (np.arange(w) + 0.5) / w
    across = level - 10 * (np.abs(x - 0.5) * 2) ** 2
    out = _rgba(h, w)
    out[..., :3] = np.clip(across, 0, 255).astype(np.uint8)[None, :, None]
    out[:, 2:-2, 3] = 255
    return out


def _glow(size: int, frame: int, frames: int, hold: bool) -> np.ndarray:
    """White hit lighting: a radial glow that shrinks and fades over its frames."""
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size]
    r = np.hypot(x - c, (y - c) * (1.6 if hold else 1.0)) / c
    fade = 1.0 - 0.5 * frame / max(1, frames - 1)
    alpha = np.clip(1.0 - r, 0, 1) ** 1.5 * fade
    out = _rgba(size, size)
    out[..., :3] = 255
    out[..., 2] = 253
    out[..., 3] = (alpha * 255).astype(np.uint8)
    return out


def _text(text: str, rgb: tuple[int, int, int], px: int, outline: bool) -> np.ndarray:
    """``text`` in the 5x7 font, ``px`` pixels per font pixel, with a dark outline if asked."""
    gap = 1
    cols = len(text) * (5 + gap) - gap
    ink = np.zeros((7, cols), bool)
    for i, ch in enumerate(text):
        glyph = np.array([[c == "1" for c in row] for row in _GLYPHS[ch]])
        ink[:, i * (5 + gap) : i * (5 + gap) + 5] = glyph
    ink = np.kron(ink, np.ones((px, px), bool))
    pad = px if outline else 0
    ink = np.pad(ink, pad)
    out = _rgba(*ink.shape)
    if outline:
        edge = np.zeros_like(ink)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                edge |= np.roll(np.roll(ink, dy * max(1, px // 3), 0), dx * max(1, px // 3), 1)
        out[edge, 3] = 200
    out[ink, :3] = rgb
    out[ink, 3] = 255
    return out


def _key(down: bool) -> np.ndarray:
    """A key under the judgement line: dark when up, lit when pressed."""
    h, w = 78, 30
    out = _rgba(h, w)
    level = 120 if down else 40
    out[..., :3] = level
    out[..., 3] = 255
    out[:, :2, :3] = out[:, -2:, :3] = level + 40
    out[8:20, 8:-8, :3] = 220 if down else 90  # the key's cap
    return out


def _stage_side(left: bool) -> np.ndarray:
    h, w = 64, 4
    out = _rgba(h, w)
    ramp = np.linspace(60, 150, w).astype(np.uint8)
    out[..., :3] = (ramp if left else ramp[::-1])[None, :, None]
    out[..., 3] = 255
    return out


def _stage_hint() -> np.ndarray:
    """The judgement area across the stage: a light band, brightest on its middle row."""
    h, w = 12, 30
    out = _rgba(h, w)
    y = (np.arange(h) + 0.5) / h
    alpha = np.clip(1.0 - np.abs(y - 0.5) * 2.2, 0, 1)
    out[..., :3] = 200
    out[..., 3] = (alpha * 255).astype(np.uint8)[:, None]
    return out


def _stage_light() -> np.ndarray:
    """The column light: white, opaque at the judgement line and fading upwards."""
    h, w = 256, 30
    out = _rgba(h, w)
    out[..., :3] = 255
    out[..., 3] = (np.linspace(0.0, 1.0, h) ** 2 * 255).astype(np.uint8)[:, None]
    return out


def _warning_arrow() -> np.ndarray:
    h, w = 40, 30
    y, x = np.mgrid[0:h, 0:w]
    inside = np.abs(x - (w - 1) / 2) <= (y * w / (2 * h))
    out = _rgba(h, w)
    out[inside] = (255, 255, 255, 220)
    return out


def default_element(name: str) -> np.ndarray | None:
    """The generated image of one element of osu!'s default mania skin, or ``None``.

    Names are osu!'s file names without extension (``mania-note1``, ``mania-note2H``,
    ``mania-key1D``, ``mania-hit300g``, ``lightingN-0``, ``score-7``, ...), compared
    case-insensitively. Animated elements exist only as frames (``lightingN-0`` … ``lightingN-5``).
    """
    key = name.lower()
    note = re.fullmatch(r"mania-note([12s])([htl]?)", key)
    if note and note.group(2) != "l":
        return _note(note.group(1).upper(), note.group(2).upper())
    keyimg = re.fullmatch(r"mania-key([12s])(d?)", key)
    if keyimg:
        return _key(bool(keyimg.group(2)))
    for digit_name, ch in _DIGIT_NAMES.items():
        if key == digit_name:
            return _text(ch, (255, 255, 255), 3, outline=False)
    frame = _FRAME.fullmatch(name)
    if frame:
        base, index = frame.group("base"), int(frame.group("index"))
        frames = {k.lower(): n for k, n in FRAMES.items()}.get(base.lower())
        if frames is None or index >= frames:
            return None
        body = re.fullmatch(r"mania-note([12s])l", base.lower())
        if body:
            return _body(body.group(1).upper(), index)
        return _glow(64, index, frames, hold=base.lower() == "lightingl")
    for burst, (text, rgb) in _BURSTS.items():
        if key == burst:
            return _text(text, rgb, 4, outline=True)
    builders = {
        "mania-stage-left": lambda: _stage_side(True),
        "mania-stage-right": lambda: _stage_side(False),
        "mania-stage-hint": _stage_hint,
        "mania-stage-light": _stage_light,
        "mania-warningarrow": _warning_arrow,
    }
    build = builders.get(key)
    return build() if build is not None else None
