"""Screen capture of the game's playfield, window lookup and playfield calibration: pure I/O.

:class:`ScreenCapture` grabs one screen rectangle with mss into a preallocated BGRA buffer; turning
that grab into the agent's frame (the simulator's preprocessing) is the env layer's job (the live
env), so this module knows nothing of frames or geometries.

:func:`detect_playfield` finds the playfield in a screenshot taken while a map plays: the judgement
line is the longest horizontal run of line-grey pixels (its ends are the outer column edges, the
bottom of its thickest block is where a head's bottom edge sits at the note's time). The scroll
speed in screen pixels per ms cannot be read from one screenshot: it is given (the stand-in game
announces its own; for osu! see ``ppomania calibrate --help``). Calibrations are saved as JSON
(:func:`save_calibration`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DEFAULT_CONFIG = Path("~/.config/ppomania/live.json").expanduser()
#: Grey level of the judgement line in the stand-in game (and in the simulator's frames).
LINE_GRAY = 96
_BGR_TO_GRAY = np.array([0.114, 0.587, 0.299], dtype=np.float32)  # BT.601


@dataclass(frozen=True)
class Rect:
    """A screen rectangle in pixels."""

    left: int
    top: int
    width: int
    height: int


class ScreenCapture:
    """Grabs one screen rectangle into a reused ``(height, width, 4)`` BGRA buffer.

    :param rect: the rectangle on screen (anything with ``left, top, width, height``).

    mss handles are per thread: create and use the capture in the same thread.
    """

    def __init__(self, rect: Rect) -> None:
        import mss

        self.rect = Rect(int(rect.left), int(rect.top), int(rect.width), int(rect.height))
        self._sct = mss.MSS()
        self._monitor = {
            "left": self.rect.left,
            "top": self.rect.top,
            "width": self.rect.width,
            "height": self.rect.height,
        }
        #: The last grab, ``(height, width, 4)`` uint8 BGRA; overwritten by every :meth:`grab`.
        self.image = np.zeros((self.rect.height, self.rect.width, 4), dtype=np.uint8)

    def grab(self) -> np.ndarray:
        """Grab the rectangle into :attr:`image` and return it (the same buffer every time)."""
        shot = self._sct.grab(self._monitor)
        pixels = np.frombuffer(shot.bgra, dtype=np.uint8)
        self.image.reshape(-1)[...] = pixels
        return self.image

    def close(self) -> None:
        self._sct.close()

    def __enter__(self) -> ScreenCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def grab_screen(rect: Rect | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """One BGRA screenshot of ``rect`` (default: all monitors) and its top-left screen position."""
    import mss

    with mss.MSS() as sct:
        if rect is None:
            monitor = sct.monitors[0]
        else:
            monitor = {
                "left": rect.left,
                "top": rect.top,
                "width": rect.width,
                "height": rect.height,
            }
        shot = sct.grab(monitor)
        image = np.frombuffer(shot.bgra, np.uint8).reshape(shot.height, shot.width, 4).copy()
    return image, (int(monitor["left"]), int(monitor["top"]))


def find_window_area(title: str) -> tuple[int, int, int, int] | None:
    """``(left, top, width, height)`` on screen of the first window whose name contains ``title``
    (on Windows its client area, through the Win32 API: :mod:`ppomania.live.win32_window`;
    elsewhere through X11 and python-xlib); None when there is no such window (or no X display)."""
    if sys.platform == "win32":
        from ppomania.live.win32_window import find_client_area

        return find_client_area(title)
    try:
        from Xlib import X, display
        from Xlib.error import XError
    except ImportError:
        return None
    try:
        d = display.Display()
    except Exception:  # no display, refused, a bad DISPLAY...
        return None
    try:
        root = d.screen().root
        net_name = d.intern_atom("_NET_WM_NAME")
        pending = [root]
        while pending:
            window = pending.pop(0)
            try:
                name = window.get_wm_name() or ""
                prop = window.get_full_property(net_name, X.AnyPropertyType)
                if prop is not None and not name:
                    value = prop.value
                    name = value.decode("utf-8", "replace") if isinstance(value, bytes) else ""
                if isinstance(name, bytes):
                    name = name.decode("latin-1")
                if window != root and title in name:
                    geometry = window.get_geometry()
                    origin = root.translate_coords(window, 0, 0)
                    return (origin.x, origin.y, geometry.width, geometry.height)
                pending.extend(window.query_tree().children)
            except XError:
                continue  # the window went away meanwhile
        return None
    finally:
        d.close()


@dataclass(frozen=True)
class Calibration:
    """Where the playfield is on screen, in screen pixels.

    :param left, right: outer edges of the first and last column (right exclusive).
    :param judgement_y: screen row under the judgement line: a head's bottom edge at its time.
    :param px_per_ms: scroll speed in screen pixels per ms.
    :param keys: key count.
    :param window: the game window's client area on screen ``(left, top, width, height)``, when
        known (the skin's layout is computed in it).
    :param skin: the player's skin (a folder or ``.osk``), when known: the live perception reads
        its notes, lighting and bursts (None: the simulator's palette, the stand-in's ``sim``
        look).
    :param scroll_speed: osu!'s scroll speed setting ``px_per_ms`` came from, when known.
    """

    left: int
    right: int
    judgement_y: float
    px_per_ms: float
    keys: int
    window: tuple[int, int, int, int] | None = None
    skin: str | None = None
    scroll_speed: float | None = None


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
    px_per_ms: float,
    *,
    line_gray: int = LINE_GRAY,
    tolerance: int = 24,
    offset: tuple[int, int] = (0, 0),
) -> Calibration:
    """Find the playfield in a screenshot (``(h, w, 3|4)`` uint8 BGR(A)) of a map being played.

    :param keys: key count.
    :param px_per_ms: the game's scroll speed in screen pixels per ms.
    :param line_gray: grey level of the judgement line (default the stand-in's, 96).
    :param tolerance: grey levels around ``line_gray`` counted as line (default 24).
    :param offset: screen position of the image's top-left pixel (default (0, 0)).
    :raises ValueError: when no judgement line of at least ``4 * keys`` pixels is found.
    """
    if not px_per_ms > 0:
        raise ValueError(f"px_per_ms must be positive, got {px_per_ms}")
    gray = image[..., :3].astype(np.float32) @ _BGR_TO_GRAY
    line = np.abs(gray - line_gray) <= tolerance
    runs = [_longest_run(row) for row in line]
    lengths = np.array([length for _, length in runs])
    best = int(lengths.max(initial=0))
    if best < 4 * keys:
        raise ValueError("no judgement line found (is a map playing in the stand-in's colours?)")
    rows = set(np.flatnonzero(lengths >= best - 2).tolist())
    # The line's thickest block: consecutive rows with the longest run.
    first = min(rows)
    block_end = first
    while block_end + 1 in rows:
        block_end += 1
    start, length = runs[first]
    return Calibration(
        left=start + offset[0],
        right=start + length + offset[0],
        judgement_y=float(block_end + 1 + offset[1]),
        px_per_ms=float(px_per_ms),
        keys=keys,
    )


def save_calibration(calibration: Calibration, path: Path = DEFAULT_CONFIG) -> Path:
    """Write ``calibration`` as JSON (parent folders created); return the path."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {k: v for k, v in asdict(calibration).items() if v is not None}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def load_calibration(path: Path = DEFAULT_CONFIG) -> Calibration:
    """Read a calibration written by :func:`save_calibration`."""
    data = json.loads(Path(path).expanduser().read_text())
    if data.get("window") is not None:
        data["window"] = tuple(int(v) for v in data["window"])
    return Calibration(**data)


def draw_rect(
    image: np.ndarray,
    rect: Rect,
    offset: tuple[int, int] = (0, 0),
    colour: tuple[int, int, int] = (0, 0, 255),
) -> np.ndarray:
    """A copy of the BGR(A) ``image`` with ``rect`` (screen pixels) outlined in ``colour`` (BGR,
    default red): a preview."""
    out = image.copy()
    h, w = out.shape[:2]
    x0, y0 = max(0, rect.left - offset[0]), max(0, rect.top - offset[1])
    x1 = min(w - 1, rect.left + rect.width - 1 - offset[0])
    y1 = min(h - 1, rect.top + rect.height - 1 - offset[1])
    paint = np.array([*colour, 255][: out.shape[2]], dtype=np.uint8)
    out[y0, x0 : x1 + 1] = paint
    out[y1, x0 : x1 + 1] = paint
    out[y0 : y1 + 1, x0] = paint
    out[y0 : y1 + 1, x1] = paint
    return out


def write_png(image: np.ndarray, path: Path) -> None:
    """Write a BGR(A) image as PNG (mss's encoder)."""
    from mss.tools import to_png

    rgb = np.ascontiguousarray(image[..., 2::-1])
    to_png(rgb.tobytes(), (rgb.shape[1], rgb.shape[0]), output=str(path))
