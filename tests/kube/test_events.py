"""Events on the real server: the same event is one Event with a growing count and
lastTimestamp (what `kubectl describe` shows), across a controller restart too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from progressive._cluster import LocalControlPlane
from progressive._shell.clocks import VirtualClock
from progressive._shell.events import EventRecorder, Involved
from progressive._shell.kube import KubeCluster
from progressive.core._actions import EmitEvent

pytestmark = pytest.mark.kube


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        yield cluster


async def test_repeated_events_are_counted_not_repeated(kube: KubeCluster, namespace: str) -> None:
    target = await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "web", "namespace": namespace},
        }
    )
    clock = VirtualClock(1_700_000_000)
    recorded: list[tuple[str, str]] = []
    recorder = EventRecorder(
        kube, clock=clock, host="pod-1", on_event=lambda t, r: recorded.append((t, r))
    )
    for _ in range(3):
        await recorder.emit(target, EmitEvent("SetWeight", "weight set to 20"))
        clock.advance(60)
    await recorder.emit(target, EmitEvent("RolloutAborted", "analysis failed", "Warning"))

    restarted = EventRecorder(kube, clock=clock, host="pod-2")  # forgot every count
    stored = await restarted.record(Involved.of(target), "Normal", "SetWeight", "weight set to 20")
    assert stored is not None and stored["count"] == 4

    # what `kubectl describe configmap web` reads
    events = await kube.list_with_version(
        "v1", "Event", namespace, field_selector="involvedObject.name=web"
    )
    by_reason = {e["reason"]: e for e in events.items}
    assert set(by_reason) == {"SetWeight", "RolloutAborted"}
    weight = by_reason["SetWeight"]
    assert weight["count"] == 4
    assert weight["firstTimestamp"] == "2023-11-14T22:13:20Z"
    assert weight["lastTimestamp"] == "2023-11-14T22:16:20Z"
    assert weight["type"] == "Normal" and weight["message"] == "weight set to 20"
    assert weight["involvedObject"]["uid"] == target["metadata"]["uid"]
    assert weight["source"]["component"] == "progressive-controller"
    aborted = by_reason["RolloutAborted"]
    assert (aborted["type"], aborted["count"]) == ("Warning", 1)
    assert recorded == [("Normal", "SetWeight")] * 3 + [("Warning", "RolloutAborted")]


async def test_an_event_the_server_refuses_is_not_an_error(
    kube: KubeCluster, namespace: str
) -> None:
    recorder = EventRecorder(kube)
    gone = Involved("v1", "ConfigMap", "no-such-namespace-here", "web")
    assert await recorder.record(gone, "Normal", "X", "y") is None
