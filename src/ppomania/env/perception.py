"""Perception: a screen grab of the playfield turned into the agent's frame, and the note heads
the grab shows (the bottom edge of each, from which
:class:`~ppomania.env.live_frames.CaptureFrames` reads the game time of the grab).

Two ways to see the playfield, one interface (:class:`Perception`):

- :class:`PalettePerception`: the simulator's palette (black background, grey bodies, white
  heads), as the stand-in's classic look draws it: every frame pixel is sampled and snapped to the
  palette (:func:`~ppomania.sim.render.preprocess_capture`). Exact on that look, wrong on osu!'s
  (the default skin's notes are light grey, read as bodies; white lighting reads as heads).
- :class:`SkinPerception`: for the player's skin (built by :func:`skin_perception`). Each column
  is read at full screen resolution along three vertical lines; a per-column colour lookup table
  (:func:`note_table`, from the skin's own note, hold and tail images against the stage and the
  overlays: lighting, column light, judgement bursts, combo digits) says which pixels are notes;
  runs of note pixels are objects (a run taller than a note is a hold: head at its bottom, tail at
  its top), and the frame is drawn from them with the simulator's rules (a head ``head_rows`` tall
  with its bottom at the note's row, the body up to the tail's row), so it does not depend on the
  skin's note heights or colours. Where an overlay shown under a held key can look like a note
  (white lighting over white notes, a column light over grey ones), the rows it covers are doubted
  in the columns whose key is held: note pixels there are ignored, and a run that reaches them
  from above is continued to the judgement line (a held hold's head is pinned there).

Cost per frame: a gather of ``3 * K * grab_height`` pixels, one table lookup, the runs, drawing:
well under a millisecond.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from ppomania.sim.render import (
    BACKGROUND,
    BODY,
    HEAD,
    LINE,
    CaptureArea,
    HighwayGeometry,
    preprocess_capture,
)

_BGR_TO_GRAY = np.array([0.114, 0.587, 0.299], dtype=np.float32)  # BT.601
_HEAD_LEVEL = 208  # preprocess_capture's head threshold
#: Bits kept per colour channel in the lookup tables (32 levels: 32768 entries per column).
LUT_BITS = 5
_SHIFT = 8 - LUT_BITS
#: Where across a column it is read (a pixel is a note pixel when two of the three are).
SAMPLES = (0.3, 0.5, 0.7)


class Perception(Protocol):
    """Turns grabs of one capture area into frames of one geometry."""

    def frame(self, image: np.ndarray, out: np.ndarray, held: np.ndarray | None = None) -> None:
        """Write the agent's frame of ``image`` (a BGR(A) grab of the area) into ``out``.

        :param held: ``(K,)`` bool, the keys held (None: unknown, taken as none held).
        """

    def head_edges(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, columns)`` int arrays: the grab row under each note head's bottom edge
        (exclusive) and its column, in ``image`` (the grab last passed to :meth:`frame`)."""


def column_xs(columns: list[tuple[float, float]], left: int, width: int) -> np.ndarray:
    """``(K, len(SAMPLES))`` grab x of the pixels read across each column (screen ``(left,
    right)`` edges; the grab starts at screen x ``left`` and is ``width`` wide)."""
    xs = np.array([[math.floor(a + f * (b - a)) - left for f in SAMPLES] for a, b in columns])
    return np.clip(xs, 0, width - 1)


class PalettePerception:
    """The simulator's palette (the stand-in's classic look).

    :param area: the grab's own rectangle (``CaptureArea(0, 0, w, h)``).
    :param geometry: the agent's frame.
    :param xs: ``(K,)`` grab x of each column's centre (where heads are looked for).
    """

    def __init__(self, area: CaptureArea, geometry: HighwayGeometry, xs: np.ndarray) -> None:
        self.area, self.geometry, self.xs = area, geometry, np.asarray(xs)

    def frame(self, image: np.ndarray, out: np.ndarray, held: np.ndarray | None = None) -> None:
        preprocess_capture(image, self.area, self.geometry, out)

    def head_edges(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gray = image[:, self.xs, :3].astype(np.float32) @ _BGR_TO_GRAY  # (h, K)
        head = gray >= _HEAD_LEVEL
        ys, cs = np.nonzero(head[:-1] & ~head[1:])
        return ys + 1, cs


def quantize(bgr: np.ndarray) -> np.ndarray:
    """Lookup-table index of BGR(A) pixels ``(..., >=3)`` uint8: ``r, g, b`` high bits."""
    b = bgr[..., 0] >> _SHIFT
    g = bgr[..., 1] >> _SHIFT
    r = bgr[..., 2] >> _SHIFT
    return (r.astype(np.intp) << (2 * LUT_BITS)) | (g.astype(np.intp) << LUT_BITS) | b


def _cell_colours() -> np.ndarray:
    """``(32768, 3)`` float32 RGB centre of every lookup-table cell."""
    levels = (np.arange(1 << LUT_BITS, dtype=np.float32) + 0.5) * (1 << _SHIFT)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)


def _nearest(cells: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Distance from every cell to the nearest of ``colours`` ``(n, 3)`` (inf when none)."""
    if len(colours) == 0:
        return np.full(len(cells), np.inf, np.float32)
    best = np.full(len(cells), np.inf, np.float32)
    for i in range(0, len(colours), 256):
        chunk = colours[i : i + 256].astype(np.float32)
        d = ((cells[:, None, :] - chunk[None, :, :]) ** 2).sum(axis=2)
        np.minimum(best, d.min(axis=1), out=best)
    return np.sqrt(best)


def image_colours(
    rgba: np.ndarray, under: tuple[int, int, int] = (0, 0, 0), min_alpha: int = 96
) -> np.ndarray:
    """The distinct colours ``(n, 3)`` RGB of an image's visible pixels drawn over ``under``
    (straight alpha), rounded to the lookup tables' cells."""
    pixels = rgba.reshape(-1, 4)
    pixels = pixels[pixels[:, 3] >= min_alpha].astype(np.float32)
    alpha = pixels[:, 3:4] / 255.0
    rgb = pixels[:, :3] * alpha + np.asarray(under, np.float32) * (1 - alpha)
    cells = np.unique(rgb.astype(np.uint8) >> _SHIFT, axis=0).astype(np.float32)
    return (cells + 0.5) * (1 << _SHIFT)


def note_table(
    notes: np.ndarray, stage: np.ndarray, overlays: np.ndarray, tolerance: float = 40.0
) -> tuple[np.ndarray, np.ndarray]:
    """One column's lookup table: which colours are notes.

    A colour is a note's when it is within ``tolerance`` of a note colour and nearer to the notes
    than to anything the stage always shows (background, column lines, judgement line) and than
    to every overlay colour that is not also a note colour (a white lighting over grey notes is
    told apart by colour; over white notes it cannot be, see :class:`SkinPerception`).

    :param notes, stage, overlays: ``(n, 3)`` RGB colours.
    :returns: ``(table, conflicts)``: the ``(32768,)`` bool table and whether any overlay colour is
        also a note colour.
    """
    cells = _cell_colours()
    d_note = _nearest(cells, notes)
    d_stage = _nearest(cells, stage)
    conflict = _nearest(overlays, notes) <= tolerance / 2 if len(overlays) else np.zeros(0, bool)
    d_overlay = _nearest(cells, overlays[~conflict])
    table = (d_note <= tolerance) & (d_note < d_stage) & (d_note < d_overlay)
    return table, bool(conflict.any())


class SkinPerception:
    """Notes found by colour and shape, the frame drawn with the simulator's rules.

    :param geometry: the agent's frame.
    :param height: grab rows.
    :param xs: ``(K, len(SAMPLES))`` grab x of the pixels read across each column.
    :param line: grab row under the judgement line.
    :param tables: ``(K, 32768)`` bool note colours per column (:func:`note_table`).
    :param note_px: ``(K,)`` a note's height in grab pixels (runs taller than 1.5 notes are holds).
    :param doubt: ``(K, 2)`` grab rows ``[top, bottom)`` an overlay that may look like a note covers
        while the column's key is held (``top == bottom``: none).
    """

    def __init__(
        self,
        geometry: HighwayGeometry,
        height: int,
        xs: np.ndarray,
        line: float,
        tables: np.ndarray,
        note_px: np.ndarray,
        doubt: np.ndarray,
    ) -> None:
        keys = geometry.keys
        if xs.shape[0] != keys or tables.shape != (keys, 1 << (3 * LUT_BITS)):
            raise ValueError(f"xs and tables must describe {keys} columns")
        self.geometry, self.height, self.line = geometry, height, float(line)
        self.xs = np.asarray(xs, np.intp)
        self._flat_xs = self.xs.ravel()
        self._offsets = np.repeat(np.arange(keys) * tables.shape[1], self.xs.shape[1])
        self.tables = tables
        self._flat_tables = tables.ravel()
        self.note_px = np.asarray(note_px, np.float64)
        self.doubt = np.asarray(doubt, np.intp)
        self.row_px = height / geometry.height
        self._gap = max(1, round(0.25 * float(self.note_px.min(initial=4))))
        self._edges: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.intp), np.zeros(0, np.intp))

    def note_mask(self, image: np.ndarray, held: np.ndarray | None = None) -> np.ndarray:
        """``(grab rows, K)`` bool: note pixels of each column (doubted rows of held keys off)."""
        pixels = image[: self.height, self._flat_xs]
        found = self._flat_tables[quantize(pixels) + self._offsets]
        n = self.xs.shape[1]
        mask = found.reshape(self.height, -1, n).sum(axis=2) * 2 > n
        if held is not None:
            for c in np.flatnonzero(held):
                top, bottom = self.doubt[c]
                mask[top:bottom, c] = False
        return mask

    def runs(
        self, mask: np.ndarray, held: np.ndarray | None = None
    ) -> list[tuple[int, int, int]]:
        """``(column, top, bottom)`` grab rows of each object (bottom exclusive)."""
        keys = mask.shape[1]
        padded = np.zeros((mask.shape[0] + 2, keys), np.int8)
        padded[1:-1] = mask
        change = np.diff(padded, axis=0)
        out = []
        line = round(self.line)
        for c in range(keys):
            starts = np.flatnonzero(change[:, c] == 1)
            ends = np.flatnonzero(change[:, c] == -1)
            if starts.size == 0:
                continue
            # Close gaps a few pixels tall (seams between a head and its body, thin overlays).
            keep = np.ones(starts.size, bool)
            keep[1:] = starts[1:] - ends[:-1] > self._gap
            starts = starts[keep]
            ends = ends[np.r_[keep[1:], True]]
            top_doubt, bottom_doubt = self.doubt[c]
            extend = held is not None and held[c] and top_doubt < bottom_doubt
            for top, bottom in zip(starts.tolist(), ends.tolist()):
                if bottom - top < 2:
                    continue
                if extend and bottom == top_doubt:
                    bottom = max(bottom, line)
                out.append((c, top, bottom))
        return out

    def frame(self, image: np.ndarray, out: np.ndarray, held: np.ndarray | None = None) -> None:
        g = self.geometry
        runs = self.runs(self.note_mask(image, held), held)
        out[...] = BACKGROUND
        out[g.judgement_row, :] = LINE
        rows, cols = [], []
        j, cw, m, hr = g.judgement_row, g.column_width, g.note_margin, g.head_rows
        for c, top, bottom in runs:
            y_head = j - math.floor((self.line - bottom) / self.row_px + 0.5)
            x0, x1 = c * cw + m, (c + 1) * cw - m
            if bottom - top > 1.5 * self.note_px[c] + 2:
                y_tail = j - math.floor((self.line - top) / self.row_px + 0.5)
                out[max(y_tail, 0) : max(y_head - hr + 1, 0), x0:x1] = BODY
            if y_head >= 0:
                out[max(y_head - hr + 1, 0) : min(y_head + 1, g.height), x0:x1] = HEAD
            rows.append(bottom)
            cols.append(c)
        self._edges = (np.array(rows, np.intp), np.array(cols, np.intp))

    def head_edges(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._edges
