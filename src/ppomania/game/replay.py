"""osu!mania ``.osr`` replays: read a replay into header and key events, write one osu!stable loads.

The container is parsed here (osrparse, used in the tests as a cross-check, drops the deltas of the
two leading ``256|-500`` frames, ``specs/osr-format.md`` §7, and raises assorted exceptions). Writing builds
the frame string ourselves (leading frames, integer deltas, seed frame, trailing comma), compresses it
with stable's LZMA properties and patches in the real uncompressed size. Reading decompresses the
frame data a chunk at a time and refuses one past :data:`MAX_FRAME_TEXT_BYTES` or
:data:`MAX_REPLAY_FRAMES` (a "replay bomb").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import lzma
import struct
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ppomania.game.judge import KeyEvent
from ppomania.game.rules import Mods
from ppomania.game.score import grade

#: A recent osu!stable client version, written into generated replays.
STABLE_VERSION = 20230814
_TICKS_AT_UNIX_EPOCH = 621355968000000000
_SEED_FRAME_DELTA = -12345
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 21, "lc": 3, "lp": 0, "pb": 2}]

#: Most frames a replay's data may hold (leading and seed frames included): a 2-hour marathon at
#: 1000 frames/s (stable records about 100/s). A file past it (a "replay bomb": a small LZMA stream
#: that expands to millions of frames) is refused with a :class:`ReplayError`.
MAX_REPLAY_FRAMES = 2 * 3600 * 1000
#: Most bytes the frame data may expand to: 32 per allowed frame (real frames take about 10,
#: ``"16|5|0|0,"``).
MAX_FRAME_TEXT_BYTES = 32 * MAX_REPLAY_FRAMES
_CHUNK_BYTES = 1 << 20  # decompressed bytes per step


#: The header's count fields in :class:`~ppomania.game.rules.Judgement` order (mania: geki = MAX,
#: katu = 200).
_COUNT_FIELDS = ("count_geki", "count_300", "count_katu", "count_100", "count_50", "count_miss")


class ReplayError(ValueError):
    """A replay file could not be read or written."""


@dataclass
class Replay:
    """A mania replay.

    ``frames`` are ``(time_ms, keys_bitmask)`` rows in map time (int64, shape ``(n, 2)``), after the
    leading frames are folded in and the seed frame removed. Counts use osu!'s header names; in
    mania ``count_geki`` is MAX and ``count_katu`` is 200.
    """

    beatmap_md5: str
    player: str = ""
    game_version: int = STABLE_VERSION
    count_300: int = 0
    count_100: int = 0
    count_50: int = 0
    count_geki: int = 0
    count_katu: int = 0
    count_miss: int = 0
    score: int = 0
    max_combo: int = 0
    perfect: bool = False
    mods: Mods = Mods.NONE
    life_bar: str = ""
    timestamp: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    rng_seed: int = 0
    replay_hash: str = ""
    online_id: int = 0
    mode: int = 3
    y_value: float = 0.0

    @property
    def counts(self) -> np.ndarray:
        """Header counts in :class:`~ppomania.game.rules.Judgement` order (MAX, 300, 200, 100, 50,
        miss)."""
        return np.array([getattr(self, name) for name in _COUNT_FIELDS], dtype=np.int64)

    @counts.setter
    def counts(self, values: Sequence[int] | np.ndarray) -> None:
        for name, value in zip(_COUNT_FIELDS, values, strict=True):
            setattr(self, name, int(value))

    def key_events(self, keys: int) -> list[KeyEvent]:
        """Per-column down/up edges of the frames, in time order (columns ``>= keys`` ignored)."""
        return frames_to_events(self.frames, keys)


def frames_to_events(frames: np.ndarray, keys: int) -> list[KeyEvent]:
    """Key-state frames ``(time, bitmask)`` → down/up edges, sorted by time then column."""
    events: list[KeyEvent] = []
    held = 0
    mask = (1 << keys) - 1
    for time_ms, state in frames.tolist():
        state &= mask
        changed = held ^ state
        if changed:
            for column in range(keys):
                bit = 1 << column
                if changed & bit:
                    events.append(KeyEvent(int(time_ms), column, bool(state & bit)))
            held = state
    return events


def events_to_frames(events: Iterable[KeyEvent], end_ms: int | None = None) -> np.ndarray:
    """Down/up edges → key-state frames, one per distinct event time (plus a release-all at ``end_ms``)."""
    rows: list[tuple[int, int]] = []
    held = 0
    touched = 0  # columns already changed in the last row: a second change needs its own frame
    for event in sorted(events, key=lambda e: e.time_ms):
        bit = 1 << event.column
        held = held | bit if event.down else held & ~bit
        if rows and rows[-1][0] == event.time_ms and not touched & bit:
            rows[-1] = (event.time_ms, held)
            touched |= bit
        else:
            rows.append((event.time_ms, held))
            touched = bit
    if end_ms is not None and (not rows or rows[-1][1] != 0 or rows[-1][0] < end_ms):
        rows.append((max(end_ms, rows[-1][0] if rows else end_ms), 0))
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def _frame_chunks(compressed: bytes) -> Iterator[list[str]]:
    """The non-empty comma-separated frames of the frame data, a decompressed chunk at a time.

    Only the first LZMA stream is read (stable writes one; anything after it is ignored).

    :raises ReplayError: when the stream expands past :data:`MAX_FRAME_TEXT_BYTES`.
    """
    if not compressed:
        return
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
    expanded = 0
    pending = ""
    data = compressed
    while not decompressor.eof:
        chunk = decompressor.decompress(data, max_length=_CHUNK_BYTES)
        data = b""
        if not chunk and not decompressor.eof:
            raise ReplayError("frame data ends before its end-of-stream marker")
        expanded += len(chunk)
        if expanded > MAX_FRAME_TEXT_BYTES:
            raise ReplayError(f"frame data expands past the limit of {MAX_FRAME_TEXT_BYTES} bytes")
        *complete, pending = (pending + chunk.decode("ascii")).split(",")
        if len(pending) > _CHUNK_BYTES:
            raise ReplayError(f"a replay frame longer than {_CHUNK_BYTES} bytes")
        yield [part for part in complete if part] if "" in complete else complete
    if pending:
        yield [pending]


def _parse_frames(compressed: bytes) -> tuple[np.ndarray, int, float]:
    """The frame data → (frames, rng seed, y constant), following the spec's decoding recipe.

    A cheap first pass counts the frames (at most :data:`MAX_REPLAY_FRAMES`); the second parses
    them a decompressed chunk at a time, so a long replay never holds its whole text at once.
    """
    n_frames = sum(map(len, _frame_chunks(compressed)))
    if n_frames > MAX_REPLAY_FRAMES:
        raise ReplayError(f"{n_frames} frames, more than the limit of {MAX_REPLAY_FRAMES}")
    blocks: list[np.ndarray] = []
    time_ms, y_value, index = 0, 0.0, 0
    last: list[str] = []  # the latest frame, parsed at the end: a seed frame is only ever last
    for parts in _frame_chunks(compressed):
        if not parts:
            continue
        batch = last + parts[:-1]
        last = parts[-1:]
        rows, time_ms, y_value, _ = _parse_batch(batch, index, time_ms, y_value, False)
        blocks.append(rows)
        index += len(batch)
    rows, _, y_value, seed = _parse_batch(last, index, time_ms, y_value, True)
    blocks.append(rows)
    return np.concatenate(blocks), seed, y_value


def _parse_batch(
    parts: list[str], index: int, time_ms: int, y_value: float, ends: bool
) -> tuple[np.ndarray, int, float, int]:
    """Parse the frames ``parts``, numbered from ``index``; with ``ends`` the last may be the seed
    frame. Returns the rows, the time and y after them and the seed (0 without a seed frame)."""
    rows: list[tuple[int, int]] = []
    seed = 0
    final = len(parts) - 1 if ends else -1
    for offset, part in enumerate(parts):
        fields = part.split("|")
        if len(fields) != 4:
            raise ReplayError(f"bad replay frame #{index + offset}: {part[:40]!r}")
        try:
            delta = int(float(fields[0]))
            x = int(float(fields[1]))
            y = float(fields[2])
        except ValueError:
            raise ReplayError(f"bad replay frame #{index + offset}: {part[:40]!r}") from None
        if delta == _SEED_FRAME_DELTA and offset == final:
            try:
                seed = int(float(fields[3]))
            except ValueError:
                raise ReplayError(f"bad seed frame: {part[:40]!r}") from None
            break
        time_ms += delta
        if index + offset < 2 and x == 256 and y == -500:
            continue
        y_value = y
        rows.append((time_ms, x))
    return np.array(rows, dtype=np.int64).reshape(-1, 2), time_ms, y_value, seed


def _read_string(data: bytes, offset: int) -> tuple[str, int]:
    if offset >= len(data):
        raise ReplayError("truncated replay header")
    marker = data[offset]
    offset += 1
    if marker == 0x00:
        return "", offset
    if marker != 0x0B:
        raise ReplayError(f"bad string marker 0x{marker:02x} at byte {offset - 1}")
    length = 0
    shift = 0
    while True:
        if offset >= len(data) or shift > 35:
            raise ReplayError("truncated or oversized string length")
        byte = data[offset]
        offset += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    end = offset + length
    if end > len(data):
        raise ReplayError("truncated replay string")
    try:
        return data[offset:end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise ReplayError("replay string is not UTF-8") from None


def parse_replay(data: bytes, source: str = "<bytes>") -> Replay:
    """Parse the bytes of an ``.osr`` file.

    The frame data is decompressed incrementally and bounded: at most :data:`MAX_FRAME_TEXT_BYTES`
    bytes of frame text and :data:`MAX_REPLAY_FRAMES` frames (far above any real replay), so a
    small file cannot expand to gigabytes.

    :raises ReplayError: for anything that is not a well-formed mania replay, or one past the
        limits; the message starts with ``source``.
    """
    try:
        return _parse_replay(data)
    except ReplayError as exc:
        raise ReplayError(f"{source}: {exc}") from None
    except (struct.error, lzma.LZMAError, EOFError, IndexError, OverflowError, ValueError) as exc:
        raise ReplayError(f"{source}: corrupt replay ({type(exc).__name__}: {exc})") from None


def _parse_replay(data: bytes) -> Replay:
    if len(data) < 5:
        raise ReplayError("file too short to be a replay")
    mode, version = struct.unpack_from("<bi", data, 0)
    if mode != 3:
        raise ReplayError(f"not an osu!mania replay (mode {mode})")
    offset = 5
    beatmap_md5, offset = _read_string(data, offset)
    player, offset = _read_string(data, offset)
    replay_hash, offset = _read_string(data, offset)
    counts = struct.unpack_from("<6H", data, offset)
    offset += 12
    score, max_combo, perfect, mods = struct.unpack_from("<iHBi", data, offset)
    offset += 11
    life_bar, offset = _read_string(data, offset)
    ticks, length = struct.unpack_from("<qi", data, offset)
    offset += 12
    if length < 0 or offset + length > len(data):
        raise ReplayError(f"replay data length {length} exceeds the file")
    compressed = data[offset : offset + length]
    offset += length
    online_id = 0
    if version >= 20140721 and offset + 8 <= len(data):
        (online_id,) = struct.unpack_from("<q", data, offset)
    elif version >= 20121008 and offset + 4 <= len(data):
        (online_id,) = struct.unpack_from("<i", data, offset)
    frames, seed, y_value = _parse_frames(compressed)
    microseconds = (ticks - _TICKS_AT_UNIX_EPOCH) // 10
    try:
        timestamp = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(
            microseconds=microseconds
        )
    except OverflowError:
        raise ReplayError(f"timestamp out of range ({ticks} ticks)") from None
    return Replay(
        beatmap_md5=beatmap_md5,
        player=player,
        game_version=version,
        count_300=counts[0],
        count_100=counts[1],
        count_50=counts[2],
        count_geki=counts[3],
        count_katu=counts[4],
        count_miss=counts[5],
        score=score,
        max_combo=max_combo,
        perfect=bool(perfect),
        mods=Mods(mods & 0xFFFFFFFF),
        life_bar=life_bar,
        timestamp=timestamp,
        frames=frames,
        rng_seed=seed,
        replay_hash=replay_hash,
        online_id=online_id,
        y_value=y_value,
    )


def load_replay(path: str | Path) -> Replay:
    """Read an ``.osr`` file. Raises :class:`ReplayError` (also when the file is missing)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    return parse_replay(data, str(path))


def _write_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    length = len(raw)
    out = bytearray([0x0B])
    while True:
        byte = length & 0x7F
        length >>= 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes(out) + raw


def _frame_text(replay: Replay) -> str:
    parts = ["0|256|-500|0", "-1|256|-500|0"]
    previous = -1
    y_text = f"{replay.y_value:g}"
    for time_ms, keys in replay.frames.tolist():
        parts.append(f"{int(time_ms) - previous}|{int(keys)}|{y_text}|0")
        previous = int(time_ms)
    parts.append(f"{_SEED_FRAME_DELTA}|0|0|{int(replay.rng_seed)}")
    return ",".join(parts) + ","


def compress_frames(text: str) -> bytes:
    """LZMA "alone" stream with stable's properties and the real uncompressed size."""
    raw = text.encode("ascii")
    stream = lzma.compress(raw, format=lzma.FORMAT_ALONE, filters=_LZMA_FILTERS)
    return stream[:5] + struct.pack("<q", len(raw)) + stream[13:]


def offline_replay_hash(replay: Replay) -> str:
    """The offline checksum stable-era tools write (``specs/osr-format.md`` §5)."""
    rank = grade(replay.counts, replay.mods)
    passed = True
    text = (
        f"{replay.count_300 + replay.count_100}p{replay.count_50}o{replay.count_geki}"
        f"o{replay.count_katu}t{replay.count_miss}a{replay.beatmap_md5}r{replay.max_combo}"
        f"e{replay.perfect}y{replay.player}o{replay.score}u{rank}{int(replay.mods)}{passed}"
    )
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def encode_replay(replay: Replay) -> bytes:
    """The bytes of an ``.osr`` file for ``replay``.

    A missing ``replay_hash`` gets the offline checksum salted with a random id, so every written
    replay is unique (stable skips a replay whose hash it already knows). The max combo is written
    as at most 65535.

    :raises ReplayError: for a header field that does not fit, e.g. a count past the header's 16
        bits (a play of over 65535 notes).
    """
    for name in _COUNT_FIELDS:
        value = getattr(replay, name)
        if not 0 <= value <= 0xFFFF:
            raise ReplayError(f"{name} {value} does not fit the replay header (0 to 65535)")
    replay_hash = (
        replay.replay_hash
        or hashlib.md5((offline_replay_hash(replay) + uuid.uuid4().hex).encode()).hexdigest()
    )
    timestamp = replay.timestamp
    if timestamp.tzinfo is None:
        raise ReplayError("replay timestamp must be timezone-aware (UTC)")
    delta = timestamp - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    ticks = _TICKS_AT_UNIX_EPOCH + (delta // dt.timedelta(microseconds=1)) * 10
    compressed = compress_frames(_frame_text(replay))
    try:
        return _pack_replay(replay, replay_hash, ticks, compressed)
    except struct.error as exc:
        raise ReplayError(f"replay header field out of range: {exc}") from None


def _pack_replay(replay: Replay, replay_hash: str, ticks: int, compressed: bytes) -> bytes:
    return b"".join(
        [
            struct.pack("<bi", replay.mode, replay.game_version),
            _write_string(replay.beatmap_md5),
            _write_string(replay.player),
            _write_string(replay_hash),
            struct.pack(
                "<6H",
                replay.count_300,
                replay.count_100,
                replay.count_50,
                replay.count_geki,
                replay.count_katu,
                replay.count_miss,
            ),
            struct.pack(
                "<iHBi",
                replay.score,
                min(replay.max_combo, 0xFFFF),
                int(replay.perfect),
                int(replay.mods),
            ),
            _write_string(replay.life_bar),
            struct.pack("<qi", ticks, len(compressed)),
            compressed,
            struct.pack("<q", replay.online_id),
        ]
    )


def write_replay(replay: Replay, path: str | Path) -> Path:
    """Write ``replay`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    data = encode_replay(replay)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
