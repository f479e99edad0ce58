"""The shell drives the routers: several routers move together, come back together,
and their errors land on the Rollout."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from progressive._loader import load_documents
from progressive._shell import Controller, Ref, VirtualClock
from progressive._shell.traffic import RouterTraffic, read_traffic, traffic_view
from progressive._simulation import simulate
from progressive.cli import main
from progressive.core import Rollout, TrafficView, actions, promote
from progressive.core._router_keys import ARGO_ROUTER_KEYS
from progressive.errors import RouterError
from progressive.memory import MemoryCluster
from progressive.routers import (
    ROUTERS,
    DeclaredRouter,
    HeaderRoute,
    ObjectRef,
    Objects,
    RouterRegistry,
    RouterState,
    TrafficRouter,
    Write,
    default_registry,
)

from ..shell.helpers import canary_rollout, ingress, service, stored, with_image

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROLLOUT = Ref("argoproj.io/v1alpha1", "Rollout", "default", "web")
CANARY_INGRESS = Ref("networking.k8s.io/v1", "Ingress", "default", "web-web-canary")
SPLIT = Ref("split.smi-spec.io/v1alpha1", "TrafficSplit", "default", "web")


# -- TrafficView: what ALL routers hold -----------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([], None),
        ([None], None),
        ([None, None], None),  # nobody holds a weight yet
        ([25], 25),
        ([25, 25], 25),
        ([None, 0], 0),  # holding nothing is holding 0
        ([25, None], 0),
        ([50, 25], 25),  # the weight every router sends at least
        ([0, 100], 0),
    ],
)
def test_traffic_view_weight_is_the_weight_all_routers_hold(
    weights: list[int | None], expected: int | None
) -> None:
    view = traffic_view([RouterState(weight=w) for w in weights])
    assert view.weight == expected


def test_traffic_view_routes_are_those_every_router_holds() -> None:
    a, b = HeaderRoute("a", ()), HeaderRoute("b", ())
    view = traffic_view(
        [RouterState(weight=5, header_routes=(a, b)), RouterState(weight=5, header_routes=(b,))]
    )
    assert view == TrafficView(weight=5, header_routes=("b",))


# -- two routers on one Rollout -------------------------------------------------------------


def two_routers(**extra: Any) -> dict[str, Any]:
    return canary_rollout(
        canaryService="web-canary",
        stableService="web-stable",
        trafficRouting={"nginx": {"stableIngress": "web"}, "smi": {}},
        steps=[{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}],
        **extra,
    )


async def world(manifest: dict[str, Any]) -> tuple[MemoryCluster, Rollout]:
    cluster = MemoryCluster(VirtualClock())
    for name in ("web-canary", "web-stable"):
        await cluster.create(service(name))
    await cluster.create(ingress("web", "web-stable"))
    stored_rollout = await cluster.create(manifest)
    return cluster, Rollout.from_manifest(stored_rollout)


def weights(cluster: MemoryCluster) -> tuple[str | None, Any]:
    canary = {
        o["metadata"]["name"]: o for o in cluster.objects(CANARY_INGRESS.api_version, "Ingress")
    }
    ingress_weight = (
        canary["web-web-canary"]["metadata"]["annotations"][
            "nginx.ingress.kubernetes.io/canary-weight"
        ]
        if "web-web-canary" in canary
        else None
    )
    splits = cluster.objects(SPLIT.api_version, "TrafficSplit")
    split_weight = splits[0]["spec"]["backends"][0]["weight"] if splits else None
    return ingress_weight, split_weight


async def test_routers_move_together() -> None:
    cluster, rollout = await world(two_routers())
    traffic = RouterTraffic(cluster)
    assert await traffic.observe(rollout) == TrafficView()
    await traffic.set_weight(rollout, actions.WriteWeight(25, "new", "old"))
    assert weights(cluster) == ("25", "25")
    assert (await traffic.observe(rollout)).weight == 25
    assert read_traffic(rollout, stored(cluster)) == TrafficView(weight=25)


class CountingGets(MemoryCluster):
    """Counts the reads of router objects (Ingresses and TrafficSplits)."""

    def __init__(self) -> None:
        super().__init__(VirtualClock())
        self.router_gets = 0

    async def get(self, ref: Ref) -> dict[str, Any] | None:
        if ref.kind in ("Ingress", "TrafficSplit"):
            self.router_gets += 1
        return await super().get(ref)


async def test_a_session_reads_the_router_objects_once_until_a_write() -> None:
    cluster = CountingGets()
    for name in ("web-canary", "web-stable"):
        await cluster.create(service(name))
    await cluster.create(ingress("web", "web-stable"))
    rollout = Rollout.from_manifest(await cluster.create(two_routers()))
    traffic = RouterTraffic(cluster)
    await traffic.set_weight(rollout, actions.WriteWeight(25, "new", "old"))
    # outside a session: every call reads (3 objects: the stable and canary Ingresses,
    # the TrafficSplit)
    cluster.router_gets = 0
    await traffic.align(rollout)
    await traffic.observe(rollout)
    assert cluster.router_gets == 6
    # inside: align reads, observe and the first action share it; the write is checked
    # against what the server returned; after it, reads are fresh again
    cluster.router_gets = 0
    with traffic.session(rollout):
        assert await traffic.align(rollout) == 0
        assert (await traffic.observe(rollout)).weight == 25
        await traffic.set_weight(rollout, actions.WriteWeight(50, "new", "old"))
        assert cluster.router_gets == 3
        assert (await traffic.observe(rollout)).weight == 50
        assert cluster.router_gets == 6
    assert weights(cluster) == ("50", "50")  # v1alpha1: a Quantity
    cluster.router_gets = 0
    assert (await traffic.observe(rollout)).weight == 50  # the session is over: reads
    assert cluster.router_gets == 3


class Broken:
    """A router that fails (``raises``) or silently writes nothing (``ignores``)."""

    def __init__(self, inner: TrafficRouter, mode: str) -> None:
        self.inner = inner
        self.mode = mode
        self.name = inner.name
        self.plugin_names = inner.plugin_names
        self.capabilities = inner.capabilities

    def validate(self, rollout: Rollout) -> list[Any]:
        return self.inner.validate(rollout)

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return self.inner.refs(rollout)

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        return self.inner.read(rollout, objects)

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        if desired.weight == 50:
            if self.mode == "raises":
                raise RouterError("the mesh refused the split")
            return []
        return self.inner.plan(rollout, desired, objects)

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        return self.inner.stand_ins(rollout)


@pytest.mark.parametrize("mode", ["raises", "ignores"])
async def test_when_one_router_fails_the_others_come_back(mode: str) -> None:
    cluster, rollout = await world(two_routers())
    implemented = {**ROUTERS, "smi": Broken(ROUTERS["smi"], mode)}
    traffic = RouterTraffic(cluster, implemented)
    await traffic.set_weight(rollout, actions.WriteWeight(25, "new", "old"))
    with pytest.raises(RouterError) as caught:
        await traffic.set_weight(rollout, actions.WriteWeight(50, "new", "old"))
    message = str(caught.value)
    assert message.startswith("smi: ")
    assert "nginx, smi brought back to weight 25" in message
    if mode == "ignores":
        assert "holds weight 25" in message and "not weight 50" in message
    # nginx had moved to 50: it is back at the weight both held
    assert weights(cluster) == ("25", "25")
    assert (await traffic.observe(rollout)).weight == 25


async def test_routers_that_disagree_are_aligned_to_what_all_hold() -> None:
    cluster, rollout = await world(two_routers())
    traffic = RouterTraffic(cluster)
    await traffic.set_weight(rollout, actions.WriteWeight(25, "new", "old"))
    # a controller died after writing nginx's 50 and before smi's
    await cluster.patch(
        CANARY_INGRESS,
        {"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "50"}}},
    )
    assert (await traffic.observe(rollout)).weight == 25
    assert await traffic.align(rollout) == 1
    assert weights(cluster) == ("25", "25")
    assert await traffic.align(rollout) == 0


async def test_a_step_does_not_advance_until_every_router_holds_its_weight() -> None:
    cluster, _ = await world(two_routers())
    clock = cluster.clock
    broken = {**ROUTERS, "smi": Broken(ROUTERS["smi"], "raises")}
    controller = Controller(cluster, clock=clock, traffic=RouterTraffic(cluster, broken))
    await controller.settle(wakeup=cluster.next_event_at, until=clock.now() + 60)
    obj = await cluster.get(ROLLOUT)
    assert obj is not None and obj["status"]["phase"] == "Healthy"
    # update, reach the first pause (25), promote: the 50 never holds on smi
    await cluster.patch(ROLLOUT, {"spec": with_image(obj, "example/web:2")["spec"]})
    await controller.settle(wakeup=cluster.next_event_at, until=clock.now() + 60)
    obj = await cluster.get(ROLLOUT)
    assert obj is not None and obj["status"]["currentStepIndex"] == 1
    spec_patch, status_patch = promote(Rollout.from_manifest(obj))
    for patch in (spec_patch, status_patch):
        if patch:
            await cluster.patch(ROLLOUT, patch)
    result = await controller.settle(wakeup=cluster.next_event_at, until=clock.now() + 60)
    assert any("smi: the mesh refused the split" in str(e.error) for e in result.errors)
    obj = await cluster.get(ROLLOUT)
    assert obj is not None and obj["status"]["currentStepIndex"] == 2  # not past setWeight 50
    assert weights(cluster) == ("25", "25")
    events = [e for e in cluster.objects("v1", "Event") if e["reason"] == "TrafficRoutingError"]
    assert events and events[-1]["type"] == "Warning"
    assert "brought back to weight 25" in events[-1]["message"]


# -- ownership, configuration errors, fallback ------------------------------------------------


async def test_a_foreign_traffic_split_is_an_error_on_that_rollout_only() -> None:
    cluster, _ = await world(
        canary_rollout(
            canaryService="web-canary",
            stableService="web-stable",
            trafficRouting={"smi": {}},
            steps=[{"setWeight": 25}],
        )
    )
    foreign = {
        "apiVersion": "split.smi-spec.io/v1alpha1",
        "kind": "TrafficSplit",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "x",
                    "uid": "1",
                    "controller": True,
                }
            ],
        },
        "spec": {"service": "web-stable", "backends": [{"service": "web-stable", "weight": "100"}]},
    }
    await cluster.create(foreign)
    await cluster.create(canary_rollout("other", steps=[{"setWeight": 50}]))
    controller = Controller(cluster, clock=cluster.clock)
    result = await controller.settle(wakeup=cluster.next_event_at, until=cluster.clock.now() + 60)
    assert {e.key for e in result.errors} == {"default/web"}
    assert "not controlled by Rollout default/web (ConfigMap x)" in str(result.errors[0].error)
    other = await cluster.get(Ref("argoproj.io/v1alpha1", "Rollout", "default", "other"))
    assert other is not None and other["status"]["phase"] == "Healthy"
    (split,) = cluster.objects("split.smi-spec.io/v1alpha1", "TrafficSplit")
    assert split["spec"] == foreign["spec"]  # left as it is


async def test_a_router_configuration_error_is_an_invalid_spec() -> None:
    cluster = MemoryCluster(VirtualClock())
    await cluster.create(
        canary_rollout(
            canaryService="web-canary",
            stableService="web-stable",
            trafficRouting={"nginx": {"annotationPrefix": "x"}},
        )
    )
    await Controller(cluster, clock=cluster.clock).settle(until=cluster.clock.now() + 10)
    obj = await cluster.get(ROLLOUT)
    assert obj is not None and obj["status"]["phase"] == "Degraded"
    assert "trafficRouting.nginx.stableIngress: is required" in obj["status"]["message"]


@pytest.mark.parametrize("key", [k for k in ARGO_ROUTER_KEYS if k != "nginx"])
async def test_a_router_without_an_implementation_is_refused(key: str) -> None:
    # every Argo router is built in: an embedding controller's registry may lack one
    manifest = canary_rollout(
        canaryService="web-canary",
        stableService="web-stable",
        trafficRouting={"nginx": {"stableIngress": "web"}, key: {"x": "y"}},
    )
    cluster, rollout = await world(manifest)
    fewer = RouterRegistry(r for r in ROUTERS.values() if r.name != key)
    traffic = RouterTraffic(cluster, fewer)
    message = (
        f"spec.strategy.canary.trafficRouting.{key}: the {key} router is not implemented "
        f"(this controller implements {', '.join(fewer.keys)})"
    )
    assert [str(e) for e in traffic.validate(rollout)] == [message]
    with pytest.raises(RouterError, match=f"the {key} router is not implemented"):
        await traffic.set_weight(rollout, actions.WriteWeight(40, "new", "old"))
    with pytest.raises(RouterError, match=f"the {key} router is not implemented"):
        read_traffic(rollout, stored(cluster), fewer)
    controller = Controller(cluster, clock=cluster.clock, traffic=traffic)
    result = await controller.settle(until=cluster.clock.now() + 60)
    assert result.errors == ()
    obj = await cluster.get(ROLLOUT)
    assert obj is not None and obj["status"]["phase"] == "Degraded"
    assert obj["status"]["message"] == f"InvalidSpec: {message}"
    (event,) = cluster.objects("v1", "Event")
    assert (event["type"], event["reason"], event["message"]) == ("Warning", "InvalidSpec", message)
    assert cluster.objects("apps/v1", "ReplicaSet") == []  # nothing started


def test_a_controller_with_a_router_of_its_own_accepts_its_key() -> None:
    rollout = Rollout.from_manifest(
        canary_rollout(
            canaryService="web-canary", stableService="web-stable", trafficRouting={"kong": {}}
        )
    )
    routers = default_registry().with_routers(DeclaredRouter("kong"))
    assert RouterTraffic(MemoryCluster(VirtualClock()), routers).validate(rollout) == []


async def test_a_service_another_rollout_manages_is_not_taken_over() -> None:
    from progressive._shell import apply_action
    from progressive.errors import ApplyError

    cluster, rollout = await world(two_routers())
    await cluster.patch(
        Ref("v1", "Service", "default", "web-canary"),
        {"metadata": {"annotations": {"argo-rollouts.argoproj.io/managed-by-rollouts": "shop"}}},
    )
    with pytest.raises(ApplyError, match="managed by Rollout shop"):
        await apply_action(
            cluster,
            rollout,
            actions.SetServiceSelector("web-canary", "abc"),
            traffic=RouterTraffic(cluster),
            now=0.0,
        )


# -- simulate --show-objects ----------------------------------------------------------------


def example(name: str) -> list[dict[str, Any]]:
    documents = load_documents([EXAMPLES / name / "rollout.yaml"], cluster_may_have_more=False)
    return [copy.deepcopy(d.raw) for d in documents.documents]


def test_simulate_shows_the_objects_each_moment_changed() -> None:
    result = simulate(example("canary-nginx-smi"), show_objects=True)
    assert result.phase == "Healthy"
    first = next(r for r in result.timeline if r.event == "SetWeight")
    moment = [r for r in result.timeline if r.t == first.t]
    changed = {(o["kind"], o["metadata"]["name"]) for r in moment for o in r.objects or ()}
    assert changed == {("Ingress", "orders-orders-canary"), ("TrafficSplit", "orders")}
    split = next(o for r in moment for o in r.objects or () if o["kind"] == "TrafficSplit")
    assert split["spec"]["backends"][0] == {"service": "orders-canary", "weight": "25"}
    assert split["metadata"]["resourceVersion"]  # as stored
    # only the first line of a moment carries its objects
    assert sum(1 for r in moment if r.objects) == 1
    plain = simulate(example("canary-nginx-smi"))
    assert all(r.objects is None for r in plain.timeline)

    def events(timeline: tuple[Any, ...]) -> list[tuple[object, ...]]:
        return [(r.event, *r.state()) for r in timeline if r.event is not None]

    # the objects add lines of their own (what changed at a moment without an event)
    assert events(plain.timeline) == events(result.timeline)
    assert plain.timeline[-1].state() == result.timeline[-1].state()
    assert {r.state() for r in plain.timeline} <= {r.state() for r in result.timeline}


def test_simulate_creates_the_router_objects_the_files_lack() -> None:
    documents = [d for d in example("canary-gateway-api") if d["kind"] != "HTTPRoute"]
    result = simulate(documents, show_objects=True)
    assert result.phase == "Healthy"
    routes = [o for r in result.timeline for o in r.objects or () if o["kind"] == "HTTPRoute"]
    assert routes and routes[-1]["spec"]["rules"][0]["backendRefs"][0]["name"] == "catalog-stable"


def test_cli_show_objects_json_lines() -> None:
    out = CliRunner().invoke(
        main, ["simulate", str(EXAMPLES / "canary-smi"), "--json", "--show-objects"]
    )
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines() if line.startswith("{")]
    assert all("objects" in line for line in lines)
    splits = [o for line in lines for o in line["objects"] if o["kind"] == "TrafficSplit"]
    assert [o["spec"]["backends"][0]["weight"] for o in splits][:3] == [10, 20, 30]
    assert splits[0]["apiVersion"] == "split.smi-spec.io/v1alpha2"
    table = CliRunner().invoke(main, ["simulate", str(EXAMPLES / "canary-smi"), "--show-objects"])
    assert table.exit_code == 0
    assert "TrafficSplit/payments-split" in table.output
    assert "kind: TrafficSplit" in table.output
    plain = CliRunner().invoke(main, ["simulate", str(EXAMPLES / "canary-smi"), "--json"])
    assert all("objects" not in json.loads(line) for line in plain.output.splitlines())
