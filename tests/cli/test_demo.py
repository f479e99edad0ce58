"""`progressive demo` runs both releases to the outcome it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
