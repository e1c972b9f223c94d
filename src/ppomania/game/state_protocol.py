"""The JSON documents of gosumemory and tosu: build them from a game state and parse them back.

Pure data formats, no I/O. They live in the game layer because two layers need them and may not
import each other: the live state client (``ppomania.live``) parses what the real tools send, and
the stand-in game (``ppomania.standin``, which may import only ``game`` and ``sim``) serves the same
documents. ``ppomania.live.protocol`` re-exports this module as the live layer's protocol API.

Formats (``specs/game-state-api.md`` §2.4, §3.5–3.7, fixtures §10), named by :data:`SOURCES`:

- ``gosumemory``: v1 document of ``GET /json`` and ``/ws`` (gosumemory 1.3.9).
- ``tosu-v1``: tosu's gosumemory-compatible superset on the same paths.
- ``tosu-v2``: ``GET /json/v2`` and ``/websocket/v2``.
- ``tosu-precise``: ``GET /json/v2/precise`` and ``/websocket/v2/precise`` (``currentTime`` only
  in the pre-4.23 variant).

Mania mapping: ``geki`` = MAX, ``"300"``, ``katu`` = 200, ``"100"``, ``"50"``, ``"0"`` = miss.
HP is 0–200 in v1 (``gameplay.hp.normal``) and 0–100 in v2 (``play.healthBar.normal``); accuracy
is a percentage (rounded to 2 decimals by gosumemory). :class:`GameState` keeps both in [0, 1].

Only the fields of :class:`GameSnapshot` and :class:`BeatmapInfo` are modelled; every other field of
the real documents is emitted with a neutral value (zeros, empty strings, osu!'s default settings),
so that the documents keep the real key order, nesting and ``null``-versus-``[]`` choices.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PureWindowsPath
from typing import Any

import numpy as np

from ppomania.game.beatmap import Beatmap
from ppomania.game.rules import Mods, hit_windows
from ppomania.game.score import GameState, Phase, grade

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
_RANKED_STATUS = {
    1: "notSubmitted",
    2: "pending",
    4: "ranked",
    5: "approved",
    6: "qualified",
    7: "loved",
}

#: Bodies served while osu! is not running: gosumemory with status 200, tosu with status 500.
NOT_READY_BODY = {
    GOSUMEMORY: {"error": "osu! is not fully loaded!"},
    TOSU_V1: {"error": "osu is not ready/running"},
    TOSU_V2: {"error": "osu is not ready/running"},
    TOSU_PRECISE: {"error": "osu is not ready/running"},
}

# Judgement index (MAX, 300, 200, 100, 50, miss) of each hit key.
_HIT_KEYS = {"geki": 0, "300": 1, "katu": 2, "100": 3, "50": 4, "0": 5}
# States in which gosumemory keeps `gameplay`; elsewhere it zeroes it every cycle (spec §2.7).
_GOSU_KEEPS_PLAY = (0, 1, 2, 7)
# States in which tosu keeps `gameplay` (spec §3.8).
_TOSU_KEEPS_PLAY = (0, 1, 2, 7, 11, 12, 15, 22)


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
    fail in v1 need the history of frames (see ``ppomania.live.state_client``).
    """

    source: str
    snapshot: GameSnapshot | None
    hit_errors: tuple[int, ...]
    time_ms: float | None

    @property
    def state(self) -> GameState | None:
        return None if self.snapshot is None else self.snapshot.state


# --- building ------------------------------------------------------------------------------------

# fmt: off
# Unmodelled parts of the documents, with neutral values (osu!'s defaults where a setting has one).
# Builders deep-copy them, so a built document never shares objects with another.
_KEY_OVERLAY = {k: {"isPressed": False, "count": 0} for k in ("k1", "k2", "m1", "m2")}
_GOSU_MENU_PP = {"100": 0, "99": 0, "98": 0, "97": 0, "96": 0, "95": 0, "strains": [0]}
_PP_BY_ACCURACY = {str(acc): 0 for acc in range(90, 101)}
_STRAINS_GRAPH = {"series": [{"name": "strains", "data": []}], "xaxis": []}
_V1_PLAY_PP = {"current": 0, "fc": 0, "maxThisPlay": 0}
_GOSU_LEADERBOARD = {
    "hasLeaderboard": False, "isVisible": False,
    "ourplayer": {"name": "", "score": 0, "combo": 0, "maxCombo": 0, "mods": "", "h300": 0,
                  "h100": 0, "h50": 0, "h0": 0, "team": 0, "position": 0, "isPassing": 0},
    "slots": None,
}
_TOSU_LEADERBOARD = {
    "hasLeaderboard": False, "isVisible": False,
    "ourplayer": {"name": "", "score": 0, "combo": 0, "maxCombo": 0, "mods": "", "h300": 0,
                  "geki": 0, "h100": 0, "katu": 0, "h50": 0, "h0": 0, "team": 0, "position": 0,
                  "isPassing": 0},
    "slots": [],
}
_V1_TOURNEY_MANAGER = {
    "ipcState": 0, "bestOF": 0, "teamName": {"left": "", "right": ""},
    "stars": {"left": 0, "right": 0}, "bools": {"scoreVisible": False, "starsVisible": False},
    "chat": None,
    "gameplay": {"score": {"left": 0, "right": 0}},
}
_USER_PROFILE = {
    "rawLoginStatus": 0, "name": "", "accuracy": 0, "rankedScore": 0, "id": 0, "level": 0,
    "playCount": 0, "playMode": 0, "rank": 0, "countryCode": 0, "performancePoints": 0,
    "rawBanchoStatus": 0, "backgroundColour": "",
}
_V2_SETTINGS = {
    "interfaceVisible": True, "replayUIVisible": True,
    "chatVisibilityStatus": {"number": 0, "name": "hidden"},
    "leaderboard": {"visible": False, "type": {"number": 1, "name": "global"}},
    "progressBar": {"number": 1, "name": "pie"}, "bassDensity": 0,
    "resolution": {"fullscreen": False, "width": 1280, "height": 720, "widthFullscreen": 1920,
                   "heightFullscreen": 1080},
    "client": {"updateAvailable": False, "branch": 1, "version": ""},
    "scoreMeter": {"type": {"number": 2, "name": "error"}, "size": 1},
    "cursor": {"useSkinCursor": True, "autoSize": False, "size": 1, "menuSize": 0},
    "mouse": {"rawInput": False, "disableButtons": False, "disableWheel": False, "sensitivity": 1},
    "tablet": {"enabled": False, "x": 0, "y": 0, "width": 0, "height": 0, "rotation": 0,
               "pressureThreshold": 0},
    "mania": {"speedBPMScale": True, "usePerBeatmapSpeedScale": True, "scrollSpeed": 20,
              "scrollDirection": {"number": 1, "name": "down"}},
    "sort": {"number": 0, "name": "artist"}, "group": {"number": 0, "name": "none"},
    "skin": {"useDefaultSkinInEditor": False, "ignoreBeatmapSkins": False, "tintSliderBall": False,
             "useTaikoSkin": False, "name": ""},
    "mode": {"number": 3, "name": "mania"},
    "audio": {"ignoreBeatmapSounds": False, "useSkinSamples": False,
              "volume": {"masterInactive": 0, "master": 100, "music": 80, "effect": 80},
              "offset": {"universal": 0}},
    "background": {"storyboard": False, "video": False, "blur": 0, "dim": 100},
    "keybinds": {
        "osu": {"k1": "Z", "k2": "X", "smokeKey": "C"},
        "fruits": {"k1": "Left", "k2": "Right", "Dash": "LeftShift"},
        "taiko": {"innerLeft": "X", "innerRight": "C", "outerLeft": "Z", "outerRight": "V"},
        "quickRetry": "OemTilde",
    },
}
_V2_PROFILE = {
    "userStatus": {"number": 0, "name": "reconnecting"},
    "banchoStatus": {"number": 0, "name": "idle"}, "id": 0, "name": "",
    "mode": {"number": 0, "name": "osu"}, "rankedScore": 0, "level": 0, "accuracy": 0, "pp": 0,
    "playCount": 0, "globalRank": 0, "countryCode": {"number": 0, "name": ""},
    "backgroundColour": "", "matchmaking": None,
}
_PP_DETAIL = {"aim": 0, "speed": 0, "accuracy": 0, "difficulty": 0, "flashlight": 0, "total": 0}
_V2_PLAY_PP = {"current": 0, "fc": 0, "maxAchieved": 0, "maxAchievable": 0,
               "detailed": {"current": _PP_DETAIL, "fc": _PP_DETAIL}}
_V2_TOURNEY = {
    "scoreVisible": False, "starsVisible": False, "ipcState": 0, "bestOF": 0,
    "team": {"left": "", "right": ""}, "points": {"left": 0, "right": 0}, "chat": [],
    "totalScore": {"left": 0, "right": 0}, "clients": [],
}
_EMPTY_TOSU_MODS = {"checksum": "", "number": 0, "name": "", "array": [], "rate": 1}
# fmt: on

_fresh = copy.deepcopy


def _num(x: float) -> int | float:
    """A JSON number as Go and JavaScript print it: integral values without ``.0``."""
    x = float(x)
    return int(x) if x.is_integer() else x


def _ms(t: float) -> int:
    return round(t)


def _with_mods(value: float, mods: int) -> float:
    """AR/OD/HP after HR (×1.4, at most 10) or EZ (×0.5)."""
    if mods & Mods.HARD_ROCK:
        return min(10.0, value * 1.4)
    if mods & Mods.EASY:
        return value * 0.5
    return value


def _rate(mods: int) -> float:
    return Mods(mods).rate


def unstable_rate(hit_errors: Sequence[int], mods: int = 0) -> float:
    """10 × the population standard deviation of the hit errors, in real time (÷ rate)."""
    if not hit_errors:
        return 0.0
    return float(10 * np.asarray(hit_errors, dtype=np.float64).std() / _rate(mods))


def _mods_name(mods: int, gosumemory: bool) -> str:
    """``menu.mods.str``: ``"NM"`` for no mod in gosumemory, ``""`` in tosu."""
    return "" if mods == 0 and not gosumemory else Mods(mods).acronyms


def _tosu_mods(mods: int) -> dict[str, Any]:
    """tosu's ``{checksum, number, name, array, rate}``; checksum = MD5 of the array's JSON."""
    name = _mods_name(mods, gosumemory=False)
    array = [{"acronym": name[i : i + 2]} for i in range(0, len(name), 2)]
    checksum = hashlib.md5(json.dumps(array, separators=(",", ":")).encode()).hexdigest()
    return {
        "checksum": checksum,
        "number": mods,
        "name": name,
        "array": array,
        "rate": _num(_rate(mods)),
    }


def _grade(state: GameState, mods: int) -> str:
    return grade(state.counts, Mods(mods))


@dataclass(frozen=True)
class _Shown:
    """The play as one tool shows it in ``gameplay``/``play``: zeroed or reset in some states."""

    state: GameState
    name: str
    mode: int
    hit_errors: tuple[int, ...]
    hp_smooth: float


def _shown(snap: GameSnapshot, source: str) -> _Shown:
    s = snap.state
    if source == GOSUMEMORY and snap.code not in _GOSU_KEEPS_PLAY:  # Go zero value
        return _Shown(
            GameState(time_ms=s.time_ms, phase=s.phase, accuracy=0.0, hp=0.0), "", 0, (), 0.0
        )
    if source != GOSUMEMORY and snap.code not in _TOSU_KEEPS_PLAY:  # tosu's reset values
        reset = GameState(time_ms=s.time_ms, phase=s.phase, accuracy=1.0, hp=0.0)
        return _Shown(reset, snap.player_name, snap.mode, (), 0.0)
    smooth = s.hp if snap.hp_smooth is None else snap.hp_smooth
    return _Shown(s, snap.player_name, snap.mode, snap.hit_errors, smooth)


@dataclass(frozen=True)
class _Results:
    """The results screen: the final play in state 7, zeros elsewhere."""

    filled: bool
    state: GameState
    name: str
    mods: int
    mode: int


def _results(snap: GameSnapshot) -> _Results:
    if snap.code == STATE_RESULTS:
        return _Results(True, snap.state, snap.player_name, snap.mods, snap.mode)
    return _Results(False, GameState(accuracy=0.0), "", 0, 0)


def _v1_hits(counts: np.ndarray, tosu: bool) -> dict[str, int]:
    c = [int(x) for x in counts]
    if tosu:  # JavaScript order: integer-like keys first, ascending
        return {"0": c[5], "50": c[4], "100": c[3], "300": c[1], "geki": c[0], "katu": c[2]}
    return {"300": c[1], "geki": c[0], "100": c[3], "katu": c[2], "50": c[4], "0": c[5]}


def _join(*parts: str) -> str:
    return "\\".join(p for p in parts if p)


def _v1_settings(snap: GameSnapshot) -> dict[str, Any]:
    folders = {"game": snap.game_folder, "skin": snap.skin, "songs": snap.songs_folder}
    return {"showInterface": True, "folders": folders}


def _v1_bm(snap: GameSnapshot, time: dict[str, int], stats: dict[str, Any]) -> dict[str, Any]:
    b = snap.beatmap
    return {
        "time": time,
        "id": b.beatmap_id,
        "set": b.set_id,
        "md5": b.md5,
        "rankedStatus": b.ranked_status,
        "metadata": {
            "artist": b.artist,
            "artistOriginal": b.artist_unicode,
            "title": b.title,
            "titleOriginal": b.title_unicode,
            "mapper": b.mapper,
            "difficulty": b.version,
        },
        "stats": {
            **stats,
            "fullSR": _num(b.stars),
            "memoryAR": _num(b.ar),
            "memoryCS": b.keys,
            "memoryOD": _num(b.od),
            "memoryHP": _num(b.hp),
        },
        "path": {
            "full": _join(b.folder, b.background),
            "folder": b.folder,
            "file": b.file,
            "bg": b.background,
            "audio": b.audio,
        },
    }


def _v1_gameplay(snap: GameSnapshot, shown: _Shown, accuracy: float, hits: dict[str, Any]):
    s = shown.state
    return {
        "gameMode": shown.mode,
        "name": shown.name,
        "score": int(s.score),
        "accuracy": _num(accuracy),
        "combo": {"current": int(s.combo), "max": int(s.max_combo)},
        "hp": {"normal": _num(200 * s.hp), "smooth": _num(200 * shown.hp_smooth)},
        "hits": hits,
        "pp": _fresh(_V1_PLAY_PP),
        "keyOverlay": _fresh(_KEY_OVERLAY),
    }


def build_gosumemory(snap: GameSnapshot) -> dict[str, Any]:
    """gosumemory 1.3.9's v1 document (fixture §10.1), with its mania quirks: ``bm.time.firstObj``,
    ``full``, ``mp3``, AR/CS/OD/HP, BPM and map max combo are 0; accuracy is rounded to 2 decimals;
    ``hitErrorArray`` is ``null`` while empty; ``gameplay`` is zeroed outside states 0, 1, 2, 7 and
    ``resultsScreen`` outside 7."""
    b, shown, r = snap.beatmap, _shown(snap, GOSUMEMORY), _results(snap)
    time = {"firstObj": 0, "current": _ms(snap.state.time_ms), "full": 0, "mp3": 0}
    stats = {"AR": 0, "CS": 0, "OD": 0, "HP": 0, "SR": _num(b.stars), "BPM": {"min": 0, "max": 0}}
    hits = {
        **_v1_hits(shown.state.counts, tosu=False),
        "sliderBreaks": 0,
        "grade": {"current": "", "maxThisPlay": ""},
        "unstableRate": _num(unstable_rate(shown.hit_errors, snap.mods)),
        "hitErrorArray": list(shown.hit_errors) or None,
    }
    gameplay = _v1_gameplay(snap, shown, round(100 * shown.state.accuracy, 2), hits)
    gameplay["leaderboard"] = _fresh(_GOSU_LEADERBOARD)
    return {
        "settings": _v1_settings(snap),
        "menu": {
            "mainMenu": {"bassDensity": 0},
            "state": snap.code,
            "gameMode": snap.mode,
            "isChatEnabled": 0,
            "bm": _v1_bm(snap, time, {**stats, "maxCombo": 0}),
            "mods": {"num": snap.mods, "str": _mods_name(snap.mods, gosumemory=True)},
            "pp": _fresh(_GOSU_MENU_PP),
        },
        "gameplay": gameplay,
        "resultsScreen": {
            "name": r.name,
            "score": int(r.state.score),
            "maxCombo": int(r.state.max_combo),
            "mods": {"num": r.mods, "str": _mods_name(r.mods, gosumemory=True) if r.filled else ""},
            **_v1_hits(r.state.counts, tosu=False),
        },
        "tourney": {"manager": _fresh(_V1_TOURNEY_MANAGER), "ipcClients": None},
    }


def _stars_live(snap: GameSnapshot) -> float:
    return snap.beatmap.stars if snap.stars_live is None else snap.stars_live


def _bpm(b: BeatmapInfo) -> dict[str, int | float]:
    return {
        "realtime": _num(b.bpm),
        "common": _num(b.bpm),
        "min": _num(b.bpm_min),
        "max": _num(b.bpm_max),
    }


def build_tosu_v1(snap: GameSnapshot) -> dict[str, Any]:
    """tosu's gosumemory-compatible document (fixture §10.4): correct mania time and stats, raw
    accuracy, JavaScript key order, ``[]`` instead of ``null``, ``client`` and ``userProfile``."""
    b, shown, r = snap.beatmap, _shown(snap, TOSU_V1), _results(snap)
    time = {
        "firstObj": b.first_object_ms,
        "current": _ms(snap.state.time_ms),
        "full": b.last_object_ms,
        "mp3": b.length_ms,
    }
    stats = {
        "AR": _num(_with_mods(b.ar, snap.mods)),
        "CS": b.keys,
        "OD": _num(_with_mods(b.od, snap.mods)),
        "HP": _num(_with_mods(b.hp, snap.mods)),
        "SR": _num(_stars_live(snap)),
        "BPM": _bpm(b),
        "circles": b.n_notes,
        "sliders": 0,
        "spinners": 0,
        "holds": b.n_holds,
        "maxCombo": b.max_combo,
    }
    play_grade = _grade(shown.state, snap.mods)
    hits = {
        **_v1_hits(shown.state.counts, tosu=True),
        "sliderEndHits": 0,
        "smallTickHits": 0,
        "largeTickHits": 0,
        "sliderBreaks": 0,
        "grade": {"current": play_grade, "maxThisPlay": play_grade},
        "unstableRate": _num(unstable_rate(shown.hit_errors, snap.mods)),
        "hitErrorArray": list(shown.hit_errors),
    }
    gameplay = _v1_gameplay(snap, shown, 100 * shown.state.accuracy, hits)
    gameplay.update(leaderboard=_fresh(_TOSU_LEADERBOARD), _isReplayUiHidden=False)
    r_hits = _v1_hits(r.state.counts, tosu=True)
    profile = _fresh(_USER_PROFILE)
    profile.update(name=snap.player_name, playMode=snap.mode)
    manager = _fresh(_V1_TOURNEY_MANAGER)
    manager["chat"] = []
    return {
        "client": "stable",
        "settings": _v1_settings(snap),
        "menu": {
            "mainMenu": {"bassDensity": 0},
            "state": snap.code,
            "gameMode": snap.mode,
            "isChatEnabled": 0,
            "bm": _v1_bm(snap, time, stats),
            "mods": {"num": snap.mods, "str": _mods_name(snap.mods, gosumemory=False)},
            "pp": {**_PP_BY_ACCURACY, "strains": [], "strainsAll": _fresh(_STRAINS_GRAPH)},
        },
        "gameplay": gameplay,
        "resultsScreen": {
            **{k: r_hits[k] for k in ("0", "50", "100", "300")},
            "mode": snap.mode,  # kept outside state 7 too (fixture §10.4)
            "name": r.name,
            "score": int(r.state.score),
            "accuracy": _num(100 * r.state.accuracy),
            "maxCombo": int(r.state.max_combo),
            "mods": {"num": r.mods, "str": _mods_name(r.mods, gosumemory=False)},
            "geki": r_hits["geki"],
            "katu": r_hits["katu"],
            "grade": _grade(r.state, r.mods) if r.filled else "",
            "createdAt": "",
        },
        "userProfile": profile,
        "tourney": {"manager": manager, "ipcClients": []},
    }


def _nn(number: int, names: Sequence[str] | Mapping[int, str]) -> dict[str, Any]:
    """tosu's ``{number, name}`` pair."""
    if isinstance(names, Mapping):
        return {"number": number, "name": names.get(number, "")}
    return {"number": number, "name": names[number] if 0 <= number < len(names) else ""}


def _hit_window_stats(od: float, mods: int) -> dict[str, int | float]:
    """Windows in real time, as tosu gives them: map-time windows without speed mods ÷ rate."""
    rate = _rate(mods)
    w = hit_windows(od, Mods(mods) & ~(Mods.DOUBLE_TIME | Mods.NIGHTCORE | Mods.HALF_TIME))
    values = (w.max, w.great, w.good, w.ok, w.meh, w.miss)
    names = ("perfect", "great", "good", "ok", "meh", "miss")
    return {name: _num(v / rate) for name, v in zip(names, values, strict=True)}


def _v2_hits(counts: np.ndarray, slider_breaks: bool) -> dict[str, int]:
    hits = _v1_hits(counts, tosu=True)
    if slider_breaks:
        hits["sliderBreaks"] = 0
    return {**hits, "sliderEndHits": 0, "smallTickHits": 0, "largeTickHits": 0}


def _v2_beatmap(snap: GameSnapshot) -> dict[str, Any]:
    b, mods = snap.beatmap, snap.mods
    windows = _hit_window_stats(b.od, mods)
    stars: dict[str, int | float] = {"live": _num(_stars_live(snap))}
    if windows["great"]:  # tosu omits falsy star attributes
        stars["hitWindow"] = windows["great"]
    stars["total"] = _num(b.stars)
    return {
        "isKiai": False,
        "isBreak": False,
        "isConvert": False,
        "time": {
            "live": _ms(snap.state.time_ms),
            "firstObject": b.first_object_ms,
            "lastObject": b.last_object_ms,
            "mp3Length": b.length_ms,
        },
        "status": _nn(b.ranked_status, _RANKED_STATUS),
        "checksum": b.md5,
        "id": b.beatmap_id,
        "set": b.set_id,
        "mode": _nn(snap.mode, RULESETS),
        "artist": b.artist,
        "artistUnicode": b.artist_unicode,
        "title": b.title,
        "titleUnicode": b.title_unicode,
        "mapper": b.mapper,
        "version": b.version,
        "source": "",
        "tags": "",
        "stats": {
            "stars": stars,
            "ar": {"original": _num(b.ar), "converted": _num(_with_mods(b.ar, mods))},
            "cs": {"original": b.keys, "converted": b.keys},
            "od": {"original": _num(b.od), "converted": _num(_with_mods(b.od, mods))},
            "hp": {"original": _num(b.hp), "converted": _num(_with_mods(b.hp, mods))},
            "bpm": _bpm(b),
            "objects": {
                "circles": b.n_notes,
                "sliders": 0,
                "spinners": 0,
                "holds": b.n_holds,
                "total": b.n_notes + b.n_holds,
            },
            "hitWindow": windows,
            "maxCombo": b.max_combo,
        },
    }


def _v2_play(snap: GameSnapshot) -> dict[str, Any]:
    shown = _shown(snap, TOSU_V2)
    s = shown.state
    play_grade = _grade(s, snap.mods)
    return {
        "failed": snap.state.phase == Phase.FAILED,
        "playerName": shown.name,
        "mode": _nn(shown.mode, RULESETS),
        "score": int(s.score),
        "accuracy": _num(100 * s.accuracy),
        "healthBar": {"normal": _num(100 * s.hp), "smooth": _num(100 * shown.hp_smooth)},
        "hits": _v2_hits(s.counts, slider_breaks=True),
        "hitErrorArray": list(shown.hit_errors),
        "combo": {"current": int(s.combo), "max": int(s.max_combo)},
        "mods": _tosu_mods(snap.mods),
        "rank": {"current": play_grade, "maxThisPlay": play_grade},
        "pp": _fresh(_V2_PLAY_PP),
        "unstableRate": _num(unstable_rate(shown.hit_errors, snap.mods)),
    }


def _v2_results(snap: GameSnapshot) -> dict[str, Any]:
    r = _results(snap)
    return {
        "scoreId": 0,
        "playerName": r.name,
        "mode": _nn(r.mode, RULESETS),
        "score": int(r.state.score),
        "accuracy": _num(100 * r.state.accuracy),
        "name": r.name,
        "hits": _v2_hits(r.state.counts, slider_breaks=False),
        "mods": _tosu_mods(r.mods) if r.filled else _fresh(_EMPTY_TOSU_MODS),
        "maxCombo": int(r.state.max_combo),
        "rank": _grade(r.state, r.mods) if r.filled else "",
        "pp": {"current": 0, "fc": 0},
        "createdAt": "",
    }


def build_tosu_v2(snap: GameSnapshot) -> dict[str, Any]:
    """tosu's v2 document (fixture §10.3). ``game.paused`` and ``play.failed`` come from the phase
    (PAUSED, FAILED); HP is 0–100; the hit windows are stable's for the map's OD and mods."""
    b = snap.beatmap
    settings = _fresh(_V2_SETTINGS)
    settings["mode"] = _nn(snap.mode, RULESETS)
    settings["skin"]["name"] = snap.skin
    profile = _fresh(_V2_PROFILE)
    profile.update(name=snap.player_name, mode=_nn(snap.mode, RULESETS))
    return {
        "game": {"focused": True, "paused": snap.state.phase == Phase.PAUSED},
        "client": "stable",
        "server": "ppy.sh",
        "state": _nn(snap.code, STATE_NAMES),
        "session": {"playTime": 0, "playCount": 0},
        "settings": settings,
        "profile": profile,
        "beatmap": _v2_beatmap(snap),
        "play": _v2_play(snap),
        "leaderboard": [],
        "performance": {"accuracy": dict(_PP_BY_ACCURACY), "graph": _fresh(_STRAINS_GRAPH)},
        "resultsScreen": _v2_results(snap),
        "folders": {
            "game": snap.game_folder,
            "skin": snap.skin,
            "songs": snap.songs_folder,
            "beatmap": b.folder,
        },
        "files": {"beatmap": b.file, "background": b.background, "audio": b.audio},
        "directPath": {
            "beatmapFile": _join(b.folder, b.file),
            "beatmapBackground": _join(b.folder, b.background),
            "beatmapAudio": _join(b.folder, b.audio),
            "beatmapFolder": b.folder,
            "skinFolder": snap.skin,
        },
        "tourney": _fresh(_V2_TOURNEY),
    }


def build_tosu_precise(snap: GameSnapshot, legacy_time: bool = False) -> dict[str, Any]:
    """tosu's precise document (fixture §10.2). ``legacy_time`` puts ``currentTime`` first, as tosu
    v2.8.0 … v4.22.3 did (default False: current tosu)."""
    doc: dict[str, Any] = {"currentTime": _ms(snap.state.time_ms)} if legacy_time else {}
    doc.update(
        keys=_fresh(_KEY_OVERLAY),
        hitErrors=list(_shown(snap, TOSU_PRECISE).hit_errors),
        tourney=[],
    )
    return doc


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


# --- parsing -------------------------------------------------------------------------------------


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
            raise ProtocolError(f"{self._where(key)}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ProtocolError(f"{self._where(key)}: not a finite number: {value!r}")
        return float(value)

    def integer(self, key: str, default: int = 0) -> int:
        return int(self.number(key, default))

    def text(self, key: str, default: str = "") -> str:
        value = self._value(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ProtocolError(f"{self._where(key)}: expected a string, got {value!r}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._value(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ProtocolError(f"{self._where(key)}: expected true/false, got {value!r}")
        return value

    def integers(self, key: str) -> tuple[int, ...]:
        value = self._value(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ProtocolError(f"{self._where(key)}: expected an array, got {value!r}")
        if set(map(type, value)) <= {int}:  # the usual case, checked at C speed (hit errors)
            return tuple(value)
        out = []
        for item in value:
            if (
                isinstance(item, bool)
                or not isinstance(item, (int, float))
                or not math.isfinite(item)
            ):
                raise ProtocolError(f"{self._where(key)}: expected numbers, got {item!r}")
            out.append(int(item))
        return tuple(out)


def _counts(hits: _Reader) -> np.ndarray:
    counts = np.zeros(6, dtype=np.int64)
    for key, index in _HIT_KEYS.items():
        counts[index] = hits.integer(key)
    return counts


def _phase(code: int | None, paused: bool = False, failed: bool = False) -> Phase:
    if code == STATE_PLAY:
        return Phase.FAILED if failed else Phase.PAUSED if paused else Phase.PLAYING
    if code == STATE_RESULTS:
        return Phase.RESULTS
    return Phase.MENU


def _parse_v1(doc: _Reader, source: str) -> ParsedState:
    menu, play = doc.child("menu"), doc.child("gameplay")
    bm, folders = menu.child("bm"), doc.child("settings").child("folders")
    time, meta, stats, path = (
        bm.child("time"),
        bm.child("metadata"),
        bm.child("stats"),
        bm.child("path"),
    )
    bpm = stats.child("BPM")
    code = menu.integer("state") if menu.has("state") else None
    mode = (
        play.integer("gameMode", MANIA)
        if code in (STATE_PLAY, STATE_RESULTS)
        else menu.integer("gameMode", MANIA)
    )
    hits = play.child("hits")
    errors = hits.integers("hitErrorArray")
    hp = play.child("hp")
    tosu = source == TOSU_V1
    state = GameState(
        time_ms=time.number("current"),
        phase=_phase(code),
        combo=play.child("combo").integer("current"),
        max_combo=play.child("combo").integer("max"),
        score=play.integer("score"),
        accuracy=play.number("accuracy", 100.0) / 100,
        counts=_counts(hits),
        hp=hp.number("normal") / 200,
    )
    beatmap = BeatmapInfo(
        artist=meta.text("artist"),
        artist_unicode=meta.text("artistOriginal"),
        title=meta.text("title"),
        title_unicode=meta.text("titleOriginal"),
        mapper=meta.text("mapper"),
        version=meta.text("difficulty"),
        md5=bm.text("md5"),
        beatmap_id=bm.integer("id"),
        set_id=bm.integer("set"),
        ranked_status=bm.integer("rankedStatus"),
        folder=path.text("folder"),
        file=path.text("file"),
        background=path.text("bg"),
        audio=path.text("audio"),
        keys=stats.integer("memoryCS", 4),
        od=stats.number("memoryOD", 8.0),
        hp=stats.number("memoryHP", 8.0),
        ar=stats.number("memoryAR", 8.0),
        stars=stats.number("fullSR"),
        bpm=bpm.number("common"),
        bpm_min=bpm.number("min"),
        bpm_max=bpm.number("max"),
        first_object_ms=time.integer("firstObj"),
        last_object_ms=time.integer("full"),
        length_ms=time.integer("mp3"),
        n_notes=stats.integer("circles"),
        n_holds=stats.integer("holds"),
        max_combo=stats.integer("maxCombo"),
    )
    snapshot = GameSnapshot(
        state=state,
        beatmap=beatmap,
        state_code=code,
        mods=menu.child("mods").integer("num"),
        player_name=play.text("name"),
        mode=mode,
        hit_errors=errors,
        hp_smooth=hp.number("smooth", state.hp * 200) / 200,
        stars_live=stats.number("SR") if tosu else None,
        game_folder=folders.text("game"),
        songs_folder=folders.text("songs"),
        skin=folders.text("skin"),
    )
    return ParsedState(source, snapshot, errors, state.time_ms)


def _parse_v2(doc: _Reader) -> ParsedState:
    bm, play, st = doc.child("beatmap"), doc.child("play"), doc.child("state")
    time, stats = bm.child("time"), bm.child("stats")
    bpm, objects, hp = stats.child("bpm"), stats.child("objects"), play.child("healthBar")
    folders, files = doc.child("folders"), doc.child("files")
    code = st.integer("number") if st.has("number") else None
    in_play = code in (STATE_PLAY, STATE_RESULTS)
    mode_of = play if in_play else doc.child("settings")
    errors = play.integers("hitErrorArray")
    state = GameState(
        time_ms=time.number("live"),
        phase=_phase(code, doc.child("game").flag("paused"), play.flag("failed")),
        combo=play.child("combo").integer("current"),
        max_combo=play.child("combo").integer("max"),
        score=play.integer("score"),
        accuracy=play.number("accuracy", 100.0) / 100,
        counts=_counts(play.child("hits")),
        hp=hp.number("normal") / 100,
    )
    beatmap = BeatmapInfo(
        artist=bm.text("artist"),
        artist_unicode=bm.text("artistUnicode"),
        title=bm.text("title"),
        title_unicode=bm.text("titleUnicode"),
        mapper=bm.text("mapper"),
        version=bm.text("version"),
        md5=bm.text("checksum"),
        beatmap_id=bm.integer("id"),
        set_id=bm.integer("set"),
        ranked_status=bm.child("status").integer("number"),
        folder=folders.text("beatmap"),
        file=files.text("beatmap"),
        background=files.text("background"),
        audio=files.text("audio"),
        keys=stats.child("cs").integer("original", 4),
        od=stats.child("od").number("original", 8.0),
        hp=stats.child("hp").number("original", 8.0),
        ar=stats.child("ar").number("original", 8.0),
        stars=stats.child("stars").number("total"),
        bpm=bpm.number("common"),
        bpm_min=bpm.number("min"),
        bpm_max=bpm.number("max"),
        first_object_ms=time.integer("firstObject"),
        last_object_ms=time.integer("lastObject"),
        length_ms=time.integer("mp3Length"),
        n_notes=objects.integer("circles"),
        n_holds=objects.integer("holds"),
        max_combo=stats.integer("maxCombo"),
    )
    snapshot = GameSnapshot(
        state=state,
        beatmap=beatmap,
        state_code=code,
        mods=play.child("mods").integer("number"),
        player_name=play.text("playerName") or doc.child("profile").text("name"),
        mode=mode_of.child("mode").integer("number", MANIA),
        hit_errors=errors,
        hp_smooth=hp.number("smooth", state.hp * 100) / 100,
        stars_live=stats.child("stars").number("live"),
        game_folder=folders.text("game"),
        songs_folder=folders.text("songs"),
        skin=folders.text("skin"),
    )
    return ParsedState(TOSU_V2, snapshot, errors, state.time_ms)


def _parse_precise(doc: _Reader) -> ParsedState:
    time = doc.number("currentTime") if doc.has("currentTime") else None
    return ParsedState(TOSU_PRECISE, None, doc.integers("hitErrors"), time)


def detect_source(doc: Mapping[str, Any]) -> str:
    """Which format a decoded document is in, from its top-level keys (see :data:`SOURCES`)."""
    if isinstance(doc.get("state"), Mapping) or "play" in doc or "beatmap" in doc:
        return TOSU_V2
    if "menu" in doc or "gameplay" in doc or "resultsScreen" in doc:
        return TOSU_V1 if "client" in doc or "userProfile" in doc else GOSUMEMORY
    if "hitErrors" in doc or "currentTime" in doc or "keys" in doc:
        return TOSU_PRECISE
    raise ProtocolError(f"not a gosumemory/tosu document: top-level keys {sorted(doc)[:8]}")


def parse_document(
    data: str | bytes | Mapping[str, Any], expected: str | None = None
) -> ParsedState:
    """Parse one frame or ``/json*`` body.

    :param data: the JSON text, or an already decoded object.
    :param expected: the format the endpoint serves; None detects it. gosumemory and tosu-v1 are
        both accepted where either is expected, since they share the paths.
    :raises GameNotRunning: the server's error document (osu! not running).
    :raises ProtocolError: empty or unparsable text, an unknown format, or a wrongly typed value.
    """
    if isinstance(data, (str, bytes)):
        if not data.strip():
            raise ProtocolError("empty frame")
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError) as err:
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
    if source == TOSU_V2:
        return _parse_v2(doc)
    if source == TOSU_PRECISE:
        return _parse_precise(doc)
    return _parse_v1(doc, source)


def with_state(snap: GameSnapshot, state: GameState, **changes: Any) -> GameSnapshot:
    """``snap`` with another play state (copied, so later changes to ``state`` do not leak in)."""
    return replace(snap, state=state.copy(), **changes)
