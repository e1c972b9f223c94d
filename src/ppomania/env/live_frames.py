"""The live frame path: which screen rectangle becomes the agent's frame, and
:class:`CaptureFrames`, which grabs it, turns it into the agent's frame with a
:mod:`~ppomania.env.perception` (the player's skin when the calibration names one, else the
simulator's palette) and reads the game time a grab shows from its content (the bottom edges of
the note heads above the judgement line).
"""

from __future__ import annotations

import time

import numpy as np

from ppomania.env.perception import PalettePerception, Perception, column_xs
from ppomania.env.skin_perception import skin_perception
from ppomania.live.capture import Calibration, Rect, ScreenCapture
from ppomania.sim.render import CaptureArea, HighwayGeometry
from ppomania.skin.timing import LIGHT_RELEASE_MS

#: The skin name that means osu!'s default skin (the built-in default-like look).
DEFAULT_SKIN = "default"


def capture_area(playfield: Calibration, geometry: HighwayGeometry) -> CaptureArea:
    """The screen rectangle that maps onto ``geometry``'s frame for a calibrated playfield."""
    return CaptureArea.from_playfield(
        playfield.left, playfield.right, playfield.judgement_y, playfield.px_per_ms, geometry
    )


def calibration_of(area: CaptureArea, geometry: HighwayGeometry) -> Calibration:
    """The playfield a capture area implies for ``geometry`` (inverse of :func:`capture_area`)."""
    row_px = area.height / geometry.height
    return Calibration(
        left=area.left,
        right=area.left + area.width,
        judgement_y=area.top + (geometry.judgement_row + 1) * row_px,
        px_per_ms=row_px / geometry.ms_per_row,
        keys=geometry.keys,
    )


def grab_rect(playfield: Calibration, geometry: HighwayGeometry) -> Rect:
    """The screen rectangle grabbed: the capture area, cut to the game's window when the
    calibration knows it (the area's top is above the window when osu! shows less than the
    frame's ``scroll_ms``) and to the screen."""
    area = capture_area(playfield, geometry)
    top, bottom = area.top, area.top + area.height
    if playfield.window is not None:
        _, window_top, _, window_height = playfield.window
        top, bottom = max(top, window_top), min(bottom, window_top + window_height)
    top = max(top, 0)
    return Rect(area.left, top, area.width, max(1, bottom - top))


def perception_for(
    playfield: Calibration, geometry: HighwayGeometry, grab: Rect, skin: str | None = None
) -> Perception:
    """How grabs of the screen rectangle ``grab`` become frames: from the skin (``skin``, else the
    calibration's; :data:`DEFAULT_SKIN` for osu!'s default) laid out in the calibration's window,
    else the simulator's palette.

    :raises ValueError: the skin cannot be read, or the calibration has no window to lay it out.
    """
    path = skin or playfield.skin
    keys = playfield.keys
    if path is None:
        area = capture_area(playfield, geometry)
        local = CaptureArea(area.left - grab.left, area.top - grab.top, area.width, area.height)
        width = (playfield.right - playfield.left) / keys
        columns = [
            (playfield.left + c * width, playfield.left + (c + 1) * width) for c in range(keys)
        ]
        return PalettePerception(local, geometry, column_xs(columns, grab.left, grab.width)[:, 1])
    from ppomania.skin.files import SkinError, load_skin
    from ppomania.skin.layout import mania_layout

    if playfield.window is None:
        raise ValueError("the calibration has no window to lay the skin out in; calibrate again")
    try:
        loaded = load_skin(None if path == DEFAULT_SKIN else path)
    except SkinError as exc:
        raise ValueError(str(exc)) from None
    window = (int(playfield.window[2]), int(playfield.window[3]))
    return skin_perception(
        loaded,
        mania_layout(loaded.ini.mania(keys), window),
        playfield.judgement_y,
        playfield.left,
        (grab.left, grab.top, grab.width, grab.height),
        geometry,
        playfield.px_per_ms * geometry.ms_per_row,
    )


class CaptureFrames:
    """Screen grabs of the playfield turned into the agent's frames, with their game time.

    :param playfield: the calibrated playfield on screen (and the player's skin, if it names one).
    :param geometry: the agent's frame.
    :param capture: an injected :class:`ScreenCapture` of :func:`grab_rect` (default: created).
    :param skin: a skin folder or ``.osk`` that overrides the calibration's.
    """

    def __init__(
        self,
        playfield: Calibration,
        geometry: HighwayGeometry,
        capture: ScreenCapture | None = None,
        skin: str | None = None,
    ) -> None:
        self.playfield = playfield
        self.geometry = geometry
        self.area = capture_area(playfield, geometry)
        self.rect = grab_rect(playfield, geometry)
        self.perception = perception_for(playfield, geometry, self.rect, skin)
        self.capture = capture or ScreenCapture(self.rect)
        self._line = playfield.judgement_y - self.rect.top  # in grab rows
        self._down = np.zeros(playfield.keys, bool)
        self._released = np.full(playfield.keys, -np.inf)

    def light_levels(self, held: np.ndarray | None, now: float) -> np.ndarray | None:
        """Per column: 1 while its key is held, fading to 0 over :data:`LIGHT_RELEASE_MS` after
        the release (how much column light and hit lighting a grab may show); None: unknown."""
        if held is None:
            return None
        held = np.asarray(held, bool)
        self._released[self._down & ~held] = now
        self._down = held.copy()
        fade = 1.0 - (now - self._released) * 1000.0 / LIGHT_RELEASE_MS
        return np.where(held, 1.0, np.clip(fade, 0.0, 1.0))

    def reset(self) -> None:
        """A new play: forget the keys' lights and what the perception remembers."""
        self._down[:] = False
        self._released[:] = -np.inf
        self.perception.reset()

    def grab(self, out: np.ndarray, held: np.ndarray | None = None) -> np.ndarray:
        """Grab the screen and write the agent's frame into ``out`` ``(H, W)``; return the grab.

        :param held: ``(K,)`` bool, the keys held now (a held key lights its column up).
        """
        image = self.capture.grab()
        self.perception.frame(image, out, self.light_levels(held, time.monotonic()))
        return image

    def head_times(
        self, image: np.ndarray, column_starts: list[np.ndarray], guess_ms: float, tol_ms: float
    ) -> list[float]:
        """Game times the grab shows, one per head above the judgement line matched to an object.

        A head whose bottom edge is at grab row ``E`` (exclusive) is ``(line - E + 0.5) /
        px_per_ms`` ms before its start; it is matched to the object of its column whose start is
        nearest that estimate (``guess_ms`` = the frame's expected time) within ``tol_ms``, and
        only when no other object of the column is as close.
        """
        edges, columns = self.perception.head_edges(image)
        times = []
        p = self.playfield.px_per_ms
        for edge, c in zip(edges.tolist(), columns.tolist()):
            if edge > self._line - 2:
                continue  # at or under the line: a held hold's pinned head, or a note passing
            ahead_ms = (self._line - edge + 0.5) / p
            starts = column_starts[c]
            i = int(np.searchsorted(starts, guess_ms + ahead_ms))
            candidates = sorted(
                (abs(float(starts[j]) - (guess_ms + ahead_ms)), j)
                for j in (i - 1, i)
                if 0 <= j < len(starts)
            )
            if not candidates or candidates[0][0] > tol_ms:
                continue
            if len(candidates) > 1 and candidates[1][0] <= tol_ms:
                continue  # ambiguous
            times.append(float(starts[candidates[0][1]]) - ahead_ms)
        return times

    def close(self) -> None:
        self.capture.close()
