"""The live visualization window: what the agent sees, what it does and how it is doing.

:class:`VisualizationWindow` draws, at most ``fps`` times a second, the 4 stacked frames exactly as
the agent receives them, per-key press probabilities and held keys, the value estimate, the game
state, the last judgements with their hit errors, the reward and the step rate. Calls between two
draws only store the data (about 2 µs), so a training loop can call
:meth:`VisualizationWindow.update` on every step; :meth:`VisualizationWindow.ready` says when a
draw is due, so the costly inputs are computed only then::

    feed, meter = JudgementFeed(venv.sim), RateMeter()
    ...  # after every venv.step():
    rate = meter.tick()
    if window.ready():
        feed.poll()
        probs, value = policy_outputs(model, obs[0])
        state = venv.sim.game_state(0)
        if not window.update(obs[0], probs, held[0], value, state, list(feed.recent),
                             rewards[0], venv.episode_rewards[0], rate):
            ...  # closed by the user: stop showing

:class:`JudgementFeed` turns the simulator's judgement log into :class:`HitResult` rows for one env.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ppomania.agent.colours import JUDGEMENT_COLOURS
from ppomania.game.judge import HitResult
from ppomania.game.rules import JUDGEMENT_LABELS, Judgement
from ppomania.game.score import GameState
from ppomania.sim import kernel
from ppomania.sim.core import BatchedSim

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # after the variable that silences its banner

BACKGROUND = (22, 22, 26)
TEXT = (225, 225, 225)
DIM_TEXT = (140, 140, 150)
BAR_EMPTY = (50, 50, 58)
PROB_FILL = (80, 160, 255)
HELD_ON = (90, 220, 120)
HELD_OFF = (60, 60, 68)

_MARGIN = 12
_FRAME_GAP = 8
_LABEL_H = 20
_LINE_H = 20
_BAR_H = 90
_N_JUDGEMENTS = 8


@dataclass(frozen=True)
class Layout:
    """Where everything is drawn (pixels). Tests sample the screenshot at these rectangles."""

    size: tuple[int, int]
    scale: int
    frames: tuple[pygame.Rect, ...]
    prob_bars: tuple[pygame.Rect, ...]
    held_boxes: tuple[pygame.Rect, ...]
    stats_origin: tuple[int, int]
    judgements_origin: tuple[int, int]


def make_layout(keys: int, frame_shape: tuple[int, int], n_frames: int = 4) -> Layout:
    """The window's layout: frames on top (upscaled to about 256 rows), three panels below."""
    height, width = frame_shape
    scale = max(1, round(256 / height))
    fw, fh = width * scale, height * scale
    top = _MARGIN + _LABEL_H
    frames = tuple(
        pygame.Rect(_MARGIN + i * (fw + _FRAME_GAP), top, fw, fh) for i in range(n_frames)
    )
    panel_top = top + fh + 2 * _MARGIN
    bar_w = max(6, min(28, 220 // keys - 6))
    bar_top = panel_top + _LABEL_H
    prob_bars = tuple(
        pygame.Rect(_MARGIN + k * (bar_w + 6), bar_top, bar_w, _BAR_H) for k in range(keys)
    )
    held_top = bar_top + _BAR_H + _LABEL_H + 4
    held_boxes = tuple(
        pygame.Rect(_MARGIN + k * (bar_w + 6), held_top, bar_w, bar_w) for k in range(keys)
    )
    keys_w = max(keys * (bar_w + 6), 120)
    stats_x = _MARGIN + keys_w + 3 * _MARGIN
    judgements_x = stats_x + 280
    frames_w = 2 * _MARGIN + n_frames * fw + (n_frames - 1) * _FRAME_GAP
    window_w = max(frames_w, judgements_x + 260)
    panel_h = max(held_top + bar_w + _LABEL_H, panel_top + 14 * _LINE_H) - panel_top
    window_h = panel_top + panel_h + _MARGIN
    return Layout(
        size=(window_w, window_h),
        scale=scale,
        frames=frames,
        prob_bars=prob_bars,
        held_boxes=held_boxes,
        stats_origin=(stats_x, panel_top),
        judgements_origin=(judgements_x, panel_top),
    )


@dataclass
class _Data:
    frame_stack: np.ndarray
    key_probs: np.ndarray | None
    held: np.ndarray
    value: float | None
    state: GameState
    judgements: list[HitResult]
    reward: float
    episode_reward: float
    steps_per_s: float
    state_age_ms: float | None


#: Rows of the stats panel: label and colour (values are drawn beside them).
_STAT_ROWS = (
    ("value", TEXT),
    ("combo", TEXT),
    ("score", TEXT),
    ("acc", TEXT),
    ("hp", TEXT),
    *zip(JUDGEMENT_LABELS, JUDGEMENT_COLOURS),
    ("reward", TEXT),
    ("steps/s", DIM_TEXT),
)
_VALUE_X = 80


class VisualizationWindow:
    """A pygame window showing the agent at play (see the module docstring).

    :param keys: key count K.
    :param frame_shape: ``(H, W)`` of one frame.
    :param title: window caption. Default ``"ppomania"``.
    :param fps: most draws per second; calls in between only store data. Default 30.
    :param headless: draw into an offscreen surface, open no window (for screenshots). Default
        False. Under ``SDL_VIDEODRIVER=dummy`` a non-headless window works offscreen too.
    """

    def __init__(
        self,
        keys: int,
        frame_shape: tuple[int, int],
        title: str = "ppomania",
        fps: float = 30.0,
        headless: bool = False,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.keys = keys
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.layout = make_layout(keys, self.frame_shape)
        self.period = 1.0 / fps
        self.headless = headless
        pygame.font.init()
        if headless:
            self._screen = pygame.Surface(self.layout.size)
        else:
            pygame.display.init()
            self._screen = pygame.display.set_mode(self.layout.size)
            pygame.display.set_caption(title)
        self._font = pygame.font.Font(None, 22)
        self._small = pygame.font.Font(None, 18)
        self._text_cache: dict[tuple[str, tuple[int, int, int], bool], pygame.Surface] = {}
        # All frames side by side in one 8-bit grey-palette surface, upscaled by SDL (nearest
        # neighbour) in one call, then blitted apart.
        grey = [(v, v, v) for v in range(256)]
        height, width = self.frame_shape
        n = len(self.layout.frames)
        self._small_frames = pygame.Surface((n * width, height), depth=8)
        self._small_frames.set_palette(grey)
        self._big_frames = pygame.Surface(
            (n * width * self.layout.scale, height * self.layout.scale), depth=8
        )
        self._big_frames.set_palette(grey)
        # Solid blocks are blitted, not filled: small fills are slow in some VMs' SDL.
        bar, box = self.layout.prob_bars[0].size, self.layout.held_boxes[0].size
        self._prob_fill = _solid(bar, PROB_FILL)
        self._held = {True: _solid(box, HELD_ON), False: _solid(box, HELD_OFF)}
        self._background = self._static_background()
        self._screen.blit(self._background, (0, 0))
        top = self.layout.frames[0].bottom
        self._panels = pygame.Rect(0, top, self.layout.size[0], self.layout.size[1] - top)
        self._data: _Data | None = None
        self._drawn = True
        self._open = True
        self._next_draw = 0.0
        self.draw_count = 0
        self.draw_seconds = 0.0
        self._first_draw: float | None = None
        self._last_draw: float | None = None

    # -- public API -----------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the next :meth:`update` will draw (compute costly inputs only then)."""
        # A little slack so steps paced at a multiple of the period do not skip a draw.
        return time.perf_counter() >= self._next_draw - 0.25 * self.period

    def update(
        self,
        frame_stack: np.ndarray,
        key_probs: np.ndarray | None,
        held: np.ndarray,
        value: float | None,
        state: GameState,
        judgements: list[HitResult],
        reward: float,
        episode_reward: float,
        steps_per_s: float,
        state_age_ms: float | None = None,
    ) -> bool:
        """Store the latest data and draw it if a draw is due (at most ``fps`` times a second).

        Nothing is copied: the arrays are read when drawn (now, or at :meth:`flush`).

        :param frame_stack: ``(4, H, W)`` uint8 observation, oldest frame first.
        :param key_probs: ``(K,)`` press probabilities, or None (no model).
        :param held: ``(K,)`` keys held this step.
        :param value: the value estimate, or None.
        :param state: the play's game state.
        :param judgements: recent judgements, oldest first (the last 8 are shown).
        :param reward: reward of the last step; ``episode_reward`` its sum over the episode.
        :param steps_per_s: env steps per second of wall time.
        :param state_age_ms: age of the game state read from the live game (live mode only).
        :returns: False once the user closed the window or pressed Esc.
        """
        if not self._open:
            return False
        self._data = _Data(
            frame_stack, key_probs, held, value, state, judgements, reward, episode_reward,
            steps_per_s, state_age_ms,
        )  # fmt: skip
        self._drawn = False
        if self.ready():
            self._draw()
        return self._open

    def flush(self) -> bool:
        """Draw the stored data now if it was not drawn yet (e.g. before a final screenshot)."""
        if self._open and not self._drawn:
            self._draw()
        return self._open

    def poll(self) -> bool:
        """Take the window's events (close, Esc) without drawing; False once closed."""
        if self._open and not self.headless:
            self._handle_events()
        return self._open

    def screenshot(self, path: str | Path) -> Path:
        """Save the last drawn frame as a PNG."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self._screen, str(path))
        return path

    @property
    def draw_fps(self) -> float:
        """Draws per second between the first and the last draw (0 before two draws)."""
        if self._first_draw is None or self._last_draw is None or self.draw_count < 2:
            return 0.0
        return (self.draw_count - 1) / max(self._last_draw - self._first_draw, 1e-9)

    @property
    def closed(self) -> bool:
        return not self._open

    def close(self) -> None:
        """Close the window (idempotent); :meth:`screenshot` still saves the last frame drawn."""
        if self._open and not self.headless:
            self._screen = self._screen.copy()  # the display's surface dies with the display
            pygame.display.quit()
        self._open = False

    # -- drawing --------------------------------------------------------------------------

    def _static_background(self) -> pygame.Surface:
        """Everything that never changes: labels, empty bars."""
        layout = self.layout
        background = pygame.Surface(layout.size)
        background.fill(BACKGROUND)
        n = len(layout.frames)
        for i, rect in enumerate(layout.frames):
            label = "newest" if i == n - 1 else f"t-{n - 1 - i}"
            background.blit(
                self._text(label, DIM_TEXT, small=True), (rect.x, rect.y - _LABEL_H + 4)
            )
        bars, boxes = layout.prob_bars, layout.held_boxes
        background.blit(
            self._text("P(press)", DIM_TEXT, small=True), (bars[0].x, bars[0].y - _LABEL_H + 4)
        )
        empty = _solid(bars[0].size, BAR_EMPTY)
        for rect in bars:
            background.blit(empty, rect)
        background.blit(
            self._text("held", DIM_TEXT, small=True), (boxes[0].x, boxes[0].y - _LABEL_H + 4)
        )
        for k, rect in enumerate(boxes):
            number = self._text(str(k + 1), DIM_TEXT, small=True)
            background.blit(number, (rect.centerx - number.get_width() // 2, rect.bottom + 3))
        x, y = layout.stats_origin
        for row, (label, colour) in enumerate(_STAT_ROWS):
            background.blit(self._text(label, colour), (x, y + row * _LINE_H))
        background.blit(self._text("last judgements", DIM_TEXT), layout.judgements_origin)
        return background

    def _draw(self) -> None:
        start = time.perf_counter()
        if not self.headless:
            self._handle_events()
            if not self._open:
                return
        data = self._data
        assert data is not None
        # The frames cover their part of the background; only the panels need restoring.
        self._screen.blit(self._background, self._panels, self._panels)
        self._draw_frames(data.frame_stack)
        self._draw_keys(data.key_probs, data.held)
        self._draw_stats(data)
        self._draw_judgements(data.judgements)
        if not self.headless:
            pygame.display.flip()
        self._drawn = True
        end = time.perf_counter()
        self.draw_count += 1
        self.draw_seconds += end - start
        if self._first_draw is None:
            self._first_draw = start
        self._last_draw = start
        # Keep to the fps grid; after a stall (e.g. a PPO update) start a new grid.
        self._next_draw += self.period
        if self._next_draw < end:
            self._next_draw = end + self.period

    def _handle_events(self) -> None:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (
                event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
            ):
                self.close()
                return

    def _text(self, text: str, colour: tuple[int, int, int], small: bool = False) -> pygame.Surface:
        key = (text, colour, small)
        surface = self._text_cache.get(key)
        if surface is None:
            if len(self._text_cache) > 1024:  # numbers change every draw: keep the cache bounded
                self._text_cache.clear()
            font = self._small if small else self._font
            surface = self._text_cache[key] = font.render(text, True, colour)
        return surface

    def _draw_frames(self, stack: np.ndarray) -> None:
        height = stack.shape[1]
        # (n, H, W) -> (n * W, H): surfarray is indexed x first.
        pygame.surfarray.blit_array(
            self._small_frames, stack.transpose(0, 2, 1).reshape(-1, height)
        )
        pygame.transform.scale(self._small_frames, self._big_frames.get_size(), self._big_frames)
        for i, rect in enumerate(self.layout.frames):
            self._screen.blit(self._big_frames, rect, pygame.Rect(i * rect.width, 0, *rect.size))

    def _draw_keys(self, probs: np.ndarray | None, held: np.ndarray) -> None:
        screen = self._screen
        bars = self.layout.prob_bars
        if probs is None:
            screen.blit(self._text("n/a", DIM_TEXT, small=True), (bars[0].x + 2, bars[0].y + 2))
        else:
            for k, rect in enumerate(bars):
                fill = round(min(1.0, max(0.0, float(probs[k]))) * rect.height)
                area = pygame.Rect(0, 0, rect.width, fill)
                screen.blit(self._prob_fill, (rect.x, rect.bottom - fill), area)
        for k, rect in enumerate(self.layout.held_boxes):
            screen.blit(self._held[bool(held[k])], rect)

    def _draw_stats(self, data: _Data) -> None:
        state = data.state
        values = [
            "n/a" if data.value is None else f"{data.value:+.3f}",
            f"{state.combo}  (max {state.max_combo})",
            f"{state.score:,}",
            f"{100 * state.accuracy:.2f}%",
            f"{100 * state.hp:.0f}%",
            *(str(int(n)) for n in state.counts),
            f"{data.reward:+.2f}   sum {data.episode_reward:+.1f}",
            f"{data.steps_per_s:,.0f}",
        ]
        x, y = self.layout.stats_origin
        for (_, colour), value in zip(_STAT_ROWS, values):
            self._screen.blit(self._text(value, colour), (x + _VALUE_X, y))
            y += _LINE_H
        if data.state_age_ms is not None:
            self._screen.blit(self._text("state age", DIM_TEXT), (x, y))
            self._screen.blit(
                self._text(f"{data.state_age_ms:.0f} ms", DIM_TEXT), (x + _VALUE_X, y)
            )

    def _draw_judgements(self, judgements: list[HitResult]) -> None:
        x, y = self.layout.judgements_origin
        for result in judgements[-_N_JUDGEMENTS:][::-1]:  # newest on top
            y += _LINE_H
            judgement = Judgement(result.judgement)
            colour = JUDGEMENT_COLOURS[judgement]
            self._screen.blit(self._text(judgement.label, colour), (x, y))
            if result.hit_error_ms is not None:
                error = self._text(f"{result.hit_error_ms:+d} ms", colour)
                self._screen.blit(error, (x + 110 - error.get_width(), y))
            self._screen.blit(self._text(f"col {result.column + 1}", colour), (x + 130, y))


def _solid(size: tuple[int, int], colour: tuple[int, int, int]) -> pygame.Surface:
    surface = pygame.Surface(size)
    surface.fill(colour)
    return surface


class RateMeter:
    """Events per second of wall time, over the last ``period`` seconds (cheap to tick).

    :param period: averaging period in seconds. Default 0.5.
    """

    def __init__(self, period: float = 0.5) -> None:
        self.period = period
        self.rate = 0.0
        self._count = 0
        self._since = time.perf_counter()

    def tick(self, n: int = 1) -> float:
        """Count ``n`` events; return the current rate."""
        self._count += n
        now = time.perf_counter()
        if now - self._since >= self.period:
            self.rate = self._count / (now - self._since)
            self._count = 0
            self._since = now
        return self.rate


class JudgementFeed:
    """The recent judgements of one env of a :class:`BatchedSim`, from the sim's judgement log.

    Gives the sim a log if it has none (:meth:`BatchedSim.enable_log`), and drains it at every
    :meth:`poll` (the feed owns the log: do not use it for anything else). Poll often enough for
    the log not to fill up (at every draw is plenty); judgements beyond its capacity are dropped.

    :param sim: the simulator.
    :param env: the env to follow. Default 0.
    :param keep: how many judgements :attr:`recent` keeps. Default 8.
    :param capacity: log rows when the sim has none; judgements of all envs between two polls must
        fit. Default 4096.
    """

    def __init__(self, sim: BatchedSim, env: int = 0, keep: int = 8, capacity: int = 4096) -> None:
        if sim.log_capacity == 0:
            sim.enable_log(capacity)
        self.sim = sim
        self.env = env
        self.recent: deque[HitResult] = deque(maxlen=keep)

    def poll(self) -> list[HitResult]:
        """Move the log's new judgements of the env into :attr:`recent`; return them."""
        sim = self.sim
        rows = sim.drain_log()
        if rows.shape[0] == 0:
            return []
        mine = rows[rows[:, 0] == self.env]
        new = [
            HitResult(
                int(t),
                int(column),
                int(sim.packed.object_index[packed]),
                Judgement(int(judgement)),
                None if error == kernel.NO_ERROR else int(error),
            )
            for _, t, column, packed, judgement, error in mine.tolist()
        ]
        self.recent.extend(new)
        return new


def policy_outputs(model: Any, obs: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-key press probabilities and the value estimate of an SB3 PPO model for one observation.

    :param model: a PPO model with a ``MultiBinary(K)`` (Bernoulli per key) or ``Discrete(2**K)``
        (bit ``k`` = key ``k``; the probability of a key is the sum over the actions that hold it)
        action space.
    :param obs: ``(4, H, W)`` uint8.
    :returns: ``(key_probs (K,) float64 in [0, 1], value)``.
    """
    import torch  # late: the window itself does not need torch

    policy = model.policy
    obs_tensor, _ = policy.obs_to_tensor(np.asarray(obs))
    with torch.no_grad():
        distribution = policy.get_distribution(obs_tensor).distribution
        value = float(policy.predict_values(obs_tensor)[0, 0])
        probs = distribution.probs[0].cpu().numpy().astype(np.float64)
    space = model.action_space
    if isinstance(space, gym.spaces.MultiBinary):
        return probs.reshape(-1), value
    if isinstance(space, gym.spaces.Discrete):
        keys = int(space.n).bit_length() - 1
        if 1 << keys != space.n:
            raise ValueError(f"Discrete action space must have 2**K actions, got {space.n}")
        bits = (np.arange(space.n)[:, None] >> np.arange(keys)[None, :]) & 1
        return probs @ bits, value
    raise ValueError(f"unsupported action space {space}")
