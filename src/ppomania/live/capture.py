"""Screen capture of the game's playfield into the agent's frames, and playfield calibration.

:class:`ScreenCapture` grabs only the playfield rectangle with mss and turns it into a frame with
the
simulator's :func:`~ppomania.sim.render.preprocess_capture`, into a preallocated buffer.
:func:`detect_playfield` finds the playfield in a screenshot taken while a map plays: the judgement
line is the longest horizontal run of line-grey pixels (its ends are the outer column edges), and
the scroll speed is assumed to keep pixels square (true for the stand-in game; for osu! pass
``px_per_ms``). Calibrations are saved as JSON (:func:`save_calibration`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ppomania.sim.render import LINE, CaptureArea, HighwayGeometry, preprocess_capture

DEFAULT_CONFIG = Path("~/.config/ppomania/live.json").expanduser()


class ScreenCapture:
    """Grabs ``area`` (screen pixels) and preprocesses it into ``(H, W)`` frames.

    :param area: the playfield on screen (see :meth:`CaptureArea.from_playfield`).
    :param geometry: the agent's highway geometry.

    mss handles are per thread: create and use the capture in the same thread.
    """

    def __init__(self, area: CaptureArea, geometry: HighwayGeometry) -> None:
        import mss

        self.area = area
        self.geometry = geometry
        self._sct = mss.MSS()
        self._monitor = {
            "left": area.left,
            "top": area.top,
            "width": area.width,
            "height": area.height,
        }
        self._local = CaptureArea(0, 0, area.width, area.height)
        self.frame = np.zeros(geometry.shape, dtype=np.uint8)

    def grab_image(self) -> np.ndarray:
        """The raw ``(h, w, 4)`` BGRA grab of the area."""
        shot = self._sct.grab(self._monitor)
        return np.frombuffer(shot.bgra, dtype=np.uint8).reshape(shot.height, shot.width, 4)

    def grab(self, out: np.ndarray | None = None) -> np.ndarray:
        """Grab and preprocess one frame into ``out`` (default: :attr:`frame`, reused)."""
        return preprocess_capture(
            self.grab_image(), self._local, self.geometry, self.frame if out is None else out
        )

    def close(self) -> None:
        self._sct.close()


def find_window_area(title: str) -> tuple[int, int, int, int] | None:
    """``(left, top, width, height)`` on screen of the first window whose name contains ``title``,
    via ``xdotool`` (Linux/X11); None when xdotool is missing or no window matches."""
    if shutil.which("xdotool") is None:
        return None
    found = subprocess.run(
        ["xdotool", "search", "--name", title], capture_output=True, text=True, check=False
    )
    ids = found.stdout.split()
    if not ids:
        return None
    shell = subprocess.run(
        ["xdotool", "getwindowgeometry", "--shell", ids[0]],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    values = dict(line.split("=", 1) for line in shell.split() if "=" in line)
    try:
        return tuple(int(values[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))  # type: ignore[return-value]
    except KeyError:
        return None


@dataclass(frozen=True)
class Calibration:
    """Where the playfield is on screen.

    :param left, right: outer edges of the first and last column (screen pixels, right exclusive).
    :param judgement_y: screen row under the judgement line (a head's bottom edge at its time).
    :param px_per_ms: scroll speed in screen pixels per ms.
    :param keys: key count.
    """

    left: int
    right: int
    judgement_y: float
    px_per_ms: float
    keys: int

    def area(self, geometry: HighwayGeometry) -> CaptureArea:
        """The capture area for ``geometry``."""
        return CaptureArea.from_playfield(
            self.left, self.right, self.judgement_y, self.px_per_ms, geometry
        )


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """``(start, length)`` of the longest run of True in a 1-D mask."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    if edges.size == 0:
        return 0, 0
    starts, ends = edges[::2], edges[1::2]
    best = int(np.argmax(ends - starts))
    return int(starts[best]), int(ends[best] - starts[best])


def detect_playfield(
    image: np.ndarray,
    keys: int,
    geometry: HighwayGeometry | None = None,
    px_per_ms: float | None = None,
    tolerance: int = 24,
    offset: tuple[int, int] = (0, 0),
) -> Calibration:
    """Find the playfield in a screenshot (``(h, w, 3|4)`` uint8 BGR(A)) of a map being played.

    :param keys: key count.
    :param geometry: the agent's geometry (for the square-pixel scroll speed); None = for the keys.
    :param px_per_ms: the game's scroll speed in px/ms; None = square pixels (``width / frame
        width`` screen pixels per frame row).
    :param tolerance: grey levels around the line colour counted as line (default 24).
    :param offset: screen position of the image's top-left pixel (default (0, 0)).
    :raises ValueError: when no judgement line of at least ``4 * keys`` pixels is found.
    """
    geometry = geometry or HighwayGeometry.for_keys(keys)
    gray = image[..., :3].astype(np.float32) @ np.array([0.114, 0.587, 0.299], dtype=np.float32)
    line = np.abs(gray - LINE) <= tolerance
    runs = [_longest_run(row) for row in line]
    lengths = np.array([length for _, length in runs])
    best = int(lengths.max(initial=0))
    if best < 4 * keys:
        raise ValueError("no judgement line found (is a map playing in the stand-in's colours?)")
    rows = np.flatnonzero(lengths >= best - 2)
    # The line's thickest block: consecutive rows with the longest run.
    block_end = rows[0]
    while block_end + 1 in set(rows.tolist()):
        block_end += 1
    start, length = runs[rows[0]]
    if px_per_ms is None:
        px_per_ms = length / geometry.width / geometry.ms_per_row
    return Calibration(
        left=start + offset[0],
        right=start + length + offset[0],
        judgement_y=float(block_end + 1 + offset[1]),
        px_per_ms=float(px_per_ms),
        keys=keys,
    )


def save_calibration(calibration: Calibration, path: Path = DEFAULT_CONFIG) -> Path:
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(calibration), indent=2) + "\n")
    return path


def load_calibration(path: Path = DEFAULT_CONFIG) -> Calibration:
    data = json.loads(Path(path).expanduser().read_text())
    return Calibration(**data)


def draw_area(image: np.ndarray, area: CaptureArea, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A copy of the BGR(A) ``image`` with ``area`` outlined in red (for a preview)."""
    out = image.copy()
    h, w = out.shape[:2]
    x0, y0 = max(0, area.left - offset[0]), max(0, area.top - offset[1])
    x1 = min(w - 1, area.left + area.width - 1 - offset[0])
    y1 = min(h - 1, area.top + area.height - 1 - offset[1])
    red = np.array([0, 0, 255, 255][: out.shape[2]], dtype=np.uint8)
    out[y0, x0 : x1 + 1] = red
    out[y1, x0 : x1 + 1] = red
    out[y0 : y1 + 1, x0] = red
    out[y0 : y1 + 1, x1] = red
    return out


def write_png(image: np.ndarray, path: Path) -> None:
    """Write a BGR(A) image as PNG (mss's encoder)."""
    from mss.tools import to_png

    rgb = np.ascontiguousarray(image[..., 2::-1])
    to_png(rgb.tobytes(), (rgb.shape[1], rgb.shape[0]), output=str(path))
