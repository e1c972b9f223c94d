"""The game window's client area on Windows, through the Win32 API.

:func:`find_client_area` is what :func:`ppomania.live.capture.find_window_area` does on Windows:
the screen rectangle of the window's client area (the frame and title bar left out), in physical
pixels: the process is made DPI-aware first, else a scaled desktop (125%, 150%) reports logical
pixels that are not where the screen capture grabs. The module imports on every platform (the
tests replace ``user32`` with a recorder); only :func:`load_user32` needs Windows.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterable
from typing import Any

#: ``SetProcessDpiAwareness``'s per-monitor awareness: every monitor in its own physical pixels.
PROCESS_PER_MONITOR_DPI_AWARE = 2

# EnumWindows calls back with stdcall on 32-bit Windows; elsewhere (the tests) cdecl will do.
_FUNCTYPE = getattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE)
#: ``BOOL CALLBACK EnumWindowsProc(HWND, LPARAM)``.
WNDENUMPROC = _FUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_ssize_t)


class RECT(ctypes.Structure):
    _fields_ = (
        ("left", ctypes.c_int32),
        ("top", ctypes.c_int32),
        ("right", ctypes.c_int32),
        ("bottom", ctypes.c_int32),
    )


class POINT(ctypes.Structure):
    _fields_ = (("x", ctypes.c_int32), ("y", ctypes.c_int32))


def load_user32() -> Any:
    """``user32.dll`` with the prototypes this module calls; OSError off Windows."""
    if sys.platform != "win32":
        raise OSError("the Win32 window lookup needs Windows")
    user32 = ctypes.WinDLL("user32", use_last_error=True)
    hwnd = ctypes.c_void_p
    prototypes = {
        "EnumWindows": ((WNDENUMPROC, ctypes.c_ssize_t), ctypes.c_int),
        "IsWindowVisible": ((hwnd,), ctypes.c_int),
        "GetWindowTextLengthW": ((hwnd,), ctypes.c_int),
        "GetWindowTextW": ((hwnd, ctypes.c_wchar_p, ctypes.c_int), ctypes.c_int),
        "GetClientRect": ((hwnd, ctypes.POINTER(RECT)), ctypes.c_int),
        "ClientToScreen": ((hwnd, ctypes.POINTER(POINT)), ctypes.c_int),
        "SetProcessDPIAware": ((), ctypes.c_int),
    }
    for name, (argtypes, restype) in prototypes.items():
        function = getattr(user32, name)
        function.argtypes, function.restype = argtypes, restype
    return user32


def load_shcore() -> Any | None:
    """``shcore.dll`` (Windows 8.1 and later, for ``SetProcessDpiAwareness``), else None."""
    try:
        return ctypes.WinDLL("shcore")
    except (AttributeError, OSError):  # no WinDLL off Windows; no shcore before Windows 8.1
        return None


def make_dpi_aware(user32: Any, shcore: Any | None) -> None:
    """Make this process see physical pixels: per-monitor awareness where ``shcore`` has it, else
    the system-wide ``SetProcessDPIAware`` (Vista and later). Setting it again (mss sets it too)
    fails harmlessly."""
    set_awareness = getattr(shcore, "SetProcessDpiAwareness", None)
    if set_awareness is not None:
        set_awareness(PROCESS_PER_MONITOR_DPI_AWARE)
    else:
        user32.SetProcessDPIAware()


def window_titles(user32: Any) -> list[tuple[int, str]]:
    """``(handle, title)`` of every visible top-level window with a title, front to back."""
    windows: list[tuple[int, str]] = []

    def visit(hwnd: int | None, _lparam: int) -> bool:
        if hwnd and user32.IsWindowVisible(hwnd):
            length = user32.GetWindowTextLengthW(hwnd)
            if length > 0:
                buffer = ctypes.create_unicode_buffer(length + 1)
                user32.GetWindowTextW(hwnd, buffer, length + 1)
                windows.append((hwnd, buffer.value))
        return True

    user32.EnumWindows(WNDENUMPROC(visit), 0)
    return windows


def matching_windows(windows: Iterable[tuple[int, str]], title: str) -> list[int]:
    """Handles of the windows whose title contains ``title``, those that start with it first.

    A terminal's title can hold the command that names the game (``... --window osu!``) and sits
    in front of it; osu!'s own title starts with ``osu!``.
    """
    windows = list(windows)
    starts = [hwnd for hwnd, name in windows if name.startswith(title)]
    contains = [hwnd for hwnd, name in windows if title in name and hwnd not in starts]
    return starts + contains


def client_area(user32: Any, hwnd: int) -> tuple[int, int, int, int] | None:
    """``(left, top, width, height)`` on screen of a window's client area; None when it has none
    (minimised) or the window went away."""
    rect = RECT()
    if not user32.GetClientRect(hwnd, ctypes.pointer(rect)):
        return None
    width, height = rect.right - rect.left, rect.bottom - rect.top
    if width <= 0 or height <= 0:
        return None
    origin = POINT(rect.left, rect.top)
    if not user32.ClientToScreen(hwnd, ctypes.pointer(origin)):
        return None
    return (origin.x, origin.y, width, height)


def find_client_area(
    title: str, user32: Any | None = None, shcore: Any | None = None
) -> tuple[int, int, int, int] | None:
    """``(left, top, width, height)`` in physical screen pixels of the client area of the first
    visible window whose title contains ``title`` (see :func:`matching_windows`); None when there
    is none (or only minimised ones).

    :param user32, shcore: the libraries (tests pass recorders); with ``user32`` None both real
        ones are loaded.
    """
    if user32 is None:
        user32, shcore = load_user32(), load_shcore()
    make_dpi_aware(user32, shcore)
    for hwnd in matching_windows(window_titles(user32), title):
        area = client_area(user32, hwnd)
        if area is not None:
            return area
    return None
