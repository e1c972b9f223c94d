"""Model files run no code: the ppomania model file, SB3 zips read without unpickling, ``export``.

The malicious models carry pickles that would touch a marker file when unpickled (the control test
shows that they do); no loading path may create it.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import zipfile
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import torch

from ppomania.agent.config import TrainConfig, to_toml
from ppomania.agent.live_train import _model_to_finetune
from ppomania.agent.model_file import (
    DESCRIPTION_ENTRY,
    WEIGHTS_ENTRY,
    ModelFileError,
    read_model_file,
)
from ppomania.agent.models import export_model, load_model, model_timing
from ppomania.agent.policy import HighwayCNN
from ppomania.agent.sb3_zip import load_ppo_for_training
from ppomania.cli import main
from ppomania.env.vec_env import ManiaVecEnv
from ppomania.game.osu_writer import beatmap_to_osu
from ppomania.sim.patterns import PatternConfig, generate_map
from ppomania.sim.render import HighwayGeometry

MODEL = Path(__file__).parent / "data" / "models" / "ppo-4k.zip"
GEOMETRY = HighwayGeometry.for_keys(4, height=48, width=16)

needs_model = pytest.mark.skipif(not MODEL.exists(), reason=f"no trained model at {MODEL}")


class _Payload:
    """Unpickling this runs ``touch marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _serialized(marker: Path) -> dict[str, str]:
    return {":type:": "<class 'int'>", ":serialized:": base64.b64encode(
        cloudpickle.dumps(_Payload(marker))).decode()}  # fmt: skip


def _rewrite(source: Path, target: Path, **entries: bytes | None) -> Path:
    """``source`` with some entries replaced (None: removed)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            if name not in entries:
                new.writestr(name, old.read(name))
        for name, data in entries.items():
            if data is not None:
                new.writestr(name, data)
    return target


def _poisoned_data(marker: Path, extra_key: bool = False) -> bytes:
    """ppo-4k's ``data`` with the payload in place of every pickled value."""
    with zipfile.ZipFile(MODEL) as archive:
        data = json.loads(archive.read("data"))
    for value in data.values():
        if isinstance(value, dict) and ":serialized:" in value:
            value[":serialized:"] = _serialized(marker)[":serialized:"]
    if extra_key:
        data["evil"] = _serialized(marker)
    return json.dumps(data).encode()


def _poisoned_weights(marker: Path) -> bytes:
    path = marker.with_name("evil.pth")
    torch.save({"features_extractor.cnn.0.weight": _Payload(marker)}, path)
    return path.read_bytes()


@pytest.fixture
def marker(tmp_path) -> Path:
    yield tmp_path / "pwned"
    assert not (tmp_path / "pwned").exists(), "a loading path ran the model file's code"


@pytest.fixture(scope="module")
def map_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("maps") / "short.osu"
    path.write_bytes(beatmap_to_osu(generate_map(PatternConfig(duration_s=6))))
    return path


def _env(action_space: str = "multibinary", geometry: HighwayGeometry = GEOMETRY) -> ManiaVecEnv:
    return ManiaVecEnv(
        [generate_map(PatternConfig(duration_s=6))], 2, geometry=geometry, action_space=action_space
    )


def _observations(model, env: ManiaVecEnv, steps: int = 40) -> np.ndarray:
    """Observations of ``model`` playing ``env``."""
    obs = env.reset()
    seen = []
    for _ in range(steps):
        seen.append(obs.copy())  # the env reuses its buffer
        obs, *_ = env.step(model.predict(obs, deterministic=True)[0])
    return np.concatenate(seen)


def test_the_payload_runs_when_unpickled(tmp_path):
    """Control: the test's pickles do run code when something unpickles them."""
    marker = tmp_path / "control"
    pickle.loads(base64.b64decode(_serialized(marker)[":serialized:"]))
    assert marker.exists()
    marker.unlink()
    (tmp_path / "w.pth").write_bytes(_poisoned_weights(marker))
    torch.load(tmp_path / "w.pth", weights_only=False)
    assert marker.exists()


@needs_model
def test_load_model_ignores_pickled_data(tmp_path, marker):
    model_file = _rewrite(MODEL, tmp_path / "m.zip", data=_poisoned_data(marker, extra_key=True))
    loaded = load_model(model_file)
    assert loaded.codec.keys == 4 and loaded.geometry == GEOMETRY
    assert loaded.description.timesteps == 200_000


@needs_model
def test_a_pickle_in_the_weights_is_refused(tmp_path, marker):
    model_file = _rewrite(MODEL, tmp_path / "m.zip", **{"policy.pth": _poisoned_weights(marker)})
    with pytest.raises(ModelFileError, match=r"m\.zip: policy\.pth is refused"):
        load_model(model_file)
    with pytest.raises(ModelFileError, match="refused"):
        load_ppo_for_training(model_file, _env(), "cpu", 3e-4, 0.2)
    exported = export_model(MODEL, tmp_path / "safe.zip")
    assert exported.keys == 4
    safe = _rewrite(tmp_path / "safe.zip", tmp_path / "s.zip", **{
        WEIGHTS_ENTRY: _poisoned_weights(marker)})  # fmt: skip
    with pytest.raises(ModelFileError, match=r"s\.zip: policy\.pt is refused"):
        load_model(safe)


@needs_model
def test_loading_to_train_replaces_every_pickle(tmp_path, marker, monkeypatch):
    model_file = _rewrite(MODEL, tmp_path / "m.zip", data=_poisoned_data(marker))
    env = _env()
    model = load_ppo_for_training(model_file, env, "cpu", 3e-4, 0.2)
    assert model.num_timesteps == 200_000
    assert model.lr_schedule(0.5) == pytest.approx(1.5e-4) and model.clip_range(1.0) == 0.2
    obs = _observations(model, env, 10)
    expected = load_model(MODEL).model.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], expected)
    with pytest.raises(ModelFileError, match=r"unknown meaning"):
        unknown = _rewrite(MODEL, tmp_path / "u.zip", data=_poisoned_data(marker, extra_key=True))
        load_ppo_for_training(unknown, env, "cpu", 3e-4, 0.2)

    def refuse(*args, **kwargs):
        raise AssertionError("unpickled")

    for module, name in [(pickle, "loads"), (pickle, "load"), (cloudpickle, "loads")]:
        monkeypatch.setattr(module, name, refuse)
    load_ppo_for_training(MODEL, env, "cpu", 3e-4, 0.2)  # the genuine file: nothing unpickled
    load_model(MODEL)


@needs_model
def test_resume_refuses_a_run_with_a_poisoned_checkpoint(tmp_path, marker, capsys):
    run = tmp_path / "runs" / "run"
    (run / "checkpoints").mkdir(parents=True)
    config = TrainConfig(n_envs=2, n_steps=64, batch_size=128, generated_maps=1, eval_generated=1)
    (run / "config.toml").write_text(to_toml(config))
    checkpoint = run / "checkpoints" / "step_000000200000.zip"
    _rewrite(MODEL, checkpoint, data=_poisoned_data(marker, extra_key=True))
    argv = ["train", "--resume", str(run), "--total-timesteps", "200000", "--no-progress"]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ppomania train: error:") and "step_000000200000.zip" in error
    assert "\n" not in error
    _rewrite(MODEL, checkpoint, **{"policy.pth": _poisoned_weights(marker)})
    assert main(argv) == 2
    assert "refused" in capsys.readouterr().err


@needs_model
def test_eval_cli_runs_no_code_from_the_model(tmp_path, marker, map_file, capsys):
    model_file = _rewrite(MODEL, tmp_path / "m.zip", data=_poisoned_data(marker, extra_key=True))
    assert main(["eval", str(map_file), "--model", str(model_file), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    _rewrite(MODEL, model_file, **{"policy.pth": _poisoned_weights(marker)})
    assert main(["eval", str(map_file), "--model", str(model_file)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ppomania eval: error:") and "m.zip" in error and "\n" not in error


@needs_model
def test_export_round_trip_plays_the_same_actions(tmp_path, capsys):
    from stable_baselines3 import PPO

    out = tmp_path / "model.zip"
    assert main(["export", str(MODEL), "-o", str(out)]) == 0
    assert "4K multibinary, HighwayCNN on 48x16 frames" in capsys.readouterr().out
    assert out.stat().st_size < 3_000_000
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == [DESCRIPTION_ENTRY, WEIGHTS_ENTRY]
    trusted = PPO.load(MODEL, device="cpu")  # our own file: SB3's full loader as the reference
    obs = _observations(trusted, _env(), 300)
    expected = trusted.predict(obs, deterministic=True)[0]
    assert len(np.unique(expected, axis=0)) > 1  # the observations make it press keys
    exported, original = load_model(out), load_model(MODEL)
    assert exported.description == original.description
    assert exported.path == out and exported.codec.kind == "multibinary"
    for loaded in (exported, original):
        np.testing.assert_array_equal(loaded.model.predict(obs, deterministic=True)[0], expected)
    assert model_timing(out) == model_timing(MODEL) == {"control_hz": 60.0, "latency_ms": 24.0}
    assert main(["export", str(out), "-o", str(out)]) == 2
    assert "overwrite its own source" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.zip")]) == 2
    assert "no such model" in capsys.readouterr().err


def test_a_half_export_is_half_the_size_and_plays_as_the_full_one(tmp_path, capsys):
    full, half = tmp_path / "full.zip", tmp_path / "half.zip"
    assert main(["export", str(MODEL), "-o", str(full)]) == 0
    assert main(["export", str(MODEL), "--half", "-o", str(half)]) == 0
    # the features extractor that SB3 names three times is stored once, as 16-bit floats
    assert 0.45 < half.stat().st_size / full.stat().st_size < 0.55
    assert {t.dtype for t in read_model_file(half)[1].values()} == {torch.float16}
    obs = _observations(load_model(full).model, _env(), 300)
    loaded = load_model(half)
    assert {p.dtype for p in loaded.model.policy.parameters()} == {torch.float32}
    np.testing.assert_array_equal(
        loaded.model.predict(obs, deterministic=True)[0],
        load_model(full).model.predict(obs, deterministic=True)[0],
    )


@needs_model
def test_live_fine_tuning_starts_from_either_form(tmp_path, marker):
    export_model(MODEL, tmp_path / "safe.zip")
    poisoned = _rewrite(MODEL, tmp_path / "m.zip", data=_poisoned_data(marker))
    expected = load_model(MODEL).model.policy.state_dict()
    for model_file in (tmp_path / "safe.zip", poisoned):
        model = _model_to_finetune(model_file, _env(), TrainConfig(batch_size=256), tmp_path / "tb")
        assert model.num_timesteps == 200_000
        for name, tensor in model.policy.state_dict().items():
            assert torch.equal(tensor, expected[name]), name


def test_a_run_folder_exports_with_its_config(tmp_path):
    """A discrete-action model in a run folder: the run's timing and scroll speed go with it."""
    from stable_baselines3 import PPO

    geometry = HighwayGeometry.for_keys(4, height=48, width=16, scroll_speed=30.0)
    env = _env("discrete", geometry)
    model = PPO("CnnPolicy", env, policy_kwargs=dict(
        features_extractor_class=HighwayCNN, net_arch=[]), n_steps=16, batch_size=16)  # fmt: skip
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    config = TrainConfig(action_space="discrete", scroll_speed=30.0, control_hz=50.0)
    (run / "config.toml").write_text(to_toml(config))
    model.save(run / "checkpoints" / "step_000000000016.zip")
    out = export_model(run, tmp_path / "d.zip")
    assert out.geometry == geometry and out.action_kind == "discrete" and out.control_hz == 50.0
    description, _ = read_model_file(tmp_path / "d.zip")
    assert description == out
    obs = _observations(model, env, 10)
    actions = load_model(tmp_path / "d.zip").model.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(actions, model.predict(obs, deterministic=True)[0])


@pytest.fixture(scope="module")
def safe_file(tmp_path_factory) -> Path:
    if not MODEL.exists():
        pytest.skip(f"no trained model at {MODEL}")
    path = tmp_path_factory.mktemp("safe") / "model.zip"
    export_model(MODEL, path)
    return path


def _with_description(safe_file: Path, target: Path, change) -> Path:
    with zipfile.ZipFile(safe_file) as archive:
        description = json.loads(archive.read(DESCRIPTION_ENTRY))
    change(description)
    return _rewrite(safe_file, target, **{DESCRIPTION_ENTRY: json.dumps(description).encode()})


MALFORMED = {
    "a newer version": (lambda d: d.update(version=2), "model format version 2"),
    "another format": (lambda d: d.update(format="x"), "is not a ppomania-model"),
    "a string for a number": (
        lambda d: d["geometry"].update(height="48"),
        "geometry height '48' has the wrong type",
    ),
    "a bad geometry": (lambda d: d["geometry"].update(judgement_row=99), "judgement_row"),
    "an import path": (
        lambda d: d["policy"].update(features_extractor="os.system"),
        "extractor 'os.system' is none of",
    ),
    "a wrong key count": (lambda d: d["action"].update(keys=7), "action keys 7"),
    "an unknown setting": (lambda d: d["policy"].update(hook="x"), "unknown policy settings"),
    "no timing": (lambda d: d.pop("timing"), "timing is missing"),
    "a negative rate": (lambda d: d["timing"].update(control_hz=-1), "control_hz -1"),
    "a huge layer": (
        lambda d: d["policy"]["features_extractor_kwargs"].update(features_dim=10**9),
        "features_extractor_kwargs .* are not supported",
    ),
    "an unbuildable policy": (
        lambda d: d["policy"].update(features_extractor="NatureCNN", features_extractor_kwargs={}),
        "cannot be built",
    ),
    "another architecture": (
        lambda d: d["policy"].update(net_arch=[64]),
        "weights do not fit the described policy",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_description_is_a_model_file_error(safe_file, tmp_path, case):
    change, message = MALFORMED[case]
    bad = _with_description(safe_file, tmp_path / "bad.zip", change)
    with pytest.raises(ModelFileError, match=message) as error:
        load_model(bad)
    assert str(error.value).startswith(f"{bad}: ") and "\n" not in str(error.value)


def test_malformed_files_are_model_file_errors(safe_file, tmp_path, map_file, capsys):
    cases = {
        "text.zip": None,
        "empty.zip": {DESCRIPTION_ENTRY: None, WEIGHTS_ENTRY: None},
        "nojson.zip": {DESCRIPTION_ENTRY: b"{not json"},
        "noweights.zip": {WEIGHTS_ENTRY: None},
        "junkweights.zip": {WEIGHTS_ENTRY: b"junk"},
        "tensor.zip": {WEIGHTS_ENTRY: None},
    }
    for name, entries in cases.items():
        path = tmp_path / name
        if entries is None:
            path.write_text("not a zip")
        else:
            _rewrite(safe_file, path, **entries)
    buffer = tmp_path / "t.pt"
    torch.save(torch.zeros(3), buffer)
    _rewrite(safe_file, tmp_path / "tensor.zip", **{WEIGHTS_ENTRY: buffer.read_bytes()})
    for name in cases:
        with pytest.raises(ModelFileError, match=rf"{name}: ") as error:
            load_model(tmp_path / name)
        assert "\n" not in str(error.value)
        assert main(["eval", str(map_file), "--model", str(tmp_path / name)]) == 2
        error_line = capsys.readouterr().err
        assert error_line.count("\n") == 1 and name in error_line
