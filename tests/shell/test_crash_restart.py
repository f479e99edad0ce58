"""Kill the controller after every single write, restart a new one: same outcome.

For each scenario a clean run counts its writes (N).  Then, for every k in 1..N, the
same update is run with ``crash_after_actions(k)``: the k-th write is stored and the
controller "dies".  A brand-new Controller then finishes the job on the stored objects.
Every run must end where the clean run ended, with one ReplicaSet per pod-template
hash, and no observed state (after any pass, or right after the crash) may send more
traffic to the new revision than its available pods can carry.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import attrs
import pytest

from progressive._shell import Controller, Ref, VirtualClock
from progressive._shell.traffic import read_traffic
from progressive.core import Rollout
from progressive.memory import MemoryCluster, SimulatedCrash
from progressive.metrics import ScriptedProvider

from .helpers import canary_rollout, ingress, service, stored, with_image

HASH = "rollouts-pod-template-hash"
ROLLOUT = Ref("argoproj.io/v1alpha1", "Rollout", "default", "web")
REPLICAS = 4

TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": {"name": "rate", "namespace": "default"},
    "spec": {
        "metrics": [
            {
                "name": "rate",
                "interval": "20s",
                "count": 2,
                "successCondition": "result[0] >= 0.9",
                "provider": {"prometheus": {"query": "q"}},
            }
        ]
    },
}


def canary() -> dict[str, Any]:
    return canary_rollout(
        replicas=REPLICAS,
        canaryService="web-canary",
        stableService="web-stable",
        trafficRouting={"nginx": {"stableIngress": "web"}},
        scaleDownDelaySeconds=10,
        steps=[
            {"setWeight": 25},
            {"pause": {"duration": "20s"}},
            {"analysis": {"templates": [{"templateName": "rate"}]}},
            {"setWeight": 50},
            {"pause": {"duration": "10s"}},
        ],
    )


def blue_green() -> dict[str, Any]:
    manifest = canary_rollout(replicas=REPLICAS)
    manifest["spec"]["strategy"] = {
        "blueGreen": {
            "activeService": "web-active",
            "previewService": "web-preview",
            "autoPromotionSeconds": 20,
            "scaleDownDelaySeconds": 10,
            "prePromotionAnalysis": {"templates": [{"templateName": "rate"}]},
        }
    }
    return manifest


@attrs.frozen
class Outcome:
    phase: str
    stable: str | None
    replicas: dict[str, int]
    weight: int | None
    active: str | None


class Scenario:
    """A cluster with the previous revision Healthy, and the new one just applied."""

    def __init__(self, manifest: dict[str, Any], services: tuple[str, ...]) -> None:
        self.manifest = manifest
        self.services = services

    async def prepared(self) -> MemoryCluster:
        cluster = MemoryCluster(VirtualClock())
        for name in self.services:
            await cluster.create(service(name))
        await cluster.create(ingress("web", "web-stable"))
        await cluster.create(TEMPLATE)
        await cluster.create(self.manifest)
        await controller(cluster).settle(wakeup=cluster.next_event_at)
        stored = await cluster.get(ROLLOUT)
        assert stored is not None and stored["status"]["phase"] == "Healthy"
        updated = with_image(stored, "example/web:2.0")
        await cluster.patch(ROLLOUT, {"spec": updated["spec"]})
        return cluster


def controller(cluster: MemoryCluster) -> Controller:
    return Controller(
        cluster,
        clock=cluster.clock,
        provider=ScriptedProvider({"rate": [[0.99]]}),
    )


async def settle(cluster: MemoryCluster, check: Callable[[MemoryCluster], None]) -> None:
    async def after_pass(_: object) -> None:
        check(cluster)

    clock = cast(VirtualClock, cluster.clock)
    result = await controller(cluster).settle(
        wakeup=cluster.next_event_at, after_pass=after_pass, until=clock.now() + 24 * 3600
    )
    assert result.idle and not result.errors


def replica_sets(cluster: MemoryCluster) -> list[dict[str, Any]]:
    return cluster.objects("apps/v1", "ReplicaSet")


def selector_hash(cluster: MemoryCluster, name: str) -> str | None:
    for svc in cluster.objects("v1", "Service"):
        if svc["metadata"]["name"] == name:
            return cast("str | None", svc["spec"].get("selector", {}).get(HASH))
    return None


def new_hash(cluster: MemoryCluster) -> str:
    (rollout,) = cluster.objects(ROLLOUT.api_version, "Rollout")
    return Rollout.from_manifest(rollout).template_hash()


def check_invariants(cluster: MemoryCluster) -> None:
    hashes = Counter(rs["metadata"]["labels"][HASH] for rs in replica_sets(cluster))
    assert all(n == 1 for n in hashes.values()), f"duplicate ReplicaSets: {hashes}"
    new = new_hash(cluster)
    available = sum(
        int((rs.get("status") or {}).get("availableReplicas") or 0)
        for rs in replica_sets(cluster)
        if rs["metadata"]["labels"][HASH] == new
    )
    share = 100 * available / REPLICAS
    traffic = 0.0
    if selector_hash(cluster, "web-stable") == new or selector_hash(cluster, "web-active") == new:
        traffic = 100.0
    elif selector_hash(cluster, "web-canary") == new:
        traffic = float(weight_of(cluster) or 0)
    assert traffic <= share + 1e-9, f"{traffic}% of traffic on {available} available new pods"


def weight_of(cluster: MemoryCluster) -> int | None:
    """The weight the Rollout's routers hold, read back from their objects."""
    (rollout,) = cluster.objects(ROLLOUT.api_version, "Rollout")
    view = read_traffic(Rollout.from_manifest(rollout), stored(cluster))
    return view.weight if view is not None else None


def outcome(cluster: MemoryCluster) -> Outcome:
    (rollout,) = cluster.objects(ROLLOUT.api_version, "Rollout")
    return Outcome(
        phase=rollout["status"]["phase"],
        stable=rollout["status"].get("stableRS"),
        replicas={
            rs["metadata"]["labels"][HASH]: rs["spec"]["replicas"] for rs in replica_sets(cluster)
        },
        weight=weight_of(cluster),
        active=selector_hash(cluster, "web-active"),
    )


SCENARIOS = {
    "canary": Scenario(canary(), ("web-canary", "web-stable")),
    "blue-green": Scenario(blue_green(), ("web-active", "web-preview")),
}


@pytest.mark.parametrize("name", ["canary", "blue-green"])
async def test_a_crash_after_any_write_changes_nothing(name: str) -> None:
    scenario = SCENARIOS[name]
    start = await scenario.prepared()

    clean = copy.deepcopy(start)
    before = clean.writes
    await settle(clean, check_invariants)
    writes = clean.writes - before
    expected = outcome(clean)
    assert expected.phase == "Healthy"
    assert expected.stable == new_hash(clean)
    assert sorted(expected.replicas.values()) == [0, REPLICAS]
    assert writes > 10

    for k in range(1, writes + 1):
        cluster = copy.deepcopy(start)
        cluster.crash_after_actions(k)
        with pytest.raises(SimulatedCrash):
            await settle(cluster, check_invariants)
        check_invariants(cluster)  # the state the crash left behind
        await settle(cluster, check_invariants)
        assert outcome(cluster) == expected, f"crash after write {k} of {writes}"
