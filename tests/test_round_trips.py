"""Every Rollout and (Cluster)AnalysisTemplate of ``examples/`` and of Argo Rollouts'
own ``examples/`` (read from the Go module cache, never copied): read, written back
with to_manifest() and read again, it is the same object, in either API group."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from progressive.core import AnalysisTemplate, Rollout, read_rollout
from progressive.core._names import API_GROUPS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ("AnalysisTemplate", "ClusterAnalysisTemplate")


def documents(folder: Path, kinds: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(folder.rglob("*.yaml")):
        try:
            found = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue  # a Helm template; tests/test_argo_corpus.py names them
        for i, doc in enumerate(found):
            if isinstance(doc, dict) and doc.get("kind") in kinds:
                yield f"{path.relative_to(folder)}[{i}]", doc


def check_rollouts(folder: Path) -> tuple[int, list[str]]:
    """Round trips of every Rollout read without error; the names of those refused."""
    checked, refused = 0, []
    for name, doc in documents(folder, ("Rollout",)):
        rollout, problems = read_rollout(doc)
        if rollout is None or any(p.severity == "error" for p in problems):
            refused.append(name)  # tests/test_argo_corpus.py says why
            continue
        for group in API_GROUPS:
            moved = attrs.evolve(rollout, api_version=group)
            written = moved.to_manifest()
            assert Rollout.from_manifest(written) == moved, name
            assert Rollout.from_manifest(written).to_manifest() == written, name
        checked += 1
    return checked, refused


def check_templates(folder: Path) -> int:
    checked = 0
    for name, doc in documents(folder, TEMPLATES):
        template = AnalysisTemplate.from_manifest(doc)
        for group in API_GROUPS:
            written = template.to_manifest(group)
            assert AnalysisTemplate.from_manifest(written) == template, name
            assert AnalysisTemplate.from_manifest(written).to_manifest(group) == written, name
        checked += 1
    return checked


def test_our_examples_round_trip() -> None:
    checked, refused = check_rollouts(ROOT / "examples")
    assert refused == [] and checked >= 10
    assert check_templates(ROOT / "examples") >= 5


@pytest.mark.kube  # needs Go, for the module cache
def test_argo_rollouts_examples_round_trip() -> None:
    from progressive._cluster import argo_rollouts_dir

    folder = argo_rollouts_dir() / "examples"
    checked, refused = check_rollouts(folder)
    assert checked >= 15 and len(refused) <= 2, (checked, refused)
    assert check_templates(folder) >= 5
