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


def test_a_bespoke_controller_with_its_own_router_and_metric_provider() -> None:
    out = run("examples/bespoke/controller.py")
    assert "SetWeight: Set canary weight to 25" in out
    assert "AnalysisSuccessful" in out
    assert out.splitlines()[-1] == (
        "phase Healthy, Skipper backend weights {'shop-stable': 100, 'shop-canary': 0}"
    )


def test_the_bespoke_controller_rolls_back_when_its_check_fails() -> None:
    result = subprocess.run(
        [sys.executable, "examples/bespoke/controller.py", "--failing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "AnalysisFailed" in result.stdout and "Aborted" in result.stdout
    assert "75" not in result.stdout.split("AnalysisFailed")[0]  # never got past 25%
