"""Every router, the same promises (kopf's ALL_STORAGES pattern): the public
``progressive.testing.check_router`` over each of ``ALL_ROUTERS``, with the
capabilities the core validates against; the check itself fails on routers that break
a promise; and what only the built-in routers promise beyond it (a user's own objects
change only where the router manages them, refusals in validation).
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest

from progressive.core import HeaderMatch
from progressive.errors import RouterError
from progressive.routers import (
    ALL_ROUTERS,
    ROUTERS,
    HeaderRoute,
    MirrorRoute,
    Patch,
    RouterState,
    TrafficRouter,
)
from progressive.routers._objects import merge_diff
from progressive.testing import check_router

from .cases import (
    CASES,
    EXPERIMENT_ROUTERS,
    HEADER_ROUTERS,
    MIRROR_ROUTERS,
    NS,
    Store,
    case,
    rollout,
    virtual_service,
)

HEADER = HeaderRoute("testers", (HeaderMatch("X-Canary", exact="yes"),))
MIRROR = MirrorRoute("shadow", ({"method": {"exact": "GET"}, "path": {"prefix": "/api"}},), 30)
EXPERIMENT = (("web-exp-baseline", 10), ("web-exp-canary", 5))


def test_argos_routers_declare_what_argo_says_they_can_express() -> None:
    # the declarations drive this suite (cases.py), so they are pinned here to Argo's
    # documentation of each router once: a router losing a capability it has in Argo
    # fails here, not only by running fewer cases
    assert HEADER_ROUTERS == {"nginx", "istio", "gatewayAPI", "alb", "apisix"}
    assert MIRROR_ROUTERS == {"istio", "gatewayAPI"}
    assert EXPERIMENT_ROUTERS == {"smi", "istio", "alb"}
    assert {k for k, r in ROUTERS.items() if r.capabilities.ping_pong} == {"istio", "alb"}


def settled(router: TrafficRouter, ro: Any, store: Store, state: RouterState) -> RouterState:
    """Move to ``state``; check that the same state again writes nothing; read back."""
    store.move(router, ro, state)
    assert list(router.plan(ro, state, store.view(router, ro))) == [], "not idempotent"
    return store.read(router, ro)


@pytest.mark.parametrize("name", ALL_ROUTERS)
def test_every_router_keeps_the_promises(name: str) -> None:
    router, ro, _ = case(name)
    check_router(
        router,
        ro,
        CASES[name][1],
        header_routes=name in HEADER_ROUTERS,
        mirror_routes=name in MIRROR_ROUTERS,
        experiments=name in EXPERIMENT_ROUTERS,
    )
    # what it declares, it is held to
    check_router(router, ro, CASES[name][1])


#: the annotations the alb router writes on the user's Ingress (its actions and
#: conditions, and Argo's bookkeeping of them)
ALB_OWN = (
    "alb.ingress.kubernetes.io/actions.",
    "alb.ingress.kubernetes.io/conditions.",
    "rollouts.argoproj.io/managed-alb-annotations",
)


def unmanaged(store: Store) -> dict[Any, Any]:
    """What a user wrote: every stored object minus what the routers manage."""
    out = {}
    for key, obj in store.objects.items():
        obj = copy.deepcopy(obj)
        obj["metadata"].pop("resourceVersion", None)
        spec = obj.get("spec") or {}
        if key[1] == "VirtualService":
            spec["http"] = [
                {k: v for k, v in r.items() if k != "route"}
                for r in spec.get("http") or ()
                if r.get("name") not in ("testers", "shadow")
            ]
        elif key[1] == "HTTPRoute":
            spec["rules"] = [
                {
                    **r,
                    "backendRefs": [
                        {k: v for k, v in b.items() if k != "weight"} for b in r["backendRefs"]
                    ],
                }
                for r in spec.get("rules") or ()
                if r.get("name") not in ("testers", "shadow")
            ]
        out[key] = obj
    return out


@pytest.mark.parametrize("name", ALL_ROUTERS)
def test_a_users_objects_change_only_where_the_router_manages_them(name: str) -> None:
    router, ro, store = case(name)
    original = unmanaged(store)
    headers = (HEADER,) if name in HEADER_ROUTERS else ()
    mirrors = (MIRROR,) if name in MIRROR_ROUTERS else ()
    for state in (
        RouterState(weight=10),
        RouterState(weight=30, header_routes=headers, mirror_routes=mirrors),
        RouterState(weight=100, header_routes=headers),
        RouterState(weight=0),
    ):
        store.move(router, ro, state)
    after = unmanaged(store)
    for key, obj in original.items():
        diff = merge_diff(obj, after[key])
        assert diff.keys() <= {"metadata"}, diff
        assert set(diff.get("metadata", {})) <= {"annotations"}, diff
        assert all(
            key == "argo-rollouts.argoproj.io/managed-by-rollouts" or key.startswith(ALB_OWN)
            for key in diff.get("metadata", {}).get("annotations", {})
        ), diff


def _weighted_experiment(name: str) -> Any:
    _, base, _ = case(name)
    assert base.canary is not None and base.canary.traffic_routing is not None
    # as the case configures it (the Gateway API as Argo's plugin)
    config = base.canary.traffic_routing.to_manifest()
    step = {
        "experiment": {
            "templates": [
                {"name": "baseline", "specRef": "stable", "weight": 10},
                {"name": "canary", "specRef": "canary"},
            ]
        }
    }
    return rollout(config, [{"setWeight": 10}, step])


@pytest.mark.parametrize("name", sorted(set(ALL_ROUTERS) - EXPERIMENT_ROUTERS))
def test_a_router_that_cannot_weigh_experiments_refuses_the_step(name: str) -> None:
    router = ROUTERS[name]
    errors = router.validate(_weighted_experiment(name))
    assert [e.path for e in errors] == [
        "spec.strategy.canary.steps[1].experiment.templates[0].weight"
    ]
    assert "experiment" in errors[0].message


@pytest.mark.parametrize("name", sorted(EXPERIMENT_ROUTERS))
def test_a_router_that_weighs_experiments_accepts_the_step(name: str) -> None:
    router, _, _ = case(name)
    assert router.validate(_weighted_experiment(name)) == []


def test_istio_weighs_experiments_with_subset_level_routing_too() -> None:
    """With a DestinationRule (and no canary or stable Service, as Argo allows), the
    experiment templates' Services are destinations of their own beside the subsets."""
    router = ROUTERS["istio"]
    vs = virtual_service()
    vs["spec"]["http"][1]["route"] = [
        {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
        {"destination": {"host": "web", "subset": "canary"}, "weight": 0},
    ]
    rule = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"host": "web", "subsets": [{"name": "stable"}, {"name": "canary"}]},
    }
    store = Store([vs, rule])
    ro = rollout(
        {
            "istio": {
                "virtualService": {"name": "web", "routes": ["primary"]},
                "destinationRule": {
                    "name": "web",
                    "canarySubsetName": "canary",
                    "stableSubsetName": "stable",
                },
            }
        },
        [{"experiment": {"templates": [{"name": "a", "specRef": "canary", "weight": 5}]}}],
        services=False,
    )
    assert router.validate(ro) == []
    state = RouterState(weight=20, canary_hash="c4n4ry", stable_hash="st4bl3")
    state = settled(router, ro, store, attrs.evolve(state, experiment_weights=EXPERIMENT))
    assert (state.weight, state.experiment_weights) == (20, EXPERIMENT)
    assert (state.canary_hash, state.stable_hash) == ("c4n4ry", "st4bl3")
    primary = store.objects[("networking.istio.io", "VirtualService", NS, "web")]["spec"]
    assert [
        (d["destination"]["host"], d["destination"].get("subset"), d["weight"])
        for d in primary["http"][1]["route"]
    ] == [
        ("web", "stable", 65),
        ("web", "canary", 20),
        ("web-exp-baseline", None, 10),
        ("web-exp-canary", None, 5),
    ]
    state = settled(router, ro, store, RouterState(weight=0))
    assert (state.weight, state.experiment_weights) == (0, ())


def test_the_stable_service_gets_what_the_canary_and_the_experiment_leave() -> None:
    router, ro, store = case("smi")
    store.move(router, ro, RouterState(weight=20, experiment_weights=EXPERIMENT))
    (split,) = store.objects.values()
    assert [(b["service"], b["weight"]) for b in split["spec"]["backends"]] == [
        ("web-canary", "20"),
        ("web-exp-baseline", "10"),
        ("web-exp-canary", "5"),
        ("web-stable", "65"),
    ]
    router, ro, store = case("istio")
    store.move(router, ro, RouterState(weight=20, experiment_weights=EXPERIMENT))
    (vs,) = store.objects.values()
    primary = vs["spec"]["http"][1]["route"]
    assert [(d["destination"]["host"], d["weight"]) for d in primary] == [
        ("web-stable", 65),
        ("web-canary", 20),
        ("web-exp-baseline", 10),
        ("web-exp-canary", 5),
    ]


# -- the check fails where a promise is broken ---------------------------------------------


class Broken:
    """A built-in router with one defect."""

    def __init__(self, name: str, defect: str) -> None:
        self.inner = ROUTERS[name]
        self.name = self.inner.name
        self.plugin_names = self.inner.plugin_names
        self.capabilities = self.inner.capabilities
        self.defect = defect

    def validate(self, rollout: Any) -> Any:
        return self.inner.validate(rollout)

    def refs(self, rollout: Any) -> Any:
        return self.inner.refs(rollout)

    def stand_ins(self, rollout: Any) -> Any:
        return self.inner.stand_ins(rollout)

    def read(self, rollout: Any, objects: Any) -> RouterState:
        state = self.inner.read(rollout, objects)
        if self.defect == "reads-more" and state.weight:
            return attrs.evolve(state, weight=state.weight + 1)
        return state

    def plan(self, rollout: Any, desired: RouterState, objects: Any) -> Any:
        if self.defect == "mute-refusal" and desired.header_routes:
            raise RouterError("cannot do that")
        writes = list(self.inner.plan(rollout, desired, objects))
        if self.defect == "drops-annotations":
            writes = [
                attrs.evolve(w, patch={**w.patch, "metadata": _dropping(w.patch, objects, w.ref)})
                if isinstance(w, Patch)
                else w
                for w in writes
            ]
        if self.defect == "always-writes" and not writes:
            for ref, obj in objects.items():
                if obj is not None:
                    meta = {"resourceVersion": obj["metadata"]["resourceVersion"]}
                    writes.append(Patch(ref, {"metadata": meta, "spec": {"touched": "yes"}}))
        return writes


def _dropping(patch: Any, objects: Any, ref: Any) -> dict[str, Any]:
    meta = dict(patch.get("metadata") or {})
    found = [o for r, o in objects.items() if (r.kind, r.name) == (ref.kind, ref.name) and o]
    current = found[0]["metadata"] if found else {}
    meta["annotations"] = {k: None for k in current.get("annotations") or {}}
    return meta


@pytest.mark.parametrize(
    ("name", "defect", "claims", "promise"),
    [
        ("smi", "reads-more", {}, "a weight is written and read back"),
        ("smi", "always-writes", {}, "planning .* again writes"),
        ("istio", "drops-annotations", {}, "fields the router does not manage survive"),
        ("smi", "mute-refusal", {}, "a router that cannot express header routes says so"),
        ("smi", "none", {"header_routes": True}, "header routes are expressed"),
        ("istio", "none", {"mirror_routes": False}, "mirror routes are refused"),
    ],
)
def test_a_router_that_breaks_a_promise_fails_the_check(
    name: str, defect: str, claims: dict[str, bool], promise: str
) -> None:
    _, ro, _ = case(name)
    with pytest.raises(AssertionError, match=promise):
        check_router(Broken(name, defect), ro, CASES[name][1], **claims)  # type: ignore[arg-type]
