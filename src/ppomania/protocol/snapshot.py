"""What the gosumemory and tosu documents say: the snapshot of a game they are built from and
parsed into, the names of the formats, osu!'s state and ruleset codes, and the protocol errors.

Only the fields of :class:`GameSnapshot` and :class:`BeatmapInfo` are modelled; the builders
(:mod:`ppomania.protocol.documents`) emit every other field of the real documents with a neutral
value, and the parser (:mod:`ppomania.protocol.parse`) ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import PureWindowsPath
from typing import Any

from ppomania.game.beatmap import Beatmap
from ppomania.game.score import GameState, Phase

# The formats (``specs/game-state-api.md`` §2.4, §3.5–3.7), described in :mod:`ppomania.protocol`.
GOSUMEMORY = "gosumemory"
TOSU_V1 = "tosu-v1"
TOSU_V2 = "tosu-v2"
TOSU_PRECISE = "tosu-precise"
SOURCES = (GOSUMEMORY, TOSU_V1, TOSU_V2, TOSU_PRECISE)

#: osu!stable's ``OsuModes`` names, as tosu's ``state.name`` gives them (spec §2.5).
STATE_NAMES = (
    "menu", "edit", "play", "exit", "selectEdit", "selectPlay", "selectDrawings", "resultScreen",
    "update", "busy", "unknown", "lobby", "matchSetup", "selectMulti", "rankingVs",
    "onlineSelection", "optionsOffsetWizard", "rankingTagCoop", "rankingTeam", "beatmapImport",
    "packageUpdater", "benchmark", "tourney", "charts",
)  # fmt: skip
STATE_PLAY = 2
STATE_SONG_SELECT = 5
STATE_RESULTS = 7

RULESETS = ("osu", "taiko", "fruits", "mania")
MANIA = 3


class ProtocolError(ValueError):
    """A document is malformed or not one of the known formats. The message names the JSON path."""


class GameNotRunning(ProtocolError):
    """The server answered with its error document: it runs, but osu! does not."""


@dataclass(frozen=True)
class BeatmapInfo:
    """What the servers say about the selected beatmap; defaults describe no map (4K, OD/HP 8).

    ``od``, ``hp`` and ``ar`` are the raw values without mods (``memoryOD`` etc.); ``stars`` is the
    full star rating, ``length_ms`` the audio length.
    """

    artist: str = ""
    artist_unicode: str = ""
    title: str = ""
    title_unicode: str = ""
    mapper: str = ""
    version: str = ""
    md5: str = ""
    beatmap_id: int = 0
    set_id: int = 0
    ranked_status: int = 0
    folder: str = ""
    file: str = ""
    background: str = ""
    audio: str = ""
    keys: int = 4
    od: float = 8.0
    hp: float = 8.0
    ar: float = 8.0
    stars: float = 0.0
    bpm: float = 0.0
    bpm_min: float = 0.0
    bpm_max: float = 0.0
    first_object_ms: int = 0
    last_object_ms: int = 0
    length_ms: int = 0
    n_notes: int = 0
    n_holds: int = 0
    max_combo: int = 0

    @classmethod
    def from_beatmap(cls, beatmap: Beatmap, **overrides: Any) -> BeatmapInfo:
        """Metadata of a :class:`ppomania.game.Beatmap`; ``overrides`` set any other field."""
        folder, file = "", ""
        if beatmap.path:
            path = PureWindowsPath(beatmap.path)
            folder, file = path.parent.name, path.name
        values: dict[str, Any] = dict(
            artist=beatmap.artist,
            artist_unicode=beatmap.artist,
            title=beatmap.title,
            title_unicode=beatmap.title,
            mapper=beatmap.creator,
            version=beatmap.version,
            md5=beatmap.md5,
            beatmap_id=beatmap.beatmap_id,
            folder=folder,
            file=file,
            keys=beatmap.keys,
            od=beatmap.od,
            hp=beatmap.hp,
            first_object_ms=int(beatmap.starts[0]) if beatmap.n_objects else 0,
            last_object_ms=beatmap.duration_ms,
            n_notes=beatmap.n_objects - beatmap.n_holds,
            n_holds=beatmap.n_holds,
        )
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, eq=False)
class GameSnapshot:
    """One moment of the game, as much as the documents need.

    :param state: the play (time, phase, counts, combo, score, accuracy, HP). Treat it as read-only.
    :param beatmap: the selected map.
    :param state_code: osu!'s state (``menu.state``); None derives it from ``state.phase``: MENU → 5
        (song select), RESULTS → 7, otherwise 2 (stable stays in 2 when paused or failed).
    :param mods: osu! mods bitmask.
    :param mode: ruleset of the play (3 = mania).
    :param hit_errors: hit errors of the play so far (ms, negative = early).
    :param hp_smooth: the animated health bar in [0, 1]; None = ``state.hp``.
    :param stars_live: star rating of the part played so far; None = ``beatmap.stars``.
    :param scroll_speed: osu!mania's scroll speed setting (tosu v2 ``settings.mania.scrollSpeed``);
        None = not known (the documents show a neutral value; the parser does not read it).
    """

    state: GameState = field(default_factory=GameState)
    beatmap: BeatmapInfo = field(default_factory=BeatmapInfo)
    state_code: int | None = None
    mods: int = 0
    player_name: str = ""
    mode: int = MANIA
    hit_errors: tuple[int, ...] = ()
    hp_smooth: float | None = None
    stars_live: float | None = None
    game_folder: str = ""
    songs_folder: str = ""
    skin: str = ""
    scroll_speed: float | None = None

    @property
    def code(self) -> int:
        """The effective osu! state code."""
        if self.state_code is not None:
            return self.state_code
        if self.state.phase == Phase.MENU:
            return STATE_SONG_SELECT
        if self.state.phase == Phase.RESULTS:
            return STATE_RESULTS
        return STATE_PLAY


@dataclass(frozen=True, eq=False)
class ParsedState:
    """One parsed document.

    ``snapshot`` is None for precise documents, which carry only ``hit_errors`` (and ``time_ms``
    in the pre-4.23 variant). Phase from one document alone: state 2 → PLAYING (PAUSED / FAILED
    where v2 says ``game.paused`` / ``play.failed``), 7 → RESULTS, anything else → MENU; pause and
    fail in v1 need the history of frames (see :mod:`ppomania.protocol.phases`).
    """

    source: str
    snapshot: GameSnapshot | None
    hit_errors: tuple[int, ...]
    time_ms: float | None

    @property
    def state(self) -> GameState | None:
        return None if self.snapshot is None else self.snapshot.state


def with_state(snap: GameSnapshot, state: GameState, **changes: Any) -> GameSnapshot:
    """``snap`` with another play state (copied, so later changes to ``state`` do not leak in)."""
    return replace(snap, state=state.copy(), **changes)
