"""The Windows backends with ``user32`` replaced by a recorder: scan-code ``INPUT`` structures,
the key sender's release guarantees, window lookup by title and the client-rect arithmetic.

None of this ran on Windows: the fakes stand at the ctypes boundary (what ``SendInput``,
``EnumWindows``, ``GetClientRect``... receive and return)."""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from ppomania.game.rules import DEFAULT_BINDINGS
from ppomania.live import capture, keys, win32_keys, win32_window
from ppomania.live.keys import PAUSE_KEY, RETRY_KEY, KeySender, release_everything
from ppomania.live.win32_keys import (
    INPUT,
    KEYBDINPUT,
    SCAN_CODES,
    ScanCode,
    ScanCodeKeyboard,
    key_event,
    scan_code,
)

SCANCODE, KEYUP, EXTENDED = 0x0008, 0x0002, 0x0001
# Set-1 make codes of the default bindings, written out here rather than read from the table.
EXPECTED_CODES = {4: (0x20, 0x21, 0x24, 0x25), 7: (0x1F, 0x20, 0x21, 0x39, 0x24, 0x25, 0x26)}


class FakeUser32:
    """Records ``SendInput``'s events as ``(type, wVk, wScan, dwFlags, time, dwExtraInfo)``."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.events: list[tuple[int, int, int, int, int, int]] = []
        self.sizes: list[tuple[int, int]] = []
        self.fail_on = fail_on  # a scan code whose events SendInput refuses (returns 0)

    def SendInput(self, count: int, events: ctypes.Array, size: int) -> int:
        self.sizes.append((count, size))
        for event in events[:count]:
            ki = event.ki
            self.events.append((event.type, ki.wVk, ki.wScan, ki.dwFlags, ki.time, ki.dwExtraInfo))
            if ki.wScan == self.fail_on:
                return 0
        return count

    def released(self) -> list[int]:
        return [scan for _, _, scan, flags, _, _ in self.events if flags & KEYUP]


def press(code: int, extended: bool = False) -> tuple[int, int, int, int, int, int]:
    return (1, 0, code, SCANCODE | (EXTENDED if extended else 0), 0, 0)


def release(code: int, extended: bool = False) -> tuple[int, int, int, int, int, int]:
    return (1, 0, code, SCANCODE | KEYUP | (EXTENDED if extended else 0), 0, 0)


def test_every_key_the_project_presses_has_a_scan_code():
    for names in DEFAULT_BINDINGS.values():
        for name in names:
            assert name in SCAN_CODES
    assert scan_code(RETRY_KEY) == ScanCode(0x29)
    assert scan_code(PAUSE_KEY) == ScanCode(0x01)
    with pytest.raises(ValueError, match="unknown key"):
        scan_code("D")


def test_input_has_the_windows_layout():
    pointer = ctypes.sizeof(ctypes.c_void_p)
    assert ctypes.sizeof(KEYBDINPUT) == (24 if pointer == 8 else 16)
    assert ctypes.sizeof(INPUT) == (40 if pointer == 8 else 28)
    assert INPUT.u.offset == pointer  # the union is aligned to its pointer-sized member


@pytest.mark.parametrize("n_keys", [4, 7])
def test_each_default_binding_is_pressed_and_released_by_scan_code(n_keys):
    user32 = FakeUser32()
    sender = KeySender.for_keys(n_keys, ScanCodeKeyboard(user32))
    expected = []
    for column, code in enumerate(EXPECTED_CODES[n_keys]):
        held = np.zeros(n_keys, bool)
        held[column] = True
        sender.apply(held)
        sender.apply(np.zeros(n_keys, bool))
        expected += [press(code), release(code)]
    assert user32.events == expected
    assert user32.sizes == [(1, ctypes.sizeof(INPUT))] * len(expected)
    sender.close()


def test_extended_keys_carry_the_extended_flag():
    user32 = FakeUser32()
    keyboard = ScanCodeKeyboard(user32)
    for name in ("up", "ctrl_r"):
        keyboard.press(keyboard.key(name))
        keyboard.release(keyboard.key(name))
    assert user32.events == [
        press(0x48, True),
        release(0x48, True),
        press(0x1D, True),
        release(0x1D, True),
    ]
    event = key_event(ScanCode(0x20), up=True)
    assert (event.type, event.ki.wScan, event.ki.dwFlags) == (1, 0x20, SCANCODE | KEYUP)


def test_exit_hooks_release_every_bound_and_tapped_key_by_scan_code():
    user32 = FakeUser32()
    sender = KeySender(DEFAULT_BINDINGS[7], ScanCodeKeyboard(user32))
    sender.apply(np.array([1, 0, 1, 1, 0, 0, 1], bool))
    sender.tap(RETRY_KEY)
    sender.held[:] = False  # the bookkeeping lost track (a signal between press and record)
    user32.events.clear()
    release_everything()
    assert sorted(user32.released()) == sorted([*EXPECTED_CODES[7], 0x29])
    assert all(flags & KEYUP for _, _, _, flags, _, _ in user32.events)
    assert not sender.held.any()
    sender.close()


def test_closing_releases_the_held_keys():
    user32 = FakeUser32()
    with KeySender.for_keys(4, ScanCodeKeyboard(user32)) as sender:
        sender.apply(np.array([0, 1, 1, 0], bool))
        user32.events.clear()
    assert user32.events == [release(0x21), release(0x24)]
    assert not sender.held.any()


def test_a_refused_press_raises_and_the_key_is_still_released_at_exit():
    user32 = FakeUser32(fail_on=0x24)  # j
    sender = KeySender.for_keys(4, ScanCodeKeyboard(user32))
    with pytest.raises(OSError, match="SendInput"):
        sender.apply(np.array([1, 0, 1, 1], bool))
    assert sender.held.tolist() == [True, False, True, False]
    user32.events.clear()
    release_everything()
    assert set(user32.released()) >= {0x20, 0x24}
    sender.close()


def test_one_refused_release_does_not_stop_the_others():
    user32 = FakeUser32(fail_on=0x20)  # d
    sender = KeySender.for_keys(4, ScanCodeKeyboard(user32))
    sender.release_every_key()
    assert user32.released() == list(EXPECTED_CODES[4])
    sender.close()


def test_windows_gets_the_scan_code_keyboard_by_default(monkeypatch):
    user32 = FakeUser32()
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(win32_keys, "load_user32", lambda: user32)
    assert isinstance(keys.default_controller(), ScanCodeKeyboard)
    with KeySender.for_keys(4) as sender:
        sender.apply(np.array([1, 0, 0, 0], bool))
    assert user32.events == [press(0x20), release(0x20)]


@pytest.mark.skipif(sys.platform == "win32", reason="checks the guard off Windows")
def test_the_real_libraries_are_refused_off_windows():
    with pytest.raises(OSError, match="Windows"):
        win32_keys.load_user32()
    with pytest.raises(OSError, match="Windows"):
        win32_window.load_user32()
    assert win32_window.load_shcore() is None


@dataclass
class FakeWindow:
    hwnd: int
    title: str
    origin: tuple[int, int] = (0, 0)  # the client area's top-left on screen
    size: tuple[int, int] = (800, 600)  # the client area's width and height
    visible: bool = True


class FakeWindowUser32:
    """The window functions of ``user32`` over a list of windows, front to back."""

    def __init__(self, *windows: FakeWindow) -> None:
        self.windows = {w.hwnd: w for w in windows}
        self.calls: list[str] = []

    def EnumWindows(self, callback, lparam: int) -> int:
        self.calls.append("EnumWindows")
        for hwnd in self.windows:
            if not callback(hwnd, lparam):
                return 0
        return 1

    def IsWindowVisible(self, hwnd: int) -> int:
        return int(self.windows[hwnd].visible)

    def GetWindowTextLengthW(self, hwnd: int) -> int:
        return len(self.windows[hwnd].title)

    def GetWindowTextW(self, hwnd: int, buffer: ctypes.Array, size: int) -> int:
        text = self.windows[hwnd].title[: size - 1]
        buffer.value = text
        return len(text)

    def GetClientRect(self, hwnd: int, rect) -> int:
        self.calls.append(f"GetClientRect {hwnd}")
        width, height = self.windows[hwnd].size
        rect.contents.left, rect.contents.top = 0, 0
        rect.contents.right, rect.contents.bottom = width, height
        return 1

    def ClientToScreen(self, hwnd: int, point) -> int:
        x, y = self.windows[hwnd].origin
        point.contents.x += x
        point.contents.y += y
        return 1

    def SetProcessDPIAware(self) -> int:
        self.calls.append("SetProcessDPIAware")
        return 1


class FakeShcore:
    def __init__(self) -> None:
        self.awareness: list[int] = []

    def SetProcessDpiAwareness(self, value: int) -> int:
        self.awareness.append(value)
        return 0


def test_the_client_area_is_its_screen_origin_and_client_size():
    # A framed window at (100, 50): 8-pixel border, 31-pixel title bar.
    user32 = FakeWindowUser32(FakeWindow(7, "osu!", origin=(108, 81), size=(1024, 768)))
    assert win32_window.find_client_area("osu!", user32) == (108, 81, 1024, 768)
    # On a second monitor left of the first, screen coordinates are negative.
    user32 = FakeWindowUser32(FakeWindow(7, "osu!", origin=(-1912, 31), size=(1904, 1041)))
    assert win32_window.find_client_area("osu!", user32) == (-1912, 31, 1904, 1041)


def test_a_title_is_matched_by_content_and_a_title_starting_with_it_wins():
    user32 = FakeWindowUser32(
        FakeWindow(1, "Command Prompt - ppomania calibrate --window osu!", origin=(0, 0)),
        FakeWindow(2, "Hidden osu! helper", origin=(5, 5), visible=False),
        FakeWindow(3, "osu!  - Camellia - Exit This Earth's Atomosphere [Hard]", origin=(10, 20)),
    )
    assert win32_window.find_client_area("osu!", user32)[:2] == (10, 20)
    assert win32_window.find_client_area("Camellia", user32)[:2] == (10, 20)
    assert win32_window.find_client_area("Command Prompt", user32)[:2] == (0, 0)
    assert win32_window.matching_windows([(1, "a osu!"), (2, "osu! b")], "osu!") == [2, 1]


def test_a_minimised_match_is_passed_over_and_a_missing_window_is_none():
    user32 = FakeWindowUser32(
        FakeWindow(1, "osu!", size=(0, 0)),
        FakeWindow(2, "osu! (second client)", origin=(40, 30)),
    )
    assert win32_window.find_client_area("osu!", user32) == (40, 30, 800, 600)
    assert win32_window.find_client_area("tosu", user32) is None
    assert win32_window.find_client_area("osu!", FakeWindowUser32()) is None
    gone = FakeWindowUser32(FakeWindow(1, "osu!"))
    gone.GetClientRect = lambda hwnd, rect: 0  # the window closed meanwhile
    assert win32_window.find_client_area("osu!", gone) is None


def test_the_process_is_made_dpi_aware_before_any_rectangle_is_read():
    user32 = FakeWindowUser32(FakeWindow(1, "osu!"))
    win32_window.find_client_area("osu!", user32)
    assert user32.calls[:2] == ["SetProcessDPIAware", "EnumWindows"]
    shcore, user32 = FakeShcore(), FakeWindowUser32(FakeWindow(1, "osu!"))
    win32_window.find_client_area("osu!", user32, shcore)
    assert shcore.awareness == [win32_window.PROCESS_PER_MONITOR_DPI_AWARE]
    assert "SetProcessDPIAware" not in user32.calls


def test_find_window_area_uses_the_win32_lookup_on_windows(monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(
        win32_window, "find_client_area", lambda title: asked.append(title) or (1, 2, 3, 4)
    )
    assert capture.find_window_area("osu!") == (1, 2, 3, 4)
    assert asked == ["osu!"]


def test_calibrate_says_plainly_when_the_window_is_missing(monkeypatch, capsys):
    from ppomania.cli import main

    monkeypatch.setattr(capture, "find_window_area", lambda title: None)
    assert main(["calibrate", "--window", "osu!"]) == 2
    assert "no window titled 'osu!' on screen" in capsys.readouterr().err
