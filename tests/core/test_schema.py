"""The declared fields (core/_schema.py, from which the CRDs are generated) and the
readers agree: every field declared is accepted by its reader, every field a reader
reads or knows is declared, and every range, enum and int-or-string is the reader's.

Each reader is run over examples generated from the declarations while
:class:`~progressive.core._fields.Fields` records which keys it reads and which
known-field sets it checks against."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from progressive.core import _fields
from progressive.core._analysis_model import (
    _METRIC_FIELDS,
    _RUN_SPEC_FIELDS,
    _TEMPLATE_SPEC_FIELDS,
    read_analysis_run,
    read_analysis_template,
)
from progressive.core._experiments import Experiment
from progressive.core._rollout import (
    _BLUE_GREEN_FIELDS,
    _CANARY_FIELDS,
    _SPEC_FIELDS,
    read_rollout,
)
from progressive.core._router_keys import ARGO_ROUTER_KEYS
from progressive.core._schema import (
    ANALYSIS_RUN_SPEC,
    ANALYSIS_TEMPLATE_SPEC,
    EXPERIMENT_SPEC,
    ROLLOUT_SPEC,
    Node,
    openapi,
)
from progressive.core._steps import STEP_KINDS
from progressive.errors import FieldProblem, ManifestError

# -- the known-field sets ---------------------------------------------------------------------


def props(node: Node | None) -> set[str]:
    assert node is not None
    return set(node.properties)


def test_the_known_field_sets_are_the_declared_ones() -> None:
    assert props(ROLLOUT_SPEC) == _SPEC_FIELDS
    assert props(ROLLOUT_SPEC.at("strategy.canary")) == _CANARY_FIELDS
    assert props(ROLLOUT_SPEC.at("strategy.blueGreen")) == _BLUE_GREEN_FIELDS
    assert props(ROLLOUT_SPEC.at("strategy.canary.steps[0]")) == set(STEP_KINDS)
    assert props(ROLLOUT_SPEC.at("strategy.canary.trafficRouting")) == {
        *ARGO_ROUTER_KEYS,
        "plugins",
        "managedRoutes",
        "maxTrafficWeight",
    }
    assert props(ANALYSIS_TEMPLATE_SPEC) == _TEMPLATE_SPEC_FIELDS
    assert props(ANALYSIS_RUN_SPEC) == _RUN_SPEC_FIELDS
    assert props(ANALYSIS_TEMPLATE_SPEC.at("metrics[0]")) == _METRIC_FIELDS
    assert props(ANALYSIS_RUN_SPEC.at("metrics[0]")) == _METRIC_FIELDS


# -- examples generated from the declarations -----------------------------------------------


def _scalar(node: Node) -> Any:
    if node.example is not None:
        return node.example
    if node.enum:
        return node.enum[0]
    if node.duration:
        return "30s"
    if node.percent:
        return "25%"
    if node.int_or_string:
        return 1
    if node.type == "integer":
        return node.minimum if node.minimum is not None else 0
    if node.type == "boolean":
        return True
    if node.format == "date-time":
        return "2024-01-01T00:00:00Z"
    return "x"


def variants(node: Node) -> list[Any]:
    """Values that, together, set every declared field: one per alternative of an
    exactly-one or at-most-one group; arrays hold one item per variant of their items."""
    if node.free:
        return [node.example if node.example is not None else {"x": {"y": "z"}}]
    if node.values is not None:
        return [{"k": variants(node.values)[0]}]
    if node.type == "array":
        assert node.items is not None
        return [variants(node.items)]
    if node.type != "object":
        return [_scalar(node)]
    groups = node.exactly_one or node.at_most_one
    children = {k: variants(v) for k, v in node.properties.items()}
    count = max([1, len(groups), *(len(v) for v in children.values())])
    out = []
    for i in range(count):
        chosen = groups[i % len(groups)] if groups else None
        out.append(
            {
                k: values[i % len(values)]
                for k, values in children.items()
                if k not in groups or k == chosen
            }
        )
    return out


def leaves(value: Any, node: Node, path: str) -> Iterator[tuple[str, Node]]:
    """Every scalar of an example, with its concrete path and declaration."""
    if node.free or node.values is not None:
        return
    if node.type == "array" and isinstance(value, list):
        assert node.items is not None
        for i, item in enumerate(value):
            yield from leaves(item, node.items, f"{path}[{i}]")
    elif node.type == "object" and isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, node.properties[key], f"{path}.{key}")
    else:
        yield path, node


def set_at(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    target: Any = out
    for part in parts[:-1]:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    last = parts[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = value
    else:
        target[last] = value
    return out


# -- running the readers while recording what they read ------------------------------------


@attrs.define
class Reads:
    keys: set[str] = attrs.field(factory=set)  # paths read through a typed getter
    data: set[str] = attrs.field(factory=set)  # paths consumed as plain data
    iterated: set[str] = attrs.field(factory=set)  # lists read item by item
    known: dict[str, frozenset[str]] = attrs.field(factory=dict)  # path -> known fields


_GETTERS = ("has", "obj", "opt_obj", "str", "bool", "int", "duration", "int_or_percent")
_DATA = ("raw", "mapping", "string_map", "items")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    record = Reads()
    fields = _fields.Fields

    def wrap(name: str, into: set[str]) -> None:
        original = getattr(fields, name)

        def recording(self: _fields.Fields, key: str, *args: Any, **kwargs: Any) -> Any:
            into.add(_normal(self.at(key)))
            return original(self, key, *args, **kwargs)

        monkeypatch.setattr(fields, name, recording)

    for name in _GETTERS:
        wrap(name, record.keys)
    for name in _DATA:
        wrap(name, record.data)
    wrap("objs", record.iterated)
    original_unknown = fields.unknown

    def unknown(self: _fields.Fields, known: frozenset[str], **kwargs: Any) -> None:
        record.known[_normal(self.path)] = known
        original_unknown(self, known, **kwargs)

    monkeypatch.setattr(fields, "unknown", unknown)
    return record


def _normal(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


Reader = Callable[[dict[str, Any]], list[FieldProblem]]


def _rollout(doc: dict[str, Any]) -> list[FieldProblem]:
    return read_rollout(doc)[1]


def _template(doc: dict[str, Any]) -> list[FieldProblem]:
    return read_analysis_template(doc)[1]


def _run(doc: dict[str, Any]) -> list[FieldProblem]:
    return read_analysis_run(doc)[1]


def _experiment(doc: dict[str, Any]) -> list[FieldProblem]:
    try:
        Experiment.from_manifest(doc)
    except ManifestError as exc:
        return list(exc.errors)
    return []


KINDS = {
    "Rollout": (ROLLOUT_SPEC, _rollout),
    "AnalysisTemplate": (ANALYSIS_TEMPLATE_SPEC, _template),
    "AnalysisRun": (ANALYSIS_RUN_SPEC, _run),
    "Experiment": (EXPERIMENT_SPEC, _experiment),
}


def manifests(kind: str) -> list[dict[str, Any]]:
    spec_node, _ = KINDS[kind]
    return [
        {
            "apiVersion": "progressive.dev/v1alpha1",
            "kind": kind,
            "metadata": {"name": "example", "namespace": "ns"},
            "spec": spec,
        }
        for spec in variants(spec_node)
    ]


_SHAPE_ERRORS = re.compile(
    r"unknown|must be an integer|must be a string|must be true or false|must be an object"
    r"|must be a list"
)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_declared_field_is_accepted_by_the_reader(kind: str, reads: Reads) -> None:
    spec_node, reader = KINDS[kind]
    for doc in manifests(kind):
        problems = [e for e in reader(doc) if _SHAPE_ERRORS.search(e.message)]
        assert problems == [], doc
    read = reads.keys | reads.iterated | reads.data
    # a field the reader knows but never reads: it accepts anything under it
    ignored = {
        f"{parent}.{key}"
        for parent, known in reads.known.items()
        for key in known
        if f"{parent}.{key}" not in read
    }
    # free-form nodes that declare some properties (trafficRouting: Argo's routers,
    # and any router key a plugin brings) take anything under them
    free = {f"spec.{path}" for path, node in spec_node.walk() if path and node.free}
    for path, _ in spec_node.walk():
        if not path or path.endswith("[]") or _under(path, reads.data | ignored | free):
            continue
        parent, _, key = path.rpartition(".")
        known = reads.known.get(f"spec.{parent}" if parent else "spec", frozenset())
        assert f"spec.{path}" in read or key in known, (
            f"{kind} declares spec.{path}, which its reader neither reads nor knows"
        )


def _under(path: str, data: set[str]) -> bool:
    """Whether a reader consumed an ancestor of ``path`` as plain data."""
    full = f"spec.{path}"
    return any(full.startswith((d + ".", d + "[")) for d in data)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_field_a_reader_reads_or_knows_is_declared(kind: str, reads: Reads) -> None:
    spec_node, reader = KINDS[kind]
    for doc in manifests(kind):
        reader(doc)
    for path in sorted(reads.keys | reads.data | reads.iterated):
        if path.startswith("spec."):
            assert spec_node.at(path[5:]) is not None, f"{kind}'s reader reads {path}, undeclared"
    for path, known in reads.known.items():
        if path == "spec" or path.startswith("spec."):
            node = spec_node.at(path[5:]) if path != "spec" else spec_node
            assert node is not None and set(node.properties) == set(known), path


# -- ranges, enums and int-or-strings -----------------------------------------------------------


def checked_leaves(kind: str, reads: Reads) -> Iterator[tuple[dict[str, Any], str, Node]]:
    """(example, concrete path, declaration) of every scalar the reader checks itself."""
    spec_node, reader = KINDS[kind]
    docs = manifests(kind)
    for doc in docs:
        reader(doc)
    for doc in docs:
        for path, node in leaves(doc["spec"], spec_node, "spec"):
            if _normal(path) in reads.keys or _normal(path) in reads.data:
                yield doc, path, node


def errors_at(reader: Reader, doc: dict[str, Any], path: str) -> list[str]:
    return [e.message for e in reader(doc) if e.path == path and e.severity == "error"]


def value_errors_at(reader: Reader, doc: dict[str, Any], path: str) -> list[str]:
    """Errors about the value itself (its type or range: "..., got 150"), not about how
    it relates to other fields ("must be at most the number of steps")."""
    return [m for m in errors_at(reader, doc, path) if ", got " in m]


def probes(node: Node) -> tuple[list[Any], list[Any]]:
    """Values the declaration accepts, and values it refuses."""
    good: list[Any] = []
    bad: list[Any] = []
    if node.enum:
        good += list(node.enum)
        bad.append("NotOneOfThem")
    if node.type == "integer" or node.int_or_string:
        if node.maximum is not None:
            good.append(node.maximum)
            bad.append(node.maximum + 1)
        if node.minimum is not None:
            good.append(node.minimum)
            bad.append(node.minimum - 1)
        if node.type == "integer":
            bad.append("seven")
    if node.type == "boolean":
        bad.append("yes")
    if node.duration:
        good += ["90", "1m30s", "500ms"]
        bad += ["soon", "-5s"]
    elif node.percent:
        good += ["0%", "100%"]
        bad += ["101%", "a lot"]
    elif node.int_or_string:
        good.append(" 7 ")
        bad.append("seven")
    return good, bad


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_ranges_and_enums_are_the_readers(kind: str, reads: Reads) -> None:
    _, reader = KINDS[kind]
    checked = 0
    for doc, path, node in checked_leaves(kind, reads):
        good, bad = probes(node)
        for value in good:
            assert value_errors_at(reader, set_at(doc, path, value), path) == [], (path, value)
        for value in bad:
            assert errors_at(reader, set_at(doc, path, value), path), (
                f"{path}: the reader accepts {value!r}, which the schema refuses"
            )
        checked += bool(good or bad)
    assert checked >= 5


def test_examples_cover_every_step_and_strategy() -> None:
    specs = [doc["spec"] for doc in manifests("Rollout")]
    strategies = {next(iter(s["strategy"])) for s in specs}
    assert strategies == {"canary", "blueGreen"}
    canary = next(s for s in specs if "canary" in s["strategy"])
    kinds = {kind for step in canary["strategy"]["canary"]["steps"] for kind in step}
    assert kinds == set(STEP_KINDS)


# -- the OpenAPI rendering --------------------------------------------------------------------


def test_openapi_is_structural() -> None:
    """Every node has a type, or is an int-or-string, and free-form nodes keep fields."""
    for spec in (ROLLOUT_SPEC, ANALYSIS_TEMPLATE_SPEC, ANALYSIS_RUN_SPEC, EXPERIMENT_SPEC):
        stack = [openapi(spec)]
        while stack:
            schema = stack.pop()
            assert "type" in schema or schema.get("x-kubernetes-int-or-string") is True, schema
            stack.extend(schema.get("properties", {}).values())
            stack.extend(s for s in (schema.get("items"), schema.get("additionalProperties")) if s)
    step = openapi(ROLLOUT_SPEC)["properties"]["strategy"]["properties"]["canary"]
    set_weight = step["properties"]["steps"]["items"]["properties"]["setWeight"]
    assert (set_weight["minimum"], set_weight["maximum"]) == (0, 100)
    assert step["properties"]["maxSurge"]["x-kubernetes-int-or-string"] is True
    template = openapi(ROLLOUT_SPEC)["properties"]["template"]
    assert template["x-kubernetes-preserve-unknown-fields"] is True
