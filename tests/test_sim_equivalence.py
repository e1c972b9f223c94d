"""The batched simulator against the reference judge, judgement for judgement.

Random held-state actions (flip probability varied per env, so holds get held, broken,
re-grabbed and overheld) drive :class:`BatchedSim` over real maps; each env's key events are
rebuilt from its actions and :attr:`BatchedSim.event_times`, judged again by :func:`judge_play`,
and every judgement (time, column, object, kind, hit error) plus the final score state must agree
exactly.

Not covered: Mirror. The reference judge flips the map's columns under :attr:`Mods.MIRROR`; the
simulator does not (it plays the maps it is given), so a mirrored play in the sim is a play of
``beatmap.mirrored()``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ppomania.game import judge as judge_states
from ppomania.game import load_beatmap
from ppomania.game.beatmap import Beatmap
from ppomania.game.judge import HitResult, Judge, KeyEvent, judge_play
from ppomania.game.rules import Judgement, Mods, hit_windows
from ppomania.game.score import Phase
from ppomania.sim import kernel
from ppomania.sim.core import BatchedSim, SimConfig

DATA = Path(__file__).parent / "data"
MAPS_4K = {
    "magic": DATA / "reamberPy/maps/MAGiCVLGiRL_ZVPH.osu",
    "hehehe": DATA / "YAVSRG/Cardboard Box - He He He (DannyPX) [SPEEEDDD!!!].osu",
    "raijin": DATA / "Mania-Replay-Master/Sound Horizon - Raijin no Hidariude (-Kamikaze-) "
    "[Tempest w _underjoy].osu",
    "carnation": DATA / "Mania-Replay-Master/ck - Carnation (ck remix) (Gekido-) [LN Master].osu",
    "finixe": DATA / "reamberPy/maps/Finixe.osu",
    "sewing": DATA / "Mania-Replay-Master/20220812-110445-Sewing.osu",
    "diffcalc": DATA / "ppy-osu/diffcalc-test.osu",
    "4869637": DATA / "ppy-osu/4869637.osu",
    "backbeat": DATA / "YAVSRG/Camellia - Backbeat Maniac (Evening) [Rewind VIP].osu",
}
MAPS_7K = {
    "doppelganger": DATA / "reamberPy/maps/DoppelGanger.osu",
    "addictioncut": DATA / "reamberPy/maps/AddictionCut.osu",
    "zenithalize": DATA / "reamberPy/maps/ZENITHALIZE_19.osu",
}

_CACHE: dict[str, Beatmap] = {}


def beatmap(name: str) -> Beatmap:
    if name not in _CACHE:
        _CACHE[name] = load_beatmap({**MAPS_4K, **MAPS_7K}[name])
    return _CACHE[name]


@dataclass
class Run:
    """One random play per env, with what the reference needs to judge it again."""

    sim: BatchedSim
    events: list[list[KeyEvent]]
    #: Per env, the judge time of its last step (where a play that failed stopped).
    last_time: np.ndarray
    finished: np.ndarray  # the play ended by itself (done), not by the step limit


def random_play(
    maps: list[Beatmap],
    flip_p: list[float],
    config: SimConfig,
    max_steps: int,
    seed: int,
) -> Run:
    """Env ``i`` plays ``maps[i]`` with keys flipping with probability ``flip_p[i]`` per step.

    Steps until every play is done or ``max_steps`` passed, then :meth:`BatchedSim.finish` judges
    what is left of the plays still running.
    """
    n = len(maps)
    capacity = sum(b.n_objects for b in maps)
    sim = BatchedSim(maps, n, config, seed=seed, log_capacity=capacity)
    sim.reset(np.arange(n), np.arange(n))
    rng = np.random.default_rng(seed)
    p = np.asarray(flip_p)[:, None]
    held = np.zeros((n, sim.keys), dtype=np.bool_)
    events: list[list[KeyEvent]] = [[] for _ in range(n)]
    last_time = np.full(n, -1, dtype=np.int64)
    finished = np.zeros(n, dtype=np.bool_)
    for _ in range(max_steps):
        if not sim.active.any():
            break
        new = held ^ (rng.random(held.shape) < p)
        stepped = sim.active.copy()
        sim.step(new)
        times = sim.event_times
        changed = (new != held) & stepped[:, None]
        for env, column in zip(*np.nonzero(changed), strict=True):
            events[env].append(KeyEvent(int(times[env]), int(column), bool(new[env, column])))
        last_time[stepped] = times[stepped]
        held = new
        done = np.flatnonzero(sim.done)
        finished[done] = True
        sim.active[done] = False  # a done play is stepped no more
    sim.finish(np.arange(n))
    assert sim.log_count[0] <= capacity
    return Run(sim, events, last_time, finished)


def sim_results(run: Run, env: int) -> list[HitResult]:
    """The sim's log rows of ``env`` as reference :class:`HitResult` s."""
    sim = run.sim
    log = sim.log[: sim.log_count[0]]
    rows = log[log[:, 0] == env]
    return [
        HitResult(
            int(t),
            int(column),
            int(sim.packed.object_index[packed]),
            Judgement(int(j)),
            None if error == kernel.NO_ERROR else int(error),
        )
        for _, t, column, packed, j, error in rows.tolist()
    ]


def assert_same_results(actual: list[HitResult], expected: list[HitResult], what: str) -> None:
    for i, (a, e) in enumerate(zip(actual, expected, strict=False)):
        assert a == e, f"{what}: judgement {i} differs: sim {a}, reference {e}"
    assert len(actual) == len(expected), f"{what}: {len(actual)} judgements vs {len(expected)}"


def assert_same_state(sim: BatchedSim, env: int, state, what: str) -> None:
    s = sim.state
    assert s.counts[env].tolist() == state.counts.tolist(), what
    assert int(s.score[env]) == state.score, what
    assert int(s.combo[env]) == state.combo, what
    assert int(s.max_combo[env]) == state.max_combo, what
    assert float(s.hp[env]) == state.hp, what
    assert float(sim.accuracy()[env]) == state.accuracy, what


def out_of_order_bookings(results: list[HitResult]) -> int:
    """Judgements that arrive after a later object's judgement of the same millisecond (the
    score processors put them back in object order)."""
    return sum(
        a.time_ms == b.time_ms and b.object_index < a.object_index
        for a, b in itertools.pairwise(results)
    )


def check_against_reference(run: Run, maps: list[Beatmap], mods: Mods) -> None:
    for env, bm in enumerate(maps):
        what = f"env {env} ({bm.name}, {mods!r})"
        # Events are fed in the order the sim applied them; the sim's times never go back here.
        times = [e.time_ms for e in run.events[env]]
        assert times == sorted(times), f"{what}: event times go back"
        play = judge_play(bm, run.events[env], mods)
        assert_same_results(sim_results(run, env), play.results, what)
        assert len(play.results) == bm.n_objects
        assert_same_state(run.sim, env, play.state, what)


FOUR_K = [
    "magic", "hehehe", "raijin", "carnation", "finixe", "sewing", "diffcalc", "4869637", "backbeat"
]  # fmt: skip
FLIPS_4K = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.12, 0.08]
#: 150 s of 60 Hz steps: most maps end by themselves, the longest are finished early.
STEPS = 9000


def test_random_plays_match_reference_4k():
    maps = [beatmap(name) for name in FOUR_K]
    config = SimConfig(mods=Mods.NO_FAIL, jitter_ms=2.0)
    run = random_play(maps, FLIPS_4K, config, STEPS, seed=1)
    assert run.finished.any() and not run.finished.all()  # both ends of a play are covered
    check_against_reference(run, maps, Mods.NO_FAIL)
    counts = run.sim.state.counts
    # The random plays reach every judgement kind, holds included.
    assert (counts.sum(axis=0) > 0).all(), counts
    # Chords taken in one step arrive in column order, not always object order.
    assert sum(out_of_order_bookings(sim_results(run, env)) for env in range(len(maps))) > 0


def test_random_plays_match_reference_7k():
    maps = [beatmap("doppelganger"), beatmap("addictioncut"), beatmap("zenithalize")]
    config = SimConfig(mods=Mods.NO_FAIL, jitter_ms=2.0)
    run = random_play(maps, [0.08, 0.3, 0.2], config, STEPS, seed=2)
    check_against_reference(run, maps, Mods.NO_FAIL)


def test_hold_paths_are_exercised():
    """Random plays of an LN map reach every hold path: held, broken, head missed, re-grabbed,
    released in the tail window, overheld, and the early-head quirk."""
    bm = beatmap("carnation")  # LN heavy
    config = SimConfig(mods=Mods.NO_FAIL, jitter_ms=2.0)
    run = random_play([bm, bm, bm], [0.03, 0.1, 0.3], config, 2400, seed=3)
    check_against_reference(run, [bm, bm, bm], Mods.NO_FAIL)
    windows = hit_windows(bm.od, Mods.NO_FAIL)
    seen: set[int] = set()  # hold statuses the reference judge went through
    outcomes = {"tail window": 0, "overheld": 0, "re-grabbed": 0, "early head": 0}
    for env in range(3):
        judge = Judge(bm, Mods.NO_FAIL)
        for event in run.events[env]:
            judge.feed(event)
            for column in range(bm.keys):
                index = judge._current(column)
                if index >= 0 and judge._holds[index]:
                    seen.add(judge._status[index])
        for r in sim_results(run, env):
            start, end = int(bm.starts[r.object_index]), int(bm.ends[r.object_index])
            if end == start or r.judgement == Judgement.MISS:
                continue
            if r.time_ms == end + windows.ok:
                outcomes["overheld"] += 1
            elif r.time_ms >= end - windows.meh:
                outcomes["tail window"] += 1
            if r.hit_error_ms is None:
                outcomes["re-grabbed"] += 1
            elif r.hit_error_ms < -windows.meh:
                outcomes["early head"] += 1
    held_paths = (
        judge_states.HELD,
        judge_states.BROKEN,
        judge_states.EARLY_BROKEN,
        judge_states.HEAD_MISSED,
    )
    assert set(held_paths) | {judge_states.REGRABBED} <= seen
    assert all(n > 0 for n in outcomes.values()), outcomes


@pytest.mark.parametrize(
    "mods",
    [
        Mods.HARD_ROCK,
        Mods.EASY,
        Mods.DOUBLE_TIME,
        Mods.HALF_TIME,
        Mods.HARD_ROCK | Mods.DOUBLE_TIME,
        Mods.EASY | Mods.HALF_TIME,
    ],
    ids=["HR", "EZ", "DT", "HT", "HRDT", "EZHT"],
)
def test_random_plays_match_reference_with_mods(mods):
    maps = [beatmap("magic"), beatmap("carnation"), beatmap("diffcalc")]
    mods = mods | Mods.NO_FAIL
    config = SimConfig(mods=mods, jitter_ms=2.0)
    assert config.step_ms == pytest.approx(1000 / 60 * mods.rate)
    run = random_play(maps, [0.06, 0.15, 0.3], config, 1500, seed=4)
    check_against_reference(run, maps, mods)


def test_failed_play_matches_the_reference():
    """Without NoFail a play stops when health runs out: the simulator and the reference judge
    both judge up to the failing millisecond and no further, and neither :meth:`Judge.finish`
    nor :meth:`BatchedSim.finish` judges the rest of the map."""
    maps = [beatmap("hehehe"), beatmap("carnation"), beatmap("magic")]
    config = SimConfig(jitter_ms=2.0)
    run = random_play(maps, [0.05, 0.2, 0.4], config, 3600, seed=5)
    sim = run.sim
    for env, bm in enumerate(maps):
        what = f"env {env} ({bm.name})"
        assert sim.state.failed[env], what
        assert run.finished[env], what
        actual = sim_results(run, env)
        play = judge_play(bm, run.events[env])
        assert play.state.phase == Phase.FAILED and play.state.hp == 0.0, what
        assert play.failed_at_ms == int(sim.state.batch_time[env]) == actual[-1].time_ms, what
        assert 0 < len(actual) < bm.n_objects, what
        assert_same_results(actual, play.results, what)
        assert_same_state(sim, env, play.state, what)
        # The same events, judged to the last step's time: the fail stops the judge there too.
        judge = Judge(bm)
        for event in run.events[env]:
            judge.feed(event)
        judge.advance(int(run.last_time[env]))
        assert_same_results(actual, judge.results, what)
        assert judge.finish() == [], what
        assert judge.failed_at_ms == play.failed_at_ms, what
    logged = int(sim.log_count[0])
    sim.active[:] = True  # random_play stopped the failed plays; finishing them judges nothing
    sim.finish(np.arange(len(maps)))
    assert int(sim.log_count[0]) == logged


def test_drain_log_takes_the_rows_out():
    """:meth:`BatchedSim.drain_log` hands out the logged rows once, oldest first, at most the
    capacity (later ones are dropped); :meth:`BatchedSim.enable_log` starts an empty log."""
    maps = [beatmap("diffcalc")]
    # NoFail: finish() judges every object (a failed play is judged only up to its fail).
    run = random_play(maps, [0.3], SimConfig(mods=Mods.NO_FAIL), 600, seed=2)
    sim = run.sim
    logged = sim.log[: sim.log_count[0]].copy()
    rows = sim.drain_log()
    assert np.array_equal(rows, logged) and len(rows) == maps[0].n_objects
    assert sim.drain_log().shape == (0, 6)
    sim.enable_log(3)
    assert sim.log_capacity == 3
    sim.reset([0], [0])
    for _ in range(600):
        sim.step(np.ones((1, sim.keys), dtype=np.bool_))
    sim.finish([0])
    assert sim.log_count[0] > 3
    rows = sim.drain_log()
    assert rows.shape == (3, 6) and (np.diff(rows[:, 1]) >= 0).all()
    assert sim.log_count[0] == 0
