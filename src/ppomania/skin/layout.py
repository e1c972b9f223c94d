"""Where osu!stable draws the mania stage in a window: skin.ini units -> window client pixels.

osu!stable lays mania out in a space 480 units high scaled to the window's client height
(``scale = height / 480``), and as wide as the window is in those units (``480 * width / height``).
The stage is **not** centred: its left edge is at ``ColumnStart`` units from the window's left edge,
whatever the aspect ratio. That is why skinners compute a "centred" ColumnStart per resolution as
``480 * width / height / 2 - sum(ColumnWidth) / 2`` (RoanH/ManiaColumnCentering, ``Main.calculate``).
lazer ignores ColumnStart and centres the stage; we model stable.

Columns follow each other from ColumnStart: ``ColumnWidth[i]`` wide, ``ColumnSpacing[i]`` apart;
column lines are drawn over the column edges and take no room. ``HitPosition`` is the y of the
judgement line (a note's bottom edge reaches it at the note's time); ``UpsideDown`` mirrors every y.

Scroll: stable moves notes at ``speed * 21 / 600`` units per ms (ppy/osu PR #13901, quoting stable's
``SpeedMania``), independent of HitPosition (ppy/osu issue #20820, PR #26131), so a note is on
screen ``HitPosition * 600 / 21 / speed`` ms before its time: ``11485 / speed`` at the default 402.
"""

from __future__ import annotations

from dataclasses import dataclass

from ppomania.game.scroll import BASE_SCROLL_MS, DEFAULT_HIT_POSITION
from ppomania.skin.ini import ManiaConfig

#: osu!'s layout height in skin.ini units.
LAYOUT_HEIGHT = 480.0
#: The stage hint (``StageHint``) is drawn this fraction of its height, centred on the hit position.
HINT_SCALE = 0.9


@dataclass(frozen=True)
class ManiaLayout:
    """The stage of one key count in one window, in window client pixels (x right, y down).

    ``columns`` are each column's (left, right) x; ``stage_left``/``stage_right`` the outer edges
    of the first and last column. ``hit_y`` is the judgement line; ``light_y``, ``score_y`` (the
    judgement bursts' centre) and ``combo_y`` (the combo counter's centre) come from LightPosition,
    ScorePosition and ComboPosition. With ``upside_down`` every y is mirrored (notes rise towards
    ``hit_y`` near the top). ``note_width_for_height`` is the column width (pixels) that note
    images are scaled by vertically (``WidthForNoteHeightScale`` or the narrowest column).
    """

    keys: int
    window: tuple[int, int]
    scale: float
    columns: tuple[tuple[float, float], ...]
    hit_y: float
    light_y: float
    score_y: float
    combo_y: float
    stage_left: float
    stage_right: float
    upside_down: bool
    hit_position: float
    note_width_for_height: float

    def px_per_ms(self, scroll_speed: float) -> float:
        """How fast notes move (pixels per ms of map time) at an osu! scroll speed setting."""
        if scroll_speed <= 0:
            raise ValueError(f"scroll speed must be positive, got {scroll_speed}")
        return self.scale * DEFAULT_HIT_POSITION * scroll_speed / BASE_SCROLL_MS

    def fall_ms(self, scroll_speed: float) -> float:
        """ms a note takes from the window's edge (top, or bottom upside down) to ``hit_y``."""
        return self.hit_position * self.scale / self.px_per_ms(scroll_speed)

    def note_height(self, image_size: tuple[int, int] | object, column: int = 0) -> float:
        """Height (pixels) osu! draws a note image at: its aspect ratio over the column's width.

        ``image_size`` is a :class:`~ppomania.skin.files.SkinImage` or its pixels' ``(h, w)``.
        The width is stretched to the column; the height follows ``note_width_for_height``
        (lazer ``LegacyNotePiece``: x scale column width / texture width, y scale minimum column
        width / texture width), so notes of all columns are equally tall.
        """
        pixels = getattr(image_size, "pixels", None)
        h, w = pixels.shape[:2] if pixels is not None else image_size  # type: ignore[misc]
        if not 0 <= column < self.keys:
            raise IndexError(f"column {column} out of range for {self.keys}K")
        return h / w * self.note_width_for_height if w else 0.0

    def hint_height(self, image_size: tuple[int, int] | object) -> int:
        """Rows the stage hint image is drawn on, centred on the hit position (its top row is
        ``round(hit_y) - hint_height // 2``). ``image_size`` as for :meth:`note_height`; an
        image's own ``scale`` (``@2x``) counts."""
        pixels = getattr(image_size, "pixels", None)
        h = pixels.shape[0] if pixels is not None else image_size[0]  # type: ignore[index]
        return max(1, round(h / getattr(image_size, "scale", 1.0) * HINT_SCALE * self.scale))

    def column_width(self, column: int) -> float:
        left, right = self.columns[column]
        return right - left


def mania_layout(config: ManiaConfig, window: tuple[int, int]) -> ManiaLayout:
    """The stage of ``config`` in a ``window`` of (width, height) client pixels."""
    width, height = window
    if width <= 0 or height <= 0:
        raise ValueError(f"window size must be positive, got {window}")
    scale = height / LAYOUT_HEIGHT
    columns = []
    x = config.column_start
    for i, w in enumerate(config.column_width):
        columns.append((x * scale, (x + w) * scale))
        x += w + (config.column_spacing[i] if i < config.keys - 1 else 0.0)

    def y(units: float) -> float:
        return (LAYOUT_HEIGHT - units if config.upside_down else units) * scale

    height_width = config.width_for_note_height_scale or min(config.column_width)
    return ManiaLayout(
        keys=config.keys,
        window=(width, height),
        scale=scale,
        columns=tuple(columns),
        hit_y=y(config.hit_position),
        light_y=y(config.light_position),
        score_y=y(config.score_position),
        combo_y=y(config.combo_position),
        stage_left=columns[0][0],
        stage_right=columns[-1][1],
        upside_down=config.upside_down,
        hit_position=config.hit_position,
        note_width_for_height=height_width * scale,
    )
