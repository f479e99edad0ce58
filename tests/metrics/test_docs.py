"""Every YAML and Python block of docs/analysis.md is valid and runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive.core import Rollout
from progressive.core._analysis import Metric

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
BLOCKS = [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text())]


def _rollout(strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "doc"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "doc"}},
            "template": {
                "metadata": {"labels": {"app": "doc"}},
                "spec": {"containers": [{"name": "doc", "image": "doc:1"}]},
            },
            "strategy": strategy,
        },
    }


@pytest.mark.parametrize(
    "text", [t for kind, t in BLOCKS if kind == "yaml"], ids=lambda t: t.splitlines()[0][:40]
)
def test_yaml_blocks_are_valid(text: str) -> None:
    block = yaml.safe_load(text)
    if "metrics" in block:
        for metric in block["metrics"]:
            Metric.from_manifest(metric)
    elif "provider" in block:
        Metric.from_manifest({"name": "doc", **block})
    elif "strategy" in block:
        rollout = Rollout.from_manifest(_rollout(block["strategy"]))
        assert rollout.canary is not None
    else:
        pytest.fail(f"a YAML block this test does not know: {text[:60]!r}")


@pytest.mark.parametrize(
    "text", [t for kind, t in BLOCKS if kind == "python"], ids=lambda t: t.splitlines()[0][:40]
)
def test_python_blocks_run(text: str) -> None:
    exec(compile(text, str(DOC), "exec"), {})


def test_the_doc_has_examples() -> None:
    kinds = [kind for kind, _ in BLOCKS]
    assert kinds.count("yaml") >= 6 and kinds.count("python") >= 2
