"""The v1 documents: gosumemory's and tosu's gosumemory-compatible one (``GET /json``, ``/ws``).

gosumemory 1.3.9 (fixture §10.1) and tosu's superset of it (fixture §10.4) share the paths but
differ in mania time and stats, accuracy rounding, key order and ``null`` versus ``[]``.
"""

from __future__ import annotations

from typing import Any

from ppomania.protocol.neutral import (
    GOSU_LEADERBOARD,
    GOSU_MENU_PP,
    KEY_OVERLAY,
    PP_BY_ACCURACY,
    STRAINS_GRAPH,
    TOSU_LEADERBOARD,
    USER_PROFILE,
    V1_PLAY_PP,
    V1_TOURNEY_MANAGER,
    fresh,
)
from ppomania.protocol.snapshot import GOSUMEMORY, TOSU_V1, GameSnapshot
from ppomania.protocol.values import (
    ShownPlay,
    bpm_stats,
    hit_counts,
    json_num,
    letter_grade,
    mods_name,
    results_screen,
    round_ms,
    shown_play,
    stars_live,
    unstable_rate,
    win_path,
    with_mods,
)


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
            "fullSR": json_num(b.stars),
            "memoryAR": json_num(b.ar),
            "memoryCS": b.keys,
            "memoryOD": json_num(b.od),
            "memoryHP": json_num(b.hp),
        },
        "path": {
            "full": win_path(b.folder, b.background),
            "folder": b.folder,
            "file": b.file,
            "bg": b.background,
            "audio": b.audio,
        },
    }


def _v1_menu(
    snap: GameSnapshot, bm: dict[str, Any], gosumemory: bool, pp: dict[str, Any]
) -> dict[str, Any]:
    """The v1 ``menu`` object: the same in both tools but for ``bm``, the mods' names and ``pp``."""
    return {
        "mainMenu": {"bassDensity": 0},
        "state": snap.code,
        "gameMode": snap.mode,
        "isChatEnabled": 0,
        "bm": bm,
        "mods": {"num": snap.mods, "str": mods_name(snap.mods, gosumemory=gosumemory)},
        "pp": pp,
    }


def _v1_gameplay(snap: GameSnapshot, shown: ShownPlay, accuracy: float, hits: dict[str, Any]):
    s = shown.state
    return {
        "gameMode": shown.mode,
        "name": shown.name,
        "score": int(s.score),
        "accuracy": json_num(accuracy),
        "combo": {"current": int(s.combo), "max": int(s.max_combo)},
        "hp": {"normal": json_num(200 * s.hp), "smooth": json_num(200 * shown.hp_smooth)},
        "hits": hits,
        "pp": fresh(V1_PLAY_PP),
        "keyOverlay": fresh(KEY_OVERLAY),
    }


def build_gosumemory(snap: GameSnapshot) -> dict[str, Any]:
    """gosumemory 1.3.9's v1 document (fixture §10.1), with its mania quirks: ``bm.time.firstObj``,
    ``full``, ``mp3``, AR/CS/OD/HP, BPM and map max combo are 0; accuracy is rounded to 2 decimals;
    ``hitErrorArray`` is ``null`` while empty; ``gameplay`` is zeroed outside states 0, 1, 2, 7 and
    ``resultsScreen`` outside 7."""
    b, shown, r = snap.beatmap, shown_play(snap, GOSUMEMORY), results_screen(snap)
    time = {"firstObj": 0, "current": round_ms(snap.state.time_ms), "full": 0, "mp3": 0}
    stats = {
        "AR": 0,
        "CS": 0,
        "OD": 0,
        "HP": 0,
        "SR": json_num(b.stars),
        "BPM": {"min": 0, "max": 0},
    }
    hits = {
        **hit_counts(shown.state.counts, tosu=False),
        "sliderBreaks": 0,
        "grade": {"current": "", "maxThisPlay": ""},
        "unstableRate": json_num(unstable_rate(shown.hit_errors, snap.mods)),
        "hitErrorArray": list(shown.hit_errors) or None,
    }
    gameplay = _v1_gameplay(snap, shown, round(100 * shown.state.accuracy, 2), hits)
    gameplay["leaderboard"] = fresh(GOSU_LEADERBOARD)
    return {
        "settings": _v1_settings(snap),
        "menu": _v1_menu(
            snap, _v1_bm(snap, time, {**stats, "maxCombo": 0}), True, fresh(GOSU_MENU_PP)
        ),
        "gameplay": gameplay,
        "resultsScreen": {
            "name": r.name,
            "score": int(r.state.score),
            "maxCombo": int(r.state.max_combo),
            "mods": {"num": r.mods, "str": mods_name(r.mods, gosumemory=True) if r.filled else ""},
            **hit_counts(r.state.counts, tosu=False),
        },
        "tourney": {"manager": fresh(V1_TOURNEY_MANAGER), "ipcClients": None},
    }


def build_tosu_v1(snap: GameSnapshot) -> dict[str, Any]:
    """tosu's gosumemory-compatible document (fixture §10.4): correct mania time and stats, raw
    accuracy, JavaScript key order, ``[]`` instead of ``null``, ``client`` and ``userProfile``."""
    b, shown, r = snap.beatmap, shown_play(snap, TOSU_V1), results_screen(snap)
    time = {
        "firstObj": b.first_object_ms,
        "current": round_ms(snap.state.time_ms),
        "full": b.last_object_ms,
        "mp3": b.length_ms,
    }
    stats = {
        "AR": json_num(with_mods(b.ar, snap.mods)),
        "CS": b.keys,
        "OD": json_num(with_mods(b.od, snap.mods)),
        "HP": json_num(with_mods(b.hp, snap.mods)),
        "SR": json_num(stars_live(snap)),
        "BPM": bpm_stats(b),
        "circles": b.n_notes,
        "sliders": 0,
        "spinners": 0,
        "holds": b.n_holds,
        "maxCombo": b.max_combo,
    }
    play_grade = letter_grade(shown.state, snap.mods)
    hits = {
        **hit_counts(shown.state.counts, tosu=True),
        "sliderEndHits": 0,
        "smallTickHits": 0,
        "largeTickHits": 0,
        "sliderBreaks": 0,
        "grade": {"current": play_grade, "maxThisPlay": play_grade},
        "unstableRate": json_num(unstable_rate(shown.hit_errors, snap.mods)),
        "hitErrorArray": list(shown.hit_errors),
    }
    gameplay = _v1_gameplay(snap, shown, 100 * shown.state.accuracy, hits)
    gameplay.update(leaderboard=fresh(TOSU_LEADERBOARD), _isReplayUiHidden=False)
    r_hits = hit_counts(r.state.counts, tosu=True)
    profile = fresh(USER_PROFILE)
    profile.update(name=snap.player_name, playMode=snap.mode)
    manager = fresh(V1_TOURNEY_MANAGER)
    manager["chat"] = []
    return {
        "client": "stable",
        "settings": _v1_settings(snap),
        "menu": _v1_menu(
            snap,
            _v1_bm(snap, time, stats),
            False,
            {**PP_BY_ACCURACY, "strains": [], "strainsAll": fresh(STRAINS_GRAPH)},
        ),
        "gameplay": gameplay,
        "resultsScreen": {
            **{k: r_hits[k] for k in ("0", "50", "100", "300")},
            "mode": snap.mode,  # kept outside state 7 too (fixture §10.4)
            "name": r.name,
            "score": int(r.state.score),
            "accuracy": json_num(100 * r.state.accuracy),
            "maxCombo": int(r.state.max_combo),
            "mods": {"num": r.mods, "str": mods_name(r.mods, gosumemory=False)},
            "geki": r_hits["geki"],
            "katu": r_hits["katu"],
            "grade": letter_grade(r.state, r.mods) if r.filled else "",
            "createdAt": "",
        },
        "userProfile": profile,
        "tourney": {"manager": manager, "ipcClients": []},
    }
