"""The in-memory controller under load: N rollouts updating at the same time.

    python bench/memory_controller.py --rollouts 1000 --rollouts 10000

Each rollout (2 replicas, SMI router) runs a 5-step canary with an analysis:
setWeight 20, pause 10s, analysis (one scripted measurement), setWeight 60, pause 10s,
on a real clock. Pods become ready 1 s after they are created. The controller and the
in-memory cluster (standing in for the API server) share the process. The figures:

* CPU seconds and wall seconds from the update until every rollout is Healthy;
* step lateness: for each timed pause, when it ended versus when it was due
  (start + duration), p50 and p99 over all pauses of all rollouts;
* the controller's writes per rollout step over the update, by verb and kind
  (counted at the cluster's interface; the pod simulator's own writes are not
  included), and its writes per minute once every rollout is Healthy (``--steady``
  seconds of watching);
* peak RSS of the process and per managed rollout (peak minus the RSS before any
  object existed, over N), and the part of it that is the controller's: that figure
  minus the deep size of the objects the cluster stores (what an API server would
  hold), an estimate that errs high (the deep size misses allocator overhead).

Prints one line per N, then one JSON line.
"""

from __future__ import annotations

import argparse
import builtins
import collections
import json
import resource
import statistics
import sys
import time
from collections.abc import Mapping
from typing import Any

import anyio
from _workload import NAMESPACE, PAUSE, STEPS, documents, new_template

from progressive._shell import Controller, Ref, WallClock
from progressive.core import Plan, Rollout
from progressive.memory import MemoryCluster
from progressive.metrics import ScriptedProvider

TEMPLATE = {
    "apiVersion": "progressive.dev/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": {"name": "check", "namespace": NAMESPACE},
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
    """The peak RSS of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CountingCluster:
    """The cluster as the controller sees it, counting its writes by (verb, kind); every
    other attribute (subscribe, catch_up, next_event_at...) is the cluster's own."""

    def __init__(self, cluster: MemoryCluster) -> None:
        self.cluster = cluster
        self.writes: collections.Counter[tuple[str, str]] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster, name)

    async def get(self, ref: Ref) -> dict[str, Any] | None:
        return await self.cluster.get(ref)

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        return await self.cluster.list(api_version, kind, namespace)

    async def list_owned(
        self, api_version: str, kind: str, namespace: str, owner_uid: str
    ) -> builtins.list[dict[str, Any]]:
        return await self.cluster.list_owned(api_version, kind, namespace, owner_uid)

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self.writes["create", str(obj.get("kind"))] += 1
        return await self.cluster.create(obj)

    async def patch(self, ref: Ref, patch: Mapping[str, Any]) -> dict[str, Any]:
        self.writes["patch", ref.kind] += 1
        return await self.cluster.patch(ref, patch)

    async def delete(self, ref: Ref) -> None:
        self.writes["delete", ref.kind] += 1
        await self.cluster.delete(ref)

    async def replace_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self.writes["update status", str(obj.get("kind"))] += 1
        return await self.cluster.replace_status(obj)


def deep_size(obj: object, seen: set[int]) -> int:
    """Bytes held by plain JSON-like data, each object counted once."""
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple):
        size += sum(deep_size(v, seen) for v in obj)
    return size


def stored_mb(cluster: MemoryCluster) -> float:
    seen: set[int] = set()
    return deep_size(cluster._store, seen) / 2**20


async def run(n: int, deadline: float, steady: float) -> dict[str, Any]:
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=1.0)
    counting = CountingCluster(cluster)
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
        counting,
        clock=clock,
        provider=ScriptedProvider({"check": [[1.0]]}),
        on_plan=on_plan,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        with anyio.move_on_after(deadline - time.monotonic()):  # the first deploy
            await all_healthy.wait()
        healthy.clear()
        all_healthy = anyio.Event()
        counting.writes.clear()
        cpu0, wall0 = time.process_time(), time.monotonic()
        for i in range(n):
            await cluster.patch(_ref(i), new_template(i, "app:2"))
        with anyio.move_on_after(deadline - time.monotonic()):
            await all_healthy.wait()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        finished = len(healthy)
        update_writes = dict(counting.writes)
        # steady state: the delayed scale-down of the old ReplicaSets (30 s after the
        # promotion) is the last write; then nothing should be written at all
        await anyio.sleep(max(0.0, min(35.0, deadline - time.monotonic())))
        counting.writes.clear()
        await anyio.sleep(max(0.0, min(steady, deadline - time.monotonic())))
        steady_writes = sum(counting.writes.values())
        tg.cancel_scope.cancel()
    peak = rss_mb()
    stored = stored_mb(cluster)
    lateness.sort()
    per_step = {
        f"{verb} {kind}": round(count / (n * STEPS), 2)
        for (verb, kind), count in sorted(update_writes.items())
    }
    return {
        "rollouts": n,
        "finished": finished,
        "cpu_s": round(cpu, 1),
        "wall_s": round(wall, 1),
        "lateness_p50_s": round(statistics.median(lateness), 3) if lateness else None,
        "lateness_p99_s": round(lateness[int(len(lateness) * 0.99) - 1], 3) if lateness else None,
        "writes_per_step": round(sum(update_writes.values()) / (n * STEPS), 2),
        "events_shed": dict(getattr(controller.events, "dropped", {})),  # older code: none
        "writes_per_step_by_kind": per_step,
        "steady_writes_per_min": round(steady_writes * 60 / steady, 2) if steady else None,
        "peak_rss_mb": round(peak, 1),
        "kb_per_rollout": round((peak - rss_before) * 1024 / n, 1),
        "stored_kb_per_rollout": round(stored * 1024 / n, 1),
        "controller_kb_per_rollout": round((peak - rss_before - stored) * 1024 / n, 1),
    }


def _ref(i: int) -> Ref:
    return Ref("progressive.dev/v1alpha1", "Rollout", NAMESPACE, f"app-{i}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rollouts", type=int, action="append")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--steady", type=float, default=60.0, help="seconds to count steady-state writes"
    )
    args = parser.parse_args()
    results = []
    for n in args.rollouts or [100]:
        result = anyio.run(run, n, time.monotonic() + args.timeout, args.steady)
        results.append(result)
        print(
            f"N={n}: {result['finished']} finished, cpu {result['cpu_s']} s, wall "
            f"{result['wall_s']} s, step lateness p50 {result['lateness_p50_s']} s "
            f"p99 {result['lateness_p99_s']} s; {result['writes_per_step']} writes per "
            f"step, {result['steady_writes_per_min']} per minute when Healthy; peak RSS "
            f"{result['peak_rss_mb']} MB, {result['kb_per_rollout']} KB per rollout, of "
            f"which the cluster's stored objects {result['stored_kb_per_rollout']} KB and "
            f"the controller {result['controller_kb_per_rollout']} KB; Events shed: "
            f"{result['events_shed'] or 'none'}"
        )
        print("  writes per step:", result["writes_per_step_by_kind"])
    print(json.dumps({"bench": "memory_controller", "results": results}))


if __name__ == "__main__":
    main()
