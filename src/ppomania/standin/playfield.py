"""osu!stable's mania playfield drawn from a skin, without a window.

:class:`SkinnedPlayfield` draws one frame of a beatmap's play the way osu!stable draws the mania
stage (ppy/osu ``osu.Game.Rulesets.Mania/Skinning/Legacy/*``, the osu! wiki's
``Skinning/osu!mania``), from a :class:`~ppomania.skin.files.Skin` laid out by
:func:`~ppomania.skin.layout.mania_layout` in a window's client area, in this order:

- the stage: black window, each column's ``Colour#`` (alpha doubled, as stable blends it),
  ``StageLeft``/``StageRight`` stretched to the window height beside the columns, column lines
  (``ColumnLineWidth`` × 0.74 in osu!'s 768-high units, ``ColourColumnLine``) from the top down to
  the hit position (a right line on every column from skin version 2.4, else on the last one), the
  stage hint (``StageHint``, 0.9 × its height, centred on the hit position) and the judgement line
  (``JudgementLine``, ``ColourJudgementLine`` at 90 %);
- the column light (``StageLight`` frames at ``LightFramePerSecond``, tinted ``ColourLight#``, its
  bottom at ``LightPosition``) while a key is down, shrinking away for 250 ms after it is let go;
- notes (``NoteImage#`` scaled to the column width, bottom edge on the hit position at the note's
  time) and long notes (head ``NoteImage#H``, body ``NoteImage#L`` stretched or cascaded as
  ``NoteBodyStyle`` says and animated while held, tail ``NoteImage#T`` flipped; the head pinned to
  the hit position while held);
- the keys (``KeyImage#``, ``KeyImage#D`` while down) at the bottom, stretched to the column width,
  over the notes unless ``KeysUnderNotes``;
- hit lighting, added on top: ``LightingN`` frames for 200 ms after a hit, ``LightingL`` looping
  while a long note is held, centred on the column at the hit position;
- the judgement burst (``Hit300g`` for MAX … ``Hit0``) at ``ScorePosition`` over the lanes for
  220 ms after each judgement, and the combo (``score-`` digits) at ``ComboPosition``.

Sizes: an image of ``n`` pixels at scale ``s`` (2 for ``@2x``) is ``n / s`` units of osu!'s
480-high space, ``layout.scale`` window pixels each. Fades are drawn as steps (shown or not).
Upside-down skins are drawn downscroll and mirrored vertically (judgement bursts and combo digits
stay upright, at their mirrored positions), as stable mirrors the stage.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ppomania.game.beatmap import Beatmap
from ppomania.game.judge import HitResult
from ppomania.game.rules import Judgement
from ppomania.game.scroll import DEFAULT_SCROLL_SPEED
from ppomania.skin.files import Skin, SkinImage
from ppomania.skin.layout import ManiaLayout, mania_layout
from ppomania.skin.timing import BURST_ELEMENTS, LIGHT_RELEASE_MS

LIGHTING_MS = 200.0  # LightingN: 80 ms in, 120 ms out
BURST_MS = 220.0  # judgement burst: 20 ms in, 160 ms shown, 40 ms out
BURST_SCALES = ((40.0, 1.0), (80.0, 0.85), (BURST_MS, 0.7))  # (until dt, scale), as stable pops
LINE_SCALE = 0.74  # column line width in osu!'s 768-high units, as stable draws them
BODY_FPS = 60.0


class JudgeView(Protocol):
    """What the playfield reads from a judge (:class:`~ppomania.game.judge.Judge` has it)."""

    results: Sequence[HitResult]

    def current_object(self, column: int) -> int: ...

    def holding(self, column: int) -> bool: ...


def _surface(pixels: np.ndarray, size: tuple[int, int] | None = None, tint=None, additive=False):
    """A pygame Surface of an RGBA image, smooth-scaled to ``size``; tinted by an RGBA colour;
    ``additive``: premultiplied RGB without alpha, for ``BLEND_RGB_ADD``."""
    import pygame

    rgba = pixels
    if tint is not None:
        factor = np.asarray(tint, np.float32) / 255.0
        rgba = np.clip(rgba.astype(np.float32) * factor, 0, 255).astype(np.uint8)
    h, w = rgba.shape[:2]
    surface = pygame.Surface((w, h), pygame.SRCALPHA, 32)
    pygame.surfarray.pixels3d(surface)[...] = rgba[..., :3].transpose(1, 0, 2)
    pygame.surfarray.pixels_alpha(surface)[...] = rgba[..., 3].T
    if size is not None and size != (w, h):
        size = (max(1, size[0]), max(1, size[1]))
        surface = pygame.transform.smoothscale(surface, size)
    if not additive:
        return surface
    scaled = np.empty((*surface.get_size(), 3), np.float32)
    scaled[...] = pygame.surfarray.pixels3d(surface)
    scaled *= pygame.surfarray.pixels_alpha(surface)[..., None] / 255.0
    out = pygame.Surface(surface.get_size(), 0, 32)
    pygame.surfarray.pixels3d(out)[...] = scaled.astype(np.uint8)
    return out


def _units(image: SkinImage) -> tuple[float, float]:
    """An image's (width, height) in osu!'s 480-high units."""
    h, w = image.pixels.shape[:2]
    return w / image.scale, h / image.scale


class SkinnedPlayfield:
    """Draws ``beatmap``'s play from ``skin`` into a window-sized picture.

    :param skin: the skin (its ``[Mania]`` section for the map's key count).
    :param beatmap: the map whose notes are drawn.
    :param window_size: the window's client area ``(width, height)``.
    :param scroll_speed: osu!'s scroll speed setting (default :data:`DEFAULT_SCROLL_SPEED`).
    """

    def __init__(
        self,
        skin: Skin,
        beatmap: Beatmap,
        window_size: tuple[int, int] = (1280, 720),
        scroll_speed: float = DEFAULT_SCROLL_SPEED,
    ) -> None:
        import pygame

        self.skin, self.beatmap = skin, beatmap
        self.keys = keys = beatmap.keys
        self.config = config = skin.ini.mania(keys)
        self.layout: ManiaLayout = mania_layout(config, window_size)
        self.window_size = window_size
        self.scroll_speed = scroll_speed
        self.px_per_ms = self.layout.px_per_ms(scroll_speed)
        self.surface = pygame.Surface(window_size, 0, 32)  # black
        self._rgb = np.zeros((window_size[1], window_size[0], 3), np.uint8)
        self._objects = [beatmap.column_objects(c).tolist() for c in range(keys)]
        self._position = {i: n for column in self._objects for n, i in enumerate(column)}
        self._starts, self._ends = beatmap.starts.tolist(), beatmap.ends.tolist()
        self._column_ends = [[self._ends[i] for i in column] for column in self._objects]
        self._down = [False] * keys
        self._released_ms = [-1e9] * keys
        self._last_time = -1e9
        h = window_size[1]
        lay = self.layout
        # drawn downscroll, then mirrored as a whole when the skin is upside down
        self._hit_y = h - lay.hit_y if lay.upside_down else lay.hit_y
        self._light_y = h - lay.light_y if lay.upside_down else lay.light_y
        self._score_y, self._combo_y = lay.score_y, lay.combo_y
        #: Each column's ``(left, right)`` x in whole window pixels (right exclusive).
        self.column_px = [(round(left), round(right)) for left, right in lay.columns]
        self._build_columns()
        self._background = self._stage_background()
        self._bursts = {j: self._burst_frames(name) for j, name in BURST_ELEMENTS.items()}
        prefix = skin.ini.fonts.get("ComboPrefix", "score")  # osu!'s combo font
        self._digits = [self._scaled(skin.image(f"{prefix}-{d}")) for d in range(10)]
        #: ``(x, y, width, height)`` of the window that drawing changes (the rest stays black):
        #: what a window must show again after each frame.
        self.dirty = self._dirty_rect()

    # --- preparation (once per size) ------------------------------------------------------------

    def _scaled(
        self,
        image: SkinImage,
        width: int | None = None,
        height: int | None = None,
        aspect: bool = False,
        tint: tuple[int, int, int, int] | None = None,
        additive: bool = False,
    ):
        """``image`` pre-scaled to ``width`` × ``height`` pixels; a side not given is its size in
        units × ``layout.scale``, or with ``aspect`` the height that keeps the aspect ratio."""
        uw, uh = _units(image)
        scale = self.layout.scale
        w = round(uw * scale) if width is None else width
        if height is None:
            height = round(w * uh / uw) if aspect else round(uh * scale)
        return _surface(image.pixels, (w, height), tint, additive)

    def _lighting(self, element: str, width_units: float) -> list:
        """LightingN/L frames, additive, at their size or scaled to ``LightingNWidth``-like
        ``width_units`` (0: not set)."""
        key = (element, width_units)
        if key not in self._lighting_cache:
            width = round(width_units * self.layout.scale) if width_units > 0 else None
            self._lighting_cache[key] = [
                self._scaled(f, width, aspect=True, additive=True)
                for f in self.skin.frames(self.config.element(element))
            ]
        return self._lighting_cache[key]

    def _build_columns(self) -> None:
        import pygame

        config, skin = self.config, self.skin
        self._note, self._head, self._tail, self._body, self._keys = [], [], [], [], []
        self._head_h, self._tail_h, self._tile_h = [], [], []
        self._light, self._lighting_n, self._lighting_l = [], [], []
        self._lighting_cache: dict[tuple[str, float], list] = {}
        light = skin.frames(config.element("StageLight"))
        for c, (x0, x1) in enumerate(self.column_px):
            w = x1 - x0
            for part, surfaces in (("", self._note), ("H", self._head), ("T", self._tail)):
                image = skin.image(config.note_image(c, part))
                height = max(1, round(self.layout.note_height(image, c)))
                surface = _surface(image.pixels, (w, height))
                if part == "T":  # stable draws the tail upside down
                    surface = pygame.transform.flip(surface, False, True)
                surfaces.append(surface)
            self._head_h.append(self._head[c].get_height())
            self._tail_h.append(self._tail[c].get_height())
            self._body.append(self._body_frames(c, w))
            keys = (skin.image(config.key_image(c, down)) for down in (False, True))
            self._keys.append(tuple(self._scaled(image, width=w) for image in keys))
            tint = config.colour(f"ColourLight{c + 1}")
            self._light.append([self._scaled(f, width=w, tint=tint) for f in light])
            self._lighting_n.append(self._lighting("LightingN", config.lighting_n_width[c]))
            self._lighting_l.append(self._lighting("LightingL", config.lighting_l_width[c]))

    def _body_frames(self, column: int, width: int) -> list:
        """Long-note body frames: for stretching (height capped at the window's) or, cascaded, a
        strip of tiles one tile taller than the window."""
        import pygame

        h = self.window_size[1]
        images = self.skin.frames(self.config.note_image(column, "L"))
        uw, uh = _units(images[0])
        tile = max(1, round(width * uh / uw))
        self._tile_h.append(tile)
        frames = []
        for image in images:
            if self.config.note_body_style == 0:
                frames.append(_surface(image.pixels, (width, min(tile, h))))
                continue
            one = _surface(image.pixels, (width, tile))
            strip = pygame.Surface((width, h + 2 * tile), pygame.SRCALPHA, 32)
            for y in range(0, h + 2 * tile, tile):
                strip.blit(one, (0, y))
            frames.append(strip)
        return frames

    def _burst_frames(self, element: str) -> list[list]:
        """Per scale step of :data:`BURST_SCALES`, the burst's frames at that scale."""
        images = self.skin.frames(self.config.element(element))
        steps = []
        for _, factor in BURST_SCALES:
            width = [round(_units(f)[0] * self.layout.scale * factor) for f in images]
            steps.append([self._scaled(f, w, aspect=True) for f, w in zip(images, width)])
        return steps

    def _stage_background(self):
        """Everything that does not move: column backgrounds, stage sides, lines, hint."""
        import pygame

        config, skin, lay = self.config, self.skin, self.layout
        w, h = self.window_size
        hit_y = round(self._hit_y)
        self._background_sides = 0
        bg = pygame.Surface((w, h), 0, 32)
        bg.fill((0, 0, 0))
        for c, (x0, x1) in enumerate(self.column_px):
            r, g, b, a = config.colour(f"Colour{c + 1}")
            k = min(1.0, 2 * a / 255)  # stable draws column colours with doubled alpha
            bg.fill((round(r * k), round(g * k), round(b * k)), (x0, 0, x1 - x0, h))
        left, right = self.column_px[0][0], self.column_px[-1][1]
        for name, anchor in (("StageLeft", "right"), ("StageRight", "left")):
            image = skin.image(config.element(name))
            surface = _surface(image.pixels, (round(_units(image)[0] * lay.scale), h))
            self._background_sides = max(self._background_sides, surface.get_width())
            bg.blit(surface, (left - surface.get_width() if anchor == "right" else right, 0))
        r, g, b, a = config.colour("ColourColumnLine")
        line = pygame.Surface((1, max(1, hit_y)), pygame.SRCALPHA, 32)
        line.fill((r, g, b, min(255, 2 * a)))
        widths = config.column_line_width
        every_right = skin.ini.version >= 2.4
        for c, (x0, x1) in enumerate(self.column_px):
            sides = [(widths[c], x0, False)]
            if c == self.keys - 1 or (every_right and widths[c + 1] > 0):
                sides.append((widths[c + 1], x1, True))
            for width, x, right_side in sides:
                px = round(width * LINE_SCALE * h / 768)
                if width > 0 and px == 0:
                    px = 1
                if px:
                    bar = pygame.transform.scale(line, (px, line.get_height()))
                    bg.blit(bar, (x - px if right_side else x, 0))
        hint = skin.image(config.element("StageHint"))
        hint_h = lay.hint_height(hint)
        bg.blit(_surface(hint.pixels, (right - left, hint_h)), (left, hit_y - hint_h // 2))
        if config.judgement_line:
            r, g, b, a = config.colour("ColourJudgementLine")
            bar = pygame.Surface((right - left, max(1, round(h / 768))), pygame.SRCALPHA, 32)
            bar.fill((r, g, b, round(0.9 * max(a, 1))))
            bg.blit(bar, (left, hit_y))
        return bg

    def _dirty_rect(self) -> tuple[int, int, int, int]:
        """The columns, the stage sides and whatever spills over them (lighting, bursts,
        a 6-digit combo), across the window's height."""
        w, h = self.window_size
        centre = self._stage_centre()
        half = [centre - self.column_px[0][0] + self._background_sides]
        half += [f.get_width() / 2 + centre - self.column_px[0][0] for f in self._lighting_n[0]]
        half += [f.get_width() / 2 + self.column_px[-1][1] - centre for f in self._lighting_n[-1]]
        half += [f.get_width() / 2 for frames in self._bursts.values() for f in frames[0]]
        half.append(3 * max(d.get_width() for d in self._digits))
        reach = int(max(half)) + 2
        left, right = max(0, centre - reach), min(w, centre + reach)
        return (left, 0, right - left, h)

    # --- drawing ----------------------------------------------------------------------------

    def draw(
        self, time_ms: float, judge: JudgeView, held: Sequence[bool], combo: int = 0
    ) -> np.ndarray:
        """The picture at map time ``time_ms``: ``(height, width, 3)`` RGB uint8 (a reused
        buffer). ``judge`` gives the notes left and the judgements so far, ``held`` the keys
        down."""
        import pygame

        self.draw_on(self.surface, time_ms, judge, held, combo)
        rgb = np.frombuffer(pygame.image.tobytes(self.surface, "RGB"), np.uint8)
        np.copyto(self._rgb, rgb.reshape(self._rgb.shape))
        return self._rgb

    def draw_on(
        self, target, time_ms: float, judge: JudgeView, held: Sequence[bool], combo: int = 0
    ) -> None:
        """Draw the picture at ``time_ms`` onto the window-sized pygame Surface ``target``."""
        import pygame

        t = float(time_ms)
        for c in range(self.keys):
            if self._down[c] and not held[c]:
                self._released_ms[c] = t
            elif t < self._last_time:  # time went back (a retry): forget the old releases
                self._released_ms[c] = -1e9
            self._down[c] = bool(held[c])
        self._last_time = t
        dirty = self.dirty
        target.blit(self._background, dirty[:2], dirty)  # the rest of the window stays black
        for c in range(self.keys):
            self._draw_light(target, c, t)
        under = self.config.keys_under_notes
        if under:
            self._draw_keys(target)
        for c in range(self.keys):
            self._draw_column(target, c, t, judge)
        if not under:
            self._draw_keys(target)
        self._draw_lighting(target, t, judge)
        if self.layout.upside_down:
            flipped = pygame.transform.flip(target.subsurface(dirty), False, True)
            target.blit(flipped, dirty[:2])
        self._draw_burst(target, t, judge.results)
        self._draw_combo(target, combo)

    def _draw_light(self, target, c: int, t: float) -> None:
        frames = self._light[c]
        if not frames:
            return
        fps = self.config.light_frame_per_second
        if self._down[c]:
            index = int(t * fps / 1000) % len(frames) if fps > 0 else 0
            image = frames[index]
        else:
            dt = t - self._released_ms[c]
            if not 0 <= dt < LIGHT_RELEASE_MS:
                return
            image = frames[0]
            height = round(image.get_height() * (1 - dt / LIGHT_RELEASE_MS))
            if height <= 0:
                return
            import pygame

            image = pygame.transform.scale(image, (image.get_width(), height))
        target.blit(image, (self.column_px[c][0], round(self._light_y) - image.get_height()))

    def _draw_keys(self, target) -> None:
        h = self.window_size[1]
        for c in range(self.keys):
            image = self._keys[c][1 if self._down[c] else 0]
            target.blit(image, (self.column_px[c][0], h - image.get_height()))

    def _draw_column(self, target, c: int, t: float, judge: JudgeView) -> None:
        current = judge.current_object(c)
        if current < 0:
            return
        objects, starts, ends = self._objects[c], self._starts, self._ends
        first = self._position[current]
        x0 = self.column_px[c][0]
        hit_y, p = self._hit_y, self.px_per_ms
        holding = judge.holding(c)
        # objects not judged yet but already below the window (a judge lagging behind) are skipped
        below_ms = t - (self.window_size[1] + self._tail_h[c] - hit_y) / p
        begin = max(first + 1, bisect.bisect_left(self._column_ends[c], below_ms))
        for i in itertools.chain((first,), range(begin, len(objects))):
            index = objects[i]
            start, end = starts[index], ends[index]
            y_head = hit_y - (start - t) * p  # the head's bottom edge
            if y_head < 0:
                break  # above the top, and so is every later object of the column
            held_now = i == first and holding and t >= start
            if held_now:
                if t >= end:
                    continue
                y_head = hit_y
            if end <= start:
                image = self._note[c]
                target.blit(image, (x0, round(y_head) - image.get_height()))
                continue
            y_tail = hit_y - (end - t) * p
            self._draw_body(target, c, y_tail, y_head - self._head_h[c] / 2, held_now, t)
            tail = self._tail[c]
            target.blit(tail, (x0, round(y_tail) - tail.get_height()))
            head = self._head[c]
            target.blit(head, (x0, round(y_head) - head.get_height()))

    def _draw_body(self, target, c: int, top: float, bottom: float, held: bool, t: float) -> None:
        """The body of a long note from ``top`` (tail) to ``bottom`` (head) in window rows."""
        import pygame

        top_i, bottom_i = round(top), round(bottom)
        v0, v1 = max(0, top_i), min(self.window_size[1], bottom_i)
        if v1 <= v0:
            return
        frames = self._body[c]
        frame = frames[int(t * BODY_FPS / 1000) % len(frames)] if held else frames[0]
        x0, width = self.column_px[c][0], self.column_px[c][1] - self.column_px[c][0]
        style = self.config.note_body_style
        if style == 0:  # stretched over the whole body; draw only the rows on screen
            length = bottom_i - top_i
            src_h = frame.get_height()
            s0 = int(src_h * (v0 - top_i) / length)
            s1 = max(s0 + 1, min(src_h, int(np.ceil(src_h * (v1 - top_i) / length))))
            part = frame.subsurface((0, s0, width, s1 - s0))
            target.blit(pygame.transform.scale(part, (width, v1 - v0)), (x0, v0))
            return
        tile = self._tile_h[c]
        anchor = top_i if style == 1 else bottom_i  # cascade from the tail end or the head end
        phase = (v0 - anchor) % tile
        target.blit(frame, (x0, v0), (0, phase, width, v1 - v0))

    def _draw_lighting(self, target, t: float, judge: JudgeView) -> None:
        import pygame

        add = pygame.BLEND_RGB_ADD
        hit_y = round(self._hit_y)
        lit = [False] * self.keys
        for result in reversed(judge.results):
            dt = t - result.time_ms
            if dt >= LIGHTING_MS:
                break
            c = result.column
            if dt < 0 or lit[c] or result.judgement == Judgement.MISS:
                continue
            lit[c] = True
            frames = self._lighting_n[c]
            frame_ms = max(1000 / 60, 170 / len(frames))
            frame = frames[min(len(frames) - 1, int(dt / frame_ms))]
            self._blit_centred(target, frame, c, hit_y, add)
        for c in range(self.keys):
            if judge.holding(c) and self._down[c]:
                frames = self._lighting_l[c]
                frame_ms = max(1000 / 60, 170 / len(frames))
                self._blit_centred(target, frames[int(t / frame_ms) % len(frames)], c, hit_y, add)

    def _blit_centred(self, target, image, c: int, y: int, flags: int = 0) -> None:
        x = (self.column_px[c][0] + self.column_px[c][1]) // 2
        w, h = image.get_size()
        target.blit(image, (x - w // 2, y - h // 2), special_flags=flags)

    def _stage_centre(self) -> int:
        return (self.column_px[0][0] + self.column_px[-1][1]) // 2

    def _draw_burst(self, target, t: float, results: Sequence[HitResult]) -> None:
        if not results:
            return
        last = results[-1]
        dt = t - last.time_ms
        if not 0 <= dt < BURST_MS:
            return
        step = next(i for i, (until, _) in enumerate(BURST_SCALES) if dt < until)
        frames = self._bursts[last.judgement][step]
        image = frames[int(dt * 60 / 1000) % len(frames)]  # bursts loop at 60 fps
        w, h = image.get_size()
        target.blit(image, (self._stage_centre() - w // 2, round(self._score_y) - h // 2))

    def _draw_combo(self, target, combo: int) -> None:
        if combo <= 0:
            return
        digits = [self._digits[int(d)] for d in str(combo)]
        width = sum(d.get_width() for d in digits)
        x = self._stage_centre() - width // 2
        for image in digits:
            target.blit(image, (x, round(self._combo_y) - image.get_height() // 2))
            x += image.get_width()
