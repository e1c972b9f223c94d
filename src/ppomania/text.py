"""Text read from files (map metadata, player names, file names) made safe to print.

A map's title or a replay's player name can hold terminal escape sequences (``ESC [ 2 J``, OSC
title changes) or bidirectional overrides; printed raw they act on the user's terminal. Every
place that prints such text goes through :func:`printable`.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories escaped: controls (C0, DEL, C1), format characters (bidi overrides,
#: zero-width), line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _escape(char: str) -> str:
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control, format and separator character written as ``\\xNN`` or
    ``\\uNNNN`` (newlines and tabs too: the text is shown on one line)."""
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(map(_escape, text))
