"""`progressive demo` runs both releases to the outcome it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from progressive.cli import main


def test_demo_passes_one_release_and_rolls_back_the_other() -> None:
    result = CliRunner().invoke(main, ["demo", "--plain", "--speed", "0"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "header route X-Canary: true -> canary (weight still 0)" in out
    assert "✔ Release 1: Healthy" in out
    assert "✖ Release 2: Degraded" in out
    assert "ABORTED: traffic back to the stable revision" in out


def test_both_installed_program_names_run_the_same_cli() -> None:
    # the console scripts pip installed next to this interpreter (kubectl finds the
    # second one on the PATH and runs it as `kubectl progressive`)
    for name in ("progressive", "kubectl-progressive"):
        program = Path(sys.executable).parent / name
        out = subprocess.run([program, "--help"], capture_output=True, text=True, check=True).stdout
        assert "simulate" in out and "demo" in out and "lint" in out


def test_the_demo_prints_each_event_at_its_own_state() -> None:
    result = CliRunner().invoke(main, ["demo", "--plain", "--speed", "0"])
    assert result.exit_code == 0, result.output
    release_1 = result.output.split("Release 2")[0].splitlines()
    at_2s = [line.strip() for line in release_1 if line.startswith("  00:02")]
    assert at_2s[2:6] == [
        "00:02  analysis passed   [Progressing, weight 0%]",
        "00:02  10% of the traffic to the canary   [Progressing, weight 10%]",
        "00:02  pause   [Paused, weight 10%]",
        "00:02  analysis started   [Paused, weight 10%]",
    ]
    assert (
        "01:02  12% of the traffic to the canary (held below 25% until the canary has the "
        "pods for it: 1 of 8 available carry 12%)   [Progressing, weight 12%]"
    ) in result.output


def test_the_demo_is_not_paced_when_nobody_watches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # in a pipe (a CI log) it runs as fast as it can; --speed still paces it
    import progressive.cli._demo as demo_module

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(demo_module.anyio, "sleep", sleep)
    assert CliRunner().invoke(main, ["demo", "--plain"]).exit_code == 0
    assert slept == []
    assert CliRunner().invoke(main, ["demo", "--plain", "--speed", "600"]).exit_code == 0
    assert slept and all(0 < s <= 1.0 for s in slept)
