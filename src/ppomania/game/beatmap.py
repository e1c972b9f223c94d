"""Parsing of osu!mania ``.osu`` beatmaps (format versions 3–14).

Only what the rules and the renderer need is kept: metadata, difficulty, timing points and hit objects.
Objects are stored as arrays (one row per object, sorted by start time then column) so that the judge
and the simulator can index them without Python objects per note.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Format versions below this get the +24 ms offset stable applies to old maps.
EARLY_VERSION = 5
EARLY_VERSION_TIMING_OFFSET = 24

#: Hit object times (start and end, ms) must lie in ``[MIN_OBJECT_TIME_MS, MAX_OBJECT_TIME_MS]``:
#: a short lead-in before the audio starts, at most 24 hours (real maps end within minutes; a
#: note near ``2**31`` ms would make a play step through weeks of empty time).
MIN_OBJECT_TIME_MS = -10_000
MAX_OBJECT_TIME_MS = 24 * 3600 * 1000
#: Most hit objects, and most timing points, a map may have (the longest real maps have tens of
#: thousands of either).
MAX_OBJECTS = 1_000_000

_TYPE_CIRCLE = 1
_TYPE_SLIDER = 2
_TYPE_SPINNER = 8
_TYPE_HOLD = 128


class BeatmapError(ValueError):
    """A beatmap could not be read. The message names the file, the line and what is wrong."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class TimingPoint:
    """One ``[TimingPoints]`` line.

    ``beat_length`` is ms per beat for an uninherited point; for an inherited one it is negative and
    the scroll-speed multiplier is ``100 / -beat_length``.
    """

    time: float
    beat_length: float
    uninherited: bool
    kiai: bool = False

    @property
    def scroll_multiplier(self) -> float:
        """Slider-velocity multiplier of an inherited point (1.0 for an uninherited one)."""
        if self.uninherited or self.beat_length >= 0:
            return 1.0
        return min(10.0, max(0.01, 100.0 / -self.beat_length))


@dataclass
class Beatmap:
    """An osu!mania beatmap.

    Hit objects are held in parallel arrays sorted by ``(start, column)``: ``starts`` and ``ends`` are
    integer ms (``ends == starts`` for a plain note), ``columns`` are ``0..keys-1``.
    """

    keys: int
    od: float
    hp: float
    starts: np.ndarray
    ends: np.ndarray
    columns: np.ndarray
    timing_points: list[TimingPoint] = field(default_factory=list)
    title: str = ""
    artist: str = ""
    creator: str = ""
    version: str = ""
    format_version: int = 14
    md5: str = ""
    path: str | None = None
    beatmap_id: int = 0

    @property
    def n_objects(self) -> int:
        return int(self.starts.shape[0])

    @property
    def is_hold(self) -> np.ndarray:
        """Boolean mask of hold notes."""
        return self.ends > self.starts

    @property
    def n_holds(self) -> int:
        return int(self.is_hold.sum())

    @property
    def duration_ms(self) -> int:
        """Time of the last object end (0 for an empty map)."""
        return int(self.ends.max()) if self.n_objects else 0

    @property
    def name(self) -> str:
        """``Artist - Title [Version]``, as osu! shows it."""
        return f"{self.artist} - {self.title} [{self.version}]"

    @property
    def display_name(self) -> str:
        """:attr:`name`, or the file name for a map without metadata."""
        if self.title or self.artist:
            return self.name
        return Path(self.path).stem if self.path else self.md5

    def column_objects(self, column: int) -> np.ndarray:
        """Indices of the objects in ``column``, in time order."""
        return np.flatnonzero(self.columns == column)

    def mirrored(self) -> Beatmap:
        """The same map with columns flipped (the Mirror mod)."""
        flipped = self.keys - 1 - self.columns
        order = np.lexsort((flipped, self.starts))
        return Beatmap(
            **{
                **self.__dict__,
                "starts": self.starts[order],
                "ends": self.ends[order],
                "columns": flipped[order],
            }
        )


def _split_key_value(line: str) -> tuple[str, str] | None:
    if ":" not in line:
        return None
    key, value = line.split(":", 1)
    return key.strip(), value.strip()


def _round_half_even(value: float) -> int:
    return round(value)  # Python rounds half to even, as C#'s Math.Round


class _SliderTiming:
    """Beat length and slider velocity in effect at a time, found by bisection (a map with many
    sliders and many timing points parses in n log n, not n * m)."""

    def __init__(self, points: list[TimingPoint]) -> None:
        self.times = [point.time for point in points]  # sorted: the points are
        self.states: list[tuple[float, float]] = []
        beat_length, velocity = 1000.0, 1.0
        for point in points:
            if point.uninherited:
                beat_length, velocity = point.beat_length, 1.0
            else:
                velocity = point.scroll_multiplier
            self.states.append((beat_length, velocity))

    def at(self, time: float) -> tuple[float, float]:
        """``(beat_length, velocity)`` after every point at or before ``time``."""
        index = bisect.bisect_right(self.times, time)
        return self.states[index - 1] if index else (1000.0, 1.0)


class _Parser:
    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        self.line_no = 0

    def fail(self, reason: str, line: int | None = -1) -> BeatmapError:
        return BeatmapError(self.source, self.line_no if line == -1 else line, reason)

    def number(self, text: str, what: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise self.fail(f"{what} is not a number: {text!r}") from None
        if not math.isfinite(value):
            raise self.fail(f"{what} is not finite: {text!r}")
        return value

    def integer_time(self, text: str, what: str) -> int:
        value = self.number(text, what)
        if abs(value) > 2**31:
            raise self.fail(f"{what} out of range: {text!r}")
        return math.floor(value)

    def parse(self) -> Beatmap:
        try:
            text = self.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BeatmapError(self.source, None, f"not UTF-8 text ({exc.reason})") from None
        lines = text.splitlines()
        version = self._format_version(lines)
        offset = EARLY_VERSION_TIMING_OFFSET if version < EARLY_VERSION else 0

        section = ""
        general: dict[str, str] = {}
        metadata: dict[str, str] = {}
        difficulty: dict[str, tuple[str, int]] = {}
        timing_lines: list[tuple[int, str]] = []
        object_lines: list[tuple[int, str]] = []
        for index, raw in enumerate(lines):
            self.line_no = index + 1
            line = raw.strip()
            if not line or line.startswith("//"):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            if section in ("General", "Metadata", "Difficulty"):
                pair = _split_key_value(line)
                if pair is None:
                    raise self.fail(f"expected 'key: value' in [{section}], got {line!r}")
                if section == "General":
                    general[pair[0]] = pair[1]
                elif section == "Metadata":
                    metadata[pair[0]] = pair[1]
                else:
                    difficulty[pair[0]] = (pair[1], self.line_no)
            elif section == "TimingPoints":
                if len(timing_lines) == MAX_OBJECTS:
                    raise self.fail(f"more than {MAX_OBJECTS} timing points")
                timing_lines.append((self.line_no, line))
            elif section == "HitObjects":
                if len(object_lines) == MAX_OBJECTS:
                    raise self.fail(f"more than {MAX_OBJECTS} hit objects")
                object_lines.append((self.line_no, line))

        mode = general.get("Mode", "0").strip()
        if mode != "3":
            raise BeatmapError(
                self.source,
                None,
                f"not an osu!mania map (Mode: {mode}); converts from other modes are not supported",
            )

        def difficulty_value(key: str, default: float) -> float:
            if key not in difficulty:
                return default
            value, self.line_no = difficulty[key]
            return self.number(value, key)

        circle_size = difficulty_value("CircleSize", 4.0)
        keys = max(1, _round_half_even(min(18.0, max(1.0, circle_size))))
        od = min(10.0, max(0.0, difficulty_value("OverallDifficulty", 5.0)))
        hp = min(10.0, max(0.0, difficulty_value("HPDrainRate", 5.0)))
        slider_multiplier = difficulty_value("SliderMultiplier", 1.4)
        if slider_multiplier <= 0:
            raise self.fail("SliderMultiplier must be positive")

        timing_points = [self._timing_point(n, line, offset) for n, line in timing_lines]
        timing_points.sort(key=lambda p: (p.time, not p.uninherited))
        starts, ends, columns = self._hit_objects(
            object_lines, keys, offset, _SliderTiming(timing_points), slider_multiplier
        )
        try:
            beatmap_id = int(metadata.get("BeatmapID", "0") or 0)
        except ValueError:
            beatmap_id = 0
        return Beatmap(
            keys=keys,
            od=od,
            hp=hp,
            starts=starts,
            ends=ends,
            columns=columns,
            timing_points=timing_points,
            title=metadata.get("Title", ""),
            artist=metadata.get("Artist", ""),
            creator=metadata.get("Creator", ""),
            version=metadata.get("Version", ""),
            format_version=version,
            md5=hashlib.md5(self.data).hexdigest(),
            beatmap_id=beatmap_id,
        )

    def _format_version(self, lines: list[str]) -> int:
        for index, raw in enumerate(lines):
            line = raw.strip()
            if not line:
                continue
            prefix = "osu file format v"
            if not line.startswith(prefix):
                raise BeatmapError(self.source, index + 1, f"not an .osu file: {line[:40]!r}")
            try:
                return int(line[len(prefix) :])
            except ValueError:
                raise BeatmapError(self.source, index + 1, f"bad format version {line!r}") from None
        raise BeatmapError(self.source, None, "empty file")

    def _timing_point(self, line_no: int, line: str, offset: int) -> TimingPoint:
        self.line_no = line_no
        parts = line.split(",")
        if len(parts) < 2:
            raise self.fail(f"timing point needs at least time,beatLength: {line!r}")
        time = self.number(parts[0], "timing point time") + offset
        beat_length = self.number(parts[1], "beatLength")
        uninherited = True
        if len(parts) > 6 and parts[6].strip():
            uninherited = parts[6].strip() != "0"
        if beat_length < 0:
            uninherited = False
        elif uninherited and beat_length == 0:
            raise self.fail("uninherited timing point with beatLength 0")
        effects = int(self.number(parts[7], "effects")) if len(parts) > 7 and parts[7] else 0
        return TimingPoint(time, beat_length, uninherited, kiai=bool(effects & 1))

    def _hit_objects(
        self,
        object_lines: list[tuple[int, str]],
        keys: int,
        offset: int,
        timing: _SliderTiming,
        slider_multiplier: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(object_lines)
        starts = np.empty(n, dtype=np.int64)
        ends = np.empty(n, dtype=np.int64)
        columns = np.empty(n, dtype=np.int64)
        for i, (line_no, line) in enumerate(object_lines):
            self.line_no = line_no
            parts = line.split(",")
            if len(parts) < 5:
                raise self.fail(f"hit object needs x,y,time,type,hitSound: {line!r}")
            x = self.number(parts[0], "x")
            start = self.integer_time(parts[2], "time") + offset
            kind = int(self.number(parts[3], "type"))
            end = start
            if kind & _TYPE_HOLD:
                if len(parts) < 6:
                    raise self.fail("hold note without end time")
                end = self.integer_time(parts[5].split(":", 1)[0], "hold end time") + offset
            elif kind & _TYPE_SPINNER:
                if len(parts) < 6:
                    raise self.fail("spinner without end time")
                end = self.integer_time(parts[5], "spinner end time") + offset
            elif kind & _TYPE_SLIDER:
                end = start + self._slider_duration(parts, start, timing, slider_multiplier)
            elif not kind & _TYPE_CIRCLE:
                raise self.fail(f"unknown hit object type {kind}")
            for time in (start, end):
                if not MIN_OBJECT_TIME_MS <= time <= MAX_OBJECT_TIME_MS:
                    raise self.fail(
                        f"hit object time {time} ms out of range "
                        f"({MIN_OBJECT_TIME_MS} to {MAX_OBJECT_TIME_MS} ms)"
                    )
            starts[i] = start
            ends[i] = max(start, end)
            columns[i] = min(keys - 1, max(0, math.floor(min(max(x, 0.0), 512.0) * keys / 512)))
        order = np.lexsort((columns, starts))
        return starts[order], ends[order], columns[order]

    def _slider_duration(
        self,
        parts: list[str],
        start: int,
        timing: _SliderTiming,
        slider_multiplier: float,
    ) -> int:
        if len(parts) < 8:
            raise self.fail("slider needs curve, slides and length")
        slides = self.number(parts[6], "slider slides")
        length = self.number(parts[7], "slider length")
        beat_length, velocity = timing.at(start)
        span = length / (slider_multiplier * 100.0 * velocity) * beat_length
        return self.integer_time(str(slides * span), "slider duration")


def parse_beatmap(data: bytes, source: str = "<bytes>") -> Beatmap:
    """Parse the exact bytes of an ``.osu`` file.

    :param data: the file's bytes (the MD5 is taken over them as they are).
    :param source: a name for error messages, usually the path.
    :raises BeatmapError: on any malformed input or a map that is not osu!mania (Mode 3).
    """
    return _Parser(data, source).parse()


def load_beatmap(path: str | Path) -> Beatmap:
    """Read and parse an ``.osu`` file. Raises :class:`BeatmapError` (also when the file is missing)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BeatmapError(str(path), None, f"cannot read file ({exc.strerror or exc})") from None
    beatmap = parse_beatmap(data, str(path))
    beatmap.path = str(path)
    return beatmap
