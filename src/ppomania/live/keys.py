"""Key input to the real game with pynput: only changes are sent, never a sleep.

The old project lost 100 ms per key change to pydirectinput's implicit pause (``prior-art.md``
§1.6); :meth:`KeySender.apply` sends one press or release per changed key and returns. No key may
stay held when the program ends: every sender is released by :meth:`KeySender.close`, its context
manager, an ``atexit`` hook and SIGTERM/SIGINT handlers (which then run the previous handler). The
hooks release every key a sender can press, held or not: a signal can land between a press and
the bookkeeping.

On X11, pynput sends a named key (``space``, ``esc``) with the XTest extension, but a character key
(``d``, ``f``: the default column bindings) with XSendEvent, as a synthetic event to the window
that has the input focus. On Windows the keys go as hardware scan codes through ``SendInput``
(:mod:`ppomania.live.win32_keys`), not pynput's virtual keys, which osu! may not read.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import weakref
from collections.abc import Sequence
from types import FrameType

import numpy as np

from ppomania.game.rules import DEFAULT_BINDINGS

#: osu!'s quick-retry key.
RETRY_KEY = "`"
#: The pause key.
PAUSE_KEY = "esc"

_senders: weakref.WeakSet[KeySender] = weakref.WeakSet()
_hooks_lock = threading.Lock()
_hooks_installed = False


def to_pynput(name: str):
    """A key name (one character, or a ``pynput.keyboard.Key`` name like ``space``) for pynput."""
    if len(name) == 1:
        return name
    from pynput.keyboard import Key

    try:
        return Key[name]
    except KeyError:
        raise ValueError(f"unknown key {name!r}") from None


def default_controller() -> object:
    """This platform's key controller: scan codes on Windows, else pynput (on Linux it needs
    ``DISPLAY``)."""
    if sys.platform == "win32":
        from ppomania.live.win32_keys import ScanCodeKeyboard

        return ScanCodeKeyboard()
    from pynput.keyboard import Controller

    return Controller()


def release_everything() -> None:
    """Release every key any live :class:`KeySender` can press (the exit hooks call this)."""
    for sender in list(_senders):
        with contextlib.suppress(Exception):
            sender.release_every_key()


def _on_signal(signum: int, frame: FrameType | None, previous: object) -> None:
    release_everything()
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_hooks() -> None:
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        atexit.register(release_everything)
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None):
                continue
            signal.signal(signum, lambda s, f, p=previous: _on_signal(s, f, p))


class KeySender:
    """Holds and releases the column keys of the game.

    :param bindings: one key name per column (see :func:`to_pynput`).
    :param controller: an object with ``press``/``release`` of keys, and optionally ``key(name)``
        that makes such a key from a key name (default :func:`to_pynput`, a pynput
        ``Controller``'s keys); None: :func:`default_controller`.
    """

    def __init__(self, bindings: Sequence[str], controller: object | None = None) -> None:
        self.controller = default_controller() if controller is None else controller
        self._key = getattr(self.controller, "key", to_pynput)
        self.names = tuple(bindings)
        self._keys = [self._key(name) for name in self.names]
        self.held = np.zeros(len(self._keys), dtype=np.bool_)
        self._tapped: set = set()  # keys tap() has pressed: the exit hooks release them too
        self.sent = 0  # key events sent so far
        _senders.add(self)
        _install_hooks()

    @classmethod
    def for_keys(cls, keys: int, controller: object | None = None) -> KeySender:
        """A sender with :data:`DEFAULT_BINDINGS` for ``keys`` columns."""
        if keys not in DEFAULT_BINDINGS:
            raise ValueError(f"no default bindings for {keys} keys")
        return cls(DEFAULT_BINDINGS[keys], controller)

    def apply(self, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Make the held state ``held`` ``(K,)`` bool, sending only the changes.

        :returns: the columns pressed and the columns released (index arrays).
        """
        held = np.asarray(held, dtype=np.bool_).reshape(-1)
        pressed = np.flatnonzero(held & ~self.held)
        released = np.flatnonzero(~held & self.held)
        for column in released:
            self.controller.release(self._keys[column])
            self.held[column] = False
        for column in pressed:
            self.held[column] = True  # first: a signal after the press must find the key held
            self.controller.press(self._keys[column])
        self.sent += len(pressed) + len(released)
        return pressed, released

    def release_all(self) -> None:
        """Release every key this sender holds."""
        self.apply(np.zeros_like(self.held))

    def release_every_key(self) -> None:
        """Release every bound and every tapped key, whether or not it is recorded as held."""
        for key in [*self._keys, *self._tapped]:
            with contextlib.suppress(Exception):
                self.controller.release(key)
        self.held[:] = False

    def tap(self, name: str) -> None:
        """Press and release one key (e.g. :data:`RETRY_KEY`)."""
        key = self._key(name)
        self._tapped.add(key)
        self.controller.press(key)
        self.controller.release(key)

    def close(self) -> None:
        self.release_all()
        _senders.discard(self)

    def __enter__(self) -> KeySender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
