"""The bundled models: found per key count in a folder (here a temporary one with the test model,
exported as the shipped ones are), the default of play, watch and eval, announced in one line; a
key count without one is a one-line error; --model and --policy still choose."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import ppomania
from ppomania.agent import bundled
from ppomania.agent.bundled import bundled_model_path, bundled_models_folder
from ppomania.agent.model_file import read_model_file, write_model_file
from ppomania.cli import main
from ppomania.env.spaces import default_geometry
from ppomania.game.beatmap import load_beatmap
from ppomania.game.osu_writer import beatmap_to_osu
from ppomania.game.rules import JUDGEMENT_KEYS
from ppomania.sim.patterns import PatternConfig, generate_map

MODEL = Path(__file__).parent / "data" / "models" / "ppo-4k.zip"


def write_untrained_model(path: Path, like: Path, keys: int) -> Path:
    """A model file for ``keys`` keys with the architecture of ``like`` and fresh weights."""
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    description = read_model_file(like)[0]
    description = dataclasses.replace(description, geometry=default_geometry(keys))
    policy = ActorCriticCnnPolicy(
        description.observation_space(),
        description.action_space(),
        lambda _: 0.0,
        **description.policy.policy_kwargs(),
    )
    return write_model_file(path, description, policy.state_dict())


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> Path:
    """A folder with ``4k.zip``: the test model through ``ppomania export``."""
    folder = tmp_path_factory.mktemp("models")
    assert main(["export", str(MODEL), "-o", str(folder / "4k.zip")]) == 0
    return folder


@pytest.fixture
def models(shipped, monkeypatch) -> Path:
    """The bundled models are those in ``shipped``."""
    monkeypatch.setattr(bundled, "bundled_models_folder", lambda: shipped)
    return shipped


@pytest.fixture(scope="module")
def maps(tmp_path_factory) -> dict[int, Path]:
    """Short generated 4K and 7K maps."""
    folder = tmp_path_factory.mktemp("maps")
    paths = {}
    for keys, seconds in ((4, 8), (7, 4)):
        paths[keys] = folder / f"{keys}k.osu"
        paths[keys].write_bytes(
            beatmap_to_osu(generate_map(PatternConfig(keys=keys, duration_s=seconds)))
        )
    return paths


def test_the_lookup_finds_a_model_per_key_count(shipped, tmp_path):
    assert bundled_models_folder() == Path(ppomania.__file__).parent / "data" / "models"
    assert bundled_model_path(4, shipped) == shipped / "4k.zip"
    assert bundled_model_path(7, shipped) is None
    assert bundled_model_path(4, tmp_path / "nothing") is None


def test_eval_plays_the_bundled_model_by_default(models, maps, capsys):
    assert main(["eval", str(maps[4]), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == f"using the bundled 4K model ({models / '4k.zip'})\n"
    assert main(["eval", str(maps[4]), "--model", str(models / "4k.zip"), "--json"]) == 0
    explicit, err = capsys.readouterr()
    assert "bundled" not in err
    assert json.loads(out) == json.loads(explicit)


def test_a_key_count_without_a_bundled_model_is_a_one_line_error(models, maps, capsys):
    assert main(["eval", str(maps[4]), str(maps[7])]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[-1] == (
        "ppomania eval: error: no bundled model for 7K maps: pass --model (a run folder or "
        "model .zip) or --policy"
    )


def test_eval_plays_each_key_count_with_its_own_bundled_model(
    models, maps, capsys, tmp_path, monkeypatch
):
    # the shipped 4K model and a 7K one with fresh weights
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "4k.zip").write_bytes((models / "4k.zip").read_bytes())
    write_untrained_model(folder / "7k.zip", models / "4k.zip", 7)
    monkeypatch.setattr(bundled, "bundled_models_folder", lambda: folder)
    order = [maps[7], maps[4], maps[7]]
    assert main(["eval", *map(str, order), "--mods", "NF", "--json"]) == 0  # an untrained 7K fails
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"using the bundled 4K model ({folder / '4k.zip'})",
        f"using the bundled 7K model ({folder / '7k.zip'})",
    ]
    results = json.loads(out)
    assert [r["map"] for r in results] == list(map(str, order))
    for result, path in zip(results, order):
        assert sum(result[key] for key in JUDGEMENT_KEYS) == load_beatmap(path).n_objects
    assert results[0] == results[2]


def test_policy_and_model_still_choose(models, maps, capsys):
    assert main(["eval", str(maps[7]), "--policy", "idle", "--json"]) == 0
    assert "bundled" not in capsys.readouterr().err
    assert main(["eval", str(maps[7]), "--model", str(MODEL)]) == 2
    assert "the model plays 4K" in capsys.readouterr().err


def test_watch_plays_the_bundled_model_by_default(models, maps, capsys, monkeypatch):
    import torch

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    threads = torch.get_num_threads()  # watch sets 1: give the rest of the session its own
    try:
        assert main(["watch", str(maps[4]), "--seconds", "0.3", "--speed", "0"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert capsys.readouterr().err == f"using the bundled 4K model ({models / '4k.zip'})\n"
    assert main(["watch", str(maps[7])]) == 2
    assert "no bundled model for 7K maps" in capsys.readouterr().err


def test_play_picks_the_bundled_model_of_the_map(models, maps, capsys, monkeypatch):
    import ppomania.env.live_env as live_env

    def no_game(*args, **kwargs):
        assert args[2] is not None and kwargs["client"] is None  # the model's geometry
        raise ValueError("no game here")

    monkeypatch.setattr(live_env, "LiveManiaEnv", no_game)
    area = ["--area", "0,0,64,48"]
    assert main(["play", "--map", str(maps[4]), *area]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"using the bundled 4K model ({models / '4k.zip'})",
        "ppomania play: error: no game here",
    ]
    assert main(["play", "--map", str(maps[7]), *area]) == 2
    assert "no bundled model for 7K maps" in capsys.readouterr().err


def test_play_without_a_map_asks_the_game_state_for_the_key_count(models, capsys, monkeypatch):
    import ppomania.live.state_client as state_client
    from ppomania.game.score import GameState
    from ppomania.live.state_client import LiveState
    from ppomania.protocol.snapshot import BeatmapInfo, GameSnapshot

    closed = []

    class FakeClient:
        def __init__(self, host="127.0.0.1", port=0):
            self.url = f"http://{host}:{port}"

        def start(self):
            return self

        def wait_for(self, predicate, timeout_s):
            snapshot = GameSnapshot(beatmap=BeatmapInfo(keys=7))
            return LiveState(state=GameState(), snapshot=snapshot)

        def close(self):
            closed.append(True)

    monkeypatch.setattr(state_client, "StateClient", FakeClient)
    assert main(["play", "--area", "0,0,64,48"]) == 2
    assert "no bundled model for 7K maps" in capsys.readouterr().err
    assert closed == [True]
