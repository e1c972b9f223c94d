"""``LiveManiaEnv``: the gymnasium contract over one real game (osu! + tosu/gosumemory, or the
stand-in game).

Same observation and action spaces as the simulator, with the frame geometry of the model that
plays (default :func:`~ppomania.env.spaces.default_geometry`). The live layer does the I/O (screen
grab, keys, game state); this module keeps the timing and the episode, with its parts beside it:
the frame path (:mod:`ppomania.env.live_frames`: a grab into the agent's frame through the
player's skin, :mod:`ppomania.env.perception`), our judge and its reconciliation with the game's
(:mod:`ppomania.env.live_judging`), the loop's timings (:mod:`ppomania.env.live_stats`), the game
clock (:mod:`ppomania.live.clock`) and the pacing (:mod:`ppomania.realtime`).

One step, paced at ``control_hz`` (sleep, then busy-wait the last millisecond):

1. the action is queued with the time it must reach the game (see *latency* below) and sent when
   due (only while the state says PLAYING; otherwise every key is released); our own
   :class:`~ppomania.env.live_judging.LiveJudging` judges the presses on the map at the game
   clock;
2. wait for the tick, grab the playfield and preprocess it into the frame stack;
3. reward from our judge's state (immediate), while the game's counts (100–300 ms late) are
   reconciled against our judge's counts at the game state's time: the difference is in
   ``info["count_diff"]`` and summarised at the episode end (``info["judge_disagreement"]``).

**Game clock.** The map time of the freshest of the last documents extrapolated to now
(:class:`~ppomania.live.clock.GameClock`), plus ``offset_ms``, plus a correction from the game's hit
errors against ours for the same presses (median of the last ``offset_window`` differences). After
the correction it is the *landing* clock: the game time at which a key sent now is judged.

**Frame time.** The game time a grab shows is measured from its content: the bottom edge of every
head above the judgement line, matched to the nearest object of its column, gives the frame's time
to within a screen pixel (``info["frame_age_ms"]`` = landing clock at the grab minus that time:
display and input latency together). Frames without heads use the median of recent measurements.

**Latency.** A policy trained in the simulator saw frames ``capture_latency_ms`` old and its keys
arrived ``input_latency_ms`` after its decision: a key lands ``capture + input`` ms of game time
after the time of the frame it was chosen from. With ``latency_ms`` set to that sum, every action
is sent when the landing clock reaches the frame's time plus ``latency_ms``, so the model meets
live the delay it was trained with (``info["frame_to_key_ms"]`` measures it). ``latency_ms=None``
sends every action at once (the lowest latency; the autoplay uses it).

An episode is one play: :meth:`reset` presses the retry key and waits for a new play; results or a
fail terminate it; a pause blocks the step (keys released) until resumed; a lost state (server gone,
or nothing for ``state_timeout_s``), the menu, or a play restarted by someone else truncate it.
Keys are released on every non-playing step, on :meth:`close`, and by the exit hooks of
:mod:`ppomania.live.keys`.

**The map** is the one the game state names (``beatmap.folder``/``beatmap.file`` under ``songs``, or
under the Songs folder the state reports), checked against its MD5, else the ``beatmap`` given; it
is looked up again at every reset, so the player may pick another map of the same key count.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ppomania.env.live_frames import CaptureFrames, calibration_of
from ppomania.env.live_judging import LiveJudging
from ppomania.env.live_stats import LiveStats
from ppomania.env.reward import RewardConfig, reward
from ppomania.env.spaces import ActionCodec, default_geometry, observation_space
from ppomania.game.beatmap import Beatmap, BeatmapError, load_beatmap
from ppomania.game.score import Phase
from ppomania.live.capture import Calibration
from ppomania.live.clock import GameClock
from ppomania.live.keys import RETRY_KEY, KeySender
from ppomania.live.songs import find_beatmap_file
from ppomania.live.state_client import LiveState, StateClient
from ppomania.protocol.endpoint import DEFAULT_PORT
from ppomania.realtime import pace_until, realtime_priority
from ppomania.sim.render import CaptureArea, FrameStack, HighwayGeometry


@dataclass
class _Pending:
    """An action waiting for its time."""

    due: float  # monotonic seconds
    held: np.ndarray
    grab_at: float  # monotonic time of the grab it was chosen from
    frame_ms: float  # game time of that grab


class LiveManiaEnv(gym.Env):
    """One real game as a gymnasium env.

    :param beatmap: the map when the state does not name one that exists here (``--map``); None =
        only from the state (then a first state must arrive within ``reset_timeout_s``).
    :param playfield: the calibrated playfield on screen, or a :class:`CaptureArea` for
        ``geometry`` (converted with :func:`~ppomania.env.live_frames.calibration_of`).
    :param geometry: the agent's frame; None = :func:`default_geometry` for the keys.
    :param action_space: ``"multibinary"`` (default) or ``"discrete"``.
    :param reward_config: reward weights (default ``RewardConfig()``).
    :param control_hz: steps per second (default 60).
    :param latency_ms: game ms from a frame's time to its action's landing (the simulator's
        ``capture_latency_ms + input_latency_ms`` the model was trained with); None = send at once.
    :param frame_age_ms: how old a grab is on the landing clock when it cannot be measured (no head
        seen yet; default 8); measured from the frames' content otherwise.
    :param realtime: run the calling thread (which must be the one that steps) and the state
        client's with real-time priority when the OS allows it
        (:func:`~ppomania.realtime.realtime_priority`).
    :param songs: a Songs folder to find the state's map in (default: the one the state reports).
    :param host, port: the state server (default 127.0.0.1, :data:`DEFAULT_PORT`).
    :param offset_ms: fixed correction added to the game clock (default 0).
    :param offset_window: hit-error pairs in the clock correction's median (default 16; 0 = off).
    :param state_timeout_s: no state for this long truncates the episode (default 1).
    :param reset_timeout_s: limit for a new play to start in :meth:`reset` (default 20).
    :param pause_timeout_s: a pause longer than this truncates the episode (default 60).
    :param client, frames, keys: injected parts (default: created from the above).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        beatmap: Beatmap | None,
        playfield: Calibration | CaptureArea,
        geometry: HighwayGeometry | None = None,
        action_space: str = "multibinary",
        reward_config: RewardConfig | None = None,
        control_hz: float = 60.0,
        latency_ms: float | None = None,
        frame_age_ms: float = 8.0,
        realtime: bool = False,
        songs: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        offset_ms: float = 0.0,
        offset_window: int = 16,
        state_timeout_s: float = 1.0,
        reset_timeout_s: float = 20.0,
        pause_timeout_s: float = 60.0,
        client: StateClient | None = None,
        frames: CaptureFrames | None = None,
        keys: KeySender | None = None,
    ) -> None:
        self.songs = songs
        self.fallback_beatmap = beatmap
        self.reset_timeout_s = reset_timeout_s
        #: The scheduling the step loop got (see :func:`realtime_priority`).
        self.scheduling, self._restore_scheduling = (
            realtime_priority() if realtime else ("default", lambda: None)
        )
        self.client = client or StateClient(host, port).start()
        try:
            self._setup(beatmap, playfield, geometry, action_space, control_hz, frames, keys)
        except BaseException:
            self.client.close()
            self._restore_scheduling()
            raise
        self.reward_config = reward_config or RewardConfig()
        self.latency_ms = latency_ms
        self.default_frame_age_ms = frame_age_ms
        self.offset_ms = offset_ms
        self.state_timeout_s = state_timeout_s
        self.pause_timeout_s = pause_timeout_s
        self._stack = FrameStack(1, self.geometry.shape)
        #: The last screen grab (BGRA, the capture's reused buffer: copy it to keep it).
        self.last_grab: np.ndarray | None = None
        #: Our judge of the play and its reconciliation with the game's.
        self.judging = LiveJudging(self.beatmap, offset_window)
        self.clock = GameClock()
        self._frame_offsets: deque[float] = deque(maxlen=64)
        self._pending: deque[_Pending] = deque()
        self.stats = LiveStats()
        self._start_episode(self.client.latest())

    def _setup(
        self,
        beatmap: Beatmap | None,
        playfield: Calibration | CaptureArea,
        geometry: HighwayGeometry | None,
        action_space: str,
        control_hz: float,
        frames: CaptureFrames | None,
        keys: KeySender | None,
    ) -> None:
        """The parts that can fail: the map, the spaces, the capture and the key sender."""
        beatmap = self._find_beatmap(self.client.latest(), wait=beatmap is None)
        n_keys = beatmap.keys
        if isinstance(playfield, CaptureArea):
            playfield = calibration_of(playfield, geometry or default_geometry(n_keys))
        if playfield.keys != n_keys:
            raise ValueError(f"the playfield has {playfield.keys} columns, the map {n_keys}")
        self.geometry = geometry or default_geometry(n_keys)
        self.codec = ActionCodec(n_keys, action_space)
        self.observation_space = observation_space(self.geometry)
        self.action_space = self.codec.space
        self.period_s = 1.0 / control_hz
        self._set_beatmap(beatmap)
        self.frames = frames or CaptureFrames(playfield, self.geometry)
        try:
            self.keys = keys or KeySender.for_keys(n_keys)
        except BaseException:
            self.frames.close()
            raise

    # --- the map -------------------------------------------------------------------------------

    def _find_beatmap(self, live: LiveState, wait: bool = False) -> Beatmap:
        if wait and live.snapshot is None:
            live = (
                self.client.wait_for(lambda s: s.snapshot is not None, self.reset_timeout_s) or live
            )
        path = find_beatmap_file(live.snapshot, self.songs)
        if path is not None:
            current = getattr(self, "beatmap", None)
            if current is not None and current.path and Path(current.path) == path:
                return current
            try:
                return load_beatmap(path)
            except (OSError, BeatmapError):
                pass
        if self.fallback_beatmap is None:
            if live.snapshot is None:
                raise FileNotFoundError(
                    f"no game state from {self.client.url} to name the map "
                    f"({self.client.last_error or 'nothing received'}); pass the map"
                )
            songs = self.songs or live.snapshot.songs_folder
            raise FileNotFoundError(
                f"the game plays {live.snapshot.beatmap.file!r}, not found under the Songs "
                f"folder {str(songs)!r}; pass the map or the Songs folder"
            )
        return self.fallback_beatmap

    def _set_beatmap(self, beatmap: Beatmap) -> None:
        if beatmap.keys != self.codec.keys:
            raise ValueError(f"the game plays a {beatmap.keys}K map, the env is {self.codec.keys}K")
        self.beatmap = beatmap
        self._column_starts = [
            beatmap.starts[beatmap.column_objects(c)].astype(np.float64)
            for c in range(beatmap.keys)
        ]

    # --- clock ---------------------------------------------------------------------------------

    def map_time_ms(self, live: LiveState | None = None, now: float | None = None) -> float:
        """The landing clock now: the filtered game clock plus the offsets."""
        live = live or self.client.latest()
        base = self.clock.time_ms(live, self.client.server, now)
        return base + self.offset_ms + self.judging.correction_ms

    @property
    def frame_ms(self) -> float:
        """Game time the last grab shows (measured from its heads, else estimated)."""
        return self._frame_ms

    def slack_s(self) -> float:
        """Seconds left before the next step's tick (what the caller may spend between steps
        without delaying the loop; negative: late already)."""
        return self._last_tick + self.period_s - time.monotonic()

    def action_time_ms(self) -> float:
        """Game time at which the action given to the next :meth:`step` reaches the game."""
        if self.latency_ms is None:
            return self.map_time_ms()
        return self._frame_ms + self.latency_ms * self.last_live.rate

    # --- episode -------------------------------------------------------------------------------

    @property
    def episode(self) -> int:
        """The game's play counter (:attr:`LiveState.episode`) of the current episode: it changes
        when a new play starts (a reset, or a retry by someone else)."""
        return self._episode

    def _start_episode(self, live: LiveState) -> None:
        self.judging.start(self.beatmap)
        self._episode = live.episode
        self._prev = self.judging.judge.state.copy()
        self._pending.clear()
        self._last_tick = time.monotonic()
        self._grab_at = self._last_tick
        self._frame_ms = self.map_time_ms(live)
        self.last_live = live

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Release the keys, press retry and wait for the new play to start.

        ``options={"retry": False}`` waits for a play without pressing retry.
        """
        super().reset(seed=seed)
        self.keys.release_all()
        self._pending.clear()
        retry = (options or {}).get("retry", True)
        deadline = time.monotonic() + self.reset_timeout_s
        live = self._wait_for_play(retry, deadline)
        if live is None:
            raise TimeoutError(
                f"no new play within {self.reset_timeout_s} s "
                f"(state server: {self.client.last_error or 'connected'})"
            )
        self._set_beatmap(self._find_beatmap(live))
        self._start_episode(live)
        self.stats = LiveStats()
        self._stack.reset()
        self.frames.reset()
        self._observe(self._stack.advance()[0])
        self._last_tick = self._grab_at
        return self._stack.obs()[0], {"map_time_ms": self.map_time_ms(live), "map": self.beatmap}

    def _wait_for_play(self, retry: bool, deadline: float) -> LiveState | None:
        while time.monotonic() < deadline:
            live = self.client.latest()
            episode = live.episode
            first = live.snapshot.beatmap.first_object_ms if live.snapshot else 0
            first = first or int(self.beatmap.starts.min(initial=0))
            if retry:
                if live.seq == 0 or not self.client.connected:
                    self.client.wait_for(lambda s: s.seq > 0, timeout_s=0.5)
                    continue
                before = live.state.time_ms
                self.keys.tap(RETRY_KEY)

            def started(
                s: LiveState,
                ep: int = episode,
                t0: float = before if retry else 0.0,
                first: float = first,
            ) -> bool:
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

    # --- observation ---------------------------------------------------------------------------

    def _observe(self, out: np.ndarray) -> None:
        """Grab into ``out``; stamp the grab's wall time and game time."""
        grab_at = time.monotonic()
        clock = self.map_time_ms(self.client.latest(), grab_at)
        image = self.last_grab = self.frames.grab(out, self.keys.held)
        done = time.monotonic()
        self.stats.capture_ms.append(1000 * (done - grab_at))
        offsets = self._frame_offsets
        guess = clock + (float(np.median(offsets)) if offsets else -self.default_frame_age_ms)
        seen = self.frames.head_times(image, self._column_starts, guess, 40.0 if offsets else 80.0)
        if seen:
            frame_ms = float(np.median(seen))
            offsets.append(frame_ms - clock)
        else:
            frame_ms = guess
        self._grab_at, self._frame_ms = grab_at, frame_ms
        self.stats.frame_age_ms.append(clock - frame_ms)

    # --- step ----------------------------------------------------------------------------------

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        live = self.client.latest()
        info: dict[str, Any] = {}
        terminated = truncated = False
        if live.state.phase == Phase.PAUSED:
            live = self._wait_pause(info)
        held = self.codec.decode(action)[0].copy()
        if self.latency_ms is None:
            due = time.monotonic()
        else:
            lead_ms = self._frame_ms + self.latency_ms * live.rate - self.map_time_ms(live)
            due = time.monotonic() + lead_ms / 1000 / live.rate
        self._pending.append(_Pending(due, held, self._grab_at, self._frame_ms))
        ghosts = 0
        tick = self._last_tick + self.period_s
        while self._pending and self._pending[0].due <= tick:
            pending = self._pending.popleft()
            if pending.due > time.monotonic():
                pace_until(pending.due)
            ghosts += self._send(pending)
        self.judging.update_correction(self.client.latest())
        # Pace, then observe.
        now = pace_until(tick) if tick > time.monotonic() else time.monotonic()
        self.stats.jitter_ms.append(1000 * (now - tick))
        self._last_tick = max(tick, now - self.period_s)
        self._observe(self._stack.advance()[0])
        live = self.client.latest()
        self.last_live = live
        current = self.judging.judge.state
        r = reward(self.reward_config, self._prev, current, ghosts, int(self.keys.held.sum()))
        self._prev = current.copy()
        info.update(self.judging.reconcile(live))
        info["frame_age_ms"] = self.stats.frame_age_ms[-1] if self.stats.frame_age_ms else None
        phase = live.state.phase
        if not self.client.connected or live.age_s() > self.state_timeout_s:
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
            self._pending.clear()
            info.update(self.judging.summary(live), timing=self.stats.summary())
        return self._stack.stack[0].copy(), r, terminated, truncated, info

    def _send(self, pending: _Pending) -> int:
        """Send one action's key changes (or release everything outside a play); judge them."""
        live = self.client.latest()
        playing = (
            live.state.phase == Phase.PLAYING
            and self.client.connected
            and live.age_s() <= self.state_timeout_s
            and live.episode == self._episode
        )
        if not playing:
            self.keys.release_all()
            return 0
        sent_at = time.monotonic()
        pressed, released = self.keys.apply(pending.held)
        t = self.map_time_ms(live, sent_at)
        ghosts = self.judging.keys(t, pressed, released)
        stats = self.stats
        stats.capture_to_key_ms.append(1000 * (sent_at - pending.grab_at))
        stats.key_lateness_ms.append(1000 * (sent_at - pending.due))
        stats.frame_to_key_ms.append(t - pending.frame_ms)
        return ghosts

    def _wait_pause(self, info: dict[str, Any]) -> LiveState:
        self.keys.release_all()
        self._pending.clear()
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

    def close(self) -> None:
        """Release every key, stop the state client and the capture; restore the scheduling
        (call it from the thread that created the env)."""
        self.keys.close()
        self.client.close()
        self.frames.close()
        with contextlib.suppress(OSError):
            self._restore_scheduling()
