"""Fuzzing the file parsers: ``.osu`` text and ``.osr`` bytes, mutated from small real files and
generated, only ever raise :class:`BeatmapError` / :class:`ReplayError` (no other exception, no
hang: every example has a deadline, and the example counts keep the file well under a minute)."""

from __future__ import annotations

import datetime as dt
import lzma
import struct
from datetime import timedelta
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppomania.game.beatmap import (
    MAX_OBJECT_TIME_MS,
    MIN_OBJECT_TIME_MS,
    BeatmapError,
    parse_beatmap,
)
from ppomania.game.replay import (
    Replay,
    ReplayError,
    compress_frames,
    encode_replay,
    parse_replay,
)

DATA = Path(__file__).parent / "data"
MAPS = [
    (DATA / "ppy-osu" / name).read_bytes()
    for name in ("4K.osu", "7K.osu", "14K.osu", "mania-0-01-sv.osu", "sample-beatmap-mania.osu")
]
REAL_REPLAY = (DATA / "ppy-osu/mania-replay.osr").read_bytes()
TIMESTAMP = dt.datetime(2024, 5, 17, tzinfo=dt.timezone.utc)
ENCODED = encode_replay(
    Replay(
        beatmap_md5="0" * 32,
        player="x",
        timestamp=TIMESTAMP,
        frames=np.array([[0, 1], [50, 0], [80, 3], [200, 0]]),
        rng_seed=99,
    )
)
REPLAYS = [REAL_REPLAY, ENCODED]

#: Each example under 2 s (a parse of these files takes milliseconds); the file runs in seconds.
FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Field values that have broken parsers: non-numbers, non-finite, huge, signs, separators.
TOKENS = st.sampled_from(
    [
        "", "0", "-0", "1", "-1", "0.5", "-500", "256", "nan", "inf", "-inf", "1e12", "1e308",
        "2147483647", "2147483648", "-2147483649", "86400001", "9" * 400, "0x10", "1_000", " 7 ",
        "x", "|", ",", ":", "1:2", "\x00", "\x1b[2J", "\u00e9", "-12345", "128", "2", "8", "-100",
    ]
)  # fmt: skip


def check_beatmap(data: bytes) -> None:
    try:
        beatmap = parse_beatmap(data, "fuzz.osu")
    except BeatmapError as exc:
        assert str(exc).startswith("fuzz.osu")
        return
    n = beatmap.n_objects
    assert beatmap.starts.shape == beatmap.ends.shape == beatmap.columns.shape == (n,)
    assert 1 <= beatmap.keys <= 18
    if n:
        assert (np.diff(beatmap.starts) >= 0).all()
        assert (beatmap.ends >= beatmap.starts).all()
        assert ((beatmap.columns >= 0) & (beatmap.columns < beatmap.keys)).all()
        assert beatmap.starts.min() >= MIN_OBJECT_TIME_MS
        assert beatmap.ends.max() <= MAX_OBJECT_TIME_MS


def check_replay(data: bytes) -> None:
    try:
        replay = parse_replay(data, "fuzz.osr")
    except ReplayError as exc:
        assert str(exc).startswith("fuzz.osr")
        return
    assert replay.mode == 3
    assert replay.frames.dtype == np.int64
    assert replay.frames.ndim == 2 and replay.frames.shape[1] == 2


# --- .osu ---------------------------------------------------------------------------------------


def _with_bytes(source: bytes, changes: list[tuple[float, int]]) -> bytes:
    """``source`` with the byte at each relative position replaced by the value given."""
    data = bytearray(source)
    for where, value in changes:
        data[int(where * (len(data) - 1))] = value
    return bytes(data)


@FUZZ
@given(st.sampled_from(MAPS), st.data())
def test_osu_field_mutations(source, data):
    """Replace fields of a few lines (hit objects, timing points, key: value pairs)."""
    lines = source.decode().splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(lines) - 1))
        separator = "," if "," in lines[index] else ":"
        fields = lines[index].split(separator)
        where = data.draw(st.integers(0, len(fields)))
        token = data.draw(TOKENS)
        if where == len(fields):
            fields.append(token)
        else:
            fields[where] = token
        lines[index] = separator.join(fields)
    check_beatmap("\n".join(lines).encode())


@FUZZ
@given(st.sampled_from(MAPS), st.data())
def test_osu_line_mutations(source, data):
    """Delete, duplicate and move lines (sections lose their headers, objects their timing)."""
    lines = source.splitlines()
    for _ in range(data.draw(st.integers(1, 6))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "move"]))
        line = lines.pop(index) if action != "duplicate" else lines[index]
        if action != "delete":
            lines.insert(data.draw(st.integers(0, len(lines))), line)
    check_beatmap(b"\n".join(lines))


@FUZZ
@given(
    st.sampled_from(MAPS),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_osu_byte_mutations(source, changes):
    check_beatmap(_with_bytes(source, changes))


@FUZZ
@given(st.sampled_from(MAPS), st.floats(0, 1))
def test_osu_truncations(source, fraction):
    check_beatmap(source[: int(fraction * len(source))])


def _hit_object(number: st.SearchStrategy) -> st.SearchStrategy[str]:
    """Hit object lines: notes, holds, spinners and sliders whose numbers come from ``number``."""
    return st.builds(
        lambda x, time, kind, rest: f"{x},192,{time},{kind},0{rest}",
        number(-100, 700),
        number(-20_000, 100_000_000),
        st.sampled_from([1, 2, 5, 8, 12, 128, 130, 0, 64, 255]),
        st.one_of(
            st.just(""),
            st.builds(lambda end: f",{end}:0:0:0:0:", number(-1, 10**9)),
            st.builds(lambda end: f",{end}", number(-1, 10**9)),
            st.builds(
                lambda slides, length: f",L|64:100,{slides},{length}",
                number(-2, 10**6),
                number(-10, 10**7),
            ),
        ),
    )


def _timing_point(number: st.SearchStrategy) -> st.SearchStrategy[str]:
    return st.builds(
        lambda time, beat, uninherited: f"{time},{beat},4,1,0,100,{uninherited},0",
        number(-(10**6), 10**9),
        st.one_of(number(-(10**4), 10**4), st.floats(-1e4, 1e4).map(str)),
        st.sampled_from(["0", "1", ""]),
    )


def _any(low: int, high: int) -> st.SearchStrategy:
    return st.one_of(st.integers(low, high), TOKENS)


#: Well-formed numbers (in and out of the allowed ranges), and lines with anything in them.
VALID_LINE = st.one_of(_hit_object(st.integers), _timing_point(st.integers))
ANY_LINE = st.one_of(_hit_object(_any), _timing_point(_any), TOKENS)


@FUZZ
@given(
    version=st.integers(3, 14),
    difficulty=st.dictionaries(
        st.sampled_from(["CircleSize", "OverallDifficulty", "HPDrainRate", "SliderMultiplier"]),
        st.floats(-5, 25).map(str),
    ),
    timing=st.lists(_timing_point(st.integers), max_size=12),
    objects=st.lists(_hit_object(st.integers), max_size=30),
    broken=st.lists(st.tuples(st.floats(0, 1), ANY_LINE), max_size=2),
)
def test_generated_osu_files(version, difficulty, timing, objects, broken):
    lines = [
        f"osu file format v{version}",
        "[General]",
        "Mode: 3",
        "[Difficulty]",
        *(f"{key}:{value}" for key, value in difficulty.items()),
        "[TimingPoints]",
        *timing,
        "[HitObjects]",
        *objects,
    ]
    for where, line in broken:
        lines.insert(int(where * len(lines)), line)
    check_beatmap("\n".join(lines).encode())


@FUZZ
@given(
    version=st.one_of(st.integers(-1, 20), TOKENS),
    mode=st.one_of(st.just("3"), TOKENS),
    title=st.text(max_size=20),
    lines=st.lists(st.one_of(VALID_LINE, ANY_LINE), max_size=20),
)
def test_generated_osu_garbage(version, mode, title, lines):
    head = [
        f"osu file format v{version}",
        "[General]",
        f"Mode: {mode}",
        f"[Metadata]\nTitle:{title}",
    ]
    text = "\n".join([*head, "[TimingPoints]", *lines, "[HitObjects]", *lines])
    check_beatmap(text.encode("utf-8", "surrogatepass"))


# --- .osr ---------------------------------------------------------------------------------------


@FUZZ
@given(
    st.sampled_from(REPLAYS),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_osr_byte_mutations(source, changes):
    check_replay(_with_bytes(source, changes))


@FUZZ
@given(st.sampled_from(REPLAYS), st.floats(0, 1), st.binary(max_size=40))
def test_osr_truncations_and_tails(source, fraction, tail):
    check_replay(source[: int(fraction * len(source))] + tail)


def _frame_text(data: bytes) -> tuple[int, int, str]:
    """(offset of the frame data's length field, length, decompressed text) of ``data``."""
    from ppomania.game.replay import _read_string

    offset = 5
    for _ in range(3):
        _, offset = _read_string(data, offset)
    offset += 12 + 11
    _, offset = _read_string(data, offset)
    offset += 8
    (length,) = struct.unpack_from("<i", data, offset)
    text = lzma.decompress(data[offset + 4 : offset + 4 + length], format=lzma.FORMAT_ALONE)
    return offset, length, text.decode("ascii")


def _with_frames(source: bytes, text: str) -> bytes:
    offset, length, _ = _frame_text(source)
    if text.isascii():
        block = compress_frames(text)  # stable's form: the real size in the LZMA header
    else:
        block = lzma.compress(text.encode("utf-8", "surrogatepass"), format=lzma.FORMAT_ALONE)
    return source[:offset] + struct.pack("<i", len(block)) + block + source[offset + 4 + length :]


FRAME_TEXTS = {source: _frame_text(source)[2] for source in REPLAYS}


@FUZZ
@given(st.sampled_from(REPLAYS), st.data())
def test_osr_frame_text_mutations(source, data):
    """Mutate the decompressed frames (fields, separators, the seed frame), then recompress."""
    frames = FRAME_TEXTS[source].split(",")
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(frames) - 1))
        fields = frames[index].split("|")
        where = data.draw(st.integers(0, len(fields)))
        token = data.draw(TOKENS)
        if where == len(fields):
            fields.append(token)
        else:
            fields[where] = token
        frames[index] = "|".join(fields)
    check_replay(_with_frames(source, ",".join(frames)))


FRAME = st.builds(
    lambda delta, keys, y, z: f"{delta}|{keys}|{y}|{z}",
    st.one_of(st.integers(-(2**40), 2**40), st.floats(-1e6, 1e6), TOKENS),
    st.one_of(st.integers(-1, 2**20), TOKENS),
    st.one_of(st.floats(allow_nan=True), TOKENS),
    st.one_of(st.integers(), TOKENS),
)


@FUZZ
@given(st.lists(FRAME, max_size=300), st.sampled_from(["", ",", ",,"]))
def test_generated_frame_texts(frames, trailing):
    check_replay(_with_frames(ENCODED, ",".join(frames) + trailing))


@FUZZ
@given(
    player=st.text(max_size=30),
    counts=st.lists(st.integers(0, 0xFFFF), min_size=6, max_size=6),
    score=st.integers(-(2**31), 2**31 - 1),
    mods=st.integers(0, 2**31 - 1),
    frames=st.lists(
        st.tuples(st.integers(-(2**31), 2**31), st.integers(0, 2**18 - 1)), max_size=50
    ),
)
def test_generated_replays_round_trip(player, counts, score, mods, frames):
    replay = Replay(
        beatmap_md5="0" * 32,
        player=player.encode("utf-8", "replace").decode("utf-8"),
        score=score,
        mods=mods,
        timestamp=TIMESTAMP,
        frames=np.array(sorted(frames), dtype=np.int64).reshape(-1, 2),
    )
    replay.counts = counts
    try:
        data = encode_replay(replay)
    except ReplayError:
        return
    loaded = parse_replay(data)
    assert loaded.counts.tolist() == counts
    assert loaded.frames.tolist() == replay.frames.tolist()
