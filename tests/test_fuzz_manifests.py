"""Malformed manifests never make the readers raise anything but ManifestError, and never
make the loader raise at all.

Manifests are built by mutating valid Argo Rollouts manifests (a canary with traffic
routing, analysis and a status as ``kubectl get -o yaml`` shows it, and a blue-green
one): a random node is replaced by junk -- wrong types, huge numbers, NaN, odd strings,
structures nested 200+ levels deep -- or deleted, or an unknown field is added.  Pure
junk, and random bytes (non-UTF-8 included) written to a file, are tried as well.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from progressive._loader import (
    MANIFEST_FIELDS,
    NOT_A_MANIFEST,
    Documents,
    load_documents,
    parse_documents,
)
from progressive.core import Rollout, read_rollout
from progressive.errors import FieldProblem, ManifestError
from progressive.routers import default_registry

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CANARY: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "app", "namespace": "prod", "labels": {"app": "app"}, "generation": 3},
    "spec": {
        "replicas": 5,
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": 300,
        "selector": {"matchLabels": {"app": "app"}},
        "template": {
            "metadata": {"labels": {"app": "app"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25", "ports": [80]}]},
        },
        "strategy": {
            "canary": {
                "canaryService": "app-canary",
                "stableService": "app-stable",
                "maxSurge": "25%",
                "maxUnavailable": 0,
                "dynamicStableScale": True,
                "trafficRouting": {
                    "istio": {"virtualService": {"name": "app", "routes": ["primary"]}},
                    "managedRoutes": [{"name": "header"}, {"name": "mirror"}],
                    "maxTrafficWeight": 100,
                },
                "analysis": {
                    "templates": [{"templateName": "success-rate", "clusterScope": True}],
                    "startingStep": 2,
                    "args": [{"name": "service", "value": "app-canary"}],
                },
                "steps": [
                    {"setWeight": 20},
                    {"pause": {"duration": "1m"}},
                    {"setCanaryScale": {"replicas": 2}},
                    {
                        "setHeaderRoute": {
                            "name": "header",
                            "match": [{"headerName": "x-canary", "headerValue": {"exact": "1"}}],
                        }
                    },
                    {"setMirrorRoute": {"name": "mirror", "percentage": 30, "match": [{}]}},
                    {
                        "analysis": {
                            "templates": [{"templateName": "smoke"}],
                            "args": [
                                {
                                    "name": "hash",
                                    "valueFrom": {"podTemplateHashValue": "Latest"},
                                }
                            ],
                        }
                    },
                    {"experiment": {"duration": "5m", "templates": [{"name": "baseline"}]}},
                    {"pause": {}},
                ],
            }
        },
    },
    "status": {
        "phase": "Paused",
        "observedGeneration": "3",
        "currentStepIndex": 1,
        "currentPodHash": "abc",
        "stableRS": "def",
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-01-01T00:00:00Z"}],
        "conditions": [{"type": "Progressing", "status": "True", "reason": "x"}],
        "canary": {"weights": {"canary": {"weight": 20}}},
        "abortedAt": "2024-01-01T00:00:00Z",
    },
}

BLUE_GREEN: dict[str, Any] = {
    "apiVersion": "progressive.dev/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "strategy": {
            "blueGreen": {
                "activeService": "web",
                "previewService": "web-preview",
                "autoPromotionEnabled": False,
                "autoPromotionSeconds": 30,
                "prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]},
                "postPromotionAnalysis": {"templates": [{"templateName": "load"}]},
                "previewReplicaCount": 1,
            }
        },
    },
    "status": {"blueGreen": {"activeSelector": "abc"}, "waitingSince": "2024-01-01T00:00:00Z"},
}


def test_the_seeds_are_valid() -> None:
    for seed in (CANARY, BLUE_GREEN):
        rollout, problems = read_rollout(copy.deepcopy(seed))
        assert [e for e in problems if e.severity == "error"] == []
        assert Rollout.from_manifest(copy.deepcopy(seed)) == rollout


# -- strategies ------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def _paths(node: object, prefix: Path_ = ()) -> Iterator[Path_]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


SEEDS = [CANARY, BLUE_GREEN]
PATHS = [(i, p) for i, seed in enumerate(SEEDS) for p in _paths(seed)]

ODD_STRINGS = [
    "",
    " ",
    "0",
    "-1",
    "1e400",
    "NaN",
    "25%",
    "100%",
    "101%",
    "-5%",
    "%",
    "0%",
    "1m30s",
    "1h",
    "-1s",
    "1.5s",
    "1x",
    "10" * 30,
    "²",
    "²%",
    "٣%",
    "null",
    "~",
    "true",
    "{{args.x}}",
    "\x00",
    "\ufffd",
    "\U0001f680",
    "é" * 100,
    "a" * 10_000,
]
HUGE = [10**30, -(10**30), 2**31, 2**31 - 1, 2**63, 2**64, 10**18 + 1, 1_000_001]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from(HUGE),
    st.floats(),  # NaN and infinities included
    st.text(max_size=30),
    st.sampled_from(ODD_STRINGS),
)


def _nest(depth: int, kinds: list[bool], leaf: object) -> object:
    value = leaf
    for i in range(depth):
        value = {"a": value} if kinds[i % len(kinds)] else [value]
    return value


deep = st.builds(
    _nest,
    st.integers(min_value=200, max_value=320),
    st.lists(st.booleans(), min_size=1, max_size=4),
    scalars,
)

junk = st.one_of(
    st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.text(max_size=12) | st.sampled_from(["name", "spec", "steps"]), inner, max_size=4
            )
        ),
        max_leaves=20,
    ),
    deep,
)


@st.composite
def mutated(draw: st.DrawFn) -> object:
    """A valid manifest with one to three nodes replaced, deleted or added to."""
    index, _ = draw(st.sampled_from(PATHS))
    manifest: Any = copy.deepcopy(SEEDS[index])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        candidates = list(_paths(manifest))
        path = draw(st.sampled_from(candidates))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if not path:
            if action == "replace":
                manifest = draw(junk)
            continue
        parent: Any = manifest
        for key in path[:-1]:
            parent = parent[key]
        target = parent[path[-1]]
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(target, dict):
            target[draw(st.text(min_size=1, max_size=12))] = draw(junk)
        elif action == "add" and isinstance(target, list):
            target.insert(draw(st.integers(0, len(target))), draw(junk))
        else:
            parent[path[-1]] = draw(st.one_of(scalars, junk))
    return manifest


manifests = st.one_of(mutated(), mutated(), junk)


# -- the readers -----------------------------------------------------------------------------


def _check_errors(errors: object) -> None:
    assert isinstance(errors, list | tuple)
    for error in errors:
        assert isinstance(error, FieldProblem)
        assert isinstance(error.path, str) and isinstance(error.message, str)
        assert error.message
        assert error.severity in ("error", "warning")


@FUZZ
@given(manifests)
def test_rollout_from_manifest_raises_only_manifest_error(manifest: object) -> None:
    rollout, problems = read_rollout(manifest)
    _check_errors(problems)
    failed = [e for e in problems if e.severity == "error"]
    try:
        parsed = Rollout.from_manifest(manifest)
    except ManifestError as exc:
        assert exc.errors and exc.errors == tuple(failed)
        str(exc)  # renders
    else:
        assert failed == []
        assert parsed == rollout


@FUZZ
@given(junk)
def test_pure_junk_is_a_manifest_error(value: object) -> None:
    with pytest.raises(ManifestError):
        Rollout.from_manifest(value)


# -- the loader ------------------------------------------------------------------------------


ROUTER_REGISTRY = default_registry()


def _check_documents(documents: Documents) -> None:
    for problem in documents.problems:
        _check_errors([problem.error])
        assert problem.file in documents.files
        assert "internal error" not in problem.error.message, str(problem)
        assert str(problem).startswith(problem.file)
    for document in documents.documents:
        assert document.file in documents.files
        if document.kind == "Rollout":
            rollout, problems = read_rollout(document.raw)
            failed = any(e.severity == "error" for e in problems)
            if rollout is not None and not failed:  # the routers' checks: the loader's too
                failed = any(e.severity == "error" for e in ROUTER_REGISTRY.validate(rollout))
            assert (document.parsed is None) == failed
            assert document.parsed is None or isinstance(document.parsed, Rollout)


def _dump(manifest: object) -> str:
    try:
        return yaml.safe_dump(manifest, allow_unicode=True)
    except (yaml.YAMLError, RecursionError):
        return json.dumps(manifest)


@FUZZ
@given(manifests, st.sampled_from(["m.yaml", "m.json"]))
def test_loader_never_raises_on_manifests(manifest: object, name: str) -> None:
    text = json.dumps(manifest) if name.endswith(".json") else _dump(manifest)
    documents = parse_documents([(name, text)])
    _check_documents(documents)


seed_bytes = st.sampled_from([yaml.safe_dump(s).encode() for s in SEEDS])


@st.composite
def spliced(draw: st.DrawFn) -> bytes:
    """Valid YAML with random bytes (often not UTF-8) inserted or overwritten."""
    data = bytearray(draw(seed_bytes))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if draw(st.booleans()):
            data[at:at] = chunk
        else:
            data[at : at + len(chunk)] = chunk
    return bytes(data)


random_files = st.one_of(
    st.binary(max_size=2000),
    spliced(),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(alphabet="[]{}:-? \n\t'\"&*!|>#%@`,", max_size=400).map(str.encode),
    st.text(max_size=200).map(lambda t: t.encode("utf-16")),
)


@FUZZ
@given(data=random_files, suffix=st.sampled_from([".yaml", ".yml", ".json", ".txt"]))
def test_loader_never_raises_on_random_bytes(
    data: bytes, suffix: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / f"manifest{suffix}"
    path.write_bytes(data)
    documents = load_documents([path])
    assert documents.files == (str(path),)
    _check_documents(documents)
    if suffix == ".txt":
        return
    # the folder finds the same file (and only it), and reads it the same way, unless the
    # file is plainly not a manifest: a folder skips that one with a warning
    in_folder = load_documents([folder])
    if in_folder.problems and in_folder.problems[0].error.message == NOT_A_MANIFEST:
        assert in_folder.files == documents.files and in_folder.documents == ()
        assert [p.severity for p in in_folder.problems] == ["warning"]
        assert not any(set(MANIFEST_FIELDS) & set(d.raw) for d in documents.documents)
    else:
        assert in_folder == documents


def test_invalid_utf8_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"kind: Rollout\nmetadata:\n  name: \xff\xfe\xfd\n")
    [problem] = load_documents([path]).problems
    assert str(problem) == (
        f"{path}: line 3, column 9: not valid UTF-8 (byte 0xff); manifests must be UTF-8 text"
    )


# -- every field, every wrong type ------------------------------------------------------------

WRONG = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    math.nan,
    math.inf,
    -math.inf,
    10**30,
    -(10**30),
    2**63,
    10**400,
    "",
    "x",
    "-1",
    "²%",
    "9" * 5000 + "%",
    [],
    {},
    [1],
    {"a": 1},
    [None],
    {"name": None},
    _nest(250, [True, False], "deep"),
]


def test_every_field_with_every_wrong_type() -> None:
    """Exhaustively: each node of the seeds replaced by each wrong value, or deleted; read
    by the reader, and by the loader (as JSON, which keeps every value as it is)."""
    unexpected: list[str] = []
    for seed in SEEDS:
        for path in list(_paths(seed))[1:]:
            for value in [*WRONG, "<delete>"]:
                manifest: Any = copy.deepcopy(seed)
                parent = manifest
                for key in path[:-1]:
                    parent = parent[key]
                if value == "<delete>":
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = value
                try:
                    _check_documents(parse_documents([("m.json", json.dumps(manifest))]))
                    read_rollout(manifest)
                    Rollout.from_manifest(manifest)
                except ManifestError:
                    pass
                except Exception as exc:
                    shown = repr(value)[:40]
                    unexpected.append(f"{path} = {shown}: {type(exc).__name__}: {exc}")
    assert unexpected == []


# -- regressions: inputs that once made the readers raise -------------------------------------


def _with(path: Path_, value: object) -> dict[str, Any]:
    manifest = copy.deepcopy(CANARY)
    parent: Any = manifest
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return manifest


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("status", "pauseConditions"), True),
        (("status", "conditions"), 5),
        (("status", "observedGeneration"), math.inf),
        (("status", "waitingSince"), 10**400),
        (("status", "pauseConditions", 0, "startTime"), 10**400),
    ],
)
def test_a_damaged_status_is_ignored(path: Path_, value: object) -> None:
    rollout = Rollout.from_manifest(_with(path, value))
    assert rollout.name == "app"


@pytest.mark.parametrize("value", ["²%", "٣%", "9" * 5000 + "%", "1e3%"])
def test_percentages_with_odd_digits(value: str) -> None:
    with pytest.raises(ManifestError) as raised:
        Rollout.from_manifest(_with(("spec", "strategy", "canary", "maxSurge"), value))
    [error] = raised.value.errors
    assert error.path == "spec.strategy.canary.maxSurge"
