"""Key input on Windows: hardware scan codes through ``SendInput``.

osu! reads the keyboard below the virtual-key layer (the old project used pydirectinput for this
reason), so a virtual-key event, which is what pynput sends, may never reach it. Each event here
is one ``INPUT`` with ``KEYEVENTF_SCANCODE`` and the key's set-1 make code; keys that sit behind
the ``E0`` prefix (arrows, right Ctrl/Alt...) add ``KEYEVENTF_EXTENDEDKEY``.

:class:`ScanCodeKeyboard` is the controller :class:`ppomania.live.keys.KeySender` uses on
Windows: it turns key names into :class:`ScanCode` keys (:meth:`ScanCodeKeyboard.key`) and
presses and releases them. The module imports on every platform (the tests replace ``user32``
with a recorder); only :func:`load_user32` needs Windows.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any, NamedTuple

INPUT_KEYBOARD = 1
KEYEVENTF_EXTENDEDKEY = 0x0001
KEYEVENTF_KEYUP = 0x0002
KEYEVENTF_SCANCODE = 0x0008


class ScanCode(NamedTuple):
    """A key as the keyboard sends it: set-1 make code, and whether it has the ``E0`` prefix."""

    code: int
    extended: bool = False


# Set-1 make codes run along each row of the main block.
_ROWS = (
    (0x02, "1234567890-="),
    (0x10, "qwertyuiop[]"),
    (0x1E, "asdfghjkl;'`"),
    (0x2B, "\\zxcvbnm,./"),
)
_NAMED = {
    "esc": 0x01,
    "backspace": 0x0E,
    "tab": 0x0F,
    "enter": 0x1C,
    "ctrl": 0x1D,
    "ctrl_l": 0x1D,
    "shift": 0x2A,
    "shift_l": 0x2A,
    "shift_r": 0x36,
    "alt": 0x38,
    "alt_l": 0x38,
    "space": 0x39,
    "caps_lock": 0x3A,
    "num_lock": 0x45,
    "scroll_lock": 0x46,
    **{f"f{n}": 0x3A + n for n in range(1, 11)},
    "f11": 0x57,
    "f12": 0x58,
}
_EXTENDED = {
    "ctrl_r": 0x1D,
    "alt_r": 0x38,
    "alt_gr": 0x38,
    "home": 0x47,
    "up": 0x48,
    "page_up": 0x49,
    "left": 0x4B,
    "right": 0x4D,
    "end": 0x4F,
    "down": 0x50,
    "page_down": 0x51,
    "insert": 0x52,
    "delete": 0x53,
    "cmd": 0x5B,
    "cmd_l": 0x5B,
    "cmd_r": 0x5C,
    "menu": 0x5D,
}
#: Key names (one character, or pynput's ``Key`` names) to their scan codes.
SCAN_CODES: dict[str, ScanCode] = {
    **{char: ScanCode(first + i) for first, row in _ROWS for i, char in enumerate(row)},
    **{name: ScanCode(code) for name, code in _NAMED.items()},
    **{name: ScanCode(code, True) for name, code in _EXTENDED.items()},
}


def scan_code(name: str) -> ScanCode:
    """The scan code of a key name (``d``, ``;``, ``space``, ``esc``...)."""
    try:
        return SCAN_CODES[name]
    except KeyError:
        raise ValueError(f"unknown key {name!r}") from None


class KEYBDINPUT(ctypes.Structure):
    # Fixed-width types: WORD/DWORD are 16/32 bits on Windows, unlike c_ulong on Linux.
    _fields_ = (
        ("wVk", ctypes.c_uint16),
        ("wScan", ctypes.c_uint16),
        ("dwFlags", ctypes.c_uint32),
        ("time", ctypes.c_uint32),
        ("dwExtraInfo", ctypes.c_size_t),
    )


class MOUSEINPUT(ctypes.Structure):
    # Only here to give the union (and INPUT) the size Windows expects.
    _fields_ = (
        ("dx", ctypes.c_int32),
        ("dy", ctypes.c_int32),
        ("mouseData", ctypes.c_uint32),
        ("dwFlags", ctypes.c_uint32),
        ("time", ctypes.c_uint32),
        ("dwExtraInfo", ctypes.c_size_t),
    )


class _INPUTUNION(ctypes.Union):
    _fields_ = (("ki", KEYBDINPUT), ("mi", MOUSEINPUT))


class INPUT(ctypes.Structure):
    _anonymous_ = ("u",)
    _fields_ = (("type", ctypes.c_uint32), ("u", _INPUTUNION))


def key_event(key: ScanCode, up: bool) -> INPUT:
    """The ``INPUT`` that presses (``up=False``) or releases ``key`` by scan code."""
    flags = KEYEVENTF_SCANCODE
    if up:
        flags |= KEYEVENTF_KEYUP
    if key.extended:
        flags |= KEYEVENTF_EXTENDEDKEY
    event = INPUT(type=INPUT_KEYBOARD)
    event.ki = KEYBDINPUT(wVk=0, wScan=key.code, dwFlags=flags, time=0, dwExtraInfo=0)
    return event


def load_user32() -> Any:
    """``user32.dll`` with ``SendInput``'s prototype set; OSError off Windows."""
    if sys.platform != "win32":
        raise OSError("scan-code input needs Windows")
    user32 = ctypes.WinDLL("user32", use_last_error=True)
    user32.SendInput.argtypes = (ctypes.c_uint, ctypes.POINTER(INPUT), ctypes.c_int)
    user32.SendInput.restype = ctypes.c_uint
    return user32


class ScanCodeKeyboard:
    """Presses and releases :class:`ScanCode` keys with ``SendInput``.

    :param user32: the ``user32`` library (anything with ``SendInput``); None loads the real one.
    """

    def __init__(self, user32: Any | None = None) -> None:
        self.user32 = load_user32() if user32 is None else user32

    @staticmethod
    def key(name: str) -> ScanCode:
        """The key :meth:`press` and :meth:`release` take for a key name."""
        return scan_code(name)

    def press(self, key: ScanCode) -> None:
        self._send(key_event(key, up=False))

    def release(self, key: ScanCode) -> None:
        self._send(key_event(key, up=True))

    def _send(self, event: INPUT) -> None:
        events = (INPUT * 1)(event)
        if self.user32.SendInput(1, events, ctypes.sizeof(INPUT)) != 1:
            # UIPI drops input to a process of higher integrity without saying more.
            raise OSError("SendInput sent no key (is the game running as administrator?)")
