"""The ppomania skin: an osu!stable skin that draws what the agent trained on.

The simulator's frame (``ppomania.sim.render``) is a black highway with white note heads, grey hold
bodies and a dim judgement line. This skin makes osu!stable draw the same: black lanes, no column
lines or bar lines, white heads, grey bodies, a grey judgement line, and blank (transparent)
hit lighting, judgement bursts, combo digits, column light, keys and stage borders, so nothing
covers the lanes.

Layout per key count (480-unit space): ``ColumnWidth`` 40 (60 px at 1280x720, 90 px at
1920x1080), the stage centred on a 16:9 window (stable puts it at ``ColumnStart`` from the left,
see ``layout``; ColumnStart is rounded to a multiple of 4 units so column edges land on whole
pixels at 720p and 1080p), ``HitPosition`` 402 (osu!'s default, so a scroll speed ``s`` shows
``11485 / s`` ms of notes above the line, the simulator's ``scroll_ms_for``).

Note height. A head is ``head_rows`` rows of a frame whose ``judgement_row`` rows cover
``scroll_ms``: ``head_rows * scroll_ms / judgement_row`` ms of scroll. osu! scales a note image to
the column width keeping its aspect ratio, so the image's aspect ratio fixes its height on screen.
Assumption: the player's scroll speed is the one the frame was trained at
(``BASE_SCROLL_MS / scroll_ms``, 22 by default); then the head is
``head_rows * 402 / judgement_row`` units tall whatever the speed value, because both the frame
and osu! then span the same ms between the window's top and the line.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from ppomania.game.scroll import BASE_SCROLL_MS, DEFAULT_HIT_POSITION

#: Column width (480-unit space) of every key count.
COLUMN_WIDTH = 40
#: Width in units of a 16:9 window (480 * 16 / 9).
WIDE_WIDTH = 480 * 16 / 9
#: Pixels of note image per frame pixel of a column (sharp margins when osu! stretches it).
IMAGE_PX_PER_FRAME_PX = 16
#: Every key count osu!stable plays on one stage.
ALL_KEYS = tuple(range(1, 11))
BLANK = "ppomania/blank"
#: skin.ini image keys drawn blank (transparent), per section.
_BLANK_ELEMENTS = (
    "Hit0",
    "Hit50",
    "Hit100",
    "Hit200",
    "Hit300",
    "Hit300g",
    "LightingN",
    "LightingL",
    "StageLeft",
    "StageRight",
    "StageBottom",
    "StageHint",
    "StageLight",
    "WarningArrow",
)
#: Default-named images also written blank: the combo counter's font (``score-``, stable's
#: default ComboPrefix) and the default lighting names, in case an osu! version ignores a key.
_BLANK_FILES = (
    *(f"score-{c}" for c in (*"0123456789", "x", "comma", "dot", "percent")),
    "lightingN",
    "lightingL",
    "mania-stage-light",
    "mania-stage-hint",
    "mania-warningarrow",
)


@dataclass(frozen=True)
class FrameLook:
    """What the skin must reproduce of the agent's frame (``HighwayGeometry`` and the palette).

    ``column_width``/``note_margin`` in frame pixels, ``head_rows``/``judgement_row`` in rows,
    ``scroll_ms`` the ms between the frame's top row and its judgement row; ``head``, ``body`` and
    ``line`` are the grey levels of heads, hold bodies and the judgement line.
    """

    head_rows: int
    judgement_row: int
    scroll_ms: float
    column_width: int
    note_margin: int
    head: int = 255
    body: int = 160
    line: int = 96

    @property
    def scroll_speed(self) -> float:
        """The osu! scroll speed the frame's ``scroll_ms`` corresponds to."""
        return BASE_SCROLL_MS / self.scroll_ms

    @property
    def head_units(self) -> float:
        """A head's height in osu!'s 480-unit space at :attr:`scroll_speed`."""
        head_ms = self.head_rows * self.scroll_ms / self.judgement_row
        return head_ms * DEFAULT_HIT_POSITION * self.scroll_speed / BASE_SCROLL_MS


def encode_png(pixels: np.ndarray) -> bytes:
    """RGBA uint8 ``(h, w, 4)`` -> PNG bytes (8-bit RGBA, no filter)."""
    if pixels.ndim != 3 or pixels.shape[2] != 4 or pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be (h, w, 4) uint8, got {pixels.shape} {pixels.dtype}")
    h, w = pixels.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), pixels.reshape(h, w * 4)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def _column_image(look: FrameLook, grey: int, height: int) -> np.ndarray:
    """A column-wide image of one grey, the frame's note margins transparent."""
    width = look.column_width * IMAGE_PX_PER_FRAME_PX
    margin = look.note_margin * IMAGE_PX_PER_FRAME_PX
    out = np.zeros((height, width, 4), np.uint8)
    out[:, margin : width - margin] = (grey, grey, grey, 255)
    return out


def note_pixels(look: FrameLook) -> np.ndarray:
    """The head image: as tall, relative to the column width, as a head is in osu! units."""
    width = look.column_width * IMAGE_PX_PER_FRAME_PX
    height = max(1, round(look.head_units / COLUMN_WIDTH * width))
    return _column_image(look, look.head, height)


def body_pixels(look: FrameLook) -> np.ndarray:
    """The hold body image (one grey: stretched or repeated, it looks the same)."""
    return _column_image(look, look.body, 32)


def column_start(keys: int) -> int:
    """ColumnStart that centres ``keys`` columns on a 16:9 window, to a multiple of 4 units."""
    return int(round((WIDE_WIDTH - keys * COLUMN_WIDTH) / 2 / 4) * 4)


def _section(keys: int, look: FrameLook) -> str:
    grey = f"{look.line},{look.line},{look.line}"
    lines = [
        "[Mania]",
        f"Keys: {keys}",
        f"ColumnStart: {column_start(keys)}",
        f"ColumnWidth: {','.join([str(COLUMN_WIDTH)] * keys)}",
        f"ColumnLineWidth: {','.join(['0'] * (keys + 1))}",
        f"HitPosition: {DEFAULT_HIT_POSITION:g}",
        "JudgementLine: 1",
        "UpsideDown: 0",
        "KeysUnderNotes: 1",
        "SpecialStyle: 0",
        "NoteBodyStyle: 0",
        "BarlineHeight: 0",
        *(f"Colour{c + 1}: 0,0,0,255" for c in range(keys)),
        *(f"ColourLight{c + 1}: 0,0,0" for c in range(keys)),
        "ColourColumnLine: 0,0,0,0",
        "ColourBarline: 0,0,0,0",
        f"ColourJudgementLine: {grey}",
    ]
    for c in range(keys):
        lines += [
            f"NoteImage{c}: ppomania/{keys}k-note",
            f"NoteImage{c}H: ppomania/{keys}k-note",
            f"NoteImage{c}L: ppomania/{keys}k-body",
            f"NoteImage{c}T: {BLANK}",
            f"KeyImage{c}: {BLANK}",
            f"KeyImage{c}D: {BLANK}",
        ]
    lines += [f"{key}: {BLANK}" for key in _BLANK_ELEMENTS]
    return "\n".join(lines)


def skin_ini_text(looks: dict[int, FrameLook]) -> str:
    """The ``skin.ini`` of the ppomania skin for the key counts in ``looks``."""
    general = [
        "[General]",
        "Name: ppomania",
        "Author: ppomania (generated)",
        "Version: 2.5",
    ]
    sections = [_section(keys, looks[keys]) for keys in sorted(looks)]
    return "\n\n".join(["\n".join(general), *sections]) + "\n"


def skin_files(looks: dict[int, FrameLook]) -> dict[str, bytes]:
    """Every file of the ppomania skin (path inside the skin -> bytes)."""
    if not looks:
        raise ValueError("the skin needs at least one key count")
    for keys in looks:
        if not 1 <= keys <= 10:
            raise ValueError(f"key counts must be in 1..10 (one stage), got {keys}")
    blank = encode_png(np.zeros((1, 1, 4), np.uint8))
    files = {"skin.ini": skin_ini_text(looks).replace("\n", "\r\n").encode()}
    files[f"{BLANK}.png"] = blank
    for name in _BLANK_FILES:
        files[f"{name}.png"] = blank
    for keys, look in sorted(looks.items()):
        files[f"ppomania/{keys}k-note.png"] = encode_png(note_pixels(look))
        files[f"ppomania/{keys}k-body.png"] = encode_png(body_pixels(look))
    return files


def osk_bytes(looks: dict[int, FrameLook]) -> bytes:
    """The ppomania skin as an ``.osk`` (a zip of the skin folder's contents)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as osk:
        for name, data in skin_files(looks).items():
            # fixed timestamps: the same looks give the same bytes
            osk.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
