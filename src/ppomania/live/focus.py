"""Keeping the keyboard focus on the game while a window of ours opens (``ppomania play --show``):
the agent's keys go to the focused window, and a new window takes the focus (SDL forces it
where no window manager runs, a window manager usually gives it)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def focus_kept() -> Iterator[None]:
    """Run the block, then give the X keyboard focus back to the window that had it (no-op off
    X11 or without python-xlib)."""
    if not os.environ.get("DISPLAY"):
        yield
        return
    try:
        from Xlib import X, display
        from Xlib.error import DisplayError, XError

        d = display.Display()
    except Exception:  # no Xlib, or no X server: nothing to keep
        yield
        return
    try:
        focus = d.get_input_focus().focus
        yield
        with contextlib.suppress(XError, DisplayError):
            d.sync()  # the new window has taken the focus by now
            d.set_input_focus(focus, X.RevertToPointerRoot, X.CurrentTime)
            d.sync()
    finally:
        d.close()
