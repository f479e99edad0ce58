"""App Mesh specifics: the VirtualRouter found through the VirtualService (by the shell,
the loader and the object store alike), Argo's route types and its check of a
VirtualRouter, the VirtualNodes' pod-template hashes (Argo's placeholders), missing
objects, refusals."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from progressive._loader import parse_documents
from progressive._shell import Controller, Ref, VirtualClock
from progressive._shell.traffic import RouterTraffic, read_traffic
from progressive.core import Rollout, actions
from progressive.errors import RouterError
from progressive.memory import MemoryCluster
from progressive.routers import Patch, RouterState, default_registry, read_objects
from progressive.routers._appmesh import ROUTE_TYPES, AppMeshRouter

from ..shell.helpers import service, stored, with_image
from .cases import CASES, NS, Store, appmesh_objects, rollout, rollout_manifest

ROUTER = AppMeshRouter()
ROUTING: dict[str, Any] = CASES["appMesh"][0]
ALL_ROUTES = {"appMesh": {**ROUTING["appMesh"], "virtualService": {"name": "web"}}}
VR = ("appmesh.k8s.aws", "VirtualRouter", NS, "web-router")


def node_key(name: str) -> tuple[str, str, str, str]:
    return ("appmesh.k8s.aws", "VirtualNode", NS, name)


def weights(store: Store) -> dict[str, list[tuple[str, int]]]:
    """Each route's (VirtualNode, weight) pairs."""
    out = {}
    for route in store.objects[VR]["spec"]["routes"]:
        kind = next(k for k in ROUTE_TYPES if k in route)
        targets = route[kind]["action"]["weightedTargets"]
        out[route["name"]] = [(t["virtualNodeRef"]["name"], t["weight"]) for t in targets]
    return out


def pod_hash(store: Store, name: str) -> str:
    node = store.objects[node_key(name)]
    return str(node["spec"]["podSelector"]["matchLabels"]["rollouts-pod-template-hash"])


def objects_with(change: Any) -> list[dict[str, Any]]:
    objects = appmesh_objects()
    change({(o["kind"], o["metadata"]["name"]): o for o in objects})
    return objects


def test_the_named_routes_are_weighed_and_the_others_left_alone() -> None:
    store = Store(appmesh_objects())
    store.move(ROUTER, rollout(ROUTING), RouterState(weight=30))
    assert weights(store) == {
        "primary": [("web-vn-canary", 30), ("web-vn-stable", 70)],
        "rpc": [("web-vn-canary", 10), ("web-vn-stable", 90)],  # not in routes
    }


@pytest.mark.parametrize("kind", ROUTE_TYPES)
def test_without_routes_every_route_of_each_type_argo_splits_is_weighed(kind: str) -> None:
    def retype(found: dict[Any, Any]) -> None:
        route = found[("VirtualRouter", "web-router")]["spec"]["routes"][0]
        route[kind] = route.pop("httpRoute")

    store = Store(objects_with(retype))
    ro = rollout(ALL_ROUTES)
    assert store.read(ROUTER, ro).weight == 0
    assert not store.read(ROUTER, ro).agreed  # the rpc route holds 10 and primary 0
    store.move(ROUTER, ro, RouterState(weight=40))
    assert weights(store) == {
        "primary": [("web-vn-canary", 40), ("web-vn-stable", 60)],
        "rpc": [("web-vn-canary", 40), ("web-vn-stable", 60)],
    }
    assert (store.read(ROUTER, ro).weight, store.read(ROUTER, ro).agreed) == (40, True)


def test_argos_weights_are_read_back() -> None:
    def argo_wrote(found: dict[Any, Any]) -> None:
        route = found[("VirtualRouter", "web-router")]["spec"]["routes"][0]
        route["httpRoute"]["action"]["weightedTargets"][0]["weight"] = 35
        route["httpRoute"]["action"]["weightedTargets"][1]["weight"] = 65

    assert Store(objects_with(argo_wrote)).read(ROUTER, rollout(ROUTING)).weight == 35


def test_each_weight_pins_the_virtual_nodes_to_the_revisions() -> None:
    store = Store(appmesh_objects())
    ro = rollout(ROUTING)
    store.move(ROUTER, ro, RouterState(weight=25, canary_hash="v2", stable_hash="v1"))
    assert (pod_hash(store, "web-vn-canary"), pod_hash(store, "web-vn-stable")) == ("v2", "v1")
    for name in ("web-vn-canary", "web-vn-stable"):
        node = store.objects[node_key(name)]
        assert node["metadata"]["annotations"] == {
            "argo-rollouts.argoproj.io/managed-by-rollouts": "web"
        }
        assert node["spec"]["podSelector"]["matchLabels"]["app"] == "web"  # kept
    read = store.read(ROUTER, ro)
    assert (read.weight, read.canary_hash, read.stable_hash) == (25, "v2", "v1")
    # promoted: both revisions are v2, the canary VirtualNode selects no pod (Argo's label)
    store.move(ROUTER, ro, RouterState(weight=0, canary_hash="v2", stable_hash="v2"))
    assert (pod_hash(store, "web-vn-canary"), pod_hash(store, "web-vn-stable")) == (
        "canary-hash",
        "v2",
    )
    # the next revision: the canary VirtualNode follows it
    store.move(ROUTER, ro, RouterState(weight=0, canary_hash="v3", stable_hash="v2"))
    assert pod_hash(store, "web-vn-canary") == "v3"
    # a canary hash alone is compared with the stable VirtualNode's
    store.move(ROUTER, ro, RouterState(canary_hash="v2"))
    assert pod_hash(store, "web-vn-canary") == "canary-hash"
    # no stable hash yet: Argo's placeholder
    store.move(ROUTER, ro, RouterState(canary_hash="v4", stable_hash=""))
    assert (pod_hash(store, "web-vn-canary"), pod_hash(store, "web-vn-stable")) == (
        "v4",
        "stable-hash",
    )


def test_less_traffic_is_written_before_the_hashes_more_after_them() -> None:
    store = Store(appmesh_objects())
    ro = rollout(ROUTING)

    def kinds(state: RouterState) -> list[str]:
        writes = store.move(ROUTER, ro, state)
        return [w.ref.kind for w in writes if isinstance(w, Patch)]

    # up: the canary VirtualNode selects the new pods before it gets traffic
    up = kinds(RouterState(weight=100, canary_hash="v2", stable_hash="v1"))
    assert up == ["VirtualNode", "VirtualNode", "VirtualRouter"]
    # promoted: traffic back to the stable VirtualNode before canary-hash selects nothing
    down = kinds(RouterState(weight=0, canary_hash="v2", stable_hash="v2"))
    assert down == ["VirtualRouter", "VirtualNode", "VirtualNode"]
    read = store.read(ROUTER, ro)  # canary-hash reads as "the stable revision"
    assert (read.weight, read.canary_hash, read.stable_hash) == (0, "v2", "v2")


async def test_the_virtual_nodes_select_the_revisions_from_the_first_reconcile() -> None:
    """Argo's UpdateHash runs at every reconcile: the VirtualNodes deployed with
    placeholders (Argo's e2e test has ``stable-tbd``) select the stable pods at once,
    without waiting for a weight to change, and follow each promotion."""
    cluster = MemoryCluster(VirtualClock())
    clock = cluster.clock
    for obj in [*appmesh_objects(), service("web-canary"), service("web-stable")]:
        await cluster.create(copy.deepcopy(obj))
    manifest = rollout_manifest(ROUTING, [{"setWeight": 50}, {"pause": {"duration": 10}}])
    del manifest["metadata"]["uid"]
    await cluster.create(manifest)
    controller = Controller(cluster, clock=clock)
    ref = Ref("argoproj.io/v1alpha1", "Rollout", NS, "web")

    async def nodes() -> tuple[str, str]:
        labels = []
        for name in ("web-vn-canary", "web-vn-stable"):
            node = await cluster.get(Ref("appmesh.k8s.aws/v1beta2", "VirtualNode", NS, name))
            assert node is not None
            labels.append(node["spec"]["podSelector"]["matchLabels"]["rollouts-pod-template-hash"])
        return labels[0], labels[1]

    await controller.settle(wakeup=cluster.next_event_at, until=clock.now() + 60)
    obj = await cluster.get(ref)
    assert obj is not None and obj["status"]["phase"] == "Healthy"
    first = obj["status"]["stableRS"]
    assert await nodes() == ("canary-hash", first)
    await cluster.patch(ref, {"spec": with_image(obj, "example/web:3")["spec"]})
    await controller.settle(wakeup=cluster.next_event_at, until=clock.now() + 120)
    obj = await cluster.get(ref)
    assert obj is not None and obj["status"]["phase"] == "Healthy"
    second = obj["status"]["stableRS"]
    assert second != first
    assert await nodes() == ("canary-hash", second)
    store = Store(cluster.objects("appmesh.k8s.aws/v1beta2", "VirtualRouter"))
    assert weights(store)["primary"] == [("web-vn-canary", 0), ("web-vn-stable", 100)]


def test_a_virtual_node_without_a_pod_selector_gets_one() -> None:
    def bare(found: dict[Any, Any]) -> None:
        del found[("VirtualNode", "web-vn-stable")]["spec"]["podSelector"]

    store = Store(objects_with(bare))
    store.move(ROUTER, rollout(ROUTING), RouterState(weight=5, canary_hash="b", stable_hash="a"))
    node = store.objects[node_key("web-vn-stable")]
    assert node["spec"]["podSelector"] == {"matchLabels": {"rollouts-pod-template-hash": "a"}}


def without(kind: str, name: str) -> list[dict[str, Any]]:
    return [o for o in appmesh_objects() if (o["kind"], o["metadata"]["name"]) != (kind, name)]


@pytest.mark.parametrize(
    ("objects", "state", "message"),
    [
        (
            without("VirtualService", "web"),
            RouterState(weight=10),
            "App Mesh VirtualService default/web not found",
        ),
        (
            without("VirtualRouter", "web-router"),
            RouterState(weight=10),
            "App Mesh VirtualRouter default/web-router .the provider of VirtualService "
            "default/web. not found",
        ),
        (
            without("VirtualNode", "web-vn-canary"),
            RouterState(weight=10, canary_hash="b", stable_hash="a"),
            "App Mesh VirtualNode default/web-vn-canary not found",
        ),
    ],
)
def test_a_missing_object_is_an_error_naming_it(
    objects: list[dict[str, Any]], state: RouterState, message: str
) -> None:
    store = Store(objects)
    ro = rollout(ROUTING)
    with pytest.raises(RouterError, match=message):
        store.move(ROUTER, ro, state)
    assert store.writes == []
    if len(objects) < 3:  # before the first write, nothing is held
        assert store.read(ROUTER, ro).weight is None


def test_a_virtual_service_must_name_a_virtual_router_of_the_rollouts_namespace() -> None:
    def provider(virtual_router: dict[str, Any]) -> Any:
        def change(found: dict[Any, Any]) -> None:
            found[("VirtualService", "web")]["spec"]["provider"] = virtual_router

        return change

    ro = rollout(ROUTING)
    node = {"virtualNode": {"virtualNodeRef": {"name": "web-vn-stable"}}}
    with pytest.raises(RouterError, match="is not associated with a VirtualRouter"):
        Store(objects_with(provider(node))).move(ROUTER, ro, RouterState(weight=10))
    elsewhere = {"virtualRouter": {"virtualRouterRef": {"name": "web-router", "namespace": "x"}}}
    store = Store(objects_with(provider(elsewhere)))
    assert list(store.view(ROUTER, ro)) == list(ROUTER.refs(ro))  # x is never read
    with pytest.raises(RouterError, match="names VirtualRouter x/web-router, outside"):
        store.move(ROUTER, ro, RouterState(weight=10))


def routes_of(change: Any) -> list[dict[str, Any]]:
    def edit(found: dict[Any, Any]) -> None:
        change(found[("VirtualRouter", "web-router")]["spec"]["routes"])

    return objects_with(edit)


def _third_target(routes: list[Any]) -> None:
    targets = routes[1]["grpcRoute"]["action"]["weightedTargets"]
    targets.append({"virtualNodeRef": {"name": "other"}, "weight": 0})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Argo's check of every route of the VirtualRouter, named in routes or not
        (lambda r: r.clear(), "VirtualRouter default/web-router has no routes"),
        (
            lambda r: r[1].update(grpcRoute=None, gatewayRoute={}),
            r"spec.routes\[1\] \(rpc\): no httpRoute, tcpRoute, http2Route, grpcRoute",
        ),
        (_third_target, r"spec.routes\[1\] \(rpc\): 3 weightedTargets, expected 2"),
        (
            lambda r: r[0]["httpRoute"]["action"]["weightedTargets"][1].pop("weight"),
            r"weightedTargets\[1\] is not well-formed",
        ),
        # the routes it weighs: where Argo would skip them silently
        (
            lambda r: r[0]["httpRoute"]["action"]["weightedTargets"][0].update(
                virtualNodeRef={"name": "web-vn-canary", "namespace": "elsewhere"}
            ),
            "route 'primary' has no weighted target for VirtualNode 'web-vn-canary'",
        ),
        (
            lambda r: r[0].update(name="main"),
            "VirtualRouter default/web-router has no route 'primary'",
        ),
    ],
)
def test_a_virtual_router_argo_would_refuse_is_an_error(change: Any, message: str) -> None:
    store = Store(routes_of(change))
    ro = rollout(ROUTING)
    with pytest.raises(RouterError, match=message):
        store.read(ROUTER, ro)
    with pytest.raises(RouterError, match=message):
        store.move(ROUTER, ro, RouterState(weight=10))


def test_the_shell_reads_the_virtual_router_the_virtual_service_names() -> None:
    assert [r.kind for r in ROUTER.refs(rollout(ROUTING))] == [
        "VirtualService",
        "VirtualNode",
        "VirtualNode",
    ]
    store = Store(appmesh_objects())
    read = read_objects(ROUTER, rollout(ROUTING), store.get)
    assert [r.kind for r in read] == [
        "VirtualService",
        "VirtualNode",
        "VirtualNode",
        "VirtualRouter",
    ]


async def test_the_controllers_traffic_moves_the_virtual_router() -> None:
    cluster = MemoryCluster(VirtualClock())
    for obj in appmesh_objects():
        await cluster.create(copy.deepcopy(obj))
    ro = Rollout.from_manifest(await cluster.create(rollout_manifest(ROUTING)))
    traffic = RouterTraffic(cluster)
    assert (await traffic.observe(ro)).weight == 0
    await traffic.set_weight(ro, actions.WriteWeight(60, "v2", "v1"))
    assert (await traffic.observe(ro)).weight == 60
    assert read_traffic(ro, stored(cluster)).weight == 60
    kinds = sorted(o["kind"] for o in await traffic.objects(ro))
    assert kinds == ["VirtualNode", "VirtualNode", "VirtualRouter", "VirtualService"]


def test_lint_reads_the_kinds_the_router_reaches_through_the_virtual_service() -> None:
    text = yaml.safe_dump_all([*appmesh_objects(), rollout_manifest(ROUTING)])
    documents = parse_documents([("mesh.yaml", text)])
    # the Services are left out: no other problem (no "not a kind progressive reads")
    assert [str(p.error) for p in documents.problems] == [
        f"spec.strategy.canary.{key}: Service '{name}' is not in the loaded files; it must "
        "exist in the cluster"
        for key, name in (("canaryService", "web-canary"), ("stableService", "web-stable"))
    ]


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        (
            {"appMesh": {"virtualNodeGroup": {"canaryVirtualNodeRef": {"name": "a"}}}},
            [
                "appMesh.virtualService.name: is required",
                "appMesh.virtualNodeGroup.stableVirtualNodeRef.name: is required",
            ],
        ),
        (
            {
                "appMesh": {
                    "virtualService": {"name": "web"},
                    "virtualNodeGroup": {
                        "canaryVirtualNodeRef": {"name": "a"},
                        "stableVirtualNodeRef": {"name": "a"},
                    },
                }
            },
            ["appMesh.virtualNodeGroup.canaryVirtualNodeRef.name: must differ"],
        ),
        (
            {"maxTrafficWeight": 1000, **ROUTING},
            ["maxTrafficWeight: App Mesh weights are at most 100"],
        ),
    ],
)
def test_validation(routing: dict[str, Any], expected: list[str]) -> None:
    errors = [str(e) for e in ROUTER.validate(rollout(routing))]
    assert len(errors) == len(expected), errors
    for error, wanted in zip(errors, expected, strict=True):
        assert wanted in error


def test_header_and_mirror_steps_are_refused_as_argo_cannot_route_them() -> None:
    ro = rollout(
        {"managedRoutes": [{"name": "testers"}], **ROUTING},
        [
            {
                "setHeaderRoute": {
                    "name": "testers",
                    "match": [{"headerName": "x", "headerValue": {"exact": "y"}}],
                }
            }
        ],
    )
    assert [str(p) for p in default_registry().check(ro)] == [
        "spec.strategy.canary.steps[0].setHeaderRoute: not supported by the appMesh router "
        "(supported by: alb, apisix, gatewayAPI, istio, nginx)"
    ]
