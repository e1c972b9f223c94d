"""The batched simulator: ``n_envs`` plays of osu!mania stepped in lockstep at a fixed control rate.

State lives in ``(n_envs, …)`` arrays (:class:`~ppomania.sim.kernel.PlayArrays`); judging is the
numba port of the game core's judge (:mod:`ppomania.sim.kernel`), rendering is
:mod:`ppomania.sim.render`, kept apart from stepping.

Timing model, per env (all times are map times in ms):

- step ``k`` of an episode happens at clock time ``T_k = t0 + k * step_ms``; ``t0`` is the first
  object's time minus ``lead_in_ms``.
- the observation handed out after step ``k`` shows the highway at ``T_k - capture_latency_ms``
  (the live game's frame is that old when the agent sees it).
- the key states chosen at step ``k`` reach the game at ``T_k + input_latency_ms`` (+ Gaussian
  ``jitter_ms``), rounded to integer ms: that is the time the judge sees the press or release.
- with ``reader_refresh_ms`` set, :meth:`BatchedSim.reported` emulates tosu/gosumemory: the state
  is refreshed every ``reader_refresh_ms`` and delivered ``reader_delay_ms`` late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np

from ppomania.game.beatmap import Beatmap
from ppomania.game.rules import Mods, hit_windows
from ppomania.game.score import GameState, Phase, score_divider, score_multiplier
from ppomania.sim import kernel
from ppomania.sim.kernel import MapArrays, PlayArrays, RuleArrays
from ppomania.sim.packed import PackedMaps
from ppomania.sim.render import HighwayGeometry, render_frames

_STATE_FIELDS = ("counts", "combo", "max_combo", "score", "hp")


@dataclass(frozen=True)
class SimConfig:
    """Simulator settings.

    :param control_hz: agent decisions per second of real time (30–240). Default 60.
    :param input_latency_ms: from decision to the key reaching the game. Default 8 (pynput + OS).
    :param capture_latency_ms: age of the frame the agent sees. Default 16 (one 60 Hz frame).
    :param jitter_ms: standard deviation of Gaussian noise on key event times. Default 0.
    :param lead_in_ms: time before the first object at which an episode starts. Default 1000.
    :param tail_ms: time after the last object's window at which a play ends. Default 0.
    :param mods: mods of every play (windows, rate, score). Default none.
    :param reader_refresh_ms: emulate the memory reader's refresh period (0: off). Default 0.
    :param reader_delay_ms: delivery delay of the emulated reader. Default 0.
    """

    control_hz: float = 60.0
    input_latency_ms: float = 8.0
    capture_latency_ms: float = 16.0
    jitter_ms: float = 0.0
    lead_in_ms: float = 1000.0
    tail_ms: float = 0.0
    mods: Mods = Mods.NONE
    reader_refresh_ms: float = 0.0
    reader_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 30.0 <= self.control_hz <= 240.0:
            raise ValueError(f"control_hz must be in [30, 240], got {self.control_hz}")
        if self.reader_refresh_ms < 0 or self.reader_delay_ms < 0:
            raise ValueError("reader_refresh_ms and reader_delay_ms must be >= 0")

    @property
    def step_ms(self) -> float:
        """Map time per step: real time per decision times the playback rate."""
        return 1000.0 / self.control_hz * self.mods.rate

    def map_ms(self, real_ms: float) -> float:
        """A real-time duration (latency, jitter) in map time: it passes faster with DT."""
        return real_ms * self.mods.rate


class BatchedSim:
    """``n_envs`` plays over a pool of maps with one key count.

    :param maps: the maps an env can play.
    :param n_envs: number of plays stepped together.
    :param config: timing and mods (:class:`SimConfig`). Default ``SimConfig()``.
    :param geometry: the highway's shape; default ``HighwayGeometry.for_keys(keys)``.
    :param seed: seed of the jitter noise. Default 0.
    :param log_capacity: rows of the judgement log (0: no log). Default 0. See
        :meth:`enable_log`.

    The judgement log: while it has rows, every judgement of every env is appended to :attr:`log`
    ``(capacity, 6)`` int64 as ``(env, time, column, packed index, judgement, hit error)`` (the
    packed index is into :attr:`packed`; the hit error is :data:`~ppomania.sim.kernel.NO_ERROR`
    when the object was never pressed), and :attr:`log_count` ``(1,)`` counts the rows appended,
    including those dropped once the log is full. :meth:`drain_log` takes them out.
    """

    def __init__(
        self,
        maps: Sequence[Beatmap],
        n_envs: int,
        config: SimConfig | None = None,
        geometry: HighwayGeometry | None = None,
        seed: int = 0,
        log_capacity: int = 0,
    ) -> None:
        self.config = config or SimConfig()
        # Mirror is a property of the play, not the map: the sim plays the flipped maps.
        mirror = bool(self.config.mods & Mods.MIRROR)
        self.maps = [m.mirrored() if mirror else m for m in maps]
        self.packed = PackedMaps(self.maps)
        self.keys = self.packed.keys
        self.n_envs = n_envs
        self.geometry = geometry or HighwayGeometry.for_keys(self.keys)
        if self.geometry.keys != self.keys:
            raise ValueError(f"geometry has {self.geometry.keys} keys, maps have {self.keys}")
        self.rng = np.random.default_rng(seed)
        cfg = self.config
        map_windows = np.array(
            [_window_row(b.od, cfg.mods) for b in self.maps], dtype=np.int64
        ).reshape(len(self.maps), 6)
        self._map_windows = map_windows
        self._map_per_object = np.array(
            [1_000_000 * score_multiplier(cfg.mods) * 0.5 / max(1, b.n_objects) for b in self.maps]
        )
        self._map_hp = np.array([b.hp for b in self.maps], dtype=np.float64)
        self.n_objects = np.array([b.n_objects for b in self.maps], dtype=np.int64)
        self.first_start = np.array(
            [int(b.starts.min()) if b.n_objects else 0 for b in self.maps], dtype=np.int64
        )
        ok = map_windows[:, kernel.W_OK]
        self.last_time = (
            np.array([int(b.ends.max()) if b.n_objects else 0 for b in self.maps], dtype=np.int64)
            + ok
            + 1
            + int(cfg.tail_ms)
        )

        self.state = PlayArrays.allocate(n_envs, self.keys)
        self.map_ids = np.zeros(n_envs, dtype=np.int64)
        self.step_count = np.zeros(n_envs, dtype=np.int64)
        self.t0 = np.zeros(n_envs, dtype=np.float64)
        self.windows = np.zeros((n_envs, 6), dtype=np.int64)
        self.per_object = np.zeros(n_envs, dtype=np.float64)
        self.divider = np.full(n_envs, score_divider(cfg.mods))
        self.hp_drain = np.zeros(n_envs, dtype=np.float64)
        self.no_fail = np.full(n_envs, bool(cfg.mods & Mods.NO_FAIL))
        self.active = np.zeros(n_envs, dtype=np.bool_)
        self.ghost = np.zeros(n_envs, dtype=np.int64)
        self.event_times = np.zeros(n_envs, dtype=np.int64)
        self._last_event_times = np.zeros(n_envs, dtype=np.float64)
        self._actions = np.zeros((n_envs, self.keys), dtype=np.bool_)
        self._maps = MapArrays(self.packed.col_begin, self.packed.starts, self.packed.ends)
        self._rules = RuleArrays(
            self.windows, self.per_object, self.divider, self.hp_drain, self.no_fail
        )
        self.log_count = np.zeros(1, dtype=np.int64)
        self.enable_log(log_capacity)
        self._history: dict[str, np.ndarray] | None = None
        if cfg.reader_refresh_ms > 0:
            depth = int(np.ceil((cfg.reader_refresh_ms + cfg.reader_delay_ms) / cfg.step_ms)) + 2
            s = self.state
            self._history = {
                name: np.zeros((depth, *getattr(s, name).shape), getattr(s, name).dtype)
                for name in _STATE_FIELDS
            }
            self._history_times = np.full((depth, n_envs), -np.inf)
            self._history_slot = 0

    # -- episodes ---------------------------------------------------------------------------

    def reset(
        self, env_ids: np.ndarray | Sequence[int], map_ids: np.ndarray | Sequence[int]
    ) -> None:
        """Start a new play of ``map_ids[i]`` in env ``env_ids[i]``."""
        s = self.state
        for env, map_id in zip(np.asarray(env_ids).tolist(), np.asarray(map_ids).tolist()):
            self.map_ids[env] = map_id
            self.windows[env] = self._map_windows[map_id]
            self.per_object[env] = self._map_per_object[map_id]
            self.hp_drain[env] = self._map_hp[map_id]
            self.step_count[env] = 0
            self.t0[env] = float(self.first_start[map_id]) - self.config.lead_in_ms
            self.active[env] = True
            self._actions[env] = False
            self._last_event_times[env] = 0.0
            kernel.reset_play(env, map_id, self._maps, self.windows, s)
            if self._history is not None:
                for name, buffer in self._history.items():
                    buffer[:, env] = getattr(s, name)[env]
                self._history_times[:, env] = -np.inf

    # -- stepping ---------------------------------------------------------------------------

    @property
    def clock_ms(self) -> np.ndarray:
        """``(n,)`` clock time of each env's current step."""
        return self.t0 + self.step_count * self.config.step_ms

    @property
    def input_ms(self) -> np.ndarray:
        """``(n,)`` map time at which this step's key changes reach the game (before jitter)."""
        return self.clock_ms + self.config.map_ms(self.config.input_latency_ms)

    @property
    def done(self) -> np.ndarray:
        """``(n,)`` plays that are over: all judged and the last window passed, or failed."""
        s = self.state
        finished = (s.judged >= self.n_objects[self.map_ids]) & (
            self.clock_ms >= self.last_time[self.map_ids]
        )
        return self.active & (finished | s.failed)

    def step(self, actions: np.ndarray) -> None:
        """Apply key states ``actions`` ``(n, K)`` (held = True) at every active env's input time,
        judge, then move every clock one step on."""
        cfg = self.config
        np.copyto(self._actions, actions, casting="unsafe")
        times = self.input_ms
        if cfg.jitter_ms > 0:
            times = times + self.rng.normal(0.0, cfg.map_ms(cfg.jitter_ms), self.n_envs)
        # Jitter must not reorder a play's inputs; map times before 0 count as 0 (stable).
        np.maximum(np.rint(times), self._last_event_times, out=times)
        np.copyto(self._last_event_times, times, where=self.active)
        self.event_times[:] = times
        kernel.step_plays(
            self.event_times, self._actions, self.active, self.map_ids, self._maps,
            self._rules, self.state, self.ghost, self.log, self.log_count,
        )  # fmt: skip
        self.step_count += self.active
        if self._history is not None:
            self._record_history()

    def finish(self, env_ids: np.ndarray | Sequence[int]) -> None:
        """Judge whatever is left of the given plays (everything not yet judged becomes final;
        a play that failed stays judged up to its fail)."""
        s = self.state
        ids = np.zeros(self.n_envs, dtype=np.bool_)
        ids[np.asarray(env_ids, dtype=np.int64)] = True
        far = np.full(self.n_envs, kernel.NEVER - 1, dtype=np.int64)
        kernel.step_plays(
            far, s.key_down, ids & self.active, self.map_ids, self._maps, self._rules,
            s, self.ghost, self.log, self.log_count,
        )  # fmt: skip

    # -- judgement log ----------------------------------------------------------------------

    @property
    def log_capacity(self) -> int:
        """Rows of the judgement log (0: judgements are not logged)."""
        return int(self.log.shape[0])

    def enable_log(self, capacity: int) -> None:
        """Log every judgement from now on in a new, empty log of ``capacity`` rows (0: stop
        logging); rows of the old log are discarded. Drain it often enough for it not to fill up:
        judgements beyond its capacity are dropped."""
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.log = np.zeros((capacity, 6), dtype=np.int64)
        self.log_count[0] = 0

    def drain_log(self) -> np.ndarray:
        """The judgements logged since the last drain, oldest first, and empty the log.

        :returns: a ``(m, 6)`` int64 copy of the rows (see the class docstring for their columns);
            at most :attr:`log_capacity` rows.
        """
        rows = self.log[: min(int(self.log_count[0]), self.log.shape[0])].copy()
        self.log_count[0] = 0
        return rows

    # -- observation ------------------------------------------------------------------------

    def render(self, out: np.ndarray) -> np.ndarray:
        """Write each env's frame at ``clock - capture_latency`` into ``out`` ``(n, H, W)``."""
        s = self.state
        times = self.clock_ms - self.config.map_ms(self.config.capture_latency_ms)
        cursor = self.packed.col_begin[self.map_ids, :-1] + s.cursor
        held = (s.status == kernel.HELD) | (s.status == kernel.REGRABBED)
        return render_frames(out, times, self.map_ids, cursor, held, self.packed, self.geometry)

    # -- game state -------------------------------------------------------------------------

    def accuracy(self) -> np.ndarray:
        """``(n,)`` ScoreV1 accuracy in [0, 1] (1 before any judgement)."""
        return _accuracy(self.state.counts)

    def game_state(self, env: int) -> GameState:
        """The :class:`GameState` of one play (a copy)."""
        s = self.state
        phase = Phase.FAILED if s.failed[env] else Phase.PLAYING
        if self.done[env] and not s.failed[env]:
            phase = Phase.RESULTS
        return GameState(
            time_ms=float(self.clock_ms[env]),
            phase=phase,
            combo=int(s.combo[env]),
            max_combo=int(s.max_combo[env]),
            score=int(s.score[env]),
            accuracy=float(_accuracy(s.counts[env : env + 1])[0]),
            counts=s.counts[env].copy(),
            hp=float(s.hp[env]),
        )

    def _record_history(self) -> None:
        assert self._history is not None
        slot = self._history_slot = (self._history_slot + 1) % self._history_times.shape[0]
        s = self.state
        for name, buffer in self._history.items():
            buffer[slot] = getattr(s, name)
        self._history_times[slot] = self.event_times

    def reported(self) -> dict[str, np.ndarray]:
        """What an emulated memory reader shows now: the state as of the last refresh tick that is
        at least ``reader_delay_ms`` old (requires ``reader_refresh_ms > 0``).

        Returns arrays ``counts (n, 6)``, ``combo``, ``max_combo``, ``score``, ``hp``.
        """
        if self._history is None:
            raise RuntimeError("memory-reader emulation is off (reader_refresh_ms = 0)")
        cfg = self.config
        now = self.event_times.astype(np.float64)
        tick = np.floor((now - cfg.reader_delay_ms) / cfg.reader_refresh_ms) * cfg.reader_refresh_ms
        # Newest recorded state at or before the tick, per env.
        eligible = np.where(self._history_times <= tick[None, :], self._history_times, -np.inf)
        slot = np.argmax(eligible, axis=0)
        envs = np.arange(self.n_envs)
        return {name: buffer[slot, envs] for name, buffer in self._history.items()}


def _window_row(od: float, mods: Mods) -> list[int]:
    w = hit_windows(od, mods)
    return [w.max, w.great, w.good, w.ok, w.meh, w.miss]


@nb.njit(cache=True)
def _accuracy_kernel(counts: np.ndarray, out: np.ndarray) -> None:
    for i in range(counts.shape[0]):
        c = counts[i]
        total = c[0] + c[1] + c[2] + c[3] + c[4] + c[5]
        if total == 0:
            out[i] = 1.0
        else:
            out[i] = (300 * (c[0] + c[1]) + 200 * c[2] + 100 * c[3] + 50 * c[4]) / (300.0 * total)


def _accuracy(counts: np.ndarray) -> np.ndarray:
    out = np.empty(counts.shape[0], dtype=np.float64)
    _accuracy_kernel(counts, out)
    return out
