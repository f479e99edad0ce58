"""Piped output (a CI log, a file) is laid out at its natural width, never wrapped at
80 columns: the real program is run with its standard output a pipe."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROGRAM = Path(sys.executable).parent / "progressive"


def piped(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [PROGRAM, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_demos_event_lines_are_whole_lines() -> None:
    out = piped("demo", "--plain", "--speed", "0")
    events = [line for line in out.splitlines() if re.match(r"  \d\d:\d\d  ", line)]
    assert len(events) > 20
    for line in events:
        assert re.search(r"   \[(Healthy|Progressing|Paused|Degraded), weight \d+%", line), line
    verdict = next(line for line in out.splitlines() if line.startswith("✖ Release 2"))
    assert verdict.endswith("failureLimit (0))"), verdict


def test_simulate_show_objects_names_objects_whole() -> None:
    out = piped("simulate", str(EXAMPLES / "canary-nginx"), "--show-objects")
    assert "…" not in out
    assert "│ Ingress/rollouts-demo-rollouts-demo-stable-canary │" in out
