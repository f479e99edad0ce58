"""Manifests that could not be reconciled at all are refused when they are read: a value
that contains itself, one nested without end, a key that is not a string.  Each used to
be accepted by ``Rollout.from_manifest`` and then crash ``reconcile()``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from progressive.core import Experiment, Observed, Rollout, reconcile
from progressive.core._analysis import AnalysisRun, AnalysisTemplate
from progressive.core._bounds import MAX_DEPTH, MAX_VALUES, check_bounds
from progressive.errors import ManifestError

from .test_validation import canary


def nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": ... {} ...}}``, ``depth`` levels deep (the outer one is level 1)."""
    top: dict[str, Any] = {}
    inner = top
    for _ in range(depth - 1):
        inner["a"] = {}
        inner = inner["a"]
    return top


def refused(manifest: object) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        Rollout.from_manifest(manifest)
    return [str(e) for e in caught.value.errors]


def test_a_template_that_contains_itself_is_refused() -> None:
    manifest = canary([{"setWeight": 20}])
    template = manifest["spec"]["template"]
    template["spec"]["loop"] = template
    assert refused(manifest) == [
        "spec.template.spec.loop: refers to a value that contains it (spec.template)"
    ]


def test_a_list_that_contains_itself_is_refused() -> None:
    manifest = canary([{"setWeight": 20}])
    containers: list[Any] = manifest["spec"]["template"]["spec"]["containers"]
    containers.append(containers)
    assert refused(manifest) == [
        "spec.template.spec.containers[1]: refers to a value that contains it "
        "(spec.template.spec.containers)"
    ]


def test_a_manifest_that_contains_itself_is_refused() -> None:
    manifest = canary([{"setWeight": 20}])
    manifest["spec"]["self"] = manifest
    assert refused(manifest) == [
        "spec.self: refers to a value that contains it (the object itself)"
    ]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_refused_with_the_field_it_starts_at(depth: int) -> None:
    manifest = canary([{"setWeight": 20}])
    manifest["spec"]["template"]["spec"]["deep"] = nested(depth)
    assert refused(manifest) == [
        f"spec.template.spec.deep.a.a.a.a...: is nested more than {MAX_DEPTH} levels deep"
    ]


def test_nesting_up_to_the_bound_is_read() -> None:
    manifest = canary([{"setWeight": 20}])
    # the Rollout is level 1, spec 2, template 3, its spec 4: "deep" holds the rest
    manifest["spec"]["template"]["spec"]["deep"] = nested(MAX_DEPTH - 4)
    rollout = Rollout.from_manifest(manifest)
    assert reconcile(Observed(rollout=rollout, now=0.0)).actions


def test_keys_that_are_not_strings_are_refused() -> None:
    manifest = canary([{"setWeight": 20}])
    manifest["spec"]["template"]["spec"]["nodeSelector"] = {1: "a", "zone": "b"}
    assert refused(manifest) == ["spec.template.spec.nodeSelector: keys must be strings, got int 1"]


def test_shared_values_are_not_cycles() -> None:
    """What YAML aliases make: one value in several places, read as often as it appears."""
    manifest = canary([{"setWeight": 20}])
    labels = {"app": "app"}
    manifest["spec"]["selector"]["matchLabels"] = labels
    manifest["spec"]["template"]["metadata"]["labels"] = labels
    rollout = Rollout.from_manifest(manifest)
    assert reconcile(Observed(rollout=rollout, now=0.0)).actions


def test_values_are_counted_each_time_they_are_reached() -> None:
    row = list(range(1000))
    table = [row] * (MAX_VALUES // 1000)  # a million values, but only 2,000 objects
    assert check_bounds(table) is not None
    assert check_bounds(table[:-1]) is None


def test_the_other_readers_refuse_the_same() -> None:
    template: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "t"},
        "spec": {"metrics": [{"name": "m", "provider": {"web": {"url": "http://x"}}}]},
    }
    AnalysisTemplate.from_manifest(template)
    run = copy.deepcopy(template) | {"kind": "AnalysisRun"}
    AnalysisRun.from_manifest(run)
    experiment: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "e"},
        "spec": {
            "templates": [
                {
                    "name": "a",
                    "selector": {"matchLabels": {"app": "a"}},
                    "template": {
                        "metadata": {"labels": {"app": "a"}},
                        "spec": {"containers": [{"name": "a", "image": "a"}]},
                    },
                }
            ]
        },
    }
    Experiment.from_manifest(experiment)
    for manifest, read in (
        (template, AnalysisTemplate.from_manifest),
        (run, AnalysisRun.from_manifest),
        (experiment, Experiment.from_manifest),
    ):
        manifest["spec"]["loop"] = manifest["spec"]
        with pytest.raises(ManifestError, match=r"spec\.loop: refers to a value that contains"):
            read(manifest)
        manifest["spec"]["loop"] = nested(MAX_DEPTH + 1)
        with pytest.raises(ManifestError, match="nested more than"):
            read(manifest)
