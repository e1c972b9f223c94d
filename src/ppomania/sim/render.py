"""The note highway as the agent sees it: game state → uint8 frames in preallocated buffers.

Frame format (shared by the simulator and the live backend, see :func:`preprocess_capture`):

- ``(H, W)`` uint8, ``W = keys * column_width``; column ``c`` spans pixel columns
  ``[c * column_width, (c + 1) * column_width)``, downscroll (notes fall towards the bottom).
- Background :data:`BACKGROUND` (0); the judgement line :data:`LINE` (96) across the whole row
  ``judgement_row``; hold bodies :data:`BODY` (160) from the head up to the tail; note and hold
  heads :data:`HEAD` (255), ``head_rows`` tall. A ``note_margin`` of background is left on both
  sides of a note inside its column.
- A head's bottom row is its position: a note whose time equals the current time covers the
  judgement row. ``ms_per_row = scroll_ms / judgement_row``, so the top row shows notes
  ``scroll_ms`` ahead and the rows under the line ``past_ms`` behind.

Many maps at once: frames are drawn from a :class:`~ppomania.sim.packed.PackedMaps`. Each env
names its map with a map id and keeps a per-column *cursor*: the packed index of the first object of
that column it has not judged yet (everything before it is gone from the screen), plus a per-column
*held* flag for a hold whose head was hit and is being held (its head is then pinned to the
judgement line and the hold shortens until its tail). That is the state a stable judge keeps anyway
(objects in a column are judged in order), so rendering costs O(visible objects) with no search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ppomania.game.beatmap import Beatmap
from ppomania.game.judge import Judge
from ppomania.game.scroll import BASE_SCROLL_MS, DEFAULT_SCROLL_SPEED, scroll_ms_for
from ppomania.sim.packed import PackedMaps

BACKGROUND = 0
LINE = 96
BODY = 160
HEAD = 255


@dataclass(frozen=True)
class HighwayGeometry:
    """Size and scroll of the rendered highway.

    :param keys: number of columns.
    :param height: frame rows. Default 84.
    :param column_width: pixels per column. Default 21 (84 wide at 4K); see :meth:`for_keys`.
    :param scroll_ms: ms of future notes shown above the judgement line. Default ``11485 / 22``
        ≈ 522 (osu!mania scroll speed 22).
    :param judgement_row: row of the judgement line. Default 76 (``height - 8``).
    :param head_rows: height of a note head in rows. Default 3.
    :param note_margin: background pixels left on each side of a note within its column. Default 1.
    :param sv_scroll: follow the map's scroll-speed changes (SV) as lazer does, instead of constant
        scroll. Default False.
    """

    keys: int
    height: int = 84
    column_width: int = 21
    scroll_ms: float = BASE_SCROLL_MS / DEFAULT_SCROLL_SPEED
    judgement_row: int = 76
    head_rows: int = 3
    note_margin: int = 1
    sv_scroll: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.keys <= 18:
            raise ValueError(f"keys must be in [1, 18], got {self.keys}")
        if self.column_width < 1 or self.height < 2:
            raise ValueError("column_width must be >= 1 and height >= 2")
        if not 0 < self.judgement_row < self.height:
            raise ValueError(
                f"judgement_row must be in (0, {self.height}), got {self.judgement_row}"
            )
        if not 1 <= self.head_rows <= self.judgement_row:
            raise ValueError(f"head_rows must be in [1, judgement_row], got {self.head_rows}")
        if not 0 <= 2 * self.note_margin < self.column_width:
            raise ValueError("note_margin leaves no pixels for the note")
        if not self.scroll_ms > 0:
            raise ValueError(f"scroll_ms must be positive, got {self.scroll_ms}")

    @classmethod
    def for_keys(
        cls,
        keys: int,
        height: int = 84,
        width: int = 84,
        scroll_speed: float = DEFAULT_SCROLL_SPEED,
        sv_scroll: bool = False,
    ) -> HighwayGeometry:
        """Geometry about ``width`` pixels wide (``width // keys`` per column: 4K 84, 7K 84, 5K 80).

        The judgement line sits at 90% of the height and heads are ``height / 28`` rows, the
        proportions of the 84-row default, so a larger geometry (e.g. a stand-in window) looks the
        same scaled up.
        """
        column_width = max(1, width // keys)
        return cls(
            keys=keys,
            height=height,
            column_width=column_width,
            scroll_ms=scroll_ms_for(scroll_speed),
            judgement_row=min(height - 1, max(1, round(height * 0.9))),
            head_rows=max(1, round(height / 28)),
            note_margin=1 if column_width >= 6 else 0,
            sv_scroll=sv_scroll,
        )

    @property
    def width(self) -> int:
        return self.keys * self.column_width

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of one frame."""
        return (self.height, self.width)

    @property
    def ms_per_row(self) -> float:
        return self.scroll_ms / self.judgement_row

    @property
    def past_ms(self) -> float:
        """ms of the past shown under the judgement line."""
        return (self.height - 1 - self.judgement_row) * self.ms_per_row

    @property
    def visible_past_ms(self) -> float:
        """How long after its time a head stays (partly) on screen: ``past_ms`` plus the head."""
        return (self.height - 1.5 - self.judgement_row + self.head_rows) * self.ms_per_row


# ---------------------------------------------------------------------------------------------
# Rendering


@njit(cache=True)
def _fill(frame, y0, y1, x0, x1, value):
    # Row slices compile to memset-like stores: about twice as fast as a per-pixel loop.
    for y in range(max(y0, 0), min(y1, frame.shape[0] - 1) + 1):
        frame[y, x0:x1] = value


@njit(cache=True)
def _render(
    out,
    now,
    map_ids,
    cursor,
    held,
    col_begin,
    pos_starts,
    pos_ends,
    judgement_row,
    ms_per_row,
    head_rows,
    column_width,
    margin,
):
    n = out.shape[0]
    keys = col_begin.shape[1] - 1
    inv = 1.0 / ms_per_row
    for e in range(n):
        frame = out[e]
        frame[:, :] = BACKGROUND
        frame[judgement_row, :] = LINE
        m = map_ids[e]
        if m < 0 or m >= col_begin.shape[0]:
            raise IndexError("map id out of range")
        t = now[e]
        for c in range(keys):
            x0 = c * column_width + margin
            x1 = (c + 1) * column_width - margin
            first = max(cursor[e, c], col_begin[m, c])
            for k in range(first, col_begin[m, c + 1]):
                ps = pos_starts[k]
                y_head = judgement_row - math.floor((ps - t) * inv + 0.5)
                if y_head < 0:
                    break  # above the top, and so is every later object of the column
                pe = pos_ends[k]
                if pe > ps:
                    if k == first and held[e, c] and t >= ps:
                        if t >= pe:
                            continue  # held past its tail: nothing left to draw
                        y_head = judgement_row
                    y_tail = judgement_row - math.floor((pe - t) * inv + 0.5)
                    _fill(frame, y_tail, y_head - head_rows, x0, x1, BODY)
                _fill(frame, y_head - head_rows + 1, y_head, x0, x1, HEAD)


def render_frames(
    out: np.ndarray,
    times_ms: np.ndarray,
    map_ids: np.ndarray,
    cursor: np.ndarray,
    held: np.ndarray,
    packed: PackedMaps,
    geometry: HighwayGeometry,
) -> np.ndarray:
    """Render one frame per env into ``out``.

    :param out: ``(n, H, W)`` uint8, written in place (any strides with contiguous rows, e.g.
        :meth:`FrameStack.advance`'s view).
    :param times_ms: ``(n,)`` float64 map time of each env.
    :param map_ids: ``(n,)`` int64 index of each env's map in ``packed``.
    :param cursor: ``(n, K)`` int64 packed index of the first object not yet judged in each column
        (``packed.first_cursor`` at episode start; advance it as the judge consumes objects).
    :param held: ``(n, K)`` bool: the cursor object is a hold whose head was hit and whose key is
        still down (head pinned to the judgement line until the tail).
    :returns: ``out``.
    """
    if out.dtype != np.uint8 or out.shape[1:] != geometry.shape:
        raise ValueError(f"out must be uint8 (n, {geometry.height}, {geometry.width})")
    if packed.keys != geometry.keys:
        raise ValueError(f"maps have {packed.keys} keys, geometry {geometry.keys}")
    n, keys = out.shape[0], geometry.keys
    if np.shape(times_ms) != (n,) or np.shape(map_ids) != (n,):
        raise ValueError(f"times_ms and map_ids must have shape ({n},)")
    if cursor.shape != (n, keys) or held.shape != (n, keys):
        raise ValueError(f"cursor and held must have shape ({n}, {keys})")
    if geometry.sv_scroll:
        now = packed.scroll_positions(map_ids, times_ms)
        pos_starts, pos_ends = packed.pos_starts, packed.pos_ends
    else:
        now = np.asarray(times_ms, dtype=np.float64)
        pos_starts, pos_ends = packed.starts_f, packed.ends_f
    _render(
        out,
        now,
        map_ids,
        cursor,
        held,
        packed.col_begin,
        pos_starts,
        pos_ends,
        geometry.judgement_row,
        geometry.ms_per_row,
        geometry.head_rows,
        geometry.column_width,
        geometry.note_margin,
    )
    return out


def render_beatmap_frame(
    beatmap: Beatmap, time_ms: float, geometry: HighwayGeometry, judge: Judge | None = None
) -> np.ndarray:
    """One ``(H, W)`` frame of ``beatmap`` at ``time_ms``.

    :param judge: a judge of a play of ``beatmap``: objects it has judged are gone and holds it
        holds are pinned to the line, as in a play. None: nothing judged, every object drawn.
    """
    packed = PackedMaps([beatmap])
    out = np.empty((1, *geometry.shape), dtype=np.uint8)
    map_ids = np.zeros(1, dtype=np.int64)
    cursor = packed.first_cursor(map_ids)
    held = np.zeros((1, beatmap.keys), dtype=np.bool_)
    if judge is not None:
        packed_index = np.empty(packed.n_objects, np.int64)
        packed_index[packed.object_index] = np.arange(packed.n_objects)
        for c in range(beatmap.keys):
            current = judge.current_object(c)
            cursor[0, c] = packed_index[current] if current >= 0 else packed.col_begin[0, c + 1]
            held[0, c] = judge.holding(c)
    times = np.array([time_ms], dtype=np.float64)
    render_frames(out, times, map_ids, cursor, held, packed, geometry)
    return out[0]


# ---------------------------------------------------------------------------------------------
# Frame stack


class FrameStack:
    """The last ``n_stack`` frames of every env, ``(n, n_stack, H, W)`` uint8, oldest first.

    The order and reset semantics of SB3's ``VecFrameStack(channels_order="first")``. Two buffers
    alternate: a step shifts the history from one into the other and the new frame is rendered
    straight into its last slot (measured faster than a ring buffer plus an ordered copy, and the
    observation handed out is never modified by the next step, which SB3's rollout collection
    needs: it stores the previous observation after calling ``step``).

    :param n_envs: number of envs.
    :param frame_shape: ``(H, W)``.
    :param n_stack: frames per observation. Default 4.
    """

    def __init__(self, n_envs: int, frame_shape: tuple[int, int], n_stack: int = 4) -> None:
        self._buffers = [
            np.zeros((n_envs, n_stack, *frame_shape), dtype=np.uint8) for _ in range(2)
        ]
        self._current = 0

    @property
    def stack(self) -> np.ndarray:
        """The current ``(n, n_stack, H, W)`` observation; valid until the second next push."""
        return self._buffers[self._current]

    def advance(self) -> np.ndarray:
        """Shift every env's history one frame older; return the ``(n, H, W)`` newest slot."""
        source = self._buffers[self._current]
        self._current ^= 1
        target = self._buffers[self._current]
        target[:, :-1] = source[:, 1:]
        return target[:, -1]

    def push(self, frames: np.ndarray) -> np.ndarray:
        """Append ``frames`` ``(n, H, W)`` as every env's newest frame; return :attr:`stack`."""
        self.advance()[...] = frames
        return self.stack

    def reset(
        self, env_indices: np.ndarray | None = None, frames: np.ndarray | None = None
    ) -> None:
        """Zero the history of ``env_indices`` (all envs if None), as at an episode start.

        :param frames: ``(len(env_indices), H, W)`` first frames of the new episodes, written as the
            newest frame (an SB3 reset observation: zeros, then the frame).
        """
        index = slice(None) if env_indices is None else np.asarray(env_indices)
        stack = self.stack
        stack[index] = 0
        if frames is not None:
            stack[index, -1] = frames

    def obs(self, out: np.ndarray | None = None) -> np.ndarray:
        """Copy :attr:`stack` into ``out`` (allocated if None) and return it."""
        if out is None:
            return self.stack.copy()
        out[...] = self.stack
        return out


# ---------------------------------------------------------------------------------------------
# Screen capture → frame


@dataclass(frozen=True)
class CaptureArea:
    """The rectangle of a screen grab (pixels) that maps onto the whole frame.

    Horizontally: exactly the columns, left edge of the first to right edge of the last. Vertically:
    from ``scroll_ms`` ahead of the judgement line (top row) to ``past_ms`` behind it.
    """

    left: int
    top: int
    width: int
    height: int

    @classmethod
    def from_playfield(
        cls,
        left: int,
        right: int,
        judgement_y: float,
        px_per_ms: float,
        geometry: HighwayGeometry,
    ) -> CaptureArea:
        """Area for a playfield whose columns span ``[left, right)`` on screen.

        :param judgement_y: screen row where a head's bottom edge is at the note's time.
        :param px_per_ms: the game's scroll speed in screen pixels per ms.
        """
        row_px = px_per_ms * geometry.ms_per_row
        top = judgement_y - (geometry.judgement_row + 1) * row_px
        return cls(left, round(top), right - left, round(geometry.height * row_px))


def preprocess_capture(
    image: np.ndarray,
    area: CaptureArea,
    geometry: HighwayGeometry,
    out: np.ndarray | None = None,
    levels: tuple[float, float] = (128.0, 208.0),
) -> np.ndarray:
    """Turn a screen grab of the playfield into a frame like :func:`render_frames` draws.

    Assumes the game is drawn as the stand-in game draws it: black background, white-ish heads,
    grey hold bodies; whatever is darker than a body (a judgement line, column lines, dim
    decorations) is dropped. Steps: sample ``image`` at the centre of each frame pixel's block of
    ``area`` (nearest: crisp edges like the renderer's, and only ``H * W`` pixels are read),
    grayscale (BT.601 weights), snap to the renderer's palette (``< levels[0]`` → background,
    ``< levels[1]`` → body, else head), then draw the judgement line and the note margins exactly as
    the renderer does. A capture of a render upscaled by integer factors maps back exactly; a larger
    render with the same proportions (e.g. the stand-in window) to within a row at note edges.

    :param image: ``(h, w, 3 or 4)`` uint8, BGR(A) (what mss returns).
    :param area: the part of ``image`` that is the highway; must lie inside the image.
    :param out: ``(H, W)`` uint8 to write into (allocated if None).
    :param levels: gray thresholds for body and head. Default (128, 208): between the line (96) and
        body (160) colours, and between body and head (255).
    :returns: ``out``.
    """
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"image must be (h, w, 3|4) uint8, got {image.shape} {image.dtype}")
    if (
        area.left < 0
        or area.top < 0
        or area.width < 1
        or area.height < 1
        or area.left + area.width > image.shape[1]
        or area.top + area.height > image.shape[0]
    ):
        raise ValueError(f"{area} does not lie inside the {image.shape[1]}x{image.shape[0]} image")
    height, width = geometry.shape
    if out is None:
        out = np.empty((height, width), dtype=np.uint8)
    rows = area.top + ((np.arange(height) + 0.5) * area.height / height).astype(np.intp)
    cols = area.left + ((np.arange(width) + 0.5) * area.width / width).astype(np.intp)
    bgr = image[rows[:, None], cols[None, :], :3]
    gray = bgr @ np.array([0.114, 0.587, 0.299], dtype=np.float32)
    out[...] = np.where(gray >= levels[1], HEAD, np.where(gray >= levels[0], BODY, BACKGROUND))
    line = out[geometry.judgement_row]
    line[line == BACKGROUND] = LINE
    # Margins hold only background and the line in a render, whatever the game draws there.
    x = np.arange(width) % geometry.column_width
    margin = (x < geometry.note_margin) | (x >= geometry.column_width - geometry.note_margin)
    out[:, margin] = BACKGROUND
    out[geometry.judgement_row, margin] = LINE
    return out
