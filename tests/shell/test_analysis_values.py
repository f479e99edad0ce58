"""A metric server that answers long JSON, measured many times and kept by
measurementRetention: the run's stored status stays far below the API server's object
limit, every value marked where it was cut, while the conditions judge each answer whole
(the controller on the in-memory cluster, a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
from typing import Any

from progressive._shell import Controller, VirtualClock
from progressive.core._analysis import build_analysis_run
from progressive.core._analysis_model import AnalysisTemplate
from progressive.core._stored_values import DROPPED_VALUE, MAX_RUN_VALUE_CHARS, MAX_VALUE_CHARS
from progressive.memory import MemoryCluster

from ..http_servers import answer, serve

ARGO = "argoproj.io/v1alpha1"
ITEMS = 5_000
MEASUREMENTS = 70
#: etcd's request limit: a status write of a bigger object fails on a real cluster
ETCD_LIMIT = 1_572_864


def run_manifest(url: str, now: float) -> dict[str, Any]:
    template = AnalysisTemplate.from_manifest(
        {
            "apiVersion": ARGO,
            "kind": "AnalysisTemplate",
            "metadata": {"name": "big", "namespace": "default"},
            "spec": {
                "measurementRetention": [{"metricName": "whole", "limit": 1000}],
                "metrics": [
                    {
                        "name": "whole",  # no jsonPath: the value is the whole answer
                        "interval": "10s",
                        "count": MEASUREMENTS,
                        "successCondition": (
                            f"len(result.items) == {ITEMS} && result.items[{ITEMS - 1}] == 0.75"
                        ),
                        "provider": {"web": {"url": url, "timeoutSeconds": 5}},
                    }
                ],
            },
        }
    )
    run = build_analysis_run("big", "default", [template], (), None, now)
    manifest = run.to_manifest()
    manifest["apiVersion"] = ARGO
    return manifest


async def test_long_answers_are_judged_whole_and_stored_bounded() -> None:
    document = {"items": [0.5] * (ITEMS - 1) + [0.75], "note": "answered whole"}
    whole = json.dumps(document, separators=(",", ":"))
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    async with serve(answer(document)) as server:
        await cluster.create(run_manifest(server.url, clock.now()))
        controller = Controller(cluster, clock=clock)
        await controller.settle(
            wakeup=cluster.next_event_at, until=clock.now() + 10 * MEASUREMENTS + 60
        )
    assert len(server.requests) == MEASUREMENTS
    (run,) = cluster.objects(ARGO, "AnalysisRun")
    status = run["status"]
    (result,) = status["metricResults"]
    # judged on the whole answer: every measurement met the condition
    assert status["phase"] == "Successful", status
    assert (result["count"], result["successful"]) == (MEASUREMENTS, MEASUREMENTS)
    values = [m["value"] for m in result["measurements"]]
    assert len(values) == MEASUREMENTS  # the retention kept every measurement...
    marker = f"…[truncated from {len(whole):,} characters]"
    newest = values[-1]
    assert len(newest) == MAX_VALUE_CHARS and newest == whole[: len(newest) - len(marker)] + marker
    # ...the newest with their text cut short, the oldest without it, within the total
    assert sum(len(v) for v in values) <= MAX_RUN_VALUE_CHARS
    assert values[0] == DROPPED_VALUE and values[-1] != DROPPED_VALUE
    assert len(json.dumps(run)) < ETCD_LIMIT // 4
