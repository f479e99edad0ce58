"""Every router, the same promises (kopf's ALL_STORAGES pattern).

For each router in ``ALL_ROUTERS``: weights 0, 25 and 100 are written and read back;
header routes (and mirror routes, where the router can express them) are added and
removed and stay in place whatever the weight; an experiment's destinations (where
the router can express them; the others refuse them, in validation and in plan) are
added, changed and removed without touching the canary's weight; an abort sends everything back to
stable; planning a state on the objects it produced writes nothing; and fields,
rules, routes and annotations the router does not manage survive it all.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest

from progressive.core import HeaderMatch
from progressive.core._router_keys import HEADER_ROUTERS as CORE_HEADER_ROUTERS
from progressive.core._router_keys import MIRROR_ROUTERS as CORE_MIRROR_ROUTERS
from progressive.errors import RouterError
from progressive.routers import (
    ALL_ROUTERS,
    ROUTERS,
    HeaderRoute,
    MirrorRoute,
    RouterState,
    TrafficRouter,
)
from progressive.routers._objects import merge_diff

from .cases import (
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


def test_the_route_capabilities_are_the_ones_the_core_validates() -> None:
    # the core rejects header/mirror steps for routers outside these sets
    assert {r for r in ALL_ROUTERS if r in CORE_HEADER_ROUTERS} == HEADER_ROUTERS
    assert {r for r in ALL_ROUTERS if r in CORE_MIRROR_ROUTERS} == MIRROR_ROUTERS


def settled(router: TrafficRouter, ro: Any, store: Store, state: RouterState) -> RouterState:
    """Move to ``state``; check that the same state again writes nothing; read back."""
    store.move(router, ro, state)
    assert list(router.plan(ro, state, store.view(router, ro))) == [], "not idempotent"
    return store.read(router, ro)


@pytest.mark.parametrize("name", ALL_ROUTERS)
def test_fresh_objects_hold_no_canary_traffic(name: str) -> None:
    router, ro, store = case(name)
    assert router.validate(ro) == []
    assert store.read(router, ro).weight in (None, 0)
    # wanting nothing (no weight, no routes) on fresh objects writes nothing
    assert list(router.plan(ro, RouterState(), store.view(router, ro))) == []


@pytest.mark.parametrize("weight", [0, 25, 100])
@pytest.mark.parametrize("name", ALL_ROUTERS)
def test_weights_are_written_and_read_back(name: str, weight: int) -> None:
    router, ro, store = case(name)
    state = settled(router, ro, store, RouterState(weight=weight))
    assert state.weight == weight
    assert state.agreed
    # and from one weight to another
    other = 100 - weight
    assert settled(router, ro, store, RouterState(weight=other)).weight == other


@pytest.mark.parametrize("name", sorted(HEADER_ROUTERS))
def test_a_header_route_is_added_and_removed(name: str) -> None:
    router, ro, store = case(name)
    settled(router, ro, store, RouterState(weight=25))
    with_route = settled(router, ro, store, RouterState(weight=25, header_routes=(HEADER,)))
    assert with_route.header_routes == (HEADER,)
    assert with_route.weight == 25
    without = settled(router, ro, store, RouterState(weight=25))
    assert without.header_routes == ()
    assert without.weight == 25


@pytest.mark.parametrize("name", sorted(HEADER_ROUTERS))
def test_a_header_route_stays_whatever_the_weight(name: str) -> None:
    router, ro, store = case(name)
    # before any weight at all (A/B at weight 0), then through every weight
    state = settled(router, ro, store, RouterState(header_routes=(HEADER,)))
    assert state.header_routes == (HEADER,) and state.weight == 0
    for weight in (0, 10, 100, 0):
        state = settled(router, ro, store, RouterState(weight=weight, header_routes=(HEADER,)))
        assert (state.weight, state.header_routes) == (weight, (HEADER,))
    # a weight change that leaves the routes as read keeps the route
    read = store.read(router, ro)
    state = settled(router, ro, store, attrs.evolve(read, weight=50))
    assert state.header_routes == (HEADER,)


@pytest.mark.parametrize("name", sorted(MIRROR_ROUTERS))
def test_a_mirror_route_is_added_and_removed(name: str) -> None:
    router, ro, store = case(name)
    settled(router, ro, store, RouterState(weight=25))
    state = settled(router, ro, store, RouterState(weight=25, mirror_routes=(MIRROR,)))
    assert state.mirror_routes == (MIRROR,)
    assert state.weight == 25
    # its weighted destinations follow setWeight
    assert settled(router, ro, store, attrs.evolve(state, weight=60)).weight == 60
    both = settled(
        router, ro, store, RouterState(weight=60, header_routes=(HEADER,), mirror_routes=(MIRROR,))
    )
    assert (both.header_routes, both.mirror_routes) == ((HEADER,), (MIRROR,))
    state = settled(router, ro, store, RouterState(weight=60, header_routes=(HEADER,)))
    assert (state.header_routes, state.mirror_routes) == ((HEADER,), ())


@pytest.mark.parametrize("name", sorted(set(ALL_ROUTERS) - MIRROR_ROUTERS))
def test_a_router_that_cannot_mirror_says_so(name: str) -> None:
    router, ro, store = case(name)
    with pytest.raises(RouterError, match="mirror"):
        router.plan(ro, RouterState(weight=10, mirror_routes=(MIRROR,)), store.view(router, ro))


@pytest.mark.parametrize("name", sorted(set(ALL_ROUTERS) - HEADER_ROUTERS))
def test_a_router_that_cannot_route_headers_says_so(name: str) -> None:
    router, ro, store = case(name)
    with pytest.raises(RouterError, match="header"):
        router.plan(ro, RouterState(weight=10, header_routes=(HEADER,)), store.view(router, ro))


@pytest.mark.parametrize("name", ALL_ROUTERS)
def test_abort_returns_all_traffic_to_stable(name: str) -> None:
    router, ro, store = case(name)
    headers = (HEADER,) if name in HEADER_ROUTERS else ()
    mirrors = (MIRROR,) if name in MIRROR_ROUTERS else ()
    settled(router, ro, store, RouterState(weight=40, header_routes=headers, mirror_routes=mirrors))
    aborted = settled(router, ro, store, RouterState(weight=0))
    assert (aborted.weight, aborted.route_names) == (0, ())


@pytest.mark.parametrize("name", ALL_ROUTERS)
def test_applying_the_same_state_twice_changes_nothing(name: str) -> None:
    router, ro, store = case(name)
    headers = (HEADER,) if name in HEADER_ROUTERS else ()
    mirrors = (MIRROR,) if name in MIRROR_ROUTERS else ()
    for state in (
        RouterState(weight=25, canary_hash="new", stable_hash="old"),
        RouterState(weight=25, header_routes=headers),
        RouterState(weight=75, header_routes=headers, mirror_routes=mirrors),
        RouterState(weight=0),
    ):
        store.move(router, ro, state)
        before = copy.deepcopy(store.objects)
        assert list(router.plan(ro, state, store.view(router, ro))) == []
        # and what is read back plans to nothing either: read and plan are inverses
        read = store.read(router, ro)
        assert list(router.plan(ro, read, store.view(router, ro))) == []
        assert store.objects == before


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
def test_fields_the_router_does_not_manage_survive(name: str) -> None:
    router, ro, store = case(name)
    original = unmanaged(store)
    store.move(router, ro, RouterState(weight=10))
    # someone else annotates and labels every router object, ours included
    for obj in store.objects.values():
        meta = obj["metadata"]
        meta.setdefault("annotations", {})["example.com/note"] = "keep me"
        meta.setdefault("labels", {})["owner-team"] = "shop"
        obj["spec"]["x-extra"] = {"kept": True}
    tampered = unmanaged(store)
    headers = (HEADER,) if name in HEADER_ROUTERS else ()
    mirrors = (MIRROR,) if name in MIRROR_ROUTERS else ()
    for state in (
        RouterState(weight=30, header_routes=headers, mirror_routes=mirrors),
        RouterState(weight=100, header_routes=headers),
        RouterState(weight=0),
    ):
        store.move(router, ro, state)
    after = unmanaged(store)
    for key in tampered:
        assert after[key]["metadata"]["annotations"]["example.com/note"] == "keep me"
        assert after[key]["metadata"]["labels"]["owner-team"] == "shop"
        assert after[key]["spec"]["x-extra"] == {"kept": True}
    for key, obj in original.items():
        # the user's own objects: only the managed parts changed
        assert merge_diff(obj, after[key]).keys() <= {"metadata", "spec"}
        diff = merge_diff(obj, after[key])
        assert set(diff.get("spec", {})) <= {"x-extra"}, diff
        meta = diff.get("metadata", {})
        assert set(meta) <= {"annotations", "labels"}, diff
        assert set(meta.get("annotations", {})) <= {
            "example.com/note",
            "argo-rollouts.argoproj.io/managed-by-rollouts",
        }


@pytest.mark.parametrize("name", sorted(EXPERIMENT_ROUTERS))
def test_experiment_destinations_are_added_changed_and_removed(name: str) -> None:
    router, ro, store = case(name)
    settled(router, ro, store, RouterState(weight=20))
    state = settled(router, ro, store, RouterState(weight=20, experiment_weights=EXPERIMENT))
    assert (state.weight, state.experiment_weights) == (20, EXPERIMENT)
    assert state.agreed
    # a weight change that keeps what was read keeps the experiment's destinations
    state = settled(router, ro, store, attrs.evolve(store.read(router, ro), weight=40))
    assert (state.weight, state.experiment_weights) == (40, EXPERIMENT)
    # header routes leave them alone too
    if name in HEADER_ROUTERS:
        read = store.read(router, ro)
        state = settled(router, ro, store, attrs.evolve(read, header_routes=(HEADER,)))
        assert (state.experiment_weights, state.header_routes) == (EXPERIMENT, (HEADER,))
    changed = (("web-exp-baseline", 20), ("web-exp-canary", 20))
    state = settled(router, ro, store, RouterState(weight=40, experiment_weights=changed))
    assert (state.weight, state.experiment_weights) == (40, changed)
    state = settled(router, ro, store, RouterState(weight=40))
    assert (state.weight, state.experiment_weights) == (40, ())


@pytest.mark.parametrize("name", sorted(EXPERIMENT_ROUTERS))
def test_an_abort_removes_the_experiment_destinations(name: str) -> None:
    router, ro, store = case(name)
    settled(router, ro, store, RouterState(weight=30, experiment_weights=EXPERIMENT))
    aborted = settled(router, ro, store, RouterState(weight=0))
    assert (aborted.weight, aborted.experiment_weights) == (0, ())


def _weighted_experiment(name: str) -> Any:
    _, base, _ = case(name)
    routing = copy.deepcopy(base.canary.traffic_routing.routers if base.canary else {})
    assert base.canary is not None and base.canary.traffic_routing is not None
    managed = [{"name": n} for n in base.canary.traffic_routing.managed_routes]
    config: dict[str, Any] = {**routing, **({"managedRoutes": managed} if managed else {})}
    if name == "gatewayAPI":
        config = {
            "managedRoutes": managed,
            "plugins": {"argoproj-labs/gatewayAPI": routing["gatewayAPI"]},
        }
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
def test_a_router_that_cannot_weigh_experiments_says_so(name: str) -> None:
    router, ro, store = case(name)
    with pytest.raises(RouterError, match="experiment"):
        router.plan(
            ro, RouterState(weight=10, experiment_weights=EXPERIMENT), store.view(router, ro)
        )
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
