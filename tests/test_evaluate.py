"""Evaluation: the fast deterministic actions equal SB3's predict, results equal the predict path,
maps of several key counts, the JSON keys, and the training progress bar's end and time left."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ppomania.agent import callbacks
from ppomania.agent.callbacks import Deadline, EvaluationLog, ProgressBar
from ppomania.agent.evaluate import builtin_policy, model_policy, play_maps
from ppomania.agent.inference import DeterministicActions
from ppomania.agent.models import load_model
from ppomania.cli import main
from ppomania.game.beatmap import load_beatmap
from ppomania.game.rules import JUDGEMENT_KEYS
from ppomania.sim.maps import bundled_map_paths

DATA = Path(__file__).parent / "data"
MODEL = DATA / "models" / "ppo-4k.zip"
MAP_4K = DATA / "ppy-osu" / "diffcalc-test.osu"
MAP_7K = DATA / "reamberPy" / "maps" / "AddictionCut.osu"
BUNDLED = next(p for p in bundled_map_paths() if p.name == "1638954.osu")


def _observations(loaded, count: int = 300) -> list[np.ndarray]:
    """Real observations: a batch of two envs over the first part of a bundled map."""
    beatmap = load_beatmap(BUNDLED)
    seen: list[np.ndarray] = []

    class Enough(Exception):
        pass

    def on_step(sim, obs, held):
        seen.append(obs.copy())
        if len(seen) >= count:
            raise Enough

    with pytest.raises(Enough):
        play_maps(
            [beatmap, beatmap],
            builtin_policy("random", 4, seed=1),
            geometry=loaded.geometry,
            on_step=on_step,
        )
    return seen


def test_fast_actions_equal_sb3_predict_on_real_observations():
    loaded = load_model(MODEL)
    fast = DeterministicActions(loaded.model)
    observations = _observations(loaded)
    pressed = 0
    for obs in observations:
        expected, _ = loaded.model.predict(obs, deterministic=True)
        actions = fast(obs)
        assert actions.dtype == expected.dtype and actions.shape == expected.shape
        assert np.array_equal(actions, expected)
        pressed += int(expected.sum())
    assert pressed > 0  # the model presses keys on these frames: a meaningful comparison


def test_fast_actions_equal_sb3_predict_for_discrete_actions():
    from stable_baselines3 import PPO

    from ppomania.agent.policy import HighwayCNN
    from ppomania.env.mania_env import ManiaEnv

    loaded = load_model(MODEL)
    env = ManiaEnv(geometry=loaded.geometry, action_space="discrete")
    torch.manual_seed(0)
    model = PPO(
        "CnnPolicy",
        env,
        policy_kwargs={"features_extractor_class": HighwayCNN, "net_arch": []},
        device="cpu",
    )
    fast = DeterministicActions(model)
    actions = []
    for obs in _observations(loaded, 100):
        expected, _ = model.predict(obs, deterministic=True)
        assert np.array_equal(fast(obs), expected)
        actions.append(expected)
    assert len(np.unique(np.concatenate(actions))) > 1


def test_model_evaluation_equals_the_predict_path_and_restores_threads():
    loaded = load_model(MODEL)
    model, codec, geometry = loaded.model, loaded.codec, loaded.geometry
    beatmaps = [load_beatmap(BUNDLED), load_beatmap(MAP_4K)]

    def predicted(obs, sim):  # the evaluation policy before the fast path
        return codec.decode(model.predict(obs, deterministic=True)[0])

    threads = torch.get_num_threads()
    before = play_maps(beatmaps, predicted, geometry=geometry)
    seen_threads = []

    def on_step(sim, obs, held):
        seen_threads.append(torch.get_num_threads())

    after = play_maps(beatmaps, model_policy(model, codec), geometry=geometry, on_step=on_step)
    assert set(seen_threads) == {1}
    assert torch.get_num_threads() == threads
    for old, new in zip(before, after):
        assert np.array_equal(old.counts, new.counts)
        assert (old.score, old.max_combo, old.failed) == (new.score, new.max_combo, new.failed)
        assert old.events == new.events


def test_model_evaluation_runs_the_network_only_for_envs_that_need_it():
    """Ended plays and envs that see what they saw the step before (the intro, breaks) keep
    their keys without a forward; the plays are those of the full batch every step."""
    loaded = load_model(MODEL)
    beatmaps = [load_beatmap(BUNDLED), load_beatmap(MAP_4K)]
    policy = model_policy(loaded.model, loaded.codec)
    rows, steps = [], []
    forward = policy.actions

    def counted(obs):
        rows.append(len(obs))
        return forward(obs)

    policy.actions = counted
    plays = play_maps(
        beatmaps, policy, geometry=loaded.geometry, on_step=lambda *a: steps.append(1)
    )
    full = model_policy(loaded.model, loaded.codec)
    every = play_maps(beatmaps, lambda obs, sim: full.codec.decode(full.actions(obs)),
                      geometry=loaded.geometry)  # fmt: skip
    assert sum(rows) < 0.8 * len(beatmaps) * len(steps)
    for ours, theirs in zip(plays, every):
        assert ours.events == theirs.events and np.array_equal(ours.counts, theirs.counts)


def test_eval_json_uses_the_verify_replay_keys(capsys):
    assert main(["eval", str(BUNDLED), "--model", str(MODEL), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert [key for key in result if key in JUDGEMENT_KEYS] == list(JUDGEMENT_KEYS)
    assert sum(result[key] for key in JUDGEMENT_KEYS) == load_beatmap(BUNDLED).n_objects


@pytest.mark.parametrize("policy", ["autoplay", "random", "idle"])
def test_eval_plays_maps_of_several_key_counts_in_the_given_order(policy, capsys):
    maps = [MAP_7K, MAP_4K, MAP_7K]
    assert main(["eval", *map(str, maps), "--policy", policy, "--mods", "NF", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["map"] for r in results] == [str(p) for p in maps]
    for result, path in zip(results, maps):
        assert sum(result[key] for key in JUDGEMENT_KEYS) == load_beatmap(path).n_objects
        if policy == "autoplay":
            assert result["accuracy"] == 100.0
    if policy != "random":
        assert results[0] == results[2]


def test_eval_with_a_model_rejects_a_map_of_another_key_count(capsys):
    assert main(["eval", str(MAP_4K), str(MAP_7K), "--model", str(MODEL)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "4K" in err and "7K" in err and "AddictionCut" in err


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _bar(monkeypatch, total: int, minutes: float | None) -> tuple[ProgressBar, _Clock]:
    clock = _Clock()
    monkeypatch.setattr(callbacks.time, "monotonic", clock)
    deadline = Deadline(minutes) if minutes is not None else None
    bar = ProgressBar(total, EvaluationLog(), deadline)
    bar.num_timesteps = 0
    return bar, clock


def _rollouts(bar: ProgressBar, clock: _Clock, seconds: list[float], steps: int) -> None:
    """Rollouts (with their update) that take ``seconds`` each and collect ``steps``."""
    for duration in seconds:
        bar.on_rollout_start()
        clock.now += duration
        bar.num_timesteps += steps
    bar.on_rollout_start()


def test_progress_shows_no_estimate_during_the_warm_up(monkeypatch):
    bar, clock = _bar(monkeypatch, 2_000_000, None)
    _rollouts(bar, clock, [60.0], 2048)  # numba compiling
    assert bar.expected_end() == (2_000_000, None)


def test_progress_ends_at_the_steps_when_they_come_first(monkeypatch):
    bar, clock = _bar(monkeypatch, 10_000, 60.0)
    _rollouts(bar, clock, [30.0, 1.0, 1.0], 1000)  # then 1000 steps/s
    assert bar.expected_end() == (10_000, pytest.approx(7.0))


def test_progress_ends_at_the_time_budget_when_it_comes_first(monkeypatch):
    bar, clock = _bar(monkeypatch, 2_000_000, 7.0)
    _rollouts(bar, clock, [30.0, 2.0, 2.0], 2000)  # then 1000 steps/s, 386 s left
    total, left = bar.expected_end()
    assert left == pytest.approx(7 * 60 - 34.0)
    assert total == 6000 + 386_000


def test_progress_past_the_total_ends_at_the_steps_done(monkeypatch):
    bar, clock = _bar(monkeypatch, 2500, None)
    _rollouts(bar, clock, [30.0, 1.0, 1.0], 1000)  # PPO's last rollout runs past the total
    assert bar.expected_end() == (3000, 0.0)
