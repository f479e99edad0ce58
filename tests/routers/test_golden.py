"""Golden files: the exact writes and objects of each router, step by step.

Each scenario moves a router through setWeight 25, an experiment's weights (for the
routers that send traffic to experiment templates), a header route, a mirror route (for
the routers that have them), setWeight 100 and an abort, and compares, for every step,
the writes it sent (``create`` with the whole object, ``patch`` with the merge patch)
and the objects as stored afterwards with ``tests/routers/golden/<scenario>.yaml``.

Regenerate them after an intended change, then review the diff::

    PROGRESSIVE_REGEN_GOLDEN=1 python -m pytest tests/routers/test_golden.py
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive._deploy import ROUTER_RULES, WORKLOAD_RULES, router_rules
from progressive.core import HeaderMatch
from progressive.routers import (
    ROUTERS,
    Create,
    HeaderRoute,
    MirrorRoute,
    Patch,
    RouterState,
    Write,
)

from .cases import (
    CASES,
    EXPERIMENT_ROUTERS,
    HEADER_ROUTERS,
    MIRROR_ROUTERS,
    NS,
    Store,
    rollout,
    traefik_service,
    virtual_service,
)

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("PROGRESSIVE_REGEN_GOLDEN") == "1"

HEADER = HeaderRoute(
    "testers",
    (HeaderMatch("X-Canary", exact="yes"), HeaderMatch("X-Team", prefix="qa-")),
)
NGINX_HEADER = HeaderRoute("testers", (HeaderMatch("X-Canary", regex="yes|si"),))
#: ALB matches values exactly, with wildcards: one header's values OR'ed, headers AND'ed
ALB_HEADER = HeaderRoute(
    "testers",
    (
        HeaderMatch("X-Canary", exact="yes"),
        HeaderMatch("X-Canary", exact="si"),
        HeaderMatch("X-Team", exact="qa-*"),
    ),
)
#: The header route of the routers that cannot express :data:`HEADER`.
HEADERS = {"nginx": NGINX_HEADER, "alb": ALB_HEADER}
MIRROR = MirrorRoute("shadow", ({"method": {"exact": "GET"}, "path": {"prefix": "/api"}},), 30)
EXPERIMENT = (("web-exp-baseline", 10), ("web-exp-canary", 5))


def _subset_objects() -> list[dict[str, Any]]:
    vs = virtual_service()
    vs["spec"]["http"][1]["route"] = [
        {"destination": {"host": "web", "subset": "stable"}, "weight": 90},
        {"destination": {"host": "web", "subset": "canary"}, "weight": 0},
        {"destination": {"host": "web", "subset": "baseline"}, "weight": 10},
    ]
    rule = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "host": "web",
            "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}},
            "subsets": [
                {"name": "stable", "labels": {"app": "web"}},
                {"name": "canary", "labels": {"app": "web"}},
                {"name": "baseline", "labels": {"app": "web", "track": "baseline"}},
            ],
        },
    }
    return [vs, rule]


SCENARIOS: dict[str, tuple[str, dict[str, Any], list[dict[str, Any]]]] = {
    name: (name, routing, objects) for name, (routing, objects) in CASES.items()
}
SCENARIOS["istio-subsets"] = (
    "istio",
    {
        "managedRoutes": [{"name": "testers"}, {"name": "shadow"}],
        "istio": {
            "virtualService": {"name": "web", "routes": ["primary"]},
            "destinationRule": {
                "name": "web",
                "canarySubsetName": "canary",
                "stableSubsetName": "stable",
                "additionalSubsetNames": ["baseline"],
            },
        },
    },
    _subset_objects(),
)
#: Scenarios whose Rollout names no canaryService nor stableService.
NO_SERVICES = frozenset({"istio-subsets"})
SCENARIOS["smi-v1alpha3"] = (
    "smi",
    {"smi": {"apiVersion": "v1alpha3", "rootService": "web", "trafficSplitName": "web-split"}},
    [],
)
SCENARIOS["traefik-io-max-weight"] = (
    "traefik",
    {
        "maxTrafficWeight": 1000,
        "traefik": {"weightedTraefikServiceName": "web-wrr", "apiVersion": "traefik.io/v1alpha1"},
    },
    [traefik_service("traefik.io/v1alpha1")],
)
SCENARIOS["nginx-max-weight"] = (
    "nginx",
    {
        "maxTrafficWeight": 1000,
        "managedRoutes": [{"name": "testers"}],
        "nginx": {
            "stableIngresses": ["web", "web-internal"],
            "annotationPrefix": "ingress.example.com",
            "additionalIngressAnnotations": {"load-balance": "ewma"},
            "canaryIngressAnnotations": {"example.com/owner": "shop"},
        },
    },
    [
        CASES["nginx"][1][0],
        {
            **copy.deepcopy(CASES["nginx"][1][0]),
            "metadata": {"name": "web-internal", "namespace": NS},
        },
    ],
)


def _write(write: Write) -> dict[str, Any]:
    match write:
        case Create(ref, obj):
            return {"create": str(ref), "object": copy.deepcopy(dict(obj))}
        case Patch(ref, patch):
            return {"patch": f"{ref.api_version} {ref}", "mergePatch": copy.deepcopy(dict(patch))}
    raise AssertionError(write)


def _stored(store: Store) -> list[dict[str, Any]]:
    out = []
    for _, obj in sorted(store.objects.items()):
        obj = copy.deepcopy(obj)
        obj["metadata"].pop("resourceVersion", None)
        out.append(obj)
    return out


def steps_of(scenario: str) -> list[tuple[str, RouterState]]:
    """The states a scenario moves its router through, with their labels."""
    router_name, routing, _ = SCENARIOS[scenario]
    header = HEADERS.get(router_name, HEADER)
    headers = (header,) if router_name in HEADER_ROUTERS else ()
    mirrors = (MIRROR,) if router_name in MIRROR_ROUTERS else ()
    weight = 250 if "max-weight" in scenario else 25
    top = 1000 if "max-weight" in scenario else 100
    steps: list[tuple[str, RouterState]] = [
        ("setWeight 25", RouterState(weight=weight, canary_hash="c4n4ry", stable_hash="st4bl3"))
    ]
    if router_name in EXPERIMENT_ROUTERS:
        steps.append(
            (
                "experiment: baseline 10, canary 5",
                RouterState(weight=weight, experiment_weights=EXPERIMENT),
            )
        )
    if headers:
        steps.append(("setHeaderRoute testers", RouterState(weight=weight, header_routes=headers)))
    if mirrors:
        steps.append(
            (
                "setMirrorRoute shadow",
                RouterState(weight=weight, header_routes=headers, mirror_routes=mirrors),
            )
        )
    steps.append(
        ("setWeight 100", RouterState(weight=top, header_routes=headers, mirror_routes=mirrors))
    )
    steps.append(
        ("abort: weight 0, managed routes removed", RouterState(weight=0, canary_hash="c4n4ry"))
    )
    return steps


def run(scenario: str) -> list[dict[str, Any]]:
    router_name, routing, objects = SCENARIOS[scenario]
    router = ROUTERS[router_name]
    ro = rollout(copy.deepcopy(routing), services=scenario not in NO_SERVICES)
    store = Store(objects)
    out = []
    for label, state in steps_of(scenario):
        writes = store.move(router, ro, state)
        out.append(
            {"step": label, "writes": [_write(w) for w in writes], "objects": _stored(store)}
        )
    return out


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_golden(scenario: str) -> None:
    path = GOLDEN / f"{scenario}.yaml"
    got = run(scenario)
    if REGENERATE:
        GOLDEN.mkdir(exist_ok=True)
        header = (
            f"# {scenario}: the writes and stored objects after each step.\n"
            "# Generated by tests/routers/test_golden.py "
            "(PROGRESSIVE_REGEN_GOLDEN=1 to regenerate).\n"
        )
        path.write_text(header + yaml.safe_dump(got, sort_keys=False, width=100))
    assert path.exists(), f"{path} is missing: run with PROGRESSIVE_REGEN_GOLDEN=1"
    assert yaml.safe_load(path.read_text()) == got


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_controller_is_granted_what_the_router_reads_and_writes(scenario: str) -> None:
    """Every kind a router reads may be watched, and every write it sends (a create, a
    merge patch) is allowed by what the router declares (``access``) and what every
    Rollout is granted (its Services): the rules ``progressive._deploy`` installs."""
    router_name, routing, objects = SCENARIOS[scenario]
    router = ROUTERS[router_name]
    ro = rollout(copy.deepcopy(routing), services=scenario not in NO_SERVICES)
    every_rollout = [r for r in WORKLOAD_RULES if r not in ROUTER_RULES]
    granted = {
        (rule.group, resource, verb)
        for rule in (*every_rollout, *router_rules([router]))
        for resource in rule.resources
        for verb in rule.verbs
    }

    def resource(kind: str) -> str:
        return kind.lower() + ("es" if kind.endswith("s") else "s")

    store = Store(objects)
    needed = {
        (ref.group, resource(ref.kind), verb)
        for ref in store.view(router, ro)  # its refs and those they name
        for verb in ("get", "list", "watch")
    }
    for _, state in steps_of(scenario):
        for write in store.move(router, ro, state):
            verb = "create" if isinstance(write, Create) else "patch"
            needed.add((write.ref.group, resource(write.ref.kind), verb))
    assert needed - granted == set()
