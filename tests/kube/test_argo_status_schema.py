"""Every status the controller writes fits the CRDs Argo Rollouts publishes (read from
the Go module cache, never copied here): each example's update is simulated on the
in-memory cluster, every Rollout, AnalysisRun and Experiment status it stores (and the
runs and experiments it creates) is checked against Argo's structural schemas, for
fields the API server would refuse and fields it would drop without a word.  The
end-to-end suite writes the same statuses through a real API server with Argo's CRDs.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive._cluster import argo_crds
from progressive._deploy._crds import crds
from progressive._loader import load_documents
from progressive._simulation import simulate
from progressive.memory import MemoryCluster
from tests.structural import crd_schema, problems

pytestmark = pytest.mark.kube  # needs Go, for the module cache

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CREATED = ("AnalysisRun", "Experiment")  # the kinds the controller creates


@functools.cache
def schemas() -> dict[str, dict[str, Any]]:
    """kind -> Argo's openAPIV3Schema."""
    return {crd["spec"]["names"]["kind"]: crd_schema(crd) for crd in argo_crds()}


Written = list[tuple[str, str, dict[str, Any]]]  # (kind, what, object or status)


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> Iterator[Written]:
    """What the controller stores on any MemoryCluster while the test runs."""
    seen: Written = []
    create, replace_status = MemoryCluster.create, MemoryCluster.replace_status

    async def creating(self: MemoryCluster, obj: Mapping[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") == "argoproj.io/v1alpha1" and obj.get("kind") in CREATED:
            seen.append((str(obj["kind"]), "object", dict(obj)))
        return await create(self, obj)

    async def replacing(self: MemoryCluster, obj: Mapping[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") == "argoproj.io/v1alpha1":
            seen.append((str(obj["kind"]), "status", dict(obj.get("status") or {})))
        return await replace_status(self, obj)

    monkeypatch.setattr(MemoryCluster, "create", creating)
    monkeypatch.setattr(MemoryCluster, "replace_status", replacing)
    yield seen


def refusals(written: Written, users: set[str] = frozenset()) -> list[str]:
    """What the server would refuse or drop of ``written``, but for ``users``: the
    fields the user's own objects hold that Argo's CRDs lack (progressive.dev
    extensions), which a run copies from its templates."""
    out = []
    for kind, what, value in written:
        schema = schemas()[kind]
        if what == "status":
            found = problems(schema["properties"]["status"], value, "status")
        else:
            found = problems(schema, {k: v for k, v in value.items() if k != "metadata"})
        out += [f"{kind}: {p}" for p in found if _anywhere(p) not in users]
    return sorted(set(out))


def _anywhere(problem: str) -> str:
    return re.sub(r"\[\d+\]", "[]", problem)


def extensions(documents: list[dict[str, Any]]) -> set[str]:
    """The problems of the user's AnalysisTemplates under Argo's schema, any index."""
    schema = schemas()["AnalysisTemplate"]
    return {
        _anywhere(p)
        for doc in documents
        if doc.get("kind") in ("AnalysisTemplate", "ClusterAnalysisTemplate")
        for p in problems(schema, {k: v for k, v in doc.items() if k != "metadata"})
    }


def cases() -> list[tuple[str, str | None, bool]]:
    """(example, metrics file, auto-promote): every example, with each of its metrics
    (but those with a controller of their own, whose routers simulate lacks)."""
    out: list[tuple[str, str | None, bool]] = []
    for path in sorted(EXAMPLES.glob("*/rollout.yaml")):
        if (path.parent / "controller.py").exists():
            continue
        metrics = sorted(p.name for p in path.parent.glob("metrics-*.yaml")) or [None]
        for name in metrics:
            for promote in (False, True):
                out.append((path.parent.name, name, promote))
    return out


@pytest.mark.parametrize(("example", "metrics", "promote"), cases())
def test_every_status_of_an_example_fits_argos_crds(
    written: Written, example: str, metrics: str | None, promote: bool
) -> None:
    folder = EXAMPLES / example
    documents = load_documents([folder / "rollout.yaml"], cluster_may_have_more=False)
    values = yaml.safe_load((folder / metrics).read_text()) if metrics else {}
    raw = [d.raw for d in documents.documents]
    result = simulate(raw, values, promote)
    kinds = {kind for kind, _, _ in written}
    assert "Rollout" in kinds and result.timeline
    assert refusals(written, extensions(raw)) == []


def test_the_check_sees_what_the_server_refuses_and_drops() -> None:
    status = schemas()["Rollout"]["properties"]["status"]
    assert problems(status, {"conditions": [{"type": "Healthy", "status": "True"}]}) == [
        "conditions[0].lastTransitionTime: required",
        "conditions[0].lastUpdateTime: required",
        "conditions[0].message: required",
        "conditions[0].reason: required",
    ]
    assert problems(status, {"canary": {"weights": {"canary": {"weight": 5}}}}) == [
        "canary.weights.stable: required"
    ]
    assert problems(status, {"waitingSince": "2024-01-01T00:00:00Z"}) == [
        "waitingSince: not in the schema (the API server drops it)"
    ]
    assert problems(status, {"abortedAt": "yesterday", "replicas": 2**31}) == [
        "abortedAt: not an RFC 3339 date-time: 'yesterday'",
        f"replicas: {2**31} is not in [-2147483648, 2147483647]",
    ]


# -- progressive.dev's status schemas against Argo's ----------------------------------------

#: Where progressive.dev's status schema differs from Argo's on purpose:
#: (kind, path) -> why.  None so far: the controller writes the same statuses under
#: both groups.
DELIBERATE: dict[tuple[str, str], str] = {}

#: What a schema node says that is not a rule: its words and its children (compared
#: one by one, each under its own path).
_NOT_RULES = frozenset({"description", "example", "properties", "items", "additionalProperties"})


def shape(schema: Mapping[str, Any], path: str = "status") -> dict[str, dict[str, Any]]:
    """path -> the rules of the node there (type, format, required, bounds, enum,
    free-form...), for every node: a field is ``.name``, an array's items ``[]``, a
    map's values ``{}``."""
    rules = {key: value for key, value in schema.items() if key not in _NOT_RULES}
    if "required" in rules:
        rules["required"] = sorted(rules["required"])
    extra = schema.get("additionalProperties")
    if isinstance(extra, bool):
        rules["additionalProperties"] = extra
    out = {path: rules}
    for key, child in (schema.get("properties") or {}).items():
        out.update(shape(child, f"{path}.{key}"))
    if "items" in schema:
        out.update(shape(schema["items"], f"{path}[]"))
    if isinstance(extra, Mapping):
        out.update(shape(extra, f"{path}{{}}"))
    return out


def differences(ours: Mapping[str, Any], argos: Mapping[str, Any]) -> dict[str, str]:
    """path -> how progressive's schema differs from Argo's there."""
    mine, theirs = shape(ours), shape(argos)
    out = {}
    for path in sorted(set(mine) | set(theirs)):
        if path not in mine:
            out[path] = f"only in Argo's {theirs[path]}"
        elif path not in theirs:
            out[path] = f"only in progressive's {mine[path]}"
        elif mine[path] != theirs[path]:
            out[path] = f"progressive's {mine[path]}, Argo's {theirs[path]}"
    return out


@pytest.mark.parametrize("kind", ["Rollout", "AnalysisRun", "Experiment"])
def test_progressive_status_schemas_are_argos(kind: str) -> None:
    """The progressive.dev CRDs' status schemas (progressive.core._status_schema)
    declare the fields and the rules (types, formats, required fields) of the CRDs Argo
    publishes, but for the DELIBERATE differences: a status the controller writes fits
    both groups or neither, and the tests with Argo's CRDs cover both."""
    (ours,) = [c for c in crds() if c["spec"]["names"]["kind"] == kind]
    found = differences(
        crd_schema(ours)["properties"]["status"], schemas()[kind]["properties"]["status"]
    )
    unexplained = {path: how for path, how in found.items() if (kind, path) not in DELIBERATE}
    assert unexplained == {}, "declare it as Argo does, or say why in DELIBERATE"
    stale = [path for (of, path) in DELIBERATE if of == kind and path not in found]
    assert stale == [], "no longer differs from Argo's: drop it from DELIBERATE"


def test_the_comparison_sees_a_difference() -> None:
    argos = schemas()["AnalysisRun"]["properties"]["status"]
    changed = copy.deepcopy(argos)
    del changed["properties"]["startedAt"]
    changed["properties"]["phase"]["enum"] = ["Running"]
    changed["properties"]["extra"] = {"type": "string", "description": "words are no rule"}
    runs = changed["properties"]["metricResults"]["items"]
    runs["required"] = ["phase"]
    runs["properties"]["metadata"]["additionalProperties"]["type"] = "integer"
    assert differences(changed, argos) == {
        "status.extra": "only in progressive's {'type': 'string'}",
        "status.metricResults[]": "progressive's {'required': ['phase'], 'type': 'object'}, "
        "Argo's {'required': ['name', 'phase'], 'type': 'object'}",
        "status.metricResults[].metadata{}": "progressive's {'type': 'integer'}, "
        "Argo's {'type': 'string'}",
        "status.phase": "progressive's {'type': 'string', 'enum': ['Running']}, "
        "Argo's {'type': 'string'}",
        "status.startedAt": "only in Argo's {'format': 'date-time', 'type': 'string'}",
    }
