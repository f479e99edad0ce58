"""Every router's objects on the real API server, with the real CRDs (Istio, Gateway API,
SMI, APISIX, Emissary, Traefik, App Mesh; read from their Go modules by the session's control
plane; ALB writes Ingresses).

For each golden scenario of ``tests/routers/golden/*.yaml``, replayed in a fresh
namespace through :class:`~progressive._shell.kube.KubeCluster`:

* a real ``progressive.dev`` Rollout is created (its uid goes into the ownerReferences of
  what the routers create), and the Services ``web-stable`` / ``web-canary``, and the
  scenario's own objects (stable Ingresses, VirtualService, DestinationRule, HTTPRoute);
* each step's writes are sent as the golden file has them -- a create with the whole
  object, a merge patch (``application/merge-patch+json``) with the live
  ``resourceVersion`` in place of the golden one -- so the server's validation (the
  CRDs' schemas and CEL rules, the Ingress validation) sees every object a router writes;
* after each step every golden object is read back and compared with the golden one,
  ignoring the metadata the server sets (uid, resourceVersion, generation,
  creationTimestamp, managedFields), ``status``, and the server's defaulting, which is
  documented in :func:`server_defaults`; then ``router.read()`` on the live objects gives
  the state that step set, and ``router.plan()`` of that state writes nothing.

Also: a foreign canary Ingress or TrafficSplit (not controlled by the Rollout) makes the
router raise :class:`~progressive.routers.RouterError` and is left as it was; the SMI
router works with every TrafficSplit version the installed CRD serves; the Gateway API's
CEL rules accept the RequestMirror ``percent`` and a ``RegularExpression`` header match
the gatewayAPI router writes.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive._shell.traffic import RouterTraffic
from progressive.cli._install import install_objects, manifests
from progressive.core import Rollout
from progressive.core._actions import WriteWeight
from progressive.errors import RouterError
from progressive.routers import ROUTERS, ObjectRef, RouterState, TrafficRouter, reading_rounds

from ..routers.cases import CANARY, NS, STABLE, UID, rollout_manifest
from ..routers.test_golden import GOLDEN, NO_SERVICES, SCENARIOS, steps_of

pytestmark = pytest.mark.kube

GROUP = "progressive.dev/v1alpha1"
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")
SMI_CRD = Ref(
    "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "trafficsplits.split.smi-spec.io"
)


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        await install_objects(cluster, manifests(crds_only=True))
        yield cluster


# -- the objects as the server stores them ---------------------------------------------------


def server_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the defaults the API server adds to it, documented here:

    * Gateway API HTTPRoute (the CRD's OpenAPI defaults): ``parentRefs[]`` get
      ``group: gateway.networking.k8s.io`` and ``kind: Gateway``; a rule without
      ``matches`` gets ``[{path: {type: PathPrefix, value: /}}]``; a path match gets
      ``type: PathPrefix`` / ``value: /``, a header match ``type: Exact``; a
      ``backendRefs[]`` item (and a RequestMirror's ``backendRef``) gets ``group: ""``
      and ``kind: Service``, a backendRef ``weight: 1``.
    * Istio VirtualService / DestinationRule, SMI TrafficSplit, Ingress: nothing in
      ``metadata`` or ``spec`` (their ``status`` is the server's and is not compared).
    """
    obj = copy.deepcopy(obj)
    if obj.get("kind") != "HTTPRoute":
        return obj
    spec = obj.setdefault("spec", {})
    for parent in spec.get("parentRefs") or ():
        parent.setdefault("group", "gateway.networking.k8s.io")
        parent.setdefault("kind", "Gateway")
    for rule in spec.get("rules") or ():
        rule.setdefault("matches", [{"path": {"type": "PathPrefix", "value": "/"}}])
        for match in rule["matches"]:
            if "path" in match:
                match["path"].setdefault("type", "PathPrefix")
                match["path"].setdefault("value", "/")
            for header in match.get("headers") or ():
                header.setdefault("type", "Exact")
        for ref in rule.get("backendRefs") or ():
            ref.setdefault("group", "")
            ref.setdefault("kind", "Service")
            ref.setdefault("weight", 1)
        for f in rule.get("filters") or ():
            mirror = f.get("requestMirror")
            if mirror is not None:
                mirror["backendRef"].setdefault("group", "")
                mirror["backendRef"].setdefault("kind", "Service")
    return obj


def comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Without the metadata the server sets and without ``status``."""
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in SERVER_METADATA:
        meta.pop(key, None)
    return out


class Live:
    """One scenario's namespace on the server: golden objects are moved there (the
    namespace, the real Rollout's uid and API group in their ownerReferences)."""

    def __init__(self, kube: KubeCluster, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.uid = ""

    def localize(self, value: Any) -> Any:
        """A golden object or patch as it is in this namespace, for this Rollout."""
        if isinstance(value, dict):
            out = {k: self.localize(v) for k, v in value.items()}
            if out.get("kind") == "Rollout" and out.get("uid") == UID:  # an ownerReference
                out["uid"], out["apiVersion"] = self.uid, GROUP
            if "namespace" in out and out["namespace"] == NS:
                out["namespace"] = self.namespace
            return out
        if isinstance(value, list):
            return [self.localize(v) for v in value]
        return value

    async def rollout(self, routing: dict[str, Any], *, services: bool = True) -> Rollout:
        """Create the Rollout (and the two Services) and return its model as stored;
        without ``services`` it names neither (Istio subsets)."""
        routing = self.localize(copy.deepcopy(routing))
        manifest = rollout_manifest(routing, services=services)
        manifest["apiVersion"] = GROUP
        manifest["metadata"] = {"name": "web", "namespace": self.namespace}
        stored = await self.kube.create(manifest)
        self.uid = stored["metadata"]["uid"]
        for name in (STABLE, CANARY):
            await self.kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name, "namespace": self.namespace},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
                }
            )
        return Rollout.from_manifest(stored)

    @staticmethod
    def ref(obj: Mapping[str, Any]) -> Ref:
        return Ref.of(obj)

    async def get(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        found = await self.kube.get(self.ref(obj))
        assert found is not None, f"{self.ref(obj)} is not on the server"
        return found

    async def send(self, write: Mapping[str, Any]) -> None:
        """One golden write: a create, or a merge patch guarded by the live version."""
        if "create" in write:
            await self.kube.create(self.localize(write["object"]))
            return
        api_version, kind, where = str(write["patch"]).split(" ")
        name = where.split("/", 1)[1]
        ref = Ref(api_version, kind, self.namespace, name)
        live = await self.kube.get(ref)
        assert live is not None, ref
        patch = self.localize(write["mergePatch"])
        patch.setdefault("metadata", {})["resourceVersion"] = live["metadata"]["resourceVersion"]
        await self.kube.patch(ref, patch)

    async def objects(self, router: TrafficRouter, rollout: Rollout) -> dict[ObjectRef, Any]:
        """The router's objects as the shell reads them (first version that exists; the
        objects they name too)."""
        out: dict[ObjectRef, Any] = {}
        for pending in reading_rounds(router, rollout, out):
            for ref in pending:
                out[ref] = None
                for version in ref.versions:
                    found = await self.kube.get(
                        Ref(ref.api_version_of(version), ref.kind, ref.namespace, ref.name)
                    )
                    if found is not None:
                        out[ref] = found
                        break
        return out


def held(state: RouterState) -> tuple[Any, ...]:
    return (state.weight, state.header_routes, state.mirror_routes, state.experiment_weights)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_a_golden_scenario_replays_on_the_real_server(
    kube: KubeCluster, namespace: str, scenario: str
) -> None:
    router_name, routing, objects = SCENARIOS[scenario]
    router = ROUTERS[router_name]
    golden = yaml.safe_load((GOLDEN / f"{scenario}.yaml").read_text())
    steps = steps_of(scenario)
    assert [s["step"] for s in golden] == [label for label, _ in steps]
    live = Live(kube, namespace)
    rollout = await live.rollout(routing, services=scenario not in NO_SERVICES)
    assert router.validate(rollout) == []
    for obj in objects:
        await kube.create(live.localize(copy.deepcopy(obj)))
    for recorded, (label, state) in zip(golden, steps, strict=True):
        for write in recorded["writes"]:
            await live.send(write)
        for expected in recorded["objects"]:
            expected = live.localize(expected)
            stored = comparable(await live.get(expected))
            assert stored == comparable(server_defaults(expected)), f"{scenario}: {label}"
        current = await live.objects(router, rollout)
        read = router.read(rollout, current)
        assert held(read) == held(state), f"{scenario}: {label}"
        if state.canary_hash is not None and read.canary_hash is not None:
            assert read.canary_hash == state.canary_hash
        assert list(router.plan(rollout, state, current)) == [], f"{scenario}: {label}"
        assert list(router.plan(rollout, read, current)) == [], f"{scenario}: {label}"


async def test_the_gateway_api_accepts_a_mirror_percent_and_a_regex_header(
    kube: KubeCluster, namespace: str
) -> None:
    router_name, routing, objects = SCENARIOS["gatewayAPI"]
    golden = yaml.safe_load((GOLDEN / "gatewayAPI.yaml").read_text())
    live = Live(kube, namespace)
    await live.rollout(routing)
    for obj in objects:
        await kube.create(live.localize(copy.deepcopy(obj)))
    mirrored = next(i for i, s in enumerate(golden) if s["step"].startswith("setMirrorRoute"))
    for recorded in golden[: mirrored + 1]:
        for write in recorded["writes"]:
            await live.send(write)
    (route,) = [o for o in golden[mirrored]["objects"] if o["kind"] == "HTTPRoute"]
    stored = await live.get(live.localize(route))
    filters = [f for r in stored["spec"]["rules"] for f in r.get("filters") or ()]
    mirrors = [f["requestMirror"] for f in filters if f["type"] == "RequestMirror"]
    assert mirrors and mirrors[0]["percent"] == 30
    headers = [
        h
        for r in stored["spec"]["rules"]
        for m in r.get("matches") or ()
        for h in m.get("headers") or ()
    ]
    assert {"name": "X-Team", "type": "RegularExpression", "value": r"qa\-.*"} in headers


# -- objects that are not the Rollout's ------------------------------------------------------


async def foreign_is_refused(live: Live, rollout: Rollout, foreign: dict[str, Any]) -> None:
    """The router refuses to move while ``foreign`` is where its object should be, and
    leaves it as it is."""
    stored = await live.kube.create(foreign)
    traffic = RouterTraffic(live.kube)
    stable = rollout.status.stable_rs or "st4bl3"
    with pytest.raises(RouterError, match="not controlled by Rollout"):
        await traffic.set_weight(rollout, WriteWeight(25, "c4n4ry", stable))
    with pytest.raises(RouterError, match="not controlled by Rollout"):
        await traffic.observe(rollout)
    assert await live.get(stored) == stored


async def test_a_foreign_canary_ingress_is_left_alone(kube: KubeCluster, namespace: str) -> None:
    _, routing, objects = SCENARIOS["nginx"]
    live = Live(kube, namespace)
    rollout = await live.rollout(routing)
    for obj in objects:
        await kube.create(live.localize(copy.deepcopy(obj)))
    foreign = live.localize(copy.deepcopy(objects[0]))
    foreign["metadata"] = {
        "name": "web-web-canary",
        "namespace": namespace,
        "annotations": {"nginx.ingress.kubernetes.io/canary": "true"},
    }
    await foreign_is_refused(live, rollout, foreign)


async def test_a_foreign_traffic_split_is_left_alone(kube: KubeCluster, namespace: str) -> None:
    _, routing, _ = SCENARIOS["smi"]
    live = Live(kube, namespace)
    rollout = await live.rollout(routing)
    foreign = {
        "apiVersion": "split.smi-spec.io/v1alpha1",
        "kind": "TrafficSplit",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"team": "mesh"}},
        "spec": {
            "service": "web",
            "backends": [{"service": STABLE, "weight": "100"}, {"service": CANARY, "weight": "0"}],
        },
    }
    await foreign_is_refused(live, rollout, foreign)


# -- every SMI version -----------------------------------------------------------------------


async def test_every_traffic_split_version_the_crd_serves(
    kube: KubeCluster, namespace: str
) -> None:
    crd = await kube.get(SMI_CRD)
    assert crd is not None
    served = sorted(v["name"] for v in crd["spec"]["versions"] if v.get("served"))
    assert served == ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"]
    live = Live(kube, namespace)
    model = await live.rollout({"smi": {}})
    canary = model.canary
    assert canary is not None and canary.traffic_routing is not None
    traffic = RouterTraffic(kube)
    for version in served:
        config = {"apiVersion": version, "trafficSplitName": f"web-{version}"}
        routing = attrs.evolve(canary.traffic_routing, routers={"smi": config})
        rollout = attrs.evolve(model, strategy=attrs.evolve(canary, traffic_routing=routing))
        assert ROUTERS["smi"].validate(rollout) == []
        for weight, experiments in ((25, ()), (25, (("web-exp-a", 10),)), (100, ()), (0, ())):
            await traffic.set_weight(rollout, WriteWeight(weight, "c", "s", 100, experiments))
            view = await traffic.observe(rollout)
            assert (view.weight, view.experiment_weights) == (weight, experiments), version
        split = await kube.get(
            Ref(f"split.smi-spec.io/{version}", "TrafficSplit", namespace, f"web-{version}")
        )
        assert split is not None and split["apiVersion"] == f"split.smi-spec.io/{version}"
        weights = [b["weight"] for b in split["spec"]["backends"]]
        assert weights == (["0", "100"] if version == "v1alpha1" else [0, 100])
        owner = split["metadata"]["ownerReferences"][0]
        assert (owner["uid"], owner["controller"]) == (live.uid, True)


def test_the_golden_files_are_the_ones_replayed() -> None:
    assert {p.stem for p in Path(GOLDEN).glob("*.yaml")} == set(SCENARIOS)
