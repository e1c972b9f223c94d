"""Perception: a screen grab of the playfield turned into the agent's frame, and the note heads
the grab shows (the bottom edge of each, from which
:class:`~ppomania.env.live_frames.CaptureFrames` reads the game time of the grab).

Two ways to see the playfield, one interface (:class:`Perception`):

- :class:`PalettePerception`: the simulator's palette (black background, grey bodies, white
  heads), as the stand-in's classic look draws it: every frame pixel is sampled and snapped to the
  palette (:func:`~ppomania.sim.render.preprocess_capture`). Exact on that look, wrong on osu!'s
  (the default skin's notes are light grey, read as bodies; white lighting reads as heads).
- :class:`SkinPerception`: for the player's skin (built by
  :func:`~ppomania.env.skin_perception.skin_perception` from the skin's images and its
  :class:`~ppomania.skin.layout.ManiaLayout`). Each column is read at full
  screen resolution along three vertical lines; a per-column colour lookup table
  (:func:`note_table`, from the skin's own note, hold and tail images against the column's
  background and the overlays: hit lighting, column light, judgement bursts, combo digits, keys,
  stage hint, lines) says whether a pixel is the stage, a note, or something drawn *over* the
  stage. Runs of note rows are objects (a run taller than 1.5 notes is a hold: head at its bottom,
  tail at its top) and the frame is drawn from them with the simulator's rules (a head
  ``head_rows`` tall with its bottom at the note's row, the body up to the tail's row), so it
  depends neither on the skin's note heights nor on its colours. Overlays: a gap of *over* rows
  between two runs hid the middle of one object (joined); a run whose bottom (top) is hidden is
  completed to a note's height, or, for a hold whose key is held, down to the judgement line (its
  head is pinned there). Where an overlay can look like a note, position and keys decide: the
  hit lighting's band and the column light's note-coloured rows are *over* in the columns whose
  key is held (or was just let go, :data:`~ppomania.skin.timing.LIGHT_RELEASE_MS`); in the
  bursts' and combo's bands a note pixel needs all three samples, and a hold-tall run inside a
  band is a burst's stroke; the rows where the keys are drawn over the notes are not read; the
  stage hint's rows that look like a note are always *over*. Notes move as one: what the last grab
  showed, moved on by the fall that both grabs show, fills in what an overlay hides now
  (:meth:`SkinPerception.recall`), so a note is not lost behind a skin's big judgement bursts.

Cost per frame: a gather of ``3 * K * grab_height`` pixels, one table lookup, the runs, drawing:
well under a millisecond.
"""

from __future__ import annotations

import functools
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
#: What a colour is in a lookup table: the stage, a note, or something drawn over the stage.
STAGE, NOTE, OVER = 0, 1, 2


class Perception(Protocol):
    """Turns grabs of one capture area into frames of one geometry."""

    def frame(self, image: np.ndarray, out: np.ndarray, held: np.ndarray | None = None) -> None:
        """Write the agent's frame of ``image`` (a BGR(A) grab of the area) into ``out``.

        :param held: ``(K,)`` bool, the keys held (None: unknown, taken as none held).
        """

    def head_edges(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, columns)`` int arrays: the grab row under each note head's bottom edge
        (exclusive) and its column, in ``image`` (the grab last passed to :meth:`frame`)."""

    def reset(self) -> None:
        """Forget earlier grabs (a new play starts)."""


def column_xs(columns: list[tuple[float, float]], left: int, width: int) -> np.ndarray:
    """``(K, len(SAMPLES))`` grab x of the pixels read across each column (screen ``(left,
    right)`` edges; the grab starts at screen x ``left`` and is ``width`` wide)."""
    xs = np.array([[math.floor(a + f * (b - a)) - left for f in SAMPLES] for a, b in columns])
    return np.clip(xs, 0, width - 1)


class PalettePerception:
    """The simulator's palette (the stand-in's classic look).

    :param area: where the frame's area lies in the grab (it may reach past the grab's top or
        bottom, e.g. above a window: those rows are read as background).
    :param geometry: the agent's frame.
    :param xs: ``(K,)`` grab x of each column's centre (where heads are looked for).
    """

    def __init__(self, area: CaptureArea, geometry: HighwayGeometry, xs: np.ndarray) -> None:
        self.area, self.geometry, self.xs = area, geometry, np.asarray(xs)
        self._padded: np.ndarray | None = None

    def frame(self, image: np.ndarray, out: np.ndarray, held: np.ndarray | None = None) -> None:
        area = self.area
        if area.top >= 0 and area.top + area.height <= image.shape[0]:
            preprocess_capture(image, area, self.geometry, out)
            return
        if self._padded is None:
            self._padded = np.zeros((area.height, image.shape[1], image.shape[2]), np.uint8)
        top, bottom = max(0, area.top), min(image.shape[0], area.top + area.height)
        self._padded[top - area.top : bottom - area.top] = image[top:bottom]
        local = CaptureArea(area.left, 0, area.width, area.height)
        preprocess_capture(self._padded, local, self.geometry, out)

    def head_edges(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gray = image[:, self.xs, :3].astype(np.float32) @ _BGR_TO_GRAY  # (h, K)
        head = gray >= _HEAD_LEVEL
        ys, cs = np.nonzero(head[:-1] & ~head[1:])
        return ys + 1, cs

    def reset(self) -> None:
        """Nothing to forget: each grab is read on its own."""


def quantize(bgr: np.ndarray) -> np.ndarray:
    """Lookup-table index of BGR(A) pixels ``(..., >=3)`` uint8: ``r, g, b`` high bits."""
    b = bgr[..., 0] >> _SHIFT
    g = bgr[..., 1] >> _SHIFT
    r = bgr[..., 2] >> _SHIFT
    return (r.astype(np.intp) << (2 * LUT_BITS)) | (g.astype(np.intp) << LUT_BITS) | b


@functools.cache
def cell_colours() -> np.ndarray:
    """``(32768, 3)`` float32 RGB centre of every lookup-table cell (read-only)."""
    levels = (np.arange(1 << LUT_BITS, dtype=np.float32) + 0.5) * (1 << _SHIFT)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    cells = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    cells.flags.writeable = False
    return cells


def _nearest(cells: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Distance from every cell to the nearest of ``colours`` ``(n, 3)`` (inf when none)."""
    if len(colours) == 0:
        return np.full(len(cells), np.inf, np.float32)
    cells = cells.astype(np.float32)
    best = np.full(len(cells), np.inf, np.float32)
    cell_sq = (cells**2).sum(axis=1)
    for i in range(0, len(colours), 512):  # |a - b|^2 = |a|^2 - 2 a.b + |b|^2, as a matmul
        chunk = colours[i : i + 512].astype(np.float32)
        d = cell_sq[:, None] - 2 * cells @ chunk.T + (chunk**2).sum(axis=1)[None, :]
        np.minimum(best, d.min(axis=1), out=best)
    return np.sqrt(np.maximum(best, 0))


def note_table(
    notes: np.ndarray, stage: np.ndarray, overlays: np.ndarray, tolerance: float = 40.0
) -> np.ndarray:
    """One column's lookup table: what each colour is (:data:`STAGE`, :data:`NOTE`, :data:`OVER`).

    A colour is a note's when it is within ``tolerance`` of a note colour and nearer to the notes
    than to the column's background (``stage``) and to every overlay colour that is not also a note
    colour (in the same table cell): a white lighting over grey notes is told apart by colour;
    over white notes it cannot be (see :func:`conflicts`). Else it is the stage's when within
    ``tolerance`` of it, else something drawn over the stage (an overlay, or a note under one).

    :param notes, stage, overlays: ``(n, 3)`` RGB colours.
    :returns: the ``(32768,)`` uint8 table.
    """
    cells = cell_colours()
    d_note = _nearest(cells, notes)
    d_stage = _nearest(cells, stage)
    table = np.where(d_stage <= tolerance / 2, STAGE, OVER).astype(np.uint8)
    candidates = np.flatnonzero((d_note <= tolerance) & (d_note < d_stage))
    d_overlay = _nearest(cells[candidates], overlays[~conflicts(overlays, notes)])
    table[candidates[d_note[candidates] < d_overlay]] = NOTE
    return table


def conflicts(overlays: np.ndarray, notes: np.ndarray) -> np.ndarray:
    """Which ``overlays`` colours are also note colours (the same table cell)."""
    if len(overlays) == 0:
        return np.zeros(0, bool)
    return _nearest(overlays, notes) < 1


class SkinPerception:
    """Notes found by colour and shape, the frame drawn with the simulator's rules.

    Each grab row of each column is read as stage, note or *over* (something drawn over the
    stage: an overlay, or a note under one). Runs of note rows are objects; a gap of *over* rows
    between two runs hid the middle of one object (a burst over a hold), so they are joined; a
    run whose bottom ends on *over* rows had its bottom hidden: a hold whose key is held reaches
    the judgement line (its head is pinned there), a note is a note tall.

    :param geometry: the agent's frame.
    :param height: grab rows.
    :param xs: ``(K, len(SAMPLES))`` grab x of the pixels read across each column.
    :param line: grab row under the judgement line.
    :param tables: ``(K, 32768)`` uint8 per column (:func:`note_table`).
    :param note_px: ``(K,)`` a note's height in grab pixels (runs taller than 1.5 notes are holds).
    :param doubt: ``(K, 2)`` grab rows ``[top, bottom)`` each column's hit lighting covers around
        the line (``top == bottom``: none).
    :param reach: ``(K, K)`` bool, column ``c``'s hit lighting looks like a note in column ``d``
        (it may be wider than its column); None: in its own column only.
    :param light: ``(K, 2)`` grab row of the column light's bottom and its full height: at light
        level ``level`` (1 while the key is held, shrinking after the release) it covers
        ``[bottom - level * height, bottom)``, its image squeezed into those rows.
    :param light_rows: per column, which of the light's ``round(height)`` rows (at level 1) look
        like a note (empty: none).
    :param row_px: grab rows per frame row.
    :param blind_from: grab row from which nothing is read (where the keys are drawn over the
        notes); None: read everything.
    :param bands: grab rows ``[top, bottom)`` of the judgement bursts and the combo, drawn over the
        lanes whatever the keys: a row there is a note's only when all its samples say so.
    :param fixed: ``(grab rows, K)`` bool, rows always covered by something that does not move and
        looks like a note (the stage hint's brightest rows in a grey-note skin); None: none.
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
        light: np.ndarray,
        light_rows: list[np.ndarray],
        row_px: float,
        blind_from: int | None = None,
        bands: list[tuple[float, float]] | tuple = (),
        fixed: np.ndarray | None = None,
        reach: np.ndarray | None = None,
    ) -> None:
        keys = geometry.keys
        if xs.shape[0] != keys or tables.shape != (keys, 1 << (3 * LUT_BITS)):
            raise ValueError(f"xs and tables must describe {keys} columns")
        self.geometry, self.height, self.line = geometry, height, float(line)
        self.xs = np.asarray(xs, np.intp)
        self._flat_xs = self.xs.ravel()
        self._offsets = np.repeat(np.arange(keys) * tables.shape[1], self.xs.shape[1])
        self.bands = [(max(0, math.floor(a)), min(height, math.ceil(b))) for a, b in bands]
        self._in_band = np.zeros(height, bool)
        for a, b in self.bands:
            self._in_band[a:b] = True
        self.tables = tables
        # Per sample: 1 for a note, 4 for the stage; three samples' sum holds both counts.
        self._votes = np.choose(tables.ravel(), [4, 1, 0]).astype(np.uint8)
        self.note_px = np.asarray(note_px, np.float64)
        self.doubt = np.asarray(doubt, np.float64)
        self.reach = np.eye(keys, dtype=bool) if reach is None else np.asarray(reach, bool)
        self.light = np.asarray(light, np.float64)
        self.light_rows = [np.asarray(r, bool) for r in light_rows]
        self.row_px = float(row_px)
        self.blind_from = height if blind_from is None else max(0, min(height, blind_from))
        self.fixed = np.zeros((height, keys), bool) if fixed is None else np.asarray(fixed, bool)
        # a run taller than this is a hold (head at its bottom, tail at its top)
        self.hold_px = 1.5 * self.note_px + 2
        smallest = float(self.note_px.min())
        self._gap = max(1, round(0.25 * smallest))
        self._min_run = max(2, round(0.5 * smallest))  # lines and hints are thinner
        self._edges: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.intp), np.zeros(0, np.intp))
        self._memory: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._last_fall: float | None = None

    def doubted(self, held: np.ndarray | None) -> np.ndarray:
        """``(grab rows, K)`` bool: rows doubted at light levels ``held`` (``(K,)`` in [0, 1], or
        bool; None: none): the hit lighting's band, and the column light's rows that look like a
        note; and the :attr:`fixed` rows."""
        out = self.fixed.copy()
        if held is None:
            return out
        level = np.asarray(held, np.float64)
        for c in np.flatnonzero(level > 0):
            top, bottom = self.doubt[c]
            if bottom > top:
                rows = slice(max(0, math.floor(top)), max(0, math.ceil(bottom)))
                out[rows, self.reach[c]] = True
            rows = self.light_rows[c]
            if rows.any():
                shown = level[c] * self.light[c, 1]
                first = self.light[c, 0] - shown
                ys = np.arange(
                    max(0, math.floor(first)), min(self.height, math.ceil(self.light[c, 0]))
                )
                index = ((ys - first) / max(shown, 1e-9) * len(rows)).astype(np.intp)
                ys = ys[(index >= 0) & (index < len(rows))]
                index = index[(index >= 0) & (index < len(rows))]
                out[ys[rows[index]], c] = True
        return out

    def classes(self, image: np.ndarray, doubted: np.ndarray) -> np.ndarray:
        """``(grab rows, K)`` uint8: :data:`STAGE`, :data:`NOTE` or :data:`OVER` per row of each
        column (a majority of its samples), ``doubted`` rows :data:`OVER`."""
        if image.shape[2] == 4 and image.flags.c_contiguous:  # BGRA words: one gather
            words = image.view(np.uint32)[: self.height, :, 0][:, self._flat_xs]
            index = ((words >> 19) & 31) << 10 | ((words >> 11) & 31) << 5 | ((words >> 3) & 31)
        else:
            index = quantize(image[: self.height, self._flat_xs])
        votes = self._votes[index + self._offsets]
        n = self.xs.shape[1]
        votes = votes.reshape(self.height, -1, n).sum(axis=2, dtype=np.uint8)
        notes = votes & 3
        note = notes * 2 > n
        note[self._in_band] = notes[self._in_band] == n  # bursts: only where all agree
        stage = (votes >> 2) * 2 > n
        out = np.where(note, NOTE, np.where(stage, STAGE, OVER)).astype(np.uint8)
        out[self.blind_from :] = STAGE
        out[doubted] = OVER
        return out

    def runs(
        self, classes: np.ndarray, held: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(columns, tops, bottoms, top_seen, bottom_seen)``: grab rows of each object (bottom
        exclusive), and whether each edge was seen (not hidden nor cut by the grab's edge)."""
        rows, keys = classes.shape
        padded = np.zeros((keys, rows + 2), np.int8)
        padded[:, 1:-1] = (classes == NOTE).T
        change = np.diff(padded, axis=1)
        cs, tops = np.nonzero(change == 1)  # column-major: by column, then row
        bottoms = np.nonzero(change == -1)[1]
        if cs.size == 0:
            return cs, tops, bottoms, cs.astype(bool), cs.astype(bool)
        # Rows not covered up to each row: a gap is hidden when none of its rows is uncovered.
        open_rows = np.zeros((rows + 1, keys), np.int32)
        np.cumsum(classes != OVER, axis=0, out=open_rows[1:])
        hidden = open_rows[tops[1:], cs[1:]] == open_rows[bottoms[:-1], cs[1:]]
        new = np.ones(cs.size, bool)
        new[1:] = (cs[1:] != cs[:-1]) | ((tops[1:] - bottoms[:-1] > self._gap) & ~hidden)
        cs, tops, bottoms = cs[new], tops[new], bottoms[np.r_[new[1:], True]]
        top_hidden = (tops == 0) | (classes[np.maximum(tops - 1, 0), cs] == OVER)
        bottom_hidden = (bottoms < rows) & (classes[np.minimum(bottoms, rows - 1), cs] == OVER)
        size = bottoms - tops
        note_px = self.note_px[cs]
        tall = size > self.hold_px[cs]
        keep = size >= np.where(top_hidden | bottom_hidden, 2, self._min_run)
        for a, b in self.bands:  # a hold-tall run inside a band is a burst's stroke
            keep &= ~(tall & (tops >= a) & (bottoms <= b))
        down = np.zeros(cs.size, bool) if held is None else np.asarray(held)[cs] >= 1
        note_h = np.round(note_px).astype(np.intp)
        bottoms = np.where(
            bottom_hidden & tall & down,
            np.maximum(bottoms, round(self.line)),
            np.where(bottom_hidden & ~tall, np.maximum(bottoms, tops + note_h), bottoms),
        )
        tops = np.where(
            top_hidden & ~bottom_hidden & ~tall, np.minimum(tops, bottoms - note_h), tops
        )
        return cs[keep], tops[keep], bottoms[keep], ~top_hidden[keep], ~bottom_hidden[keep]

    def recall(
        self, classes: np.ndarray, found: tuple[np.ndarray, ...], held: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The objects of this grab: those :meth:`runs` ``found``, plus the previous grab's
        objects moved on by the scroll that both grabs show, where they are now hidden.

        Every object falls by the same number of rows between two grabs; the median fall of the
        objects seen whole in both (the nearest one above, of a like size, in the same column)
        measures it. A remembered object stays while the rows it should cover show no stage
        (some overlay hides it: a judgement burst, the combo); one the grab shows cut by an
        overlay gets its hidden edge back from it: a hold whose key is ``held`` (as for
        :meth:`runs`) keeps its head on the line however little of it shows above the hit
        lighting, and one whose head was seen coming keeps it where it is, not pinned to the line
        because the column light of the hold before hides it. The memory holds floats (no drift).
        """
        cs, tops, bottoms, top_seen, bottom_seen = found
        tops, bottoms = tops.astype(np.float64), bottoms.astype(np.float64)
        keys = self.geometry.keys
        down = np.zeros(keys, bool) if held is None else np.asarray(held)[:keys] >= 1
        previous, self._memory = self._memory, None
        fall = None
        if previous is not None and previous[0].size:
            fall = self._fall(previous, cs, tops, bottoms, top_seen & bottom_seen)
        if fall is not None:
            extra = []
            for c, top, bottom in zip(*(a.tolist() for a in previous)):
                hold = bottom - top > self.hold_px[c]
                top, bottom = top + fall, bottom + fall
                if bottom > self.line:
                    if hold and down[c] and top < self.line - 2:
                        # a held hold's head stays on the line, however little of it shows
                        pinned = (cs == c) & ~bottom_seen & (tops < self.line) & (bottoms > top)
                        bottoms[pinned] = self.line
                    continue
                a, b = max(0, math.floor(top)), min(classes.shape[0], math.ceil(bottom))
                if b - a < 2:
                    continue
                if np.count_nonzero(classes[a:b, c] == STAGE) > max(2, (b - a) // 4):
                    continue  # the grab shows the stage there: it is gone (hit, or misread)
                near = np.flatnonzero((cs == c) & (tops < b) & (bottoms > a))
                if near.size == 0:
                    extra.append((c, top, bottom))
                for i in near[~bottom_seen[near]].tolist():
                    if bottoms[i] >= self.line and bottom < self.line - self.note_px[c]:
                        bottoms[i] = bottom  # not held: a hold's head seen coming, now hidden
                    elif bottom > bottoms[i]:
                        bottoms[i] = min(bottom, self.line)
                for i in near[~top_seen[near]].tolist():
                    tops[i] = min(tops[i], top)
            if extra:
                more = np.array(extra, np.float64).T
                cs = np.concatenate([cs, more[0].astype(np.intp)])
                tops, bottoms = np.concatenate([tops, more[1]]), np.concatenate([bottoms, more[2]])
        self._memory = (cs, tops, bottoms)
        return cs, tops, bottoms

    def _fall(
        self,
        previous: tuple[np.ndarray, np.ndarray, np.ndarray],
        cs: np.ndarray,
        tops: np.ndarray,
        bottoms: np.ndarray,
        whole: np.ndarray,
    ) -> float | None:
        """Rows every object fell since the previous grab (None: nothing to measure it by)."""
        pc, pt, pb = previous
        falls = []
        for c, top, bottom in zip(
            cs[whole].tolist(), tops[whole].tolist(), bottoms[whole].tolist()
        ):
            like = (pc == c) & (np.abs((pb - pt) - (bottom - top)) <= 3)
            d = bottom - pb[like]
            d = d[(d >= -1) & (d <= self.height / 4)]
            if d.size:
                falls.append(float(d.min()))
        if falls:
            self._last_fall = float(np.median(falls))
        return self._last_fall

    def reset(self) -> None:
        """Forget the previous grabs (a new play)."""
        self._memory, self._last_fall = None, None

    def frame(self, image: np.ndarray, out: np.ndarray, held: np.ndarray | None = None) -> None:
        g = self.geometry
        classes = self.classes(image, self.doubted(held))
        found = self.runs(classes, held)
        self._edges = (found[2], found[0])
        cs, tops, bottoms = self.recall(classes, found, held)
        out[...] = BACKGROUND
        out[g.judgement_row, :] = LINE
        j, cw, m, hr = g.judgement_row, g.column_width, g.note_margin, g.head_rows
        for c, top, bottom in zip(cs.tolist(), tops.tolist(), bottoms.tolist()):
            y_head = j - math.floor((self.line - bottom) / self.row_px + 0.5)
            x0, x1 = c * cw + m, (c + 1) * cw - m
            if bottom - top > self.hold_px[c]:
                y_tail = j - math.floor((self.line - top) / self.row_px + 0.5)
                out[max(y_tail, 0) : max(y_head - hr + 1, 0), x0:x1] = BODY
            if y_head >= 0:
                out[max(y_head - hr + 1, 0) : min(y_head + 1, g.height), x0:x1] = HEAD

    def head_edges(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._edges
