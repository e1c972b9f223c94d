"""The gosumemory and tosu documents of a :class:`GameSnapshot`, serialised as the tools write them.

:func:`build_document` dispatches to the builders of :mod:`ppomania.protocol.build_v1` and
:mod:`ppomania.protocol.build_v2`; :func:`dumps` writes the JSON text; :func:`filter_document` is
tosu's ``applyFilters`` (:func:`filter_items` sizes its list); :data:`NOT_READY_BODY` is what the
tools serve while osu! is not running.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ppomania.protocol.build_v1 import build_gosumemory, build_tosu_v1
from ppomania.protocol.build_v2 import build_tosu_precise, build_tosu_v2
from ppomania.protocol.snapshot import (
    GOSUMEMORY,
    SOURCES,
    TOSU_PRECISE,
    TOSU_V1,
    TOSU_V2,
    GameSnapshot,
    ProtocolError,
)

#: Bodies served while osu! is not running: gosumemory with status 200, tosu with status 500.
NOT_READY_BODY = {
    GOSUMEMORY: {"error": "osu! is not fully loaded!"},
    TOSU_V1: {"error": "osu is not ready/running"},
    TOSU_V2: {"error": "osu is not ready/running"},
    TOSU_PRECISE: {"error": "osu is not ready/running"},
}

_BUILDERS = {
    GOSUMEMORY: build_gosumemory,
    TOSU_V1: build_tosu_v1,
    TOSU_V2: build_tosu_v2,
    TOSU_PRECISE: build_tosu_precise,
}


def build_document(snap: GameSnapshot, source: str) -> dict[str, Any]:
    """The document of ``source`` (one of :data:`SOURCES`) for ``snap``."""
    if source not in _BUILDERS:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    return _BUILDERS[source](snap)


# Go's encoding/json escapes these inside strings; they never occur outside strings in JSON.
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def dumps(doc: Any, source: str = TOSU_V2) -> str:
    """Compact JSON as the tool writes it (non-ASCII raw); gosumemory also escapes ``<>&``."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.translate(_GO_ESCAPES) if source == GOSUMEMORY else text


def filter_document(doc: Mapping[str, Any], filters: Sequence[Any]) -> dict[str, Any]:
    """tosu's ``applyFilters``: keep only the listed paths. A string names a key; ``{"field": key,
    "keys": [...]}`` keeps a nested selection. Raises :class:`ProtocolError` for another item."""
    out: dict[str, Any] = {}
    for item in filters:
        if isinstance(item, str):
            if item in doc:
                out[item] = doc[item]
        elif isinstance(item, Mapping) and isinstance(item.get("field"), str):
            name, keys = item["field"], item.get("keys", [])
            if not isinstance(keys, list):
                raise ProtocolError(f"applyFilters: keys of {name!r} must be a list")
            sub = doc.get(name)
            selected = filter_document(sub if isinstance(sub, Mapping) else {}, keys)
            if isinstance(sub, Mapping):
                out[name] = selected
        else:
            raise ProtocolError(f"applyFilters: unexpected item {item!r}")
    return out


def filter_items(filters: Sequence[Any]) -> int:
    """How many items an ``applyFilters`` list holds, nested ones included (without recursion;
    invalid items count as one, :func:`filter_document` rejects them)."""
    count, pending = 0, [filters]
    while pending:
        items = pending.pop()
        count += len(items)
        pending.extend(
            item["keys"]
            for item in items
            if isinstance(item, Mapping) and isinstance(item.get("keys"), list)
        )
    return count
