"""The in-memory controller under load: N rollouts updating at the same time.

    python bench/memory_controller.py --rollouts 1000 [--rollouts 10000 ...]

Each rollout (2 replicas, SMI router) runs a 5-step canary with an analysis:
setWeight 20, pause 10s, analysis (one scripted measurement), setWeight 60, pause 10s,
on a real clock. Pods become ready 1 s after they are created. The figures:

* CPU seconds and wall seconds from the update until every rollout is Healthy;
* step lateness: for each timed pause, when it ended versus when it was due
  (start + duration), p50 and p99 over all pauses of all rollouts;
* peak RSS of the process, and per managed rollout (the RSS added by creating them,
  divided by N).

Prints one line per N, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from typing import Any

import anyio

from progressive._shell import Controller, WallClock
from progressive.core import Plan, Rollout
from progressive.memory import MemoryCluster
from progressive.metrics import ScriptedProvider

PAUSE = 10.0


def documents(i: int, image: str) -> list[dict[str, Any]]:
    name = f"app-{i}"
    labels = {"app": name}
    rollout = {
        "apiVersion": "progressive.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "bench", "uid": f"uid-{i}"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": {
                "canary": {
                    "canaryService": f"{name}-canary",
                    "stableService": f"{name}-stable",
                    "trafficRouting": {"smi": {}},
                    "steps": [
                        {"setWeight": 20},
                        {"pause": {"duration": PAUSE}},
                        {"analysis": {"templates": [{"templateName": "check"}]}},
                        {"setWeight": 60},
                        {"pause": {"duration": PAUSE}},
                    ],
                }
            },
        },
    }
    services = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{name}-{role}", "namespace": "bench"},
            "spec": {"selector": labels},
        }
        for role in ("canary", "stable")
    ]
    return [*services, rollout]


TEMPLATE = {
    "apiVersion": "progressive.dev/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": {"name": "check", "namespace": "bench"},
    "spec": {
        "metrics": [
            {
                "name": "check",
                "successCondition": "result[0] > 0.9",
                "provider": {"prometheus": {"query": "up"}},
            }
        ]
    },
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(n: int, deadline: float) -> dict[str, Any]:
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=1.0)
    rss_before = rss_mb()
    await cluster.create(TEMPLATE)
    for i in range(n):
        for doc in documents(i, "app:1"):
            await cluster.create(doc)
    lateness: list[float] = []
    healthy: set[str] = set()
    all_healthy = anyio.Event()

    def on_plan(rollout: Rollout, plan: Plan) -> None:
        before, after = rollout.status, plan.status
        held = before.has_pause("CanaryPauseStep")
        if held is not None and after.has_pause("CanaryPauseStep") is None:
            lateness.append(clock.now() - (held.start_time + PAUSE))
        if after.phase == "Healthy" and after.current_pod_hash == rollout.template_hash():
            healthy.add(rollout.name)
            if len(healthy) == n:
                all_healthy.set()

    controller = Controller(
        cluster, clock=clock, provider=ScriptedProvider({"check": [[1.0]]}), on_plan=on_plan
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        with anyio.move_on_after(deadline - time.monotonic()):  # the first deploy
            await all_healthy.wait()
        rss_created = rss_mb()
        healthy.clear()
        all_healthy = anyio.Event()
        cpu0, wall0 = time.process_time(), time.monotonic()
        for i in range(n):
            await cluster.patch(
                _ref(i), {"spec": {"template": documents(i, "app:2")[-1]["spec"]["template"]}}
            )
        with anyio.move_on_after(deadline - time.monotonic()):
            await all_healthy.wait()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        tg.cancel_scope.cancel()
    lateness.sort()
    return {
        "rollouts": n,
        "finished": len(healthy),
        "cpu_s": round(cpu, 1),
        "wall_s": round(wall, 1),
        "lateness_p50_s": round(statistics.median(lateness), 3) if lateness else None,
        "lateness_p99_s": round(lateness[int(len(lateness) * 0.99) - 1], 3) if lateness else None,
        "peak_rss_mb": round(rss_mb(), 1),
        "kb_per_rollout": round((rss_created - rss_before) * 1024 / n, 1),
    }


def _ref(i: int) -> Any:
    from progressive._shell import Ref

    return Ref("progressive.dev/v1alpha1", "Rollout", "bench", f"app-{i}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rollouts", type=int, action="append")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    results = []
    for n in args.rollouts or [100]:
        result = anyio.run(run, n, time.monotonic() + args.timeout)
        results.append(result)
        print(
            f"N={n}: {result['finished']} finished, cpu {result['cpu_s']} s, wall "
            f"{result['wall_s']} s, step lateness p50 {result['lateness_p50_s']} s "
            f"p99 {result['lateness_p99_s']} s, peak RSS {result['peak_rss_mb']} MB, "
            f"{result['kb_per_rollout']} KB per rollout"
        )
    print(json.dumps({"bench": "memory_controller", "results": results}))


if __name__ == "__main__":
    main()
