"""The unmodelled parts of the gosumemory and tosu documents, with neutral values.

Zeros, empty strings and osu!'s defaults where a setting has one: the builders emit them so that a
built document keeps the real key order, nesting and ``null``-versus-``[]`` choices. Builders take
them through :func:`fresh`.
"""

import copy

# fmt: off
KEY_OVERLAY = {k: {"isPressed": False, "count": 0} for k in ("k1", "k2", "m1", "m2")}
GOSU_MENU_PP = {"100": 0, "99": 0, "98": 0, "97": 0, "96": 0, "95": 0, "strains": [0]}
PP_BY_ACCURACY = {str(acc): 0 for acc in range(90, 101)}
STRAINS_GRAPH = {"series": [{"name": "strains", "data": []}], "xaxis": []}
V1_PLAY_PP = {"current": 0, "fc": 0, "maxThisPlay": 0}
GOSU_LEADERBOARD = {
    "hasLeaderboard": False, "isVisible": False,
    "ourplayer": {"name": "", "score": 0, "combo": 0, "maxCombo": 0, "mods": "", "h300": 0,
                  "h100": 0, "h50": 0, "h0": 0, "team": 0, "position": 0, "isPassing": 0},
    "slots": None,
}
TOSU_LEADERBOARD = {
    "hasLeaderboard": False, "isVisible": False,
    "ourplayer": {"name": "", "score": 0, "combo": 0, "maxCombo": 0, "mods": "", "h300": 0,
                  "geki": 0, "h100": 0, "katu": 0, "h50": 0, "h0": 0, "team": 0, "position": 0,
                  "isPassing": 0},
    "slots": [],
}
V1_TOURNEY_MANAGER = {
    "ipcState": 0, "bestOF": 0, "teamName": {"left": "", "right": ""},
    "stars": {"left": 0, "right": 0}, "bools": {"scoreVisible": False, "starsVisible": False},
    "chat": None,
    "gameplay": {"score": {"left": 0, "right": 0}},
}
USER_PROFILE = {
    "rawLoginStatus": 0, "name": "", "accuracy": 0, "rankedScore": 0, "id": 0, "level": 0,
    "playCount": 0, "playMode": 0, "rank": 0, "countryCode": 0, "performancePoints": 0,
    "rawBanchoStatus": 0, "backgroundColour": "",
}
V2_SETTINGS = {
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
V2_PROFILE = {
    "userStatus": {"number": 0, "name": "reconnecting"},
    "banchoStatus": {"number": 0, "name": "idle"}, "id": 0, "name": "",
    "mode": {"number": 0, "name": "osu"}, "rankedScore": 0, "level": 0, "accuracy": 0, "pp": 0,
    "playCount": 0, "globalRank": 0, "countryCode": {"number": 0, "name": ""},
    "backgroundColour": "", "matchmaking": None,
}
PP_DETAIL = {"aim": 0, "speed": 0, "accuracy": 0, "difficulty": 0, "flashlight": 0, "total": 0}
V2_PLAY_PP = {"current": 0, "fc": 0, "maxAchieved": 0, "maxAchievable": 0,
               "detailed": {"current": PP_DETAIL, "fc": PP_DETAIL}}
V2_TOURNEY = {
    "scoreVisible": False, "starsVisible": False, "ipcState": 0, "bestOF": 0,
    "team": {"left": "", "right": ""}, "points": {"left": 0, "right": 0}, "chat": [],
    "totalScore": {"left": 0, "right": 0}, "clients": [],
}
EMPTY_TOSU_MODS = {"checksum": "", "number": 0, "name": "", "array": [], "rate": 1}
# fmt: on

#: A deep copy: a built document never shares objects with another or with these tables.
fresh = copy.deepcopy
