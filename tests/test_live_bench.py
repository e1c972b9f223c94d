"""``ppomania bench live``: the live loop against the stand-in game on an Xvfb it starts."""

from __future__ import annotations

import json
import shutil

import pytest

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")


def test_bench_live_cli_reports_every_rate_and_the_targets(monkeypatch, capsys):
    from ppomania.cli import main
    from ppomania.env.live_bench import report_lines

    monkeypatch.delenv("DISPLAY", raising=False)  # the bench starts its own Xvfb
    assert main(["bench", "live", "--json", "--seconds", "0.5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["server"] == "tosu"
    assert 0 < report["state_read_us"] < 10
    assert "HighwayCNN" in report["policy"]
    default = {run["rate_hz"]: run for run in report["runs"] if run["scheduling"] == "default"}
    assert sorted(default) == [60.0, 120.0]
    for rate, run in default.items():
        assert run["steps"] > 0
        assert run["steps_per_s"] > 0.8 * rate
        assert 0 < run["inference_ms"]["mean"] < 50
        assert 0 < run["capture_ms"]["mean"] < 50
        assert run["capture_to_key_ms"]["mean"] >= run["capture_ms"]["mean"]
        assert 0 <= run["state_age_ms"]["mean"] < 1000
    lines = report_lines(report)
    assert any("120 steps/s" in line for line in lines)
    assert any(line.lstrip().startswith("120  default") for line in lines)
