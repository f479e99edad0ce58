"""A status write the cluster refuses stops the rollout where it is and says so (the
fast companion of the end-to-end test on Argo's CRDs, test_e2e_groups.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from progressive._shell import Controller, Ref, VirtualClock
from progressive._shell.refusals import refused
from progressive.errors import ClusterError, Conflict, NotFound
from progressive.memory import MemoryCluster

from .helpers import canary_rollout, service, with_image

ROLLOUT = Ref("argoproj.io/v1alpha1", "Rollout", "default", "web")
REFUSAL = "replace status of Rollout default/web: status.stableRS: Too long (HTTP 422 Invalid)"


class Refusing(MemoryCluster):
    """A cluster whose Rollout status schema refuses ``stableRS``, as a CRD can."""

    async def replace_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        if obj.get("kind") == "Rollout" and "stableRS" in (obj.get("status") or {}):
            raise ClusterError(REFUSAL)
        return await super().replace_status(obj)


def sizes(cluster: MemoryCluster) -> dict[str, int]:
    return {
        rs["metadata"]["name"]: rs["spec"]["replicas"]
        for rs in cluster.objects("apps/v1", "ReplicaSet")
    }


async def test_a_refused_status_is_reported_and_the_new_revision_stays_at_its_first_step() -> None:
    clock = VirtualClock()
    cluster = Refusing(clock)
    steps = [{"setWeight": 25}, {"pause": {"duration": 30}}, {"setWeight": 50}]
    await cluster.create(service("web-canary"))
    await cluster.create(service("web-stable"))
    manifest = canary_rollout(steps=steps, canaryService="web-canary", stableService="web-stable")
    await cluster.create(manifest)
    controller = Controller(cluster, clock=clock)
    result = await controller.settle(until=clock.now() + 600, wakeup=cluster.next_event_at)
    assert not result.idle and result.errors, "retried with backoff, never done"
    (first,) = sizes(cluster).values()
    assert first == 4  # a first deploy
    stored = await cluster.get(ROLLOUT)
    assert stored is not None and "stableRS" not in stored["status"]
    (progressing,) = [c for c in stored["status"]["conditions"] if c["type"] == "Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "ReconciliationError")
    assert progressing["message"] == REFUSAL
    warnings = [e for e in cluster.objects("v1", "Event") if e["reason"] == "ReconciliationError"]
    assert [(e["type"], e["message"]) for e in warnings] == [("Warning", REFUSAL)]
    assert warnings[0]["count"] > 3

    await cluster.patch(ROLLOUT, {"spec": with_image(manifest, "example/web:2.0")["spec"]})
    await controller.settle(until=clock.now() + 600, wakeup=cluster.next_event_at)
    assert sorted(sizes(cluster).values()) == [1, 3], "25% of 4: the first step, no further"


def test_what_counts_as_a_refusal() -> None:
    assert refused(ClusterError("422"))
    assert not refused(Conflict("someone wrote meanwhile"))
    assert not refused(NotFound("deleted meanwhile"))
    assert not refused(ValueError("not the cluster's"))
