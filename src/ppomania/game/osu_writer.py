"""The ``.osu`` writer: a :class:`~ppomania.game.beatmap.Beatmap` as a v14 osu!mania file.

The counterpart of :mod:`ppomania.game.beatmap`'s reader, for generated maps that go where a file is
needed (the stand-in game, rosu-pp's star rating, an md5 like stable's).
"""

from __future__ import annotations

import math

from ppomania.game.beatmap import Beatmap


def beatmap_to_osu(beatmap: Beatmap) -> bytes:
    """A v14 ``.osu`` file (CRLF, UTF-8) that :func:`~ppomania.game.load_beatmap` reads back to the
    same keys, difficulty, timing points and object arrays."""

    def text(value: str) -> str:
        return value.replace("\r", " ").replace("\n", " ")

    def number(value: float) -> str:
        return str(int(value)) if float(value).is_integer() else repr(float(value))

    lines = [
        "osu file format v14",
        "",
        "[General]",
        "AudioFilename: audio.mp3",
        "AudioLeadIn: 0",
        "PreviewTime: -1",
        "Countdown: 0",
        "SampleSet: Normal",
        "StackLeniency: 0.7",
        "Mode: 3",
        "LetterboxInBreaks: 0",
        "SpecialStyle: 0",
        "WidescreenStoryboard: 0",
        "",
        "[Editor]",
        "DistanceSpacing: 1",
        "BeatDivisor: 4",
        "GridSize: 4",
        "TimelineZoom: 1",
        "",
        "[Metadata]",
        f"Title:{text(beatmap.title)}",
        f"TitleUnicode:{text(beatmap.title)}",
        f"Artist:{text(beatmap.artist)}",
        f"ArtistUnicode:{text(beatmap.artist)}",
        f"Creator:{text(beatmap.creator)}",
        f"Version:{text(beatmap.version)}",
        "Source:",
        "Tags:ppomania",
        f"BeatmapID:{beatmap.beatmap_id}",
        "BeatmapSetID:-1",
        "",
        "[Difficulty]",
        f"HPDrainRate:{number(beatmap.hp)}",
        f"CircleSize:{beatmap.keys}",
        f"OverallDifficulty:{number(beatmap.od)}",
        "ApproachRate:5",
        "SliderMultiplier:1.4",
        "SliderTickRate:1",
        "",
        "[Events]",
        "//Background and Video events",
        "//Break Periods",
        "",
        "[TimingPoints]",
    ]
    for point in beatmap.timing_points:
        lines.append(
            f"{number(point.time)},{number(point.beat_length)},4,1,0,70,"
            f"{int(point.uninherited)},{int(point.kiai)}"
        )
    lines += ["", "[HitObjects]"]
    x_of = [math.floor((c + 0.5) * 512 / beatmap.keys) for c in range(beatmap.keys)]
    for start, end, column in zip(
        beatmap.starts.tolist(), beatmap.ends.tolist(), beatmap.columns.tolist(), strict=True
    ):
        if end > start:
            lines.append(f"{x_of[column]},192,{start},128,0,{end}:0:0:0:0:")
        else:
            lines.append(f"{x_of[column]},192,{start},1,0,0:0:0:0:")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
