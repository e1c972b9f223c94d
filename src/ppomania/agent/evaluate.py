"""Evaluation: play maps in the simulator with a policy, judge, score, rate and write replays.

Every map is played once, deterministically, one env per map in one :class:`BatchedSim`. The key
events the policy produced are judged again by the game core's reference judge: its judgements
(with hit errors) feed the replay, the plots and the results, and its counts must equal the sim's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ppomania.agent.inference import DeterministicActions
from ppomania.agent.models import one_torch_thread
from ppomania.env.spaces import ActionCodec
from ppomania.game.beatmap import Beatmap
from ppomania.game.judge import HitResult, KeyEvent, judge_play
from ppomania.game.replay import Replay, events_to_frames, write_replay
from ppomania.game.rules import JUDGEMENT_KEYS, JUDGEMENT_LABELS, Mods
from ppomania.game.score import accuracy, grade
from ppomania.sim.autoplay import autoplay_actions
from ppomania.sim.core import BatchedSim, SimConfig
from ppomania.sim.maps import rosu_beatmap
from ppomania.sim.render import FrameStack, HighwayGeometry
from ppomania.text import printable

#: ``(observations (n, 4, H, W), sim) -> held keys (n, K)``.
Policy = Callable[[np.ndarray, BatchedSim], np.ndarray]


@dataclass
class PlayResult:
    """One evaluated play."""

    beatmap: Beatmap
    mods: Mods
    counts: np.ndarray
    score: int
    max_combo: int
    failed: bool
    events: list[KeyEvent] = field(repr=False)
    results: list[HitResult] = field(repr=False)
    stars: float | None = None
    pp: float | None = None

    @property
    def accuracy(self) -> float:
        return accuracy(self.counts)

    @property
    def grade(self) -> str:
        return grade(self.counts, self.mods)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object: map, counts, accuracy (percent), score, max combo, grade, stars, pp."""
        result: dict[str, Any] = {"map": self.beatmap.path or self.beatmap.display_name}
        result.update({key: int(n) for key, n in zip(JUDGEMENT_KEYS, self.counts)})
        result.update(
            accuracy=round(100 * self.accuracy, 4),
            score=int(self.score),
            max_combo=int(self.max_combo),
            grade=self.grade,
            failed=self.failed,
        )
        if self.stars is not None:
            result.update(stars=round(self.stars, 4), pp=round(self.pp or 0.0, 3))
        return result


def builtin_policy(name: str, keys: int, seed: int = 0) -> Policy:
    """``autoplay`` (presses every note at its time), ``random`` (coin flips) or ``idle``."""
    if name == "autoplay":

        def autoplay(obs: np.ndarray, sim: BatchedSim) -> np.ndarray:
            out = np.zeros((sim.n_envs, keys), dtype=np.bool_)
            times = sim.input_ms
            packed = sim.packed
            return autoplay_actions(
                times, sim.map_ids, packed.col_begin, packed.starts, packed.ends,
                sim.config.step_ms, out,
            )  # fmt: skip

        return autoplay
    if name == "random":
        rng = np.random.default_rng(seed)
        return lambda obs, sim: rng.random((sim.n_envs, keys)) < 0.5
    if name == "idle":
        return lambda obs, sim: np.zeros((sim.n_envs, keys), dtype=np.bool_)
    raise ValueError(f"unknown policy {name!r}; built-in policies: autoplay, random, idle")


class ModelPolicy:
    """The deterministic policy of an SB3 model: exactly ``model.predict(obs, deterministic=True)``
    (via :class:`~ppomania.agent.inference.DeterministicActions`).

    Only the envs that need it go through the network: not those whose play has ended, and not
    those that see exactly what they saw the step before (an intro, a break: a deterministic policy
    answers the same), which keep their keys.

    Also a context manager, which :func:`play_maps` enters for the play: torch runs on one thread
    inside, restored afterwards (a forward on a few envs per step; a second thread made it ~10×
    slower once another process wanted the cores, and gained nothing on a quiet machine).
    """

    def __init__(self, model: Any, codec: ActionCodec) -> None:
        self.actions = DeterministicActions(model)
        self.codec = codec
        self._threads: contextlib.AbstractContextManager[None] | None = None
        self._seen: np.ndarray | None = None  # each env's last observation, and its keys
        self._held: np.ndarray | None = None

    def __call__(self, obs: np.ndarray, sim: BatchedSim) -> np.ndarray:
        n = obs.shape[0]
        if self._seen is None or self._held is None or self._seen.shape != obs.shape:
            self._seen = np.empty_like(obs)
            self._held = np.zeros((n, sim.keys), np.bool_)
            todo = np.flatnonzero(sim.active)
        else:
            same = (obs.reshape(n, -1) == self._seen.reshape(n, -1)).all(axis=1)
            todo = np.flatnonzero(sim.active & ~same)
        if todo.size:
            self._held[todo] = self.codec.decode(self.actions(obs[todo]))
        self._held[~sim.active] = False
        np.copyto(self._seen, obs)
        return self._held.copy()

    def __enter__(self) -> ModelPolicy:
        self._seen = self._held = None
        self._threads = one_torch_thread()
        self._threads.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.__exit__(*exc_info)


def model_policy(model: Any, codec: ActionCodec) -> ModelPolicy:
    """A deterministic policy from an SB3 model (see :class:`ModelPolicy`)."""
    return ModelPolicy(model, codec)


def play_maps(
    beatmaps: Sequence[Beatmap],
    policy: Policy,
    sim_config: SimConfig | None = None,
    geometry: HighwayGeometry | None = None,
    rate: bool = False,
    on_step: Callable[[BatchedSim, np.ndarray, np.ndarray], None] | None = None,
) -> list[PlayResult]:
    """Play each map once with ``policy`` and return the judged plays, in map order.

    :param beatmaps: maps with one key count.
    :param policy: see :data:`Policy`; one that is a context manager (a :class:`ModelPolicy`) is
        entered for the play.
    :param sim_config: timing and mods. Default ``SimConfig()``.
    :param geometry: the observation's geometry (must match the policy's). Default for the keys.
    :param rate: add star rating and pp from rosu-pp-py. Default False.
    :param on_step: called after every step with ``(sim, observations, held)`` (the live window).
    """
    context = policy if isinstance(policy, contextlib.AbstractContextManager) else None
    with context or contextlib.nullcontext():
        return _play(beatmaps, policy, sim_config or SimConfig(), geometry, rate, on_step)


def play_maps_by_keys(
    beatmaps: Sequence[Beatmap],
    policy_for: Callable[[int], Policy],
    sim_config: SimConfig | None = None,
    rate: bool = False,
    geometry_for: Callable[[int], HighwayGeometry | None] | None = None,
) -> list[PlayResult]:
    """:func:`play_maps` for maps of several key counts: one batched simulator per key count
    (played by ``policy_for(keys)``, on ``geometry_for(keys)``, default the default geometry), the
    plays in the maps' order."""
    plays: dict[int, PlayResult] = {}
    for keys in sorted({b.keys for b in beatmaps}):
        group = [i for i, beatmap in enumerate(beatmaps) if beatmap.keys == keys]
        geometry = geometry_for(keys) if geometry_for is not None else None
        played = play_maps(
            [beatmaps[i] for i in group], policy_for(keys), sim_config, geometry, rate=rate
        )
        plays.update(zip(group, played))
    return [plays[i] for i in range(len(beatmaps))]


def _play(
    beatmaps: Sequence[Beatmap],
    policy: Policy,
    config: SimConfig,
    geometry: HighwayGeometry | None,
    rate: bool,
    on_step: Callable[[BatchedSim, np.ndarray, np.ndarray], None] | None,
) -> list[PlayResult]:
    mods = config.mods
    n = len(beatmaps)
    sim = BatchedSim(beatmaps, n, config, geometry)
    sim.reset(np.arange(n), np.arange(n))
    stack = FrameStack(n, sim.geometry.shape)
    frames = np.empty((n, *sim.geometry.shape), dtype=np.uint8)
    sim.render(frames)
    stack.reset(None, frames)
    events: list[list[KeyEvent]] = [[] for _ in range(n)]
    previous = np.zeros((n, sim.keys), dtype=np.bool_)
    while sim.active.any():
        obs = stack.stack
        held = np.asarray(policy(obs, sim), dtype=np.bool_).reshape(n, sim.keys)
        held &= sim.active[:, None]
        sim.step(held)
        changed = np.argwhere(held != previous)
        for env, column in changed.tolist():
            events[env].append(KeyEvent(int(sim.event_times[env]), column, bool(held[env, column])))
        np.copyto(previous, held)
        sim.render(stack.advance())
        if on_step is not None:
            on_step(sim, stack.stack, held)
        sim.active &= ~sim.done
    state = sim.state
    results = []
    for env, beatmap in enumerate(beatmaps):
        failed = bool(state.failed[env])
        judged = judge_play(beatmap, events[env], mods)
        if not np.array_equal(judged.state.counts, state.counts[env]):
            raise AssertionError(
                f"simulator and reference judge disagree on {beatmap.name}: "
                f"{state.counts[env].tolist()} vs {judged.state.counts.tolist()}"
            )
        result = PlayResult(
            beatmap=beatmap,
            mods=mods,
            counts=state.counts[env].copy(),
            score=int(state.score[env]),
            max_combo=int(state.max_combo[env]),
            failed=failed,
            events=events[env],
            results=judged.results,
        )
        if rate:
            result.stars, result.pp = star_rating_and_pp(beatmap, result)
        results.append(result)
    return results


def star_rating_and_pp(beatmap: Beatmap, play: PlayResult) -> tuple[float, float]:
    """Star rating and pp of a play (rosu-pp-py, stable ScoreV1 weighting; a failed play earns 0 pp)."""
    import rosu_pp_py as rosu

    rosu_map = rosu_beatmap(beatmap)
    mods = int(play.mods & ~Mods.MIRROR)
    c = [int(x) for x in play.counts]
    performance = rosu.Performance(
        mods=mods, n_geki=c[0], n300=c[1], n_katu=c[2], n100=c[3], n50=c[4], misses=c[5],
        lazer=False,
    ).calculate(rosu_map)  # fmt: skip
    return float(performance.difficulty.stars), 0.0 if play.failed else float(performance.pp)


def write_play_replay(play: PlayResult, path: str | Path, player: str = "ppomania") -> Path:
    """Write ``play`` as an ``.osr`` that osu!stable can load (header = the judged play)."""
    end = int(play.beatmap.duration_ms) + 1000
    replay = Replay(
        beatmap_md5=play.beatmap.md5,
        player=player,
        score=play.score,
        max_combo=play.max_combo,
        perfect=int(play.counts[5]) == 0,
        mods=play.mods,
        timestamp=dt.datetime.now(dt.timezone.utc),
        frames=events_to_frames(play.events, end),
    )
    replay.counts = play.counts
    return write_replay(replay, path)


def sanitize_name(name: str) -> str:
    """A file-name stem from a map name: runs of other characters than ``[A-Za-z0-9._-]`` become
    ``_`` (at most 80 characters; ``"map"`` if nothing is left)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80]
    return stem or "map"


def results_table(plays: Sequence[PlayResult], labels: Sequence[str] | None = None) -> str:
    """A plain-text table, one row per play; ``labels`` name the rows (default: the map names)."""
    header = ["map" if labels is None else "", *JUDGEMENT_LABELS]
    header += ["acc%", "score", "combo", "grade", "stars", "pp"]
    rows = []
    for index, play in enumerate(plays):
        name = printable(labels[index] if labels is not None else play.beatmap.display_name[:48])
        row = [name + (" (failed)" if play.failed else "")]
        row += [str(int(n)) for n in play.counts]
        row += [f"{100 * play.accuracy:.2f}", str(play.score), str(play.max_combo), play.grade]
        row += [
            f"{play.stars:.2f}" if play.stars is not None else "-",
            f"{play.pp:.1f}" if play.pp is not None else "-",
        ]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        )
        for row in [header, *rows]
    )
