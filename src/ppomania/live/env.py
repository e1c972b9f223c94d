"""``LiveManiaEnv``: the gymnasium contract over one real game (osu! + tosu/gosumemory or stand-in).

Same observation and action spaces as the simulator. One step, paced at ``control_hz`` (sleep, then
busy-wait the last millisecond):

1. apply the action's keys at once (only while the state says PLAYING; otherwise release all) and
   judge those presses with our own :class:`Judge` on the map, at the game clock;
2. wait for the tick, capture the playfield into the frame stack;
3. reward from our judge's state (immediate), while the game's counts (100–300 ms late) are
   reconciled against our judge's counts at the game state's time: the difference is in
   ``info["count_diff"]`` and summarised at the episode end (``info["judge_disagreement"]``).

The game clock is ``LiveState.map_time_ms()`` plus an offset: half the state's update interval
(a document's sample is on average that old when sent), corrected from the game's hit errors
against ours for the same presses (median of the last ``offset_window`` differences).

An episode is one play: :meth:`reset` presses the retry key and waits for a new play; results or a
fail terminate it; a pause blocks the step (keys released) until resumed; a lost state (server gone,
or nothing for ``state_timeout_s``), the menu, or a play restarted by someone else truncate it.
Keys are released on every non-playing step, on :meth:`close`, and by the exit hooks of
:mod:`ppomania.live.keys`.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from ppomania.env.reward import RewardConfig, reward
from ppomania.env.spaces import ActionCodec, observation_space
from ppomania.game.beatmap import Beatmap
from ppomania.game.judge import HELD, REGRABBED, HitResult, Judge, KeyEvent
from ppomania.game.score import Phase
from ppomania.live.capture import ScreenCapture
from ppomania.live.keys import RETRY_KEY, KeySender
from ppomania.live.state_client import LiveState, StateClient
from ppomania.sim.render import CaptureArea, FrameStack, HighwayGeometry, PackedMaps


def pace_until(deadline: float, spin_s: float = 0.001) -> float:
    """Sleep until ``spin_s`` before ``deadline`` (monotonic), busy-wait the rest; return now."""
    remaining = deadline - time.monotonic()
    if remaining > spin_s:
        time.sleep(remaining - spin_s)
    while (now := time.monotonic()) < deadline:
        pass
    return now


class LiveManiaEnv(gym.Env):
    """One real game as a gymnasium env.

    :param beatmap: the map being played (for our own judge and autoplay).
    :param area: the playfield on screen.
    :param geometry: the agent's geometry; None = ``HighwayGeometry.for_keys(keys)``.
    :param action_space: ``"multibinary"`` (default) or ``"discrete"``.
    :param reward_config: reward weights (default ``RewardConfig()``).
    :param control_hz: steps per second (default 60).
    :param host, port: the state server (default 127.0.0.1:24050).
    :param offset_ms: fixed correction added to the game clock (default 0).
    :param offset_window: hit-error pairs in the clock correction's median (default 16; 0 = off).
    :param state_timeout_s: no state for this long truncates the episode (default 1).
    :param reset_timeout_s: limit for a new play to start in :meth:`reset` (default 20).
    :param pause_timeout_s: a pause longer than this truncates the episode (default 60).
    :param client, capture, keys: injected parts (default: created from the above).
    """

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        beatmap: Beatmap,
        area: CaptureArea,
        geometry: HighwayGeometry | None = None,
        action_space: str = "multibinary",
        reward_config: RewardConfig | None = None,
        control_hz: float = 60.0,
        host: str = "127.0.0.1",
        port: int = 24050,
        offset_ms: float = 0.0,
        offset_window: int = 16,
        state_timeout_s: float = 1.0,
        reset_timeout_s: float = 20.0,
        pause_timeout_s: float = 60.0,
        client: StateClient | None = None,
        capture: ScreenCapture | None = None,
        keys: KeySender | None = None,
    ) -> None:
        self.beatmap = beatmap
        self.geometry = geometry or HighwayGeometry.for_keys(beatmap.keys)
        self.codec = ActionCodec(beatmap.keys, action_space)
        self.observation_space = observation_space(self.geometry)
        self.action_space = self.codec.space
        self.reward_config = reward_config or RewardConfig()
        self.period_s = 1.0 / control_hz
        self.offset_ms = offset_ms
        self.state_timeout_s = state_timeout_s
        self.reset_timeout_s = reset_timeout_s
        self.pause_timeout_s = pause_timeout_s
        self.client = client or StateClient(host, port).start()
        self.capture = capture or ScreenCapture(area, self.geometry)
        self.keys = keys or KeySender.for_keys(beatmap.keys)
        self._stack = FrameStack(1, self.geometry.shape)
        self._packed = PackedMaps([beatmap])
        self._offset_pairs: deque[float] = deque(maxlen=max(1, offset_window))
        self._use_hit_errors = offset_window > 0
        self._correction_ms = 0.0
        self.stats = LiveStats()
        self._start_episode(self.client.latest())

    # --- clock ---------------------------------------------------------------------------------

    def map_time_ms(self, live: LiveState | None = None, now: float | None = None) -> float:
        """The game clock now: the state's extrapolated map time plus the offsets."""
        live = live or self.client.latest()
        lag = (live.interval_ms or 0.0) / 2
        return live.map_time_ms(now) + lag + self.offset_ms + self._correction_ms

    def _update_correction(self, live: LiveState) -> None:
        """Pair the game's hit errors with ours (in order); the clock correction is the median of
        the last ``offset_window`` pairs' total offsets (robust to a mismatched pair)."""
        if not self._use_hit_errors:
            return
        theirs = live.hit_errors
        n = min(len(theirs), len(self._our_errors))
        for i in range(self._paired, n):
            self._offset_pairs.append(self._correction_ms + theirs[i] - self._our_errors[i])
        if n > self._paired:
            self._paired = n
            self._correction_ms = float(np.median(self._offset_pairs))

    # --- episode -------------------------------------------------------------------------------

    def _start_episode(self, live: LiveState) -> None:
        self.judge = Judge(self.beatmap)
        self._episode = live.episode
        self._events: list[KeyEvent] = []
        self._our_errors: list[int] = []
        self._paired = 0
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=512)
        self._max_diff = np.zeros(6, dtype=np.int64)
        self._prev = self.judge.state.copy()
        self._last_tick = time.monotonic()
        self._capture_at = self._last_tick
        self.last_live = live

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Release the keys, press retry and wait for the new play to start.

        ``options={"retry": False}`` waits for a play without pressing retry.
        """
        super().reset(seed=seed)
        self.keys.release_all()
        retry = (options or {}).get("retry", True)
        deadline = time.monotonic() + self.reset_timeout_s
        live = self._wait_for_play(retry, deadline)
        if live is None:
            raise TimeoutError(
                f"no new play within {self.reset_timeout_s} s "
                f"(state server: {self.client.last_error or 'connected'})"
            )
        self._start_episode(live)
        self._stack.reset()
        self._stack.push(self.capture.grab()[None])
        self._capture_at = time.monotonic()
        self._last_tick = self._capture_at
        return self._stack.obs()[0], {"map_time_ms": self.map_time_ms(live)}

    def _wait_for_play(self, retry: bool, deadline: float) -> LiveState | None:
        first = self.beatmap.starts.min(initial=0)
        while time.monotonic() < deadline:
            live = self.client.latest()
            episode = live.episode
            if retry:
                if live.seq == 0 or not self.client.connected:
                    self.client.wait_for(lambda s: s.seq > 0, timeout_s=0.5)
                    continue
                before = live.state.time_ms
                self.keys.tap(RETRY_KEY)

            def started(s: LiveState, ep: int = episode, t0: float = before if retry else 0.0):
                if s.state.phase != Phase.PLAYING or s.state.time_ms >= first:
                    return False
                return not retry or s.episode > ep or s.state.time_ms < t0 - 100

            live = self.client.wait_for(started, timeout_s=3.0)
            if live is not None:  # two more documents of the new play: a settled clock
                seq = live.seq
                return (
                    self.client.wait_for(lambda s, seq=seq: s.seq >= seq + 2, timeout_s=1.0) or live
                )
        return None

    # --- step ----------------------------------------------------------------------------------

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        live = self.client.latest()
        info: dict[str, Any] = {}
        terminated = truncated = False
        phase = live.state.phase
        if phase == Phase.PAUSED:
            live = self._wait_pause(info)
            phase = live.state.phase
        lost = not self.client.connected or live.age_s() > self.state_timeout_s
        key_at = time.monotonic()
        ghosts = 0
        if phase == Phase.PLAYING and not lost and live.episode == self._episode:
            held = self.codec.decode(action)[0]
            pressed, released = self.keys.apply(held)
            t = self.map_time_ms(live, key_at)
            ghosts = self._judge_keys(t, pressed, released)
            self._history.append((t, self.judge.state.counts.copy()))
            self.stats.capture_to_key_ms.append(1000 * (key_at - self._capture_at))
        else:
            self.keys.release_all()
        self._update_correction(live)
        # Pace, then observe.
        tick = self._last_tick + self.period_s
        now = pace_until(tick) if tick > time.monotonic() else time.monotonic()
        self.stats.jitter_ms.append(1000 * (now - tick))
        self._last_tick = max(tick, now - self.period_s)
        grab_start = time.monotonic()
        self._stack.push(self.capture.grab()[None])
        self._capture_at = time.monotonic()
        self.stats.capture_ms.append(1000 * (self._capture_at - grab_start))
        live = self.client.latest()
        self.last_live = live
        current = self.judge.state
        r = reward(self.reward_config, self._prev, current, ghosts, int(self.keys.held.sum()))
        self._prev = current.copy()
        info.update(self._reconcile(live))
        phase = live.state.phase
        if lost or not self.client.connected or live.age_s() > self.state_timeout_s:
            truncated, info["reason"] = True, "state lost"
        elif live.episode != self._episode:
            truncated, info["reason"] = True, "play restarted"
        elif phase == Phase.MENU:
            truncated, info["reason"] = True, "left the play"
        elif phase in (Phase.RESULTS, Phase.FAILED):
            terminated, info["reason"] = True, phase.name.lower()
        elif phase == Phase.PAUSED and info.get("pause_timeout"):
            truncated, info["reason"] = True, "pause timeout"
        if terminated or truncated:
            self.keys.release_all()
            info.update(self._summary(live))
        return self._stack.obs()[0], r, terminated, truncated, info

    def _judge_keys(self, t: float, pressed: np.ndarray, released: np.ndarray) -> int:
        """Feed our judge; return the presses that hit nothing (ghost taps)."""
        judge, ghosts = self.judge, 0
        tm = round(t)
        for column in released:
            self._events.append(KeyEvent(tm, int(column), False))
            self._note(judge.release(tm, int(column)))
        for column in pressed:
            c = int(column)
            self._events.append(KeyEvent(tm, c, True))
            results = judge.press(tm, c)
            self._note(results)
            index = judge._current(c)
            holding = index >= 0 and judge._status[index] in (HELD, REGRABBED)
            if not any(r.column == c and r.hit_error_ms is not None for r in results):
                ghosts += not holding
        self._note(judge.advance(t))
        return ghosts

    def _note(self, results: list[HitResult]) -> None:
        self._our_errors.extend(r.hit_error_ms for r in results if r.hit_error_ms is not None)

    def _wait_pause(self, info: dict[str, Any]) -> LiveState:
        self.keys.release_all()
        deadline = time.monotonic() + self.pause_timeout_s
        live = self.client.wait_for(
            lambda s: s.state.phase != Phase.PAUSED or not self.client.connected,
            timeout_s=self.pause_timeout_s,
        )
        info["paused_s"] = round(self.pause_timeout_s - (deadline - time.monotonic()), 3)
        if live is None:
            info["pause_timeout"] = True
            return self.client.latest()
        self._last_tick = time.monotonic()
        return live

    def _reconcile(self, live: LiveState) -> dict[str, Any]:
        """Our counts at the game state's time minus the game's counts."""
        game_t = live.state.time_ms
        ours = np.zeros(6, dtype=np.int64)
        for t, counts in self._history:
            if t > game_t:
                break
            ours = counts
        diff = ours - live.state.counts
        self._max_diff = np.maximum(self._max_diff, np.abs(diff))
        return {
            "game_state": live.state,
            "judge_state": self.judge.state,
            "count_diff": diff,
            "clock_correction_ms": self._correction_ms,
        }

    def _summary(self, live: LiveState) -> dict[str, Any]:
        """End of episode: final counts of both judges and their disagreement."""
        if live.state.phase == Phase.RESULTS:
            self._note(self.judge.finish())
        game = live.state.counts
        ours = self.judge.state.counts
        return {
            "game_counts": game.copy(),
            "judge_counts": ours.copy(),
            "judge_disagreement": {
                "final_diff": (ours - game).tolist(),
                "max_abs_diff_during": self._max_diff.tolist(),
                "clock_correction_ms": round(self._correction_ms, 2),
            },
            "events": list(self._events),
            "results": list(self.judge.results),
        }

    def close(self) -> None:
        self.keys.close()
        self.client.close()
        self.capture.close()


class LiveStats:
    """Timings of the live loop (ms), for ``ppomania bench live``."""

    def __init__(self) -> None:
        self.jitter_ms: list[float] = []
        self.capture_ms: list[float] = []
        self.capture_to_key_ms: list[float] = []

    def summary(self) -> dict[str, float | None]:
        def stats(values: list[float], name: str) -> dict[str, float | None]:
            if not values:
                return {f"{name}_mean": None, f"{name}_p95": None}
            a = np.asarray(values)
            return {
                f"{name}_mean": round(float(a.mean()), 3),
                f"{name}_p95": round(float(np.percentile(a, 95)), 3),
            }

        out: dict[str, float | None] = {}
        out.update(stats(self.jitter_ms, "jitter_ms"))
        out.update(stats(self.capture_ms, "capture_ms"))
        out.update(stats(self.capture_to_key_ms, "capture_to_key_ms"))
        return out


class LiveAutoplay:
    """Autoplay on the game clock, robust to late steps: each note is pressed at the first step
    whose input time reaches ``start - step/2`` (even when a late step overshoots its window, so no
    note is skipped), taps are released at the next step, holds at ``end - step/2``. Knows nothing
    of the screen. Call it as ``policy(env) -> action``.

    :param input_latency_ms: added to the game clock (default 0).
    """

    def __init__(self, input_latency_ms: float = 0.0) -> None:
        self.input_latency_ms = input_latency_ms
        self._env: LiveManiaEnv | None = None
        self._episode = -1

    def _restart(self, env: LiveManiaEnv) -> None:
        self._env, self._episode = env, env._episode
        keys = env.beatmap.keys
        self._next = [0] * keys  # index into each column's objects of the next note to press
        self._release_at = [-np.inf] * keys
        self._columns = [env.beatmap.column_objects(c) for c in range(keys)]

    def __call__(self, env: LiveManiaEnv) -> np.ndarray:
        if env is not self._env or env._episode != self._episode:
            self._restart(env)
        half = 500 * env.period_s
        t = env.map_time_ms() + self.input_latency_ms
        starts, ends = env.beatmap.starts, env.beatmap.ends
        held = np.zeros((1, env.beatmap.keys), dtype=np.bool_)
        for c, objects in enumerate(self._columns):
            if t < self._release_at[c]:
                held[0, c] = True
                continue
            if self._release_at[c] > -np.inf:  # released this step
                self._release_at[c] = -np.inf
                continue
            while (
                self._next[c] < len(objects) and starts[objects[self._next[c]]] + 2 * half < t - 200
            ):
                self._next[c] += 1  # far behind (e.g. after a pause): skip
            if self._next[c] < len(objects):
                index = objects[self._next[c]]
                if t >= starts[index] - half:
                    self._next[c] += 1
                    hold = ends[index] > starts[index]
                    self._release_at[c] = max(ends[index] - half, t + 1) if hold else t + 1
                    held[0, c] = True
        return env.codec.encode(held)[0]
