"""Parse gosumemory and tosu documents into :class:`ParsedState`.

The v1 documents (gosumemory, tosu-v1) and tosu-v2 carry the same values under other paths and
scales; :data:`FIELDS` is the one table of where each version keeps each value, and
:func:`_parse_snapshot` walks it for both. Precise documents carry only hit errors (and the map
time before tosu 4.23). Mania mapping: ``geki`` = MAX, ``"300"``, ``katu`` = 200, ``"100"``,
``"50"``, ``"0"`` = miss. HP is 0–200 in v1 and 0–100 in v2, accuracy a percentage; the parsed
state keeps both in [0, 1].

The text comes from another program, so the parser is defensive: documents nested deeper than
:data:`MAX_DEPTH` are refused before decoding (``json.loads`` recurses once per level), numbers
beyond ±:data:`MAX_NUMBER` (non-finite ones included) are refused where a value is read, integers
too long for Python's int-digits limit fail decoding, and error messages show bounded excerpts.
Every such document raises :class:`ProtocolError`, nothing else.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from ppomania.game.score import GameState, Phase
from ppomania.protocol.snapshot import (
    GOSUMEMORY,
    MANIA,
    STATE_PLAY,
    STATE_RESULTS,
    TOSU_PRECISE,
    TOSU_V1,
    TOSU_V2,
    BeatmapInfo,
    GameNotRunning,
    GameSnapshot,
    ParsedState,
    ProtocolError,
)

# Judgement index (MAX, 300, 200, 100, 50, miss) of each hit key.
_HIT_KEYS = {"geki": 0, "300": 1, "katu": 2, "100": 3, "50": 4, "0": 5}

#: Deepest nesting of arrays and objects accepted; the real documents nest 6 deep.
MAX_DEPTH = 32
#: Largest magnitude of a number accepted (floats are exact integers up to it); counts, scores,
#: times and ids of osu! stay far below.
MAX_NUMBER = 2**53

# A JSON string, escapes included: brackets inside strings ("[Insane]") do not nest.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_SCAN_BLOCK = 2**20  # characters per step of the depth scan: bounds its memory


_EXCERPT = reprlib.Repr()
_EXCERPT.maxlist, _EXCERPT.maxstring = 8, 60


def _show(value: Any) -> str:
    """A bounded excerpt of a value for an error message (a bad value may be megabytes long)."""
    return _EXCERPT.repr(value)


def check_depth(text: str) -> None:
    """Raise :class:`ProtocolError` when the JSON ``text`` nests deeper than :data:`MAX_DEPTH`,
    before ``json.loads`` would recurse that deep; linear time, memory bounded per block."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # no scan needed (precise frames)
        return
    chars = np.frombuffer(_STRING.sub("", text).encode("utf-8", "surrogatepass"), np.uint8)
    depth = level = 0
    for start in range(0, len(chars), _SCAN_BLOCK):
        block = chars[start : start + _SCAN_BLOCK]
        steps = (block == ord("[")).astype(np.int32)
        steps += block == ord("{")
        steps -= block == ord("]")
        steps -= block == ord("}")
        levels = np.cumsum(steps, out=steps)
        depth = max(depth, level + int(levels.max()))
        level += int(levels[-1])
    if depth > MAX_DEPTH:
        raise ProtocolError(f"nested {depth} deep, more than {MAX_DEPTH}")


class _Reader:
    """Typed, tolerant access to one JSON object: missing keys and ``null`` give defaults, a value
    of the wrong type raises :class:`ProtocolError` naming its path."""

    __slots__ = ("_data", "_path")

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ProtocolError(
                f"{path or 'document'}: expected an object, got {type(data).__name__}"
            )
        self._data = data
        self._path = path

    def _value(self, key: str) -> Any:
        return self._data.get(key)

    def _where(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def child(self, key: str) -> _Reader:
        return _Reader(self._value(key), self._where(key))

    def number(self, key: str, default: float = 0.0) -> float:
        value = self._value(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError(f"{self._where(key)}: expected a number, got {_show(value)}")
        if not -MAX_NUMBER <= value <= MAX_NUMBER:  # NaN fails too; no float() of a huge int
            raise ProtocolError(
                f"{self._where(key)}: not a finite number in ±2**53: {_show(value)}"
            )
        return float(value)

    def integer(self, key: str, default: int = 0) -> int:
        return int(self.number(key, default))

    def text(self, key: str, default: str = "") -> str:
        value = self._value(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ProtocolError(f"{self._where(key)}: expected a string, got {_show(value)}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._value(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ProtocolError(f"{self._where(key)}: expected true/false, got {_show(value)}")
        return value

    def integers(self, key: str) -> tuple[int, ...]:
        value = self._value(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ProtocolError(f"{self._where(key)}: expected an array, got {_show(value)}")
        # the usual case, checked at C speed (hit errors)
        if (
            set(map(type, value)) <= {int}
            and -MAX_NUMBER <= min(value, default=0) <= max(value, default=0) <= MAX_NUMBER
        ):
            return tuple(value)
        out = []
        for item in value:
            if (
                isinstance(item, bool)
                or not isinstance(item, (int, float))
                or not -MAX_NUMBER <= item <= MAX_NUMBER
            ):
                raise ProtocolError(f"{self._where(key)}: expected numbers, got {_show(item)}")
            out.append(int(item))
        return tuple(out)


# Reads one value: (the object that holds it, its key) -> the value.
_Read = Callable[[_Reader, str], Any]


def _number(default: float = 0.0) -> _Read:
    return lambda obj, key: obj.number(key, default)


def _integer(default: int = 0) -> _Read:
    return lambda obj, key: obj.integer(key, default)


def _text(obj: _Reader, key: str) -> str:
    return obj.text(key)


def _flag(obj: _Reader, key: str) -> bool:
    return obj.flag(key)


def _integers(obj: _Reader, key: str) -> tuple[int, ...]:
    return obj.integers(key)


def _maybe_number(obj: _Reader, key: str) -> float | None:
    return obj.number(key) if obj.has(key) else None


def _maybe_integer(obj: _Reader, key: str) -> int | None:
    return obj.integer(key) if obj.has(key) else None


def _counts(obj: _Reader, key: str) -> np.ndarray:
    hits = obj.child(key)
    counts = np.zeros(6, dtype=np.int64)
    for hit_key, index in _HIT_KEYS.items():
        counts[index] = hits.integer(hit_key)
    return counts


class Field(NamedTuple):
    """One value of the documents and where each version keeps it.

    :ivar name: ``state.<attribute>``, ``beatmap.<attribute>`` or ``snapshot.<attribute>`` for a
        field of :class:`GameState`, :class:`BeatmapInfo` or :class:`GameSnapshot`; a bare name
        for an input of a value :func:`_parse_snapshot` derives.
    :ivar v1: dotted path in gosumemory and tosu-v1 documents; None where v1 has no such value
        (then it reads as missing: the default).
    :ivar v2: dotted path in tosu-v2 documents.
    :ivar read: reads the value from the object at the path's last key (missing or ``null``: the
        default).
    :ivar per: the value is per this much in (v1, v2) documents: the parsed value is divided by it.
    """

    name: str
    v1: str | None
    v2: str | None
    read: _Read
    per: tuple[float, float] = (1, 1)


_PERCENT = (100, 100)
_HP = (200, 100)

# fmt: off
FIELDS = (
    Field("state.time_ms", "menu.bm.time.current", "beatmap.time.live", _number()),
    Field("state.combo", "gameplay.combo.current", "play.combo.current", _integer()),
    Field("state.max_combo", "gameplay.combo.max", "play.combo.max", _integer()),
    Field("state.score", "gameplay.score", "play.score", _integer()),
    Field("state.accuracy", "gameplay.accuracy", "play.accuracy", _number(100.0), _PERCENT),
    Field("state.counts", "gameplay.hits", "play.hits", _counts),
    Field("state.hp", "gameplay.hp.normal", "play.healthBar.normal", _number(), _HP),
    Field("beatmap.artist", "menu.bm.metadata.artist", "beatmap.artist", _text),
    Field("beatmap.artist_unicode", "menu.bm.metadata.artistOriginal", "beatmap.artistUnicode",
          _text),
    Field("beatmap.title", "menu.bm.metadata.title", "beatmap.title", _text),
    Field("beatmap.title_unicode", "menu.bm.metadata.titleOriginal", "beatmap.titleUnicode",
          _text),
    Field("beatmap.mapper", "menu.bm.metadata.mapper", "beatmap.mapper", _text),
    Field("beatmap.version", "menu.bm.metadata.difficulty", "beatmap.version", _text),
    Field("beatmap.md5", "menu.bm.md5", "beatmap.checksum", _text),
    Field("beatmap.beatmap_id", "menu.bm.id", "beatmap.id", _integer()),
    Field("beatmap.set_id", "menu.bm.set", "beatmap.set", _integer()),
    Field("beatmap.ranked_status", "menu.bm.rankedStatus", "beatmap.status.number", _integer()),
    Field("beatmap.folder", "menu.bm.path.folder", "folders.beatmap", _text),
    Field("beatmap.file", "menu.bm.path.file", "files.beatmap", _text),
    Field("beatmap.background", "menu.bm.path.bg", "files.background", _text),
    Field("beatmap.audio", "menu.bm.path.audio", "files.audio", _text),
    Field("beatmap.keys", "menu.bm.stats.memoryCS", "beatmap.stats.cs.original", _integer(4)),
    Field("beatmap.od", "menu.bm.stats.memoryOD", "beatmap.stats.od.original", _number(8.0)),
    Field("beatmap.hp", "menu.bm.stats.memoryHP", "beatmap.stats.hp.original", _number(8.0)),
    Field("beatmap.ar", "menu.bm.stats.memoryAR", "beatmap.stats.ar.original", _number(8.0)),
    Field("beatmap.stars", "menu.bm.stats.fullSR", "beatmap.stats.stars.total", _number()),
    Field("beatmap.bpm", "menu.bm.stats.BPM.common", "beatmap.stats.bpm.common", _number()),
    Field("beatmap.bpm_min", "menu.bm.stats.BPM.min", "beatmap.stats.bpm.min", _number()),
    Field("beatmap.bpm_max", "menu.bm.stats.BPM.max", "beatmap.stats.bpm.max", _number()),
    Field("beatmap.first_object_ms", "menu.bm.time.firstObj", "beatmap.time.firstObject",
          _integer()),
    Field("beatmap.last_object_ms", "menu.bm.time.full", "beatmap.time.lastObject", _integer()),
    Field("beatmap.length_ms", "menu.bm.time.mp3", "beatmap.time.mp3Length", _integer()),
    Field("beatmap.n_notes", "menu.bm.stats.circles", "beatmap.stats.objects.circles", _integer()),
    Field("beatmap.n_holds", "menu.bm.stats.holds", "beatmap.stats.objects.holds", _integer()),
    Field("beatmap.max_combo", "menu.bm.stats.maxCombo", "beatmap.stats.maxCombo", _integer()),
    Field("snapshot.state_code", "menu.state", "state.number", _maybe_integer),
    Field("snapshot.mods", "menu.mods.num", "play.mods.number", _integer()),
    Field("snapshot.hit_errors", "gameplay.hits.hitErrorArray", "play.hitErrorArray", _integers),
    Field("snapshot.game_folder", "settings.folders.game", "folders.game", _text),
    Field("snapshot.songs_folder", "settings.folders.songs", "folders.songs", _text),
    Field("snapshot.skin", "settings.folders.skin", "folders.skin", _text),
    Field("snapshot.scroll_speed", None, "settings.mania.scrollSpeed", _maybe_number),
    # inputs of derived values
    Field("paused", None, "game.paused", _flag),
    Field("failed", None, "play.failed", _flag),
    Field("mode_in_play", "gameplay.gameMode", "play.mode.number", _integer(MANIA)),
    Field("mode_in_menu", "menu.gameMode", "settings.mode.number", _integer(MANIA)),
    Field("player_name", "gameplay.name", "play.playerName", _text),
    Field("profile_name", None, "profile.name", _text),
    Field("hp_smooth", "gameplay.hp.smooth", "play.healthBar.smooth", _maybe_number, _HP),
    Field("stars_live", "menu.bm.stats.SR", "beatmap.stats.stars.live", _number()),
)
# fmt: on
_FIELD = {f.name: f for f in FIELDS}


def _split(path: str | None) -> tuple[str, str] | None:
    """A path as (the path of the object that holds the value, its key)."""
    if path is None:
        return None
    parent, _, key = path.rpartition(".")
    return parent, key


def _by_group() -> dict[str, list[tuple[str, str]]]:
    """(attribute, field name) of the fields of each group (``state``, ``beatmap``, ``snapshot``)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for f in FIELDS:
        group, dot, attribute = f.name.partition(".")
        if dot:
            groups.setdefault(group, []).append((attribute, f.name))
    return groups


# Split once: the parser reads a v1/v2 document every 100–150 ms.
_WHERE = ({f.name: _split(f.v1) for f in FIELDS}, {f.name: _split(f.v2) for f in FIELDS})
_GROUPS = _by_group()
_NOTHING = _Reader(None, "")


class _Values:
    """The values of :data:`FIELDS` in one document, each read when first asked for: a value the
    document's state does not use (a fallback, the ruleset of the other screen) is never read, so
    a wrongly typed one does not fail the document."""

    def __init__(self, doc: _Reader, v2: bool) -> None:
        self._v2 = v2
        self._where = _WHERE[v2]
        self._objects = {"": doc}
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            self._values[name] = self._read(_FIELD[name])
        return self._values[name]

    def group(self, group: str) -> dict[str, Any]:
        """The values of the fields ``group.<attribute>``, by attribute."""
        return {attribute: self[name] for attribute, name in _GROUPS[group]}

    def _read(self, f: Field) -> Any:
        where = self._where[f.name]
        if where is None:
            return f.read(_NOTHING, "")
        value = f.read(self._object(where[0]), where[1])
        per = f.per[self._v2]
        return value / per if per != 1 and value is not None else value

    def _object(self, path: str) -> _Reader:
        if path not in self._objects:
            parent, _, key = path.rpartition(".")
            self._objects[path] = self._object(parent).child(key)
        return self._objects[path]


def _phase(code: int | None, paused: bool, failed: bool) -> Phase:
    if code == STATE_PLAY:
        return Phase.FAILED if failed else Phase.PAUSED if paused else Phase.PLAYING
    if code == STATE_RESULTS:
        return Phase.RESULTS
    return Phase.MENU


def _parse_snapshot(doc: _Reader, source: str) -> ParsedState:
    """A v1 or v2 document: :data:`FIELDS`, plus the values derived from several of them."""
    values = _Values(doc, v2=source == TOSU_V2)
    code = values["snapshot.state_code"]
    phase = _phase(code, values["paused"], values["failed"])
    state = GameState(phase=phase, **values.group("state"))
    in_play = code in (STATE_PLAY, STATE_RESULTS)  # elsewhere the ruleset is the menu's
    smooth = values["hp_smooth"]
    snapshot = GameSnapshot(
        state=state,
        beatmap=BeatmapInfo(**values.group("beatmap")),
        mode=values["mode_in_play" if in_play else "mode_in_menu"],
        player_name=values["player_name"] or values["profile_name"],
        hp_smooth=state.hp if smooth is None else smooth,
        # gosumemory's SR is the full rating, not the live one
        stars_live=None if source == GOSUMEMORY else values["stars_live"],
        **values.group("snapshot"),
    )
    return ParsedState(source, snapshot, snapshot.hit_errors, state.time_ms)


def detect_source(doc: Mapping[str, Any]) -> str:
    """Which format a decoded document is in, from its top-level keys (see :data:`SOURCES`)."""
    if isinstance(doc.get("state"), Mapping) or "play" in doc or "beatmap" in doc:
        return TOSU_V2
    if "menu" in doc or "gameplay" in doc or "resultsScreen" in doc:
        return TOSU_V1 if "client" in doc or "userProfile" in doc else GOSUMEMORY
    if "hitErrors" in doc or "currentTime" in doc or "keys" in doc:
        return TOSU_PRECISE
    raise ProtocolError(f"not a gosumemory/tosu document: top-level keys {_show(sorted(doc))}")


def parse_document(
    data: str | bytes | Mapping[str, Any], expected: str | None = None
) -> ParsedState:
    """Parse one frame or ``/json*`` body.

    :param data: the JSON text, or an already decoded object.
    :param expected: the format the endpoint serves; None detects it. gosumemory and tosu-v1 are
        both accepted where either is expected, since they share the paths.
    :raises GameNotRunning: the server's error document (osu! not running).
    :raises ProtocolError: empty, unparsable or too deeply nested text, an unknown format, or a
        wrongly typed or out-of-range value.
    """
    if isinstance(data, (str, bytes)):
        if not data.strip():
            raise ProtocolError("empty frame")
        try:
            # decoded as json.loads decodes bytes, so the depth scan sees the same text
            text = (
                data.decode(json.detect_encoding(data), "surrogatepass")
                if isinstance(data, bytes)
                else data
            )
        except UnicodeDecodeError as err:
            raise ProtocolError(f"unparsable JSON: {err}") from None
        check_depth(text)
        try:
            data = json.loads(text)
        except ValueError as err:  # Python's int-digits limit included
            raise ProtocolError(f"unparsable JSON: {err}") from None
    if not isinstance(data, Mapping):
        raise ProtocolError(f"expected a JSON object, got {type(data).__name__}")
    if isinstance(data.get("error"), str):
        raise GameNotRunning(data["error"])
    source = detect_source(data)
    v1 = (GOSUMEMORY, TOSU_V1)
    if expected is not None and source != expected and not (source in v1 and expected in v1):
        raise ProtocolError(f"expected a {expected} document, got {source}")
    doc = _Reader(data, "")
    if source == TOSU_PRECISE:
        time = doc.number("currentTime") if doc.has("currentTime") else None
        return ParsedState(TOSU_PRECISE, None, doc.integers("hitErrors"), time)
    return _parse_snapshot(doc, source)
