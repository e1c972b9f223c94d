"""An osu!stable ``skin.ini``: ``[General]``, ``[Fonts]`` and one ``[Mania]`` section per key count.

Every value is defaulted as osu!stable does, after the osu! wiki's ``Skinning/skin.ini`` page
(ppy/osu-wiki ``wiki/Skinning/skin.ini/en.md``) and lazer's port of stable's reader (ppy/osu
``osu.Game/Skinning/LegacyManiaSkinConfiguration.cs``, ``LegacyManiaSkinDecoder.cs``). Positions
stay in stable's 480-pixel-high space (lazer multiplies them by 1.6 into its 768 space; we do not).

The ``[Mania]`` reader follows stable's rules as lazer reproduces them: lines before ``Keys:`` wait
for it, a second section with the same key count is ignored, an unreadable entry of a
comma-separated list reads as 0, ``HitPosition`` is clamped to [240, 480]. A line that cannot be
read at all warns (:class:`SkinWarning`, naming the file and line) and leaves the default.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

#: Key counts a ``[Mania]`` section may configure (the wiki's list; 1–10K single stage, 12–18 dual).
MAX_KEYS = 18
#: Widths, spacings and positions (480-pixel space) beyond this are nonsense, not skins.
MAX_LENGTH = 2000.0

Colour = tuple[int, int, int, int]

#: Defaults of the colours that are not per column (wiki ``Skinning/skin.ini``, section Mania).
DEFAULT_COLOURS: dict[str, Colour] = {
    "ColourColumnLine": (255, 255, 255, 255),
    "ColourBarline": (255, 255, 255, 255),
    "ColourJudgementLine": (255, 255, 255, 255),
    "ColourKeyWarning": (0, 0, 0, 255),
    "ColourHold": (255, 191, 51, 255),
    "ColourBreak": (255, 0, 0, 255),
}
#: ``Colour#`` (lane background) and ``ColourLight#`` (column light) defaults, ``#`` from 1.
DEFAULT_LANE_COLOUR: Colour = (0, 0, 0, 255)
DEFAULT_LIGHT_COLOUR: Colour = (55, 255, 255, 255)

#: Named elements (``element(name)``): the skin.ini key and the default image it overrides.
ELEMENTS: dict[str, str] = {
    "Hit0": "mania-hit0",
    "Hit50": "mania-hit50",
    "Hit100": "mania-hit100",
    "Hit200": "mania-hit200",
    "Hit300": "mania-hit300",
    "Hit300g": "mania-hit300g",
    "LightingN": "lightingN",
    "LightingL": "lightingL",
    "StageLeft": "mania-stage-left",
    "StageRight": "mania-stage-right",
    "StageBottom": "mania-stage-bottom",
    "StageHint": "mania-stage-hint",
    "StageLight": "mania-stage-light",
    "WarningArrow": "mania-warningarrow",
}
_IMAGE_KEY = re.compile(r"^(NoteImage\d+[HLT]?|KeyImage\d+D?|Hit\w+|Stage\w+|Lighting[NL])$")
_FLAGS = {
    "JudgementLine": "judgement_line",
    "UpsideDown": "upside_down",
    "KeysUnderNotes": "keys_under_notes",
    "SplitStages": "split_stages",
}
_NUMBERS = {
    "ColumnStart": "column_start",
    "ColumnRight": "column_right",
    "HitPosition": "hit_position",
    "LightPosition": "light_position",
    "ScorePosition": "score_position",
    "ComboPosition": "combo_position",
    "BarlineHeight": "barline_height",
    "StageSeparation": "stage_separation",
    "WidthForNoteHeightScale": "width_for_note_height_scale",
}
_LISTS = {
    "ColumnWidth": "column_width",
    "ColumnSpacing": "column_spacing",
    "ColumnLineWidth": "column_line_width",
    "LightingNWidth": "lighting_n_width",
    "LightingLWidth": "lighting_l_width",
}
_CHOICES = {"SpecialStyle": "special_style", "NoteBodyStyle": "note_body_style"}


class SkinWarning(UserWarning):
    """A ``skin.ini`` line or value osu! would ignore: the message names the file and line."""


def column_type(keys: int, column: int, special_style: int = 0) -> str:
    """The default image suffix of a column: ``"1"``, ``"2"`` or ``"S"`` (special, the middle one).

    osu!'s pattern alternates 1, 2 from both edges inwards, the middle column of an odd key count is
    special (lazer ``StageDefinition``/``LegacyManiaColumnElement``: 4K 1221, 7K 121S121). An even
    key count with ``SpecialStyle`` 1 or 2 makes its left or right column special (wiki).
    """
    if keys % 2 == 0 and special_style in (1, 2):
        special = 0 if special_style == 1 else keys - 1
        if column == special:
            return "S"
        # the other columns alternate 1, 2 away from the special one (a best guess: stable's
        # exact pattern for special styles is not in the sources)
        return "1" if abs(column - special) % 2 == 1 else "2"
    if keys % 2 == 1 and column == keys // 2:
        return "S"
    return "1" if min(column, keys - 1 - column) % 2 == 0 else "2"


@dataclass(frozen=True)
class ManiaConfig:
    """One ``[Mania]`` section (or its defaults) in osu!'s 480-pixel-high units.

    ``images`` keeps the raw image overrides (``NoteImage0H``, ``Hit300g``, ...) as written, a
    trailing ``@2x`` removed (osu! looks the ``@2x`` file up itself). ``colours`` holds every colour,
    defaults included, as RGBA.
    """

    keys: int
    column_start: float = 136.0
    column_right: float = 19.0
    column_width: tuple[float, ...] = ()
    column_spacing: tuple[float, ...] = ()
    column_line_width: tuple[float, ...] = ()
    hit_position: float = 402.0
    light_position: float = 413.0
    score_position: float = 300.0
    combo_position: float = 111.0
    judgement_line: bool = True
    upside_down: bool = False
    keys_under_notes: bool = False
    special_style: int = 0
    note_body_style: int = 1
    light_frame_per_second: float = 60.0
    barline_height: float = 1.2
    width_for_note_height_scale: float = 0.0
    lighting_n_width: tuple[float, ...] = ()
    lighting_l_width: tuple[float, ...] = ()
    split_stages: bool = False
    stage_separation: float = 40.0
    colours: dict[str, Colour] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    source: str = "<default>"

    def __post_init__(self) -> None:
        k = self.keys
        if not 1 <= k <= MAX_KEYS:
            raise ValueError(f"keys must be in [1, {MAX_KEYS}], got {k}")
        fill = {
            "column_width": (30.0,) * k,
            "column_spacing": (0.0,) * (k - 1),
            "column_line_width": (2.0,) * (k + 1),
            "lighting_n_width": (0.0,) * k,
            "lighting_l_width": (0.0,) * k,
        }
        for name, default in fill.items():
            if len(getattr(self, name)) != len(default):
                object.__setattr__(self, name, default)
        colours = dict(DEFAULT_COLOURS)
        for c in range(1, k + 1):
            colours[f"Colour{c}"] = DEFAULT_LANE_COLOUR
            colours[f"ColourLight{c}"] = DEFAULT_LIGHT_COLOUR
        colours.update(self.colours)
        object.__setattr__(self, "colours", colours)

    def _image(self, key: str, default: str) -> str:
        return self.images.get(key, default)

    def note_image(self, column: int, part: str = "") -> str:
        """The image name of a column's note (``part`` ""), hold head ("H"), body ("L") or tail ("T")."""
        if part not in ("", "H", "L", "T"):
            raise ValueError(f"note part must be '', 'H', 'L' or 'T', got {part!r}")
        kind = column_type(self.keys, column, self.special_style)
        return self._image(f"NoteImage{column}{part}", f"mania-note{kind}{part}")

    def key_image(self, column: int, down: bool = False) -> str:
        """The image name of a column's key, up or pressed (``down``)."""
        d = "D" if down else ""
        kind = column_type(self.keys, column, self.special_style)
        return self._image(f"KeyImage{column}{d}", f"mania-key{kind}{d}")

    def element(self, name: str) -> str:
        """The image name of a named element (``Hit300g`` -> ``mania-hit300g`` unless overridden)."""
        if name not in ELEMENTS:
            raise KeyError(f"unknown mania element {name!r} (one of {', '.join(ELEMENTS)})")
        return self._image(name, ELEMENTS[name])

    def colour(self, name: str) -> Colour:
        """A colour by its skin.ini name (``Colour1``, ``ColourLight2``, ``ColourHold``, ...), RGBA."""
        if name not in self.colours:
            raise KeyError(f"unknown mania colour {name!r}")
        return self.colours[name]


@dataclass(frozen=True)
class SkinIni:
    """A parsed ``skin.ini``: ``general`` and ``fonts`` as written, ``[Mania]`` by key count."""

    general: dict[str, str] = field(default_factory=dict)
    fonts: dict[str, str] = field(default_factory=dict)
    sections: dict[int, ManiaConfig] = field(default_factory=dict)
    source: str = "<default>"

    @property
    def version(self) -> float:
        """The skin's ``Version``: 1.0 when a skin.ini leaves it out, ``latest`` read as 2.7."""
        raw = self.general.get("Version", "1.0").strip().lower()
        if raw == "latest":
            return 2.7
        try:
            return float(raw)
        except ValueError:
            return 1.0

    def mania(self, keys: int) -> ManiaConfig:
        """The ``[Mania]`` section for ``keys``, or osu!'s defaults when the file has none."""
        found = self.sections.get(keys)
        if found is not None:
            return found
        # stable draws long-note bodies stretched for skins older than 2.5 (wiki NoteBodyStyle)
        return ManiaConfig(
            keys, note_body_style=1 if self.version >= 2.5 else 0, source=self.source
        )


def _warn(source: str, line: int, message: str) -> None:
    warnings.warn(SkinWarning(f"{source}:{line}: {message}"), stacklevel=3)


def _number(text: str) -> float:
    value = float(text.strip())
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _colour(text: str) -> Colour:
    parts = [int(float(p)) for p in text.split(",")]
    if len(parts) not in (3, 4):
        raise ValueError(text)
    rgba = tuple(min(255, max(0, p)) for p in parts) + ((255,) if len(parts) == 3 else ())
    return rgba  # type: ignore[return-value]


def _list(text: str, length: int) -> tuple[float, ...]:
    """A comma-separated list: unreadable entries read as 0 (stable), missing ones stay default."""
    values = []
    for part in text.split(",")[:length]:
        try:
            values.append(_number(part))
        except ValueError:
            values.append(0.0)
    return tuple(values)


class _ManiaBuilder:
    """Collects one ``[Mania]`` section's lines until its ``Keys:`` is known."""

    def __init__(self, source: str, version: float) -> None:
        self.source = source
        self.version = version
        self.pending: list[tuple[int, str, str]] = []
        self.values: dict[str, Any] | None = None

    def start(self, keys: int) -> None:
        self.values = {"keys": keys, "colours": {}, "images": {}}
        self.flush()

    def add(self, line: int, key: str, value: str) -> None:
        self.pending.append((line, key, value))
        if self.values is not None:
            self.flush()

    def flush(self) -> None:
        for line, key, value in self.pending:
            self._apply(line, key, value)
        self.pending.clear()

    def _apply(self, line: int, key: str, value: str) -> None:
        v = self.values
        assert v is not None
        keys = v["keys"]
        try:
            if key in _NUMBERS:
                number = _number(value)
                if abs(number) > MAX_LENGTH:
                    _warn(self.source, line, f"{key} {number:g} is out of range, ignored")
                    return
                if key == "HitPosition":
                    number = min(480.0, max(240.0, number))
                v[_NUMBERS[key]] = number
            elif key in _LISTS:
                length = {"ColumnSpacing": keys - 1, "ColumnLineWidth": keys + 1}.get(key, keys)
                default = {"ColumnWidth": 30.0, "ColumnLineWidth": 2.0}.get(key, 0.0)
                name = _LISTS[key]
                current = list(v.get(name, (default,) * length))
                parsed = _list(value, length)
                if any(abs(x) > MAX_LENGTH or (key != "ColumnSpacing" and x < 0) for x in parsed):
                    _warn(self.source, line, f"{key} has values out of range, ignored")
                    return
                current[: len(parsed)] = parsed
                v[name] = tuple(current)
            elif key in _FLAGS:
                v[_FLAGS[key]] = value.strip() == "1"
            elif key in _CHOICES:
                choice = int(value.strip())
                if choice not in (0, 1, 2):
                    raise ValueError(value)
                v[_CHOICES[key]] = choice
            elif key == "LightFramePerSecond":
                fps = _number(value)
                v["light_frame_per_second"] = fps if fps > 0 else 24.0
            elif key.startswith("Colour"):
                v["colours"][key] = _colour(value)
            elif _IMAGE_KEY.match(key):
                image = value.strip().replace("\\", "/")
                if image.lower().endswith("@2x"):
                    image = image[:-3]
                v["images"][key] = image
        except ValueError:
            _warn(self.source, line, f"cannot read {key}: {value.strip()!r}, default kept")

    def build(self) -> ManiaConfig:
        assert self.values is not None
        values = dict(self.values)
        if "note_body_style" not in values and self.version < 2.5:
            values["note_body_style"] = 0
        return ManiaConfig(source=f"{self.source} [Mania] Keys {values['keys']}", **values)


def parse_skin_ini(text: str, source: str) -> SkinIni:
    """Parse a ``skin.ini``'s text; ``source`` names it in warnings (``path/skin.ini``)."""
    general: dict[str, str] = {}
    fonts: dict[str, str] = {}
    sections: dict[int, ManiaConfig] = {}
    section = ""
    builder: _ManiaBuilder | None = None

    def close() -> None:
        if builder is not None and builder.values is not None:
            config = builder.build()
            # stable keeps the first section of a key count and ignores repeats
            sections.setdefault(config.keys, config)

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        if line.startswith("[") and line.endswith("]"):
            close()
            section = line[1:-1].strip().lower()
            builder = None
            if section == "mania":
                builder = _ManiaBuilder(source, _version(general))
            continue
        if ":" not in line:
            _warn(source, number, f"not a 'Key: value' line: {line[:60]!r}, ignored")
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        if "//" in value:
            value = value.split("//", 1)[0].strip()
        if section == "general":
            general[key] = value
        elif section == "fonts":
            fonts[key] = value
        elif builder is not None:
            if key == "Keys":
                if builder.values is not None:
                    # a second Keys in one section starts another configuration
                    close()
                    builder = _ManiaBuilder(source, _version(general))
                try:
                    keys = int(value)
                except ValueError:
                    keys = 0
                if not 1 <= keys <= MAX_KEYS:
                    _warn(
                        source, number, f"Keys {value!r} is not in 1..{MAX_KEYS}, section ignored"
                    )
                    section, builder = "ignored", None
                    continue
                builder.start(keys)
            else:
                builder.add(number, key, value)
    close()
    return SkinIni(general=general, fonts=fonts, sections=sections, source=source)


def _version(general: dict[str, str]) -> float:
    return SkinIni(general=general).version
