"""tosu's v2 documents: ``GET /json/v2`` + ``/websocket/v2`` (fixture §10.3) and the precise one,
``GET /json/v2/precise`` + ``/websocket/v2/precise`` (fixture §10.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ppomania.game.rules import Mods, hit_windows
from ppomania.game.score import Phase
from ppomania.protocol.neutral import (
    EMPTY_TOSU_MODS,
    KEY_OVERLAY,
    PP_BY_ACCURACY,
    STRAINS_GRAPH,
    V2_PLAY_PP,
    V2_PROFILE,
    V2_SETTINGS,
    V2_TOURNEY,
    fresh,
)
from ppomania.protocol.snapshot import (
    RULESETS,
    STATE_NAMES,
    TOSU_PRECISE,
    TOSU_V2,
    GameSnapshot,
)
from ppomania.protocol.values import (
    bpm_stats,
    hit_counts,
    json_num,
    letter_grade,
    mods_rate,
    results_screen,
    round_ms,
    shown_play,
    stars_live,
    tosu_mods,
    unstable_rate,
    win_path,
    with_mods,
)

_RANKED_STATUS = {
    1: "notSubmitted",
    2: "pending",
    4: "ranked",
    5: "approved",
    6: "qualified",
    7: "loved",
}


def _nn(number: int, names: Sequence[str] | Mapping[int, str]) -> dict[str, Any]:
    """tosu's ``{number, name}`` pair."""
    if isinstance(names, Mapping):
        return {"number": number, "name": names.get(number, "")}
    return {"number": number, "name": names[number] if 0 <= number < len(names) else ""}


def _hit_window_stats(od: float, mods: int) -> dict[str, int | float]:
    """Windows in real time, as tosu gives them: map-time windows without speed mods ÷ rate."""
    rate = mods_rate(mods)
    w = hit_windows(od, Mods(mods) & ~(Mods.DOUBLE_TIME | Mods.NIGHTCORE | Mods.HALF_TIME))
    values = (w.max, w.great, w.good, w.ok, w.meh, w.miss)
    names = ("perfect", "great", "good", "ok", "meh", "miss")
    return {name: json_num(v / rate) for name, v in zip(names, values, strict=True)}


def _v2_hits(counts: np.ndarray, slider_breaks: bool) -> dict[str, int]:
    hits = hit_counts(counts, tosu=True)
    if slider_breaks:
        hits["sliderBreaks"] = 0
    return {**hits, "sliderEndHits": 0, "smallTickHits": 0, "largeTickHits": 0}


def _v2_beatmap(snap: GameSnapshot) -> dict[str, Any]:
    b, mods = snap.beatmap, snap.mods
    windows = _hit_window_stats(b.od, mods)
    stars: dict[str, int | float] = {"live": json_num(stars_live(snap))}
    if windows["great"]:  # tosu omits falsy star attributes
        stars["hitWindow"] = windows["great"]
    stars["total"] = json_num(b.stars)
    return {
        "isKiai": False,
        "isBreak": False,
        "isConvert": False,
        "time": {
            "live": round_ms(snap.state.time_ms),
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
            "ar": {"original": json_num(b.ar), "converted": json_num(with_mods(b.ar, mods))},
            "cs": {"original": b.keys, "converted": b.keys},
            "od": {"original": json_num(b.od), "converted": json_num(with_mods(b.od, mods))},
            "hp": {"original": json_num(b.hp), "converted": json_num(with_mods(b.hp, mods))},
            "bpm": bpm_stats(b),
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
    shown = shown_play(snap, TOSU_V2)
    s = shown.state
    play_grade = letter_grade(s, snap.mods)
    return {
        "failed": snap.state.phase == Phase.FAILED,
        "playerName": shown.name,
        "mode": _nn(shown.mode, RULESETS),
        "score": int(s.score),
        "accuracy": json_num(100 * s.accuracy),
        "healthBar": {"normal": json_num(100 * s.hp), "smooth": json_num(100 * shown.hp_smooth)},
        "hits": _v2_hits(s.counts, slider_breaks=True),
        "hitErrorArray": list(shown.hit_errors),
        "combo": {"current": int(s.combo), "max": int(s.max_combo)},
        "mods": tosu_mods(snap.mods),
        "rank": {"current": play_grade, "maxThisPlay": play_grade},
        "pp": fresh(V2_PLAY_PP),
        "unstableRate": json_num(unstable_rate(shown.hit_errors, snap.mods)),
    }


def _v2_results(snap: GameSnapshot) -> dict[str, Any]:
    r = results_screen(snap)
    return {
        "scoreId": 0,
        "playerName": r.name,
        "mode": _nn(r.mode, RULESETS),
        "score": int(r.state.score),
        "accuracy": json_num(100 * r.state.accuracy),
        "name": r.name,
        "hits": _v2_hits(r.state.counts, slider_breaks=False),
        "mods": tosu_mods(r.mods) if r.filled else fresh(EMPTY_TOSU_MODS),
        "maxCombo": int(r.state.max_combo),
        "rank": letter_grade(r.state, r.mods) if r.filled else "",
        "pp": {"current": 0, "fc": 0},
        "createdAt": "",
    }


def build_tosu_v2(snap: GameSnapshot) -> dict[str, Any]:
    """tosu's v2 document (fixture §10.3). ``game.paused`` and ``play.failed`` come from the phase
    (PAUSED, FAILED); HP is 0–100; the hit windows are stable's for the map's OD and mods."""
    b = snap.beatmap
    settings = fresh(V2_SETTINGS)
    settings["mode"] = _nn(snap.mode, RULESETS)
    settings["skin"]["name"] = snap.skin
    if snap.scroll_speed is not None:
        settings["mania"]["scrollSpeed"] = json_num(snap.scroll_speed)
    profile = fresh(V2_PROFILE)
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
        "performance": {"accuracy": dict(PP_BY_ACCURACY), "graph": fresh(STRAINS_GRAPH)},
        "resultsScreen": _v2_results(snap),
        "folders": {
            "game": snap.game_folder,
            "skin": snap.skin,
            "songs": snap.songs_folder,
            "beatmap": b.folder,
        },
        "files": {"beatmap": b.file, "background": b.background, "audio": b.audio},
        "directPath": {
            "beatmapFile": win_path(b.folder, b.file),
            "beatmapBackground": win_path(b.folder, b.background),
            "beatmapAudio": win_path(b.folder, b.audio),
            "beatmapFolder": b.folder,
            "skinFolder": snap.skin,
        },
        "tourney": fresh(V2_TOURNEY),
    }


def build_tosu_precise(snap: GameSnapshot, legacy_time: bool = False) -> dict[str, Any]:
    """tosu's precise document (fixture §10.2). ``legacy_time`` puts ``currentTime`` first, as tosu
    v2.8.0 … v4.22.3 did (default False: current tosu)."""
    doc: dict[str, Any] = {"currentTime": round_ms(snap.state.time_ms)} if legacy_time else {}
    doc.update(
        keys=fresh(KEY_OVERLAY),
        hitErrors=list(shown_play(snap, TOSU_PRECISE).hit_errors),
        tourney=[],
    )
    return doc
