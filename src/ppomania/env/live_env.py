"""``LiveManiaEnv``: the gymnasium contract over one real game (osu! + tosu/gosumemory, or the
stand-in game).

Same observation and action spaces as the simulator, with the frame geometry of the model that
plays (default :func:`~ppomania.env.spaces.default_geometry`). The live layer does the I/O (screen
grab, keys, game state); this module turns a grab into the agent's frame with the simulator's
:func:`~ppomania.sim.render.preprocess_capture` and keeps the timing.

One step, paced at ``control_hz`` (sleep, then busy-wait the last millisecond):

1. the action is queued with the time it must reach the game (see *latency* below) and sent when
   due (only while the state says PLAYING; otherwise every key is released); our own
   :class:`Judge` judges the presses on the map at the game clock;
2. wait for the tick, grab the playfield and preprocess it into the frame stack;
3. reward from our judge's state (immediate), while the game's counts (100–300 ms late) are
   reconciled against our judge's counts at the game state's time: the difference is in
   ``info["count_diff"]`` and summarised at the episode end (``info["judge_disagreement"]``).

**Game clock.** The map time of the freshest of the last documents extrapolated to now
(:class:`GameClock`), plus ``offset_ms``, plus a correction from the game's hit errors against ours
for the same presses (median of the last ``offset_window`` differences). After the correction it is
the *landing* clock: the game time at which a key sent now is judged.

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
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Any

import gymnasium as gym
import numpy as np

from ppomania.env.reward import RewardConfig, reward
from ppomania.env.spaces import ActionCodec, default_geometry, observation_space
from ppomania.game.beatmap import Beatmap, BeatmapError, load_beatmap
from ppomania.game.judge import HitResult, Judge, KeyEvent
from ppomania.game.rules import Mods
from ppomania.game.score import Phase
from ppomania.live.capture import Calibration, Rect, ScreenCapture
from ppomania.live.keys import RETRY_KEY, KeySender
from ppomania.live.state_client import LiveState, StateClient
from ppomania.protocol.endpoint import DEFAULT_PORT
from ppomania.protocol.snapshot import GameSnapshot
from ppomania.sim.render import CaptureArea, FrameStack, HighwayGeometry, preprocess_capture

_BGR_TO_GRAY = np.array([0.114, 0.587, 0.299], dtype=np.float32)
_HEAD_LEVEL = 208  # preprocess_capture's head threshold


def realtime_priority(priority: int = 10) -> tuple[str, Callable[[], None]]:
    """Ask the OS to run the calling thread (and threads it starts afterwards) ahead of ordinary
    work: ``SCHED_FIFO`` at ``priority``, else ``nice -10``; best effort.

    :returns: what was granted (``"fifo"``, ``"nice"`` or ``"none"``) and a function that puts the
        thread back as it was.

    A live loop is a soft real-time task: on a busy machine a step that wakes 10 ms late sends its
    keys 10 ms late, which a policy trained with exact timing cannot absorb. The loop sleeps
    between steps and busy-waits at most a millisecond, so it cannot hog a core.
    """
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return "fifo", lambda: os.sched_setscheduler(0, policy, param)
    except (AttributeError, OSError):
        pass
    try:
        tid = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, nice - 10)
        return "nice", lambda: os.setpriority(os.PRIO_PROCESS, tid, nice)
    except (AttributeError, OSError):
        return "none", lambda: None


def pace_until(deadline: float, spin_s: float = 0.001) -> float:
    """Sleep until ``spin_s`` before ``deadline`` (monotonic), busy-wait the rest; return now."""
    remaining = deadline - time.monotonic()
    if remaining > spin_s:
        time.sleep(remaining - spin_s)
    while (now := time.monotonic()) < deadline:
        pass
    return now


def capture_area(playfield: Calibration, geometry: HighwayGeometry) -> CaptureArea:
    """The screen rectangle that maps onto ``geometry``'s frame for a calibrated playfield."""
    return CaptureArea.from_playfield(
        playfield.left, playfield.right, playfield.judgement_y, playfield.px_per_ms, geometry
    )


def calibration_of(area: CaptureArea, geometry: HighwayGeometry) -> Calibration:
    """The playfield a capture area implies for ``geometry`` (inverse of :func:`capture_area`)."""
    row_px = area.height / geometry.height
    return Calibration(
        left=area.left,
        right=area.left + area.width,
        judgement_y=area.top + (geometry.judgement_row + 1) * row_px,
        px_per_ms=row_px / geometry.ms_per_row,
        keys=geometry.keys,
    )


class CaptureFrames:
    """Screen grabs of the playfield turned into the agent's frames, with their game time.

    :param playfield: the calibrated playfield on screen.
    :param geometry: the agent's frame.
    :param capture: an injected :class:`ScreenCapture` of :attr:`area` (default: created).
    """

    def __init__(
        self,
        playfield: Calibration,
        geometry: HighwayGeometry,
        capture: ScreenCapture | None = None,
    ) -> None:
        self.playfield = playfield
        self.geometry = geometry
        self.area = capture_area(playfield, geometry)
        self.capture = capture or ScreenCapture(
            Rect(self.area.left, self.area.top, self.area.width, self.area.height)
        )
        self._local = CaptureArea(0, 0, self.area.width, self.area.height)
        keys = playfield.keys
        columns_px = (playfield.right - playfield.left) / keys
        self._xs = np.array(
            [round(playfield.left - self.area.left + (c + 0.5) * columns_px) for c in range(keys)]
        )
        self._line = playfield.judgement_y - self.area.top  # in grab rows

    def grab(self, out: np.ndarray) -> np.ndarray:
        """Grab the screen and write the agent's frame into ``out`` ``(H, W)``; return the grab."""
        image = self.capture.grab()
        preprocess_capture(image, self._local, self.geometry, out)
        return image

    def head_times(
        self, image: np.ndarray, column_starts: list[np.ndarray], guess_ms: float, tol_ms: float
    ) -> list[float]:
        """Game times the grab shows, one per head above the judgement line matched to an object.

        A head whose bottom edge is at grab row ``E`` (exclusive) is ``(line - E + 0.5) /
        px_per_ms`` ms before its start; it is matched to the object of its column whose start is
        nearest that estimate (``guess_ms`` = the frame's expected time) within ``tol_ms``, and
        only when no other object of the column is as close.
        """
        gray = image[:, self._xs, :3].astype(np.float32) @ _BGR_TO_GRAY  # (h, K)
        head = gray >= _HEAD_LEVEL
        bottom = head[:-1] & ~head[1:]
        ys, cs = np.nonzero(bottom)
        times = []
        p = self.playfield.px_per_ms
        for y, c in zip(ys.tolist(), cs.tolist()):
            edge = y + 1
            if edge > self._line - 2:
                continue  # at or under the line: a held hold's pinned head, or a note passing
            ahead_ms = (self._line - edge + 0.5) / p
            starts = column_starts[c]
            i = int(np.searchsorted(starts, guess_ms + ahead_ms))
            candidates = sorted(
                (abs(float(starts[j]) - (guess_ms + ahead_ms)), j)
                for j in (i - 1, i)
                if 0 <= j < len(starts)
            )
            if not candidates or candidates[0][0] > tol_ms:
                continue
            if len(candidates) > 1 and candidates[1][0] <= tol_ms:
                continue  # ambiguous
            times.append(float(starts[candidates[0][1]]) - ahead_ms)
        return times

    def close(self) -> None:
        self.capture.close()


def find_beatmap_file(
    snapshot: GameSnapshot | None, songs: str | Path | None = None
) -> Path | None:
    """The ``.osu`` the game state names, if it exists here: ``songs/folder/file``, else under the
    Songs folder the state reports; None when neither exists or the MD5 differs."""
    if snapshot is None or not snapshot.beatmap.file:
        return None
    info = snapshot.beatmap
    roots = [Path(songs).expanduser()] if songs else []
    if snapshot.songs_folder:
        roots.append(Path(snapshot.songs_folder))
    folder = PureWindowsPath(info.folder).parts if info.folder else ()
    for root in roots:
        path = root.joinpath(*folder, info.file)
        if path.is_file():
            if info.md5:
                import hashlib

                if hashlib.md5(path.read_bytes()).hexdigest() != info.md5:
                    continue
            return path
    return None


class GameClock:
    """The game's map time from the state documents, filtered.

    A document's map time was sampled some time before it arrived (tosu: by its precise reader,
    0…``PRECISE_DATA_POLL_RATE`` ms earlier; gosumemory: with everything else). While the clock
    runs (PLAYING), ``time - rate * received_at`` is the clock's offset minus that staleness, so
    the largest value among the last ``window`` documents is the freshest reading; the expected
    staleness left (tosu: the precise period over ``n + 1``; gosumemory: half its period) is added.
    Outside a play, after a new episode, or when a reading jumps by more than ``jump_ms``, the
    filter starts over; without readings it falls back to ``LiveState.map_time_ms``.
    """

    def __init__(self, window: int = 8, jump_ms: float = 100.0) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self.jump_ms = jump_ms
        self._seq = -1
        self._episode = -1

    @staticmethod
    def _rate(live: LiveState) -> float:
        return Mods(live.snapshot.mods).rate if live.snapshot else 1.0

    def _update(self, live: LiveState) -> None:
        if live.seq == self._seq:
            return
        self._seq = live.seq
        samples = self._samples
        if live.state.phase != Phase.PLAYING or live.episode != self._episode:
            samples.clear()
            self._episode = live.episode
            if live.state.phase != Phase.PLAYING:
                return
        value = live.state.time_ms - 1000 * self._rate(live) * live.received_at
        if samples and abs(value - max(samples)) > self.jump_ms:
            samples.clear()
        samples.append(value)

    def time_ms(
        self, live: LiveState, server: str | None = None, now: float | None = None
    ) -> float:
        """Map time at monotonic ``now`` (default: now)."""
        self._update(live)
        if not self._samples or live.state.phase != Phase.PLAYING:
            return live.map_time_ms(now)
        now = time.monotonic() if now is None else now
        if server == "tosu" and live.precise_interval_ms is not None:
            stale = live.precise_interval_ms / (len(self._samples) + 1)
        else:
            stale = (live.interval_ms or 0.0) / 2
        return max(self._samples) + 1000 * self._rate(live) * now + stale


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
        ``geometry`` (converted with :func:`calibration_of`).
    :param geometry: the agent's frame; None = :func:`default_geometry` for the keys.
    :param action_space: ``"multibinary"`` (default) or ``"discrete"``.
    :param reward_config: reward weights (default ``RewardConfig()``).
    :param control_hz: steps per second (default 60).
    :param latency_ms: game ms from a frame's time to its action's landing (the simulator's
        ``capture_latency_ms + input_latency_ms`` the model was trained with); None = send at once.
    :param frame_age_ms: how old a grab is on the landing clock when it cannot be measured (no head
        seen yet; default 8); measured from the frames' content otherwise.
    :param realtime: run the calling thread (which must be the one that steps) and the state
        client's with real-time priority when the OS allows it (:func:`realtime_priority`).
    :param songs: a Songs folder to find the state's map in (default: the one the state reports).
    :param host, port: the state server (default 127.0.0.1:24050).
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
        self._offset_pairs: deque[float] = deque(maxlen=max(1, offset_window))
        self._use_hit_errors = offset_window > 0
        self._correction_ms = 0.0
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

    def _rate(self, live: LiveState) -> float:
        return Mods(live.snapshot.mods).rate if live.snapshot else 1.0

    def map_time_ms(self, live: LiveState | None = None, now: float | None = None) -> float:
        """The landing clock now: the filtered game clock plus the offsets."""
        live = live or self.client.latest()
        base = self.clock.time_ms(live, self.client.server, now)
        return base + self.offset_ms + self._correction_ms

    def action_time_ms(self) -> float:
        """Game time at which the action given to the next :meth:`step` reaches the game."""
        if self.latency_ms is None:
            return self.map_time_ms()
        return self._frame_ms + self.latency_ms * self._rate(self.last_live)

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
        image = self.frames.grab(out)
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
            lead_ms = self._frame_ms + self.latency_ms * self._rate(live) - self.map_time_ms(live)
            due = time.monotonic() + lead_ms / 1000 / self._rate(live)
        self._pending.append(_Pending(due, held, self._grab_at, self._frame_ms))
        ghosts = 0
        tick = self._last_tick + self.period_s
        while self._pending and self._pending[0].due <= tick:
            pending = self._pending.popleft()
            if pending.due > time.monotonic():
                pace_until(pending.due)
            ghosts += self._send(pending)
        self._update_correction(self.client.latest())
        # Pace, then observe.
        now = pace_until(tick) if tick > time.monotonic() else time.monotonic()
        self.stats.jitter_ms.append(1000 * (now - tick))
        self._last_tick = max(tick, now - self.period_s)
        self._observe(self._stack.advance()[0])
        live = self.client.latest()
        self.last_live = live
        current = self.judge.state
        r = reward(self.reward_config, self._prev, current, ghosts, int(self.keys.held.sum()))
        self._prev = current.copy()
        info.update(self._reconcile(live))
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
            info.update(self._summary(live))
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
        ghosts = self._judge_keys(t, pressed, released)
        self._history.append((t, self.judge.state.counts.copy()))
        stats = self.stats
        stats.capture_to_key_ms.append(1000 * (sent_at - pending.grab_at))
        stats.key_lateness_ms.append(1000 * (sent_at - pending.due))
        stats.frame_to_key_ms.append(t - pending.frame_ms)
        return ghosts

    def _judge_keys(self, t: float, pressed: np.ndarray, released: np.ndarray) -> int:
        """Feed our judge; return the presses that hit nothing (ghost taps)."""
        judge, ghosts = self.judge, 0
        tm = round(t)
        # What expired before now is the game's own doing (no hit error reported), as in a game
        # loop that advances its judge every frame.
        judge.advance(tm - 1)
        for column in released:
            self._events.append(KeyEvent(tm, int(column), False))
            self._note(judge.release(tm, int(column)))
        for column in pressed:
            c = int(column)
            self._events.append(KeyEvent(tm, c, True))
            results = judge.press(tm, c)
            self._note(results)
            if not any(r.column == c and r.hit_error_ms is not None for r in results):
                ghosts += not judge.holding(c)
        judge.advance(t)
        return ghosts

    def _note(self, results: list[HitResult]) -> None:
        self._our_errors.extend(r.hit_error_ms for r in results if r.hit_error_ms is not None)

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
            "frame_age_ms": self.stats.frame_age_ms[-1] if self.stats.frame_age_ms else None,
        }

    def _summary(self, live: LiveState) -> dict[str, Any]:
        """End of episode: final counts of both judges and their disagreement."""
        if live.state.phase == Phase.RESULTS:
            self.judge.finish()
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
            "timing": self.stats.summary(),
        }

    def close(self) -> None:
        """Release every key, stop the state client and the capture; restore the scheduling
        (call it from the thread that created the env)."""
        self.keys.close()
        self.client.close()
        self.frames.close()
        with contextlib.suppress(OSError):
            self._restore_scheduling()


class LiveStats:
    """Timings of the live loop (ms), for ``ppomania bench live`` and the end-of-episode info.

    ``jitter``: step start after its tick; ``capture``: grab + preprocessing; ``capture_to_key``:
    grab start to the key event sent (wall time); ``key_lateness``: sent after the action's due
    time; ``frame_age``: landing clock at the grab minus the time the grab shows;
    ``frame_to_key``: landing clock when the key was sent minus the time of the frame it was
    chosen from (the latency the policy met; the simulator's ``capture + input`` latency).
    """

    FIELDS = (
        "jitter_ms",
        "capture_ms",
        "capture_to_key_ms",
        "key_lateness_ms",
        "frame_age_ms",
        "frame_to_key_ms",
    )

    def __init__(self, keep: int = 36_000) -> None:
        for name in self.FIELDS:  # the last ``keep`` values (10 minutes at 60 Hz)
            setattr(self, name, deque(maxlen=keep))

    def summary(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name in self.FIELDS:
            values = getattr(self, name)
            if not values:
                out[f"{name}_mean"] = out[f"{name}_p95"] = None
                continue
            a = np.asarray(values)
            out[f"{name}_mean"] = round(float(a.mean()), 3)
            out[f"{name}_p95"] = round(float(np.percentile(a, 95)), 3)
        return out


class LiveAutoplay:
    """Autoplay on the game clock, robust to late steps: each note is pressed at the first step
    whose action lands at or after ``start - step/2`` (even when a late step overshoots its window,
    so no note is skipped), taps are released at the next step, holds at ``end - step/2``. Knows
    nothing of the screen. Call it as ``policy(env) -> action``.

    :param input_latency_ms: added to the landing time (default 0).
    """

    def __init__(self, input_latency_ms: float = 0.0) -> None:
        self.input_latency_ms = input_latency_ms
        self._env: LiveManiaEnv | None = None
        self._episode = -1
        self._beatmap: Beatmap | None = None

    def _restart(self, env: LiveManiaEnv) -> None:
        self._env, self._episode, self._beatmap = env, env._episode, env.beatmap
        keys = env.beatmap.keys
        self._next = [0] * keys  # index into each column's objects of the next note to press
        self._release_at = [-np.inf] * keys
        self._columns = [env.beatmap.column_objects(c) for c in range(keys)]

    def __call__(self, env: LiveManiaEnv) -> np.ndarray:
        if (
            env is not self._env
            or env._episode != self._episode
            or env.beatmap is not self._beatmap
        ):
            self._restart(env)
        half = 500 * env.period_s
        t = env.action_time_ms() + self.input_latency_ms
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


__all__ = [
    "CaptureFrames",
    "GameClock",
    "LiveAutoplay",
    "LiveManiaEnv",
    "LiveStats",
    "calibration_of",
    "capture_area",
    "find_beatmap_file",
    "pace_until",
    "realtime_priority",
]
