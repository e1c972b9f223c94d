"""The stand-in game: a real pygame window that plays a beatmap in real time with the core's rules.

It lets the live backend run end to end without osu!: the window draws the note highway exactly as
the simulator renders it (the agent's geometry, upscaled by an integer factor, so that
:func:`~ppomania.sim.render.preprocess_capture` of a screen grab gives the simulator's frame),
judges
the keyboard with :class:`~ppomania.game.Judge`, shows judgements, combo, accuracy and HP beside the
playfield, and publishes a :class:`GameSnapshot` to a :class:`StateServer` every loop iteration.

Keys (osu!'s defaults): the column bindings (4K ``D F J K``, 7K ``S D F Space J K L``), `````
(backquote) retries, Esc pauses and resumes. Map time is the monotonic clock since the play started
minus the lead-in, frozen while paused or failed. HP 0 fails the play (osu! stays in state 2); past
the last object the results screen (state 7) shows, and with ``auto_retry`` the map restarts
``retry_delay_s`` after a fail or the results.

On start it prints one JSON line ``{"event": "ready", "playfield": [left, top, width, height],
"window": [width, height], "port": ...}`` (playfield relative to the window) so that a parent
process knows where to look; at exit one ``{"event": "exit", "held": [...]}`` line.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from ppomania.game.beatmap import Beatmap
from ppomania.game.judge import HELD, REGRABBED, HitResult, Judge
from ppomania.game.score import GameState, Phase
from ppomania.game.state_protocol import BeatmapInfo, GameSnapshot
from ppomania.sim.render import HighwayGeometry, PackedMaps, render_frames
from ppomania.standin.server import DEFAULT_PORT, StateServer

#: Column bindings as pygame key names; the same as ``ppomania.live.keys.DEFAULT_BINDINGS``.
DEFAULT_BINDINGS: dict[int, tuple[str, ...]] = {
    1: ("space",),
    2: ("f", "j"),
    3: ("f", "space", "j"),
    4: ("d", "f", "j", "k"),
    5: ("d", "f", "space", "j", "k"),
    6: ("s", "d", "f", "j", "k", "l"),
    7: ("s", "d", "f", "space", "j", "k", "l"),
    8: ("a", "s", "d", "f", "j", "k", "l", ";"),
    9: ("a", "s", "d", "f", "space", "j", "k", "l", ";"),
}
WINDOW_TITLE = "ppomania stand-in"
MARGIN = 24  # pixels around the playfield
HUD_WIDTH = 240
RESULTS_DELAY_MS = 500  # time after the last object's window before the results show


@dataclass
class StandinConfig:
    """Settings of the stand-in game.

    :param flavor: state server personality, ``tosu`` (default) or ``gosumemory``.
    :param port: state server port (default 24050).
    :param lead_in_ms: map time runs from ``-lead_in_ms`` at play start (default 2000).
    :param auto_retry: restart ``retry_delay_s`` after a fail or the results (default False).
    :param retry_delay_s: see ``auto_retry`` (default 1.5).
    :param scale: screen pixels per frame pixel (default 6: a 4K 84×84 frame is 504×504).
    :param geometry: the agent's highway geometry; None = ``HighwayGeometry.for_keys(keys)``.
    :param bindings: pygame key names per column; None = :data:`DEFAULT_BINDINGS`.
    :param fps: drawing rate (default 120); input is polled about every millisecond.
    :param kill_server_after_s: stop the state server this long after start (None = never)…
    :param server_down_s: …and start it again this long after (default 2).
    """

    flavor: str = "tosu"
    port: int = DEFAULT_PORT
    lead_in_ms: float = 2000.0
    auto_retry: bool = False
    retry_delay_s: float = 1.5
    scale: int = 6
    geometry: HighwayGeometry | None = None
    bindings: tuple[str, ...] | None = None
    fps: float = 120.0
    kill_server_after_s: float | None = None
    server_down_s: float = 2.0


class StandinGame:
    """The window, the judge and the state server of one beatmap.

    :param beatmap: the map to play (any key count with default bindings, 1–9).
    :param config: see :class:`StandinConfig`.
    """

    def __init__(self, beatmap: Beatmap, config: StandinConfig | None = None) -> None:
        self.beatmap = beatmap
        self.config = config = config or StandinConfig()
        self.geometry = config.geometry or HighwayGeometry.for_keys(beatmap.keys)
        bindings = config.bindings or DEFAULT_BINDINGS.get(beatmap.keys)
        if bindings is None or len(bindings) != beatmap.keys:
            raise ValueError(f"no bindings for {beatmap.keys} keys; pass {beatmap.keys} key names")
        self.bindings = tuple(bindings)
        self.info = BeatmapInfo.from_beatmap(beatmap)
        self.server = StateServer(config.flavor, config.port)
        self.packed = PackedMaps([beatmap])
        height, width = self.geometry.shape
        s = config.scale
        #: Playfield rectangle in window coordinates: ``(left, top, width, height)``.
        self.playfield = (MARGIN, MARGIN, width * s, height * s)
        self.window_size = (2 * MARGIN + width * s + HUD_WIDTH, 2 * MARGIN + height * s)
        self._end_ms = float(beatmap.ends.max(initial=0)) if beatmap.n_objects else 0.0
        self._frame = np.zeros((1, height, width), dtype=np.uint8)
        self._map_ids = np.zeros(1, dtype=np.int64)
        self._times = np.zeros(1, dtype=np.float64)
        self._col_begin = self.packed.col_begin[0, :-1]
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

    def key(self, column: int, down: bool, now: float) -> None:
        """A column key went down or up at ``now``; judged only while playing."""
        if self.held[column] == down:
            return
        self.held[column] = down
        if self.phase != Phase.PLAYING:
            return
        t = self.map_time_ms(now)
        results = self.judge.press(t, column) if down else self.judge.release(t, column)
        self._record(results, from_input=True)

    def retry(self, now: float) -> None:
        self.retries += 1
        self.new_play(now)
        for column, down in enumerate(self.held):
            if down:  # a key held through the retry counts as pressed at the start
                self.judge.press(self.map_time_ms(now), column)

    def toggle_pause(self, now: float) -> None:
        if self.phase == Phase.PLAYING:
            self._frozen_ms = self.map_time_ms(now)
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
        self._frozen_ms = self.map_time_ms(now)
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
        return GameSnapshot(state=self.state(now), beatmap=self.info, hit_errors=self.hit_errors)

    def render(self, now: float) -> np.ndarray:
        """The ``(H, W)`` highway frame at ``now``, as the simulator renders it."""
        judge = self.judge
        cursor = self._col_begin + np.asarray(judge._cursor, dtype=np.int64)
        held = np.zeros((1, self.beatmap.keys), dtype=np.bool_)
        for column in range(self.beatmap.keys):
            index = judge._current(column)
            held[0, column] = index >= 0 and judge._status[index] in (HELD, REGRABBED)
        self._times[0] = self.map_time_ms(now)
        render_frames(
            self._frame, self._times, self._map_ids, cursor[None], held, self.packed, self.geometry
        )
        return self._frame[0]

    # --- window --------------------------------------------------------------------------------

    def run(self, seconds: float | None = None) -> None:
        """Open the window and play until it is closed, SIGTERM, or ``seconds`` have passed."""
        os.environ.setdefault("SDL_VIDEO_WINDOW_POS", "0,0")
        import pygame

        pygame.display.init()
        pygame.font.init()
        screen = pygame.display.set_mode(self.window_size)
        pygame.display.set_caption(WINDOW_TITLE)
        font = pygame.font.Font(None, 26)
        codes = {pygame.key.key_code(name): c for c, name in enumerate(self.bindings)}
        height, width = self.geometry.shape
        small = pygame.Surface((width, height), depth=24)
        big = pygame.Surface(self.playfield[2:], depth=24)
        self.server.start()
        start = self._start_s = time.monotonic()
        down_at = self.config.kill_server_after_s
        up_at: float | None = None
        print(
            json.dumps(
                {
                    "event": "ready",
                    "playfield": list(self.playfield),
                    "window": list(self.window_size),
                    "port": self.server.port,
                    "keys": self.beatmap.keys,
                }
            ),
            flush=True,
        )
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
                    self._draw(pygame, screen, small, big, font, now)
                    next_draw = max(next_draw + period, now)
                time.sleep(max(0.0, min(0.001, next_draw - time.monotonic())))
        finally:
            self.server.stop()
            pygame.quit()
            print(json.dumps({"event": "exit", "held": self.held}), flush=True)

    def _draw(self, pygame, screen, small, big, font, now: float) -> None:
        frame = self.render(now)
        pygame.surfarray.blit_array(small, np.repeat(frame.T[:, :, None], 3, axis=2))
        pygame.transform.scale(small, big.get_size(), big)
        screen.fill((0, 0, 0))
        left, top, width, height = self.playfield
        screen.blit(big, (left, top))
        pygame.draw.rect(screen, (60, 60, 90), (left - 2, top - 2, width + 4, height + 4), 1)
        x = left + width + MARGIN
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
        for i, text in enumerate(lines):
            screen.blit(font.render(text, True, (200, 200, 200)), (x, top + 28 * i))
        pygame.draw.rect(screen, (40, 160, 40), (x, top + height - 12, int(160 * state.hp), 8))
        pygame.display.flip()


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
