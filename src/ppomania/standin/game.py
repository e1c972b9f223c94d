"""The stand-in game: a real pygame window that plays a beatmap in real time with the core's rules.

It lets the live backend run end to end without osu!: the window draws the playfield, judges the
keyboard with :class:`~ppomania.game.Judge`, shows judgements, combo, accuracy and HP, and publishes
a :class:`GameSnapshot` to a :class:`StateServer` every loop iteration.

Two looks. With a skin (:attr:`StandinConfig.skin`) the window is a client area of
``StandinConfig.window`` pixels in which :class:`~ppomania.standin.playfield.SkinnedPlayfield`
draws the stage as osu!stable does, placed by the skin's layout, with score and accuracy at the top
right. Without one, :class:`StandinLook`:
the simulator's highway drawn at high resolution with continuous (sub-row) note
positions, in the simulator's palette: black background, a grey judgement line, grey hold bodies,
white heads. Its proportions are those of the default agent frame (48 rows, line at row 43, heads
two rows tall, hold bodies one row past the tail) with ``row_px`` screen pixels per row, and its
pixel edges are placed so that :func:`~ppomania.sim.render.preprocess_capture` into that frame
samples exactly what :func:`~ppomania.sim.render.render_frames` draws; any other frame (84×84) is
sampled as from a real game, to within a row at note edges.

Keys (osu!'s defaults): the column bindings (4K ``D F J K``, 7K ``S D F Space J K L``), `````
(backquote) retries, Esc pauses and resumes. Map time is the monotonic clock since the play started
minus the lead-in, frozen while paused or failed. HP 0 fails the play (osu! stays in state 2); past
the last object the results screen (state 7) shows, and with ``auto_retry`` the map restarts
``retry_delay_s`` after a fail or the results.

On start it prints one JSON line ``{"event": "ready", "playfield": [left, top, width, height],
"judgement_y": ..., "px_per_ms": ..., "window": [width, height], "port": ..., "keys": ...,
"scroll_speed": ..., "skin": ...}`` (the columns' span and the judgement line relative to the
window; with a skin, from its layout) so that a parent process knows where to look without
calibrating; at exit one ``{"event": "exit", "held": [...]}`` line.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ppomania.game.beatmap import Beatmap
from ppomania.game.judge import HitResult, Judge
from ppomania.game.rules import DEFAULT_BINDINGS
from ppomania.game.score import GameState, Phase
from ppomania.game.scroll import BASE_SCROLL_MS, DEFAULT_SCROLL_SPEED, scroll_ms_for
from ppomania.protocol.endpoint import DEFAULT_PORT
from ppomania.protocol.snapshot import BeatmapInfo, GameSnapshot
from ppomania.realtime import realtime_priority
from ppomania.sim.render import BACKGROUND, BODY, HEAD, LINE
from ppomania.skin.files import Skin, load_skin
from ppomania.standin.playfield import SkinnedPlayfield
from ppomania.standin.server import StateServer

WINDOW_TITLE = "ppomania stand-in"
MARGIN = 24  # pixels around the playfield
HUD_WIDTH = 240
DEFAULT_WINDOW = (1280, 720)  # the skinned look's client area
RESULTS_DELAY_MS = 500  # time after the last object's window before the results show
LINE_PX = 3  # thickness of the drawn judgement line, just above judgement_y


@dataclass(frozen=True)
class StandinLook:
    """The stand-in's highway on screen: a fixed look, independent of the agent's frame.

    Vertically a grid of ``rows`` rows of ``row_px`` pixels; the judgement line's bottom edge (where
    a head's bottom edge is at the note's time) is the bottom of row ``judgement_row``; the highway
    scrolls ``row_px * judgement_row`` pixels in ``scroll_ms``. Heads are ``head_rows`` rows tall,
    hold bodies reach one row past the tail (the simulator's renderer's proportions). Columns are
    ``column_px`` wide with ``note_margin_px`` of background on each side of a note.

    Pixel edges: a head whose bottom edge lies at ``y`` (continuous pixels from the top) covers rows
    ``[floor(y) + 1 - head_px, floor(y) + 1)``, a body from ``ceil(y_tail - row_px)``. With an even
    ``row_px`` the centre pixel of every grid row is then inside a note exactly when the renderer
    fills that row at the default geometry, so a capture sampled there reproduces the simulator's
    frame bit for bit.
    """

    keys: int
    rows: int = 48
    row_px: int = 10
    judgement_row: int = 43
    head_rows: int = 2
    column_px: int = 60
    note_margin_px: int = 3
    scroll_ms: float = BASE_SCROLL_MS / DEFAULT_SCROLL_SPEED

    @property
    def width(self) -> int:
        return self.keys * self.column_px

    @property
    def height(self) -> int:
        return self.rows * self.row_px

    @property
    def judgement_y(self) -> int:
        """Playfield row under the judgement line (a head's bottom edge at its time)."""
        return (self.judgement_row + 1) * self.row_px

    @property
    def px_per_ms(self) -> float:
        """Scroll speed in screen pixels per ms."""
        return self.row_px * self.judgement_row / self.scroll_ms


@dataclass
class StandinConfig:
    """Settings of the stand-in game.

    :param flavor: state server personality, ``tosu`` (default) or ``gosumemory``.
    :param port: state server port (default :data:`DEFAULT_PORT`).
    :param lead_in_ms: map time runs from ``-lead_in_ms`` at play start (default 2000).
    :param auto_retry: restart ``retry_delay_s`` after a fail or the results (default False).
    :param retry_delay_s: see ``auto_retry`` (default 1.5).
    :param skin: draw the playfield as osu!stable does from this skin (a loaded
        :class:`~ppomania.skin.files.Skin`, a skin folder or ``.osk``); None = the simulator's look
        (``look``). ``ppomania standin`` passes the default-like skin unless asked for ``--look sim``.
    :param window: the skinned look's window client area ``(width, height)`` (default 1280×720).
    :param scroll_speed: osu!'s scroll speed setting (default :data:`DEFAULT_SCROLL_SPEED`); it sets
        the fall speed of either look and is served as tosu's ``settings.mania.scrollSpeed``.
    :param look: the simulator look's geometry; None = ``StandinLook(keys)`` at ``scroll_speed``.
    :param bindings: pygame key names per column; None = :data:`DEFAULT_BINDINGS`.
    :param fps: drawing rate (default 120); input is polled about every millisecond.
    :param kill_server_after_s: stop the state server this long after start (None = never)…
    :param server_down_s: …and start it again this long after (default 2).
    :param songs_folder: the Songs folder the state server reports; None = the folder above the
        map's folder (as if the map sat in a Songs folder there).
    :param realtime: run the game loop with real-time priority when the OS allows it (a game on a
        busy machine: frames and key handling on time), default False.
    """

    flavor: str = "tosu"
    port: int = DEFAULT_PORT
    lead_in_ms: float = 2000.0
    auto_retry: bool = False
    retry_delay_s: float = 1.5
    skin: Skin | str | os.PathLike | None = None
    window: tuple[int, int] = DEFAULT_WINDOW
    scroll_speed: float = DEFAULT_SCROLL_SPEED
    look: StandinLook | None = None
    bindings: tuple[str, ...] | None = None
    fps: float = 120.0
    kill_server_after_s: float | None = None
    server_down_s: float = 2.0
    songs_folder: str | None = None
    realtime: bool = False


@dataclass
class _Columns:
    """Per-column object lists of a beatmap, in time order (beatmap indices)."""

    objects: list[list[int]]
    position: dict[int, int] = field(default_factory=dict)  # beatmap index -> index in its column

    @classmethod
    def of(cls, beatmap: Beatmap) -> _Columns:
        objects = [beatmap.column_objects(c).tolist() for c in range(beatmap.keys)]
        position = {index: i for column in objects for i, index in enumerate(column)}
        return cls(objects, position)


class StandinGame:
    """The window, the judge and the state server of one beatmap.

    :param beatmap: the map to play (any key count with default bindings, 1–9).
    :param config: see :class:`StandinConfig`.
    """

    def __init__(self, beatmap: Beatmap, config: StandinConfig | None = None) -> None:
        self.beatmap = beatmap
        self.config = config = config or StandinConfig()
        self.look = config.look or StandinLook(
            beatmap.keys, scroll_ms=scroll_ms_for(config.scroll_speed)
        )
        if self.look.keys != beatmap.keys:
            raise ValueError(f"the look has {self.look.keys} columns, the map {beatmap.keys}")
        bindings = config.bindings or DEFAULT_BINDINGS.get(beatmap.keys)
        if bindings is None or len(bindings) != beatmap.keys:
            raise ValueError(f"no bindings for {beatmap.keys} keys; pass {beatmap.keys} key names")
        self.bindings = tuple(bindings)
        self.info = BeatmapInfo.from_beatmap(beatmap)
        songs = config.songs_folder
        if songs is None:
            songs = os.path.dirname(os.path.dirname(os.path.abspath(beatmap.path or "")))
        self.songs_folder = songs if beatmap.path or config.songs_folder else ""
        self.server = StateServer(config.flavor, config.port)
        look = self.look
        #: Playfield rectangle (the columns) in window coordinates: ``(left, top, width, height)``.
        self.playfield = (MARGIN, MARGIN, look.width, look.height)
        self.window_size = (2 * MARGIN + look.width + HUD_WIDTH, 2 * MARGIN + look.height)
        self.judgement_y = float(MARGIN + look.judgement_y)
        self.px_per_ms = look.px_per_ms
        self.skinned: SkinnedPlayfield | None = None
        self._shown = False  # the whole window is on screen (after a first flip)
        if config.skin is not None:
            skin = config.skin if isinstance(config.skin, Skin) else load_skin(config.skin)
            self.skinned = SkinnedPlayfield(skin, beatmap, config.window, config.scroll_speed)
            left, right = self.skinned.column_px[0][0], self.skinned.column_px[-1][1]
            self.playfield = (left, 0, right - left, config.window[1])
            self.window_size = tuple(config.window)
            self.judgement_y = self.skinned.layout.hit_y
            self.px_per_ms = self.skinned.px_per_ms
        self._end_ms = float(beatmap.ends.max(initial=0)) if beatmap.n_objects else 0.0
        self._columns = _Columns.of(beatmap)
        self._starts = beatmap.starts.tolist()
        self._ends = beatmap.ends.tolist()
        self._image = np.zeros((look.height, look.width), dtype=np.uint8)
        self.held = [False] * beatmap.keys
        self.retries = 0
        self._start_s = 0.0
        self.new_play(time.monotonic())

    # --- game logic (no pygame) ----------------------------------------------------------------

    def new_play(self, now: float) -> None:
        """Start (or restart) the map: a fresh judge, time at ``-lead_in_ms``."""
        self.judge = Judge(self.beatmap)
        self.phase = Phase.PLAYING
        self._play_start = now
        self._frozen_ms: float | None = None
        self._phase_since = now
        self.hit_errors: tuple[int, ...] = ()
        self.last_judgement: HitResult | None = None

    def map_time_ms(self, now: float) -> float:
        """Map time at monotonic ``now``: frozen while paused, failed or on the results screen."""
        if self._frozen_ms is not None:
            return self._frozen_ms
        return 1000.0 * (now - self._play_start) - self.config.lead_in_ms

    def freeze_at(self, time_ms: float, phase: Phase = Phase.PAUSED) -> None:
        """Show the play frozen at ``time_ms`` (for tests: the picture of a paused game)."""
        self._frozen_ms = float(time_ms)
        self.phase = phase

    def key(self, column: int, down: bool, now: float) -> None:
        """A column key went down or up at ``now``; judged only while playing."""
        if self.held[column] == down:
            return
        self.held[column] = down
        if self.phase != Phase.PLAYING:
            return
        t = round(self.map_time_ms(now))  # osu! judges at the integer audio time
        results = self.judge.press(t, column) if down else self.judge.release(t, column)
        self._record(results, from_input=True)

    def retry(self, now: float) -> None:
        self.retries += 1
        self.new_play(now)
        for column, down in enumerate(self.held):
            if down:  # a key held through the retry counts as pressed at the start
                self.judge.press(round(self.map_time_ms(now)), column)

    def toggle_pause(self, now: float) -> None:
        if self.phase == Phase.PLAYING:
            self._frozen_ms = float(round(self.map_time_ms(now)))
            self.phase = Phase.PAUSED
        elif self.phase == Phase.PAUSED:
            frozen = self._frozen_ms or 0.0
            self._play_start = now - (frozen + self.config.lead_in_ms) / 1000.0
            self._frozen_ms = None
            self.phase = Phase.PLAYING

    def update(self, now: float) -> None:
        """Advance the judge to ``now``; enter FAILED or RESULTS; auto-retry when due."""
        if self.phase == Phase.PLAYING:
            t = self.map_time_ms(now)
            self._record(self.judge.advance(t), from_input=False)
            if self.judge.state.phase == Phase.FAILED:
                self._freeze(Phase.FAILED, now)
            elif self.judge.done and t >= self._end_ms + self.judge.windows.ok + RESULTS_DELAY_MS:
                self._freeze(Phase.RESULTS, now)
        elif (
            self.phase in (Phase.FAILED, Phase.RESULTS)
            and self.config.auto_retry
            and now - self._phase_since >= self.config.retry_delay_s
        ):
            self.retry(now)

    def _freeze(self, phase: Phase, now: float) -> None:
        self._frozen_ms = float(round(self.map_time_ms(now)))
        self.phase = phase
        self._phase_since = now

    def _record(self, results: list[HitResult], from_input: bool) -> None:
        if not results:
            return
        self.last_judgement = results[-1]
        if from_input:  # hit errors: one per judged press or release (spec §8.6, simplified)
            errors = tuple(r.hit_error_ms for r in results if r.hit_error_ms is not None)
            self.hit_errors += errors

    def state(self, now: float) -> GameState:
        """The play state at ``now`` (the judge's, with time and phase)."""
        state = self.judge.state
        state.time_ms = self.map_time_ms(now)
        state.phase = self.phase
        return state

    def snapshot(self, now: float) -> GameSnapshot:
        return GameSnapshot(
            state=self.state(now),
            beatmap=self.info,
            hit_errors=self.hit_errors,
            songs_folder=self.songs_folder,
            skin=self.skin_name,
            scroll_speed=self.scroll_speed,
        )

    @property
    def skin_name(self) -> str:
        """The skin's name as osu! reports it ("" for the simulator's look)."""
        return self.skinned.skin.name if self.skinned is not None else ""

    @property
    def scroll_speed(self) -> float:
        """The scroll speed setting, as tosu serves it (an integer when whole)."""
        speed = float(self.config.scroll_speed)
        return int(speed) if speed.is_integer() else speed

    def render(self, now: float) -> np.ndarray:
        """The playfield's ``(height, width)`` grey picture at ``now`` (a reused buffer)."""
        look, judge = self.look, self.judge
        image = self._image
        image[...] = BACKGROUND
        y_line = look.judgement_y
        image[y_line - LINE_PX : y_line] = LINE
        t = self.map_time_ms(now)
        p = look.px_per_ms
        head_px = look.head_rows * look.row_px
        starts, ends = self._starts, self._ends
        for column, objects in enumerate(self._columns.objects):
            current = judge.current_object(column)
            if current < 0:
                continue
            first = self._columns.position[current]
            x0 = column * look.column_px + look.note_margin_px
            x1 = (column + 1) * look.column_px - look.note_margin_px
            holding = judge.holding(column)
            for i in range(first, len(objects)):
                index = objects[i]
                start, end = starts[index], ends[index]
                y_head = y_line - (start - t) * p  # continuous bottom edge of the head
                if y_head < 0:
                    break  # above the top, and so is every later object of the column
                if i == first and holding and t >= start:
                    if t >= end:
                        continue  # held past its tail: nothing left to draw
                    y_head = float(y_line)  # pinned to the line while held
                bottom = math.floor(y_head) + 1
                if end > start:
                    y_tail = y_line - (end - t) * p
                    top = max(0, math.ceil(y_tail - look.row_px))
                    image[top : max(top, bottom - head_px), x0:x1] = BODY
                image[max(0, bottom - head_px) : max(0, bottom), x0:x1] = HEAD
        return image

    # --- window --------------------------------------------------------------------------------

    def ready_line(self) -> dict:
        """The ``ready`` event: where the playfield is in the window and how fast it scrolls."""
        return {
            "event": "ready",
            "playfield": list(self.playfield),
            "judgement_y": self.judgement_y,
            "px_per_ms": self.px_per_ms,
            "window": list(self.window_size),
            "port": self.server.port,
            "keys": self.beatmap.keys,
            "scroll_speed": self.scroll_speed,
            "skin": self.skin_name,
        }

    def run(self, seconds: float | None = None) -> None:
        """Open the window and play until it is closed, SIGTERM, or ``seconds`` have passed."""
        os.environ.setdefault("SDL_VIDEO_WINDOW_POS", "0,0")
        scheduling = realtime_priority()[0] if self.config.realtime else "default"
        import pygame

        pygame.display.init()
        pygame.font.init()
        screen = pygame.display.set_mode(self.window_size)
        pygame.display.set_caption(WINDOW_TITLE)
        font = pygame.font.Font(None, 26)
        codes = {pygame.key.key_code(name): c for c, name in enumerate(self.bindings)}
        field_surface = pygame.Surface(self.playfield[2:], depth=8)
        field_surface.set_palette([(v, v, v) for v in range(256)])
        self.server.start()
        start = self._start_s = time.monotonic()
        down_at = self.config.kill_server_after_s
        up_at: float | None = None
        print(json.dumps({**self.ready_line(), "scheduling": scheduling}), flush=True)
        period = 1.0 / self.config.fps
        next_draw = start
        running = True
        try:
            while running:
                now = time.monotonic()
                if seconds is not None and now - start >= seconds:
                    break
                for event in pygame.event.get():
                    if event.type == pygame.QUIT:
                        running = False
                    elif event.type in (pygame.VIDEOEXPOSE, pygame.WINDOWEXPOSED):
                        self._shown = False
                    elif event.type in (pygame.KEYDOWN, pygame.KEYUP):
                        down = event.type == pygame.KEYDOWN
                        if event.key in codes:
                            self.key(codes[event.key], down, now)
                        elif down and event.key == pygame.K_BACKQUOTE:
                            self.retry(now)
                        elif down and event.key == pygame.K_ESCAPE:
                            self.toggle_pause(now)
                self.update(now)
                if down_at is not None and now - start >= down_at:
                    self.server.stop()
                    down_at, up_at = None, now + self.config.server_down_s
                elif up_at is not None and now >= up_at:
                    self.server.start()
                    up_at = None
                self.server.update(self.snapshot(now))
                if now >= next_draw:
                    self._draw(pygame, screen, field_surface, font, now)
                    next_draw = max(next_draw + period, now)
                time.sleep(max(0.0, min(0.001, next_draw - time.monotonic())))
        finally:
            self.server.stop()
            pygame.quit()
            print(json.dumps({"event": "exit", "held": self.held}), flush=True)

    def _draw(self, pygame, screen, field_surface, font, now: float) -> None:
        state = self.judge.state
        left, top, width, height = self.playfield
        if self.skinned is not None:
            # osu!'s place for score and accuracy: the top right; the rest beside it when clear
            time_ms = self.map_time_ms(now)
            self.skinned.draw_on(screen, time_ms, self.judge, self.held, state.combo)
            x = self.window_size[0] - HUD_WIDTH
            corner = [f"{state.score:08d}", f"{100 * state.accuracy:.2f}%"]
            lines = corner + (self._hud_lines(now) if x > left + width + MARGIN else [])
            text_y, hp_y = 8, 28 * len(lines) + 8
            screen.fill((0, 0, 0), (x, 0, HUD_WIDTH, hp_y + 8))
        else:
            pygame.surfarray.blit_array(field_surface, self.render(now).T)
            screen.fill((0, 0, 0))
            screen.blit(field_surface, (left, top))
            pygame.draw.rect(screen, (60, 60, 90), (left - 2, top - 2, width + 4, height + 4), 1)
            x = left + width + MARGIN
            lines = self._hud_lines(now)
            text_y, hp_y = top, top + height - 12
        for i, text in enumerate(lines):
            screen.blit(font.render(text, True, (200, 200, 200)), (x, text_y + 28 * i))
        pygame.draw.rect(screen, (40, 160, 40), (x, hp_y, int(160 * state.hp), 8))
        if self.skinned is not None and self._shown:
            # a large window: show again only what changed (X servers copy every pixel)
            pygame.display.update([self.skinned.dirty, (x, 0, HUD_WIDTH, hp_y + 8)])
        else:
            pygame.display.flip()
            self._shown = True

    def _hud_lines(self, now: float) -> list[str]:
        state = self.judge.state
        lines = [
            self.beatmap.name[:24],
            f"{self.phase.name}  t={self.map_time_ms(now) / 1000:.2f}s",
            f"combo {state.combo}  max {state.max_combo}",
            f"acc {100 * state.accuracy:.2f}%",
            f"score {state.score}",
            "  ".join(f"{n}" for n in state.counts),
            f"HP {100 * state.hp:.0f}%",
            "keys " + "".join("#" if h else "." for h in self.held),
        ]
        if self.last_judgement is not None:
            lines.append(self.last_judgement.judgement.label)
        if self.phase == Phase.PAUSED:
            lines.append("PAUSED (Esc)")
        elif self.phase in (Phase.FAILED, Phase.RESULTS):
            lines.append(f"{self.phase.name} (` retry)")
        return lines


def run_standin(beatmap: Beatmap, config: StandinConfig, seconds: float | None = None) -> int:
    """Run the stand-in until closed; SIGTERM/SIGINT end it cleanly. Returns an exit code."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    game = StandinGame(beatmap, config)
    with contextlib.suppress(SystemExit):
        game.run(seconds)
    sys.stdout.flush()
    return 0
