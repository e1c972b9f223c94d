"""The gosumemory/tosu wire formats, as the live layer uses them.

The document builders and parsers are pure data formats and live in
:mod:`ppomania.game.state_protocol`: the stand-in game (``ppomania.standin``) serves the same
documents and may import ``game`` but not ``live``, so the one implementation has to sit in the
layer both can reach. This module re-exports it so that live code and its users import protocol
names from one place; see that module for the formats, the mania mapping and the HP/accuracy scales.
"""

from ppomania.game.state_protocol import (
    GOSUMEMORY,
    NOT_READY_BODY,
    SOURCES,
    STATE_NAMES,
    STATE_PLAY,
    STATE_RESULTS,
    STATE_SONG_SELECT,
    TOSU_PRECISE,
    TOSU_V1,
    TOSU_V2,
    BeatmapInfo,
    GameNotRunning,
    GameSnapshot,
    ParsedState,
    ProtocolError,
    build_document,
    build_gosumemory,
    build_tosu_precise,
    build_tosu_v1,
    build_tosu_v2,
    detect_source,
    dumps,
    filter_document,
    parse_document,
    unstable_rate,
    with_state,
)

__all__ = [
    "GOSUMEMORY",
    "NOT_READY_BODY",
    "SOURCES",
    "STATE_NAMES",
    "STATE_PLAY",
    "STATE_RESULTS",
    "STATE_SONG_SELECT",
    "TOSU_PRECISE",
    "TOSU_V1",
    "TOSU_V2",
    "BeatmapInfo",
    "GameNotRunning",
    "GameSnapshot",
    "ParsedState",
    "ProtocolError",
    "build_document",
    "build_gosumemory",
    "build_tosu_precise",
    "build_tosu_v1",
    "build_tosu_v2",
    "detect_source",
    "dumps",
    "filter_document",
    "parse_document",
    "unstable_rate",
    "with_state",
]
