"""The example programs under examples/ run, as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> str:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_embedding_reconcile_in_a_release_review_tool() -> None:
    out = run(
        "examples/embedding/plan_release.py",
        "examples/canary-nginx/rollout.yaml",
        "registry.example/demo:2",
    )
    lines = out.splitlines()
    assert lines[0] == "update to registry.example/demo:2:"
    weights = [line.split("route ")[1].split("%")[0] for line in lines if " route " in line]
    assert weights == ["5", "25", "50", "0"]
    assert any("point Service rollouts-demo-stable" in line for line in lines)
    assert lines[-1] == "final phase: Healthy"


def test_release_review_tool_promotes_indefinite_pauses() -> None:
    out = run("examples/embedding/plan_release.py", "examples/canary-basic/rollout.yaml")
    assert "(promoted by hand)" in out
    assert out.splitlines()[-1] == "final phase: Healthy"
