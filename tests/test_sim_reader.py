"""The simulator's emulation of the memory reader's cadence and delay."""

from __future__ import annotations

import numpy as np
import pytest

from ppomania.env import ManiaVecEnv
from ppomania.game.rules import Mods
from ppomania.sim.core import BatchedSim, SimConfig
from ppomania.sim.patterns import PatternConfig, generate_map

MAP = generate_map(PatternConfig(duration_s=20, density=(6.0, 8.0)), seed=5)


def _autoplay_sim(config: SimConfig) -> tuple[BatchedSim, list[tuple[float, np.ndarray]], list]:
    from ppomania.sim.autoplay import autoplay_actions

    sim = BatchedSim([MAP], 1, config)
    sim.reset([0], [0])
    held = np.zeros((1, MAP.keys), dtype=np.bool_)
    truth: list[tuple[float, np.ndarray]] = []
    shown = []
    while not sim.done[0]:
        packed = sim.packed
        autoplay_actions(
            sim.input_ms, sim.map_ids, packed.col_begin, packed.starts, packed.ends,
            config.step_ms, held,
        )  # fmt: skip
        sim.step(held)
        truth.append((float(sim.event_times[0]), sim.state.counts[0].copy()))
        shown.append((float(sim.event_times[0]), sim.reported()["counts"][0].copy()))
    return sim, truth, shown


def test_reported_state_is_the_state_at_the_last_refresh_tick_before_the_delay():
    config = SimConfig(reader_refresh_ms=100.0, reader_delay_ms=50.0, mods=Mods.NO_FAIL)
    sim, truth, shown = _autoplay_sim(config)
    times = np.array([t for t, _ in truth])
    lagging = 0
    for (now, reported), (_, actual) in zip(shown, truth):
        tick = np.floor((now - 50.0) / 100.0) * 100.0
        # The newest true state recorded at or before the tick.
        index = np.searchsorted(times, tick, side="right") - 1
        expected = truth[index][1] if index >= 0 else np.zeros(6, dtype=np.int64)
        assert np.array_equal(reported, expected), (now, reported, expected)
        lagging += int(reported.sum() < actual.sum())
    assert lagging > len(shown) // 4  # the reader is behind for a good share of the steps
    assert shown[-1][1].sum() <= sim.state.counts[0].sum()


def test_reward_from_the_reader_arrives_late_but_adds_up_the_same():
    """Autoplay (no ghost presses): the same judgements are rewarded, only later."""
    from ppomania.sim.autoplay import autoplay_actions

    # tail_ms lets the reader catch up with the last judgements before the play ends.
    exact = ManiaVecEnv([MAP], 1, SimConfig(mods=Mods.NO_FAIL, tail_ms=300.0))
    late = ManiaVecEnv(
        [MAP], 1,
        SimConfig(mods=Mods.NO_FAIL, tail_ms=300.0, reader_refresh_ms=100.0, reader_delay_ms=50.0),
    )  # fmt: skip
    rewards: dict[str, list[float]] = {"exact": [], "late": []}
    for name, env in (("exact", exact), ("late", late)):
        env.reset()
        held = np.zeros((1, MAP.keys), dtype=np.bool_)
        done = False
        while not done:
            sim, packed = env.sim, env.sim.packed
            autoplay_actions(
                sim.input_ms, sim.map_ids, packed.col_begin, packed.starts, packed.ends,
                sim.config.step_ms, held,
            )  # fmt: skip
            _, reward, dones, _ = env.step(held.astype(np.int8))
            rewards[name].append(float(reward[0]))
            done = bool(dones[0])
    exact_cum, late_cum = np.cumsum(rewards["exact"]), np.cumsum(rewards["late"])
    assert len(exact_cum) == len(late_cum)
    assert late_cum[-1] == pytest.approx(exact_cum[-1]) and exact_cum[-1] > 0
    assert (late_cum <= exact_cum + 1e-4).all()  # never ahead of the game
    behind = np.flatnonzero(late_cum < exact_cum - 1e-4)
    assert len(behind) > len(exact_cum) // 4
    # No more behind than the reader's period plus its delay.
    lag_steps = int(np.ceil(150.0 / SimConfig().step_ms))
    assert (late_cum[lag_steps:] >= exact_cum[:-lag_steps] - 1e-4).all()
