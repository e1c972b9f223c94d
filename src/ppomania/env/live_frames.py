"""The live frame path: which screen rectangle becomes the agent's frame, and
:class:`CaptureFrames`, which grabs it, preprocesses it with the simulator's
:func:`~ppomania.sim.render.preprocess_capture` and reads the game time a grab shows from its
content (the note heads above the judgement line).
"""

from __future__ import annotations

import numpy as np

from ppomania.live.capture import Calibration, Rect, ScreenCapture
from ppomania.sim.render import CaptureArea, HighwayGeometry, preprocess_capture

_BGR_TO_GRAY = np.array([0.114, 0.587, 0.299], dtype=np.float32)
_HEAD_LEVEL = 208  # preprocess_capture's head threshold


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


class CaptureFrames:
    """Screen grabs of the playfield turned into the agent's frames, with their game time.

    :param playfield: the calibrated playfield on screen.
    :param geometry: the agent's frame.
    :param capture: an injected :class:`ScreenCapture` of :attr:`area` (default: created).
    """

    def __init__(
        self,
        playfield: Calibration,
        geometry: HighwayGeometry,
        capture: ScreenCapture | None = None,
    ) -> None:
        self.playfield = playfield
        self.geometry = geometry
        self.area = capture_area(playfield, geometry)
        self.capture = capture or ScreenCapture(
            Rect(self.area.left, self.area.top, self.area.width, self.area.height)
        )
        self._local = CaptureArea(0, 0, self.area.width, self.area.height)
        keys = playfield.keys
        columns_px = (playfield.right - playfield.left) / keys
        self._xs = np.array(
            [round(playfield.left - self.area.left + (c + 0.5) * columns_px) for c in range(keys)]
        )
        self._line = playfield.judgement_y - self.area.top  # in grab rows

    def grab(self, out: np.ndarray) -> np.ndarray:
        """Grab the screen and write the agent's frame into ``out`` ``(H, W)``; return the grab."""
        image = self.capture.grab()
        preprocess_capture(image, self._local, self.geometry, out)
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
        gray = image[:, self._xs, :3].astype(np.float32) @ _BGR_TO_GRAY  # (h, K)
        head = gray >= _HEAD_LEVEL
        bottom = head[:-1] & ~head[1:]
        ys, cs = np.nonzero(bottom)
        times = []
        p = self.playfield.px_per_ms
        for y, c in zip(ys.tolist(), cs.tolist()):
            edge = y + 1
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
