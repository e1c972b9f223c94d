"""Fuzzing the other inputs: training configs (TOML files and command-line values) only ever end
in a one-line :class:`CliError` or a valid config, and game-state documents (mutated real fixtures,
arbitrary JSON) only ever raise :class:`ProtocolError`. Each example has a deadline."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppomania.agent.config import TrainConfig
from ppomania.cli import CliError
from ppomania.cli.train import parse_config
from ppomania.protocol.parse import parse_document
from ppomania.protocol.snapshot import ProtocolError

DATA = Path(__file__).parent / "data" / "game-state"
DOCUMENTS = [json.loads(p.read_text()) for p in sorted(DATA.glob("*.json"))]

FUZZ = settings(
    max_examples=200,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

FIELDS = sorted(TrainConfig.__dataclass_fields__)
#: Values as TOML writes them: the wrong types, out-of-range numbers, arrays, odd strings.
TOML_VALUES = st.sampled_from(
    [
        "0", "-1", "1", "3", "65536", "1e400", "-1e400", "nan", "inf", "0.0", "-0.5", "1.5",
        "true", "false", '"abc"', '""', '"../x"', '".."', '"a/b"', '"\\u0000"', "[]", "[1, 2]",
        '["a"]', "9223372036854775807", "{ a = 1 }", "2024-01-01",
    ]
)  # fmt: skip
#: Values on the command line.
CLI_VALUES = st.sampled_from(
    ["0", "-1", "1", "abc", "", "nan", "inf", "1e9", "0.5", "True", "../x", "--", "9" * 40]
)


def _parse(argv: list[str]) -> None:
    try:
        config, _ = parse_config(argv)
    except CliError as exc:
        assert "\n" not in str(exc).strip(), str(exc)
        return
    except SystemExit as exc:  # tyro's own usage error for a malformed flag: exit 2
        assert exc.code == 2
        return
    assert isinstance(config, TrainConfig)


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from(FIELDS), TOML_VALUES), max_size=6, unique_by=lambda x: x[0])
)
def test_config_files_give_a_config_or_one_line(tmp_path_factory, entries):
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_text("".join(f"{name} = {value}\n" for name, value in entries))
    _parse(["--config", str(path)])


@FUZZ
@given(st.binary(max_size=200))
def test_config_files_of_any_bytes_give_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_bytes(data)
    _parse(["--config", str(path)])


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(FIELDS), CLI_VALUES), max_size=4))
def test_command_line_values_give_a_config_or_one_line(entries):
    argv = []
    for name, value in entries:
        argv += [f"--{name.replace('_', '-')}", value]
    _parse(argv)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _replace_at(document, path: list[int], value):
    """``document`` with the node reached by walking ``path`` (indices into each container's
    entries) replaced by ``value``."""
    if not path or not isinstance(document, (dict, list)) or not document:
        return value
    if isinstance(document, dict):
        keys = list(document)
        key = keys[path[0] % len(keys)]
        return {**document, key: _replace_at(document[key], path[1:], value)}
    i = path[0] % len(document)
    return [*document[:i], _replace_at(document[i], path[1:], value), *document[i + 1 :]]


def _check_document(text: str | bytes) -> None:
    with contextlib.suppress(ProtocolError):
        parse_document(text)


@FUZZ
@given(st.sampled_from(DOCUMENTS), st.lists(st.integers(0, 1000), max_size=6), JSON)
def test_mutated_documents_parse_or_raise_protocol_error(document, path, value):
    _check_document(json.dumps(_replace_at(document, path, value)))


@FUZZ
@given(st.sampled_from(DOCUMENTS), st.floats(0, 1))
def test_truncated_documents_parse_or_raise_protocol_error(document, fraction):
    text = json.dumps(document)
    _check_document(text[: int(fraction * len(text))])


@FUZZ
@given(JSON)
def test_any_json_parses_or_raises_protocol_error(value):
    _check_document(json.dumps(value))
