"""Analyses are measured off the rollout workers, fairly across namespaces: metric
servers that never finish answering in one namespace delay neither a Rollout's steps nor
the measurements of another namespace (the in-memory cluster on the wall clock, real
HTTP servers on 127.0.0.1).

The slow servers' answers, and their metrics' deadlines, are an hour away: a Rollout
that waited for them would never finish within the tests' generous waits (:data:`WAIT`),
so a wait that ends tells isolation from luck however loaded the machine is."""

from __future__ import annotations

import time
from typing import Any

import anyio
from prometheus_client.parser import text_string_to_metric_families

from progressive._shell import Controller, Ref, WallClock
from progressive._shell.metrics import ControllerMetrics
from progressive._shell.pool import FairPool
from progressive._shell.runs import advance_analysis_run
from progressive.core._analysis import build_analysis_run
from progressive.core._analysis_model import AnalysisTemplate
from progressive.memory import MemoryCluster

from ..http_servers import answer, serve, trickle
from .helpers import canary_rollout, with_image
from .test_controller_queue import until

ARGO = "argoproj.io/v1alpha1"
PAUSE = 1.0
#: The slow metric servers' answer never comes, and the slow metrics time out, this late.
SLOW_SECONDS = 3600
#: How long a test waits on a state it expects (isolation: far less than SLOW_SECONDS).
WAIT = 60.0


def template(name: str, namespace: str, url: str, timeout: float) -> dict[str, Any]:
    return {
        "apiVersion": ARGO,
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "metrics": [
                {
                    "name": "check",
                    "successCondition": "result == true",
                    "provider": {
                        "web": {"url": url, "jsonPath": "$.ok", "timeoutSeconds": timeout}
                    },
                }
            ]
        },
    }


def analysis_run(name: str, namespace: str, url: str) -> dict[str, Any]:
    """A run of its own (no Rollout owns it): the controller measures it all the same."""
    slow = AnalysisTemplate.from_manifest(template("slow", namespace, url, SLOW_SECONDS))
    manifest = build_analysis_run(name, namespace, [slow], (), None, time.time()).to_manifest()
    manifest["apiVersion"] = ARGO
    return manifest


async def test_slow_metrics_in_one_namespace_delay_no_other_namespace() -> None:
    per_namespace = 2
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.01)
    async with (
        serve(trickle(seconds=SLOW_SECONDS)) as slow,
        serve(answer({"ok": True})) as fast,
    ):
        # six runs whose server sends a byte of its answer every 50 ms, never all of it
        for i in range(6):
            await cluster.create(analysis_run(f"slow-{i}", "slow", slow.url + f"/{i}"))
        # elsewhere, a Rollout with an analysis step against a quick server, then a pause
        await cluster.create(template("fast", "fast", fast.url, 5))
        steps = [
            {"setWeight": 50},
            {"analysis": {"templates": [{"templateName": "fast"}]}},
            {"pause": {"duration": f"{PAUSE}s"}},
        ]
        manifest = canary_rollout("web", replicas=2, steps=steps)
        manifest["metadata"]["namespace"] = "fast"
        await cluster.create(manifest)
        controller = Controller(cluster, clock=clock)
        async with anyio.create_task_group() as tg:
            await tg.start(
                lambda task_status: controller.run(
                    workers=2,
                    analysis_workers=4,
                    analysis_workers_per_namespace=per_namespace,
                    resync=None,
                    task_status=task_status,
                )
            )
            await until("Healthy at web:1", lambda: _healthy(cluster), WAIT)
            first = await _healthy(cluster)
            await until("the slow runs measured", lambda: len(slow.requests) >= per_namespace, WAIT)
            await cluster.patch(
                Ref(ARGO, "Rollout", "fast", "web"),
                {"spec": {"template": with_image(manifest, "web:2")["spec"]["template"]}},
            )
            # the analysis step and the pause: without isolation they would wait an hour
            # for the slow runs, which are still being measured, two at a time (the
            # namespace's share of the pool)
            await until("web:2 Healthy", lambda: _healthy(cluster, not_hash=first), WAIT)
            assert len(slow.requests) == per_namespace
            assert len(fast.requests) == 1
            tg.cancel_scope.cancel()


async def _healthy(cluster: MemoryCluster, not_hash: object = None) -> object:
    """The stable pod hash of the Rollout, once Healthy at a hash other than ``not_hash``."""
    obj = await cluster.get(Ref(ARGO, "Rollout", "fast", "web"))
    status = (obj or {}).get("status") or {}
    stable = status.get("stableRS")
    done = status.get("phase") == "Healthy" and stable == status.get("currentPodHash")
    return stable if done and stable != not_hash else None


# -- the pool alone ------------------------------------------------------------------------


async def test_the_pool_bounds_each_group_and_takes_the_groups_in_turn() -> None:
    order: list[str] = []
    running: dict[str, int] = {}
    peak: dict[str, int] = {}
    release = anyio.Event()

    async def handle(key: tuple[str, int]) -> None:
        group = key[0]
        order.append(f"{group}{key[1]}")
        running[group] = running.get(group, 0) + 1
        peak[group] = max(peak.get(group, 0), running[group])
        if group == "a":
            await release.wait()  # group a's keys hang until released
        running[group] -= 1

    pool: FairPool[tuple[str, int]] = FairPool(lambda k: k[0], workers=3, per_group=2)
    for i in range(5):
        pool.submit(("a", i))
    for i in range(3):
        pool.submit(("b", i))
    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run, handle)
        await until("five keys taken", lambda: len(order) == 5)
        # a holds its two slots; b's keys went through the third, one after the other
        assert order == ["a0", "b0", "a1", "b1", "b2"]
        assert pool.waiting == 3 and pool.busy == 2
        release.set()
        await until("every key taken", lambda: len(order) == 8)
        pool.close()
    assert peak == {"a": 2, "b": 1}
    assert pool.waiting == 0 and pool.busy == 0


# -- a status written while measuring ------------------------------------------------------


async def test_a_status_written_while_measuring_keeps_the_measurement() -> None:
    """The pool may take a run the moment it is announced, before its creator has stored
    its first status (a second write): the measurement is recorded on the run as it is
    then, not thrown away and taken again."""
    cluster = MemoryCluster()
    run = analysis_run("run", "ns", "http://unused.invalid")
    del run["status"]
    await cluster.create(run)
    ref = Ref(ARGO, "AnalysisRun", "ns", "run")
    seen = await cluster.get(ref)
    assert seen is not None
    calls = 0

    class Creator:
        async def measure(self, metric: Any, run: Any) -> object:
            nonlocal calls
            calls += 1
            stored = await cluster.get(ref)
            assert stored is not None
            await cluster.replace_status({**stored, "status": {"phase": "Running"}})
            return True

    wrote, _ = await advance_analysis_run(cluster, Creator(), seen, time.time())
    assert (calls, wrote) == (1, 1)
    stored = await cluster.get(ref)
    assert stored is not None
    (result,) = stored["status"]["metricResults"]
    assert stored["status"]["phase"] == "Successful" and result["count"] == 1


async def test_the_pool_reports_the_runs_waiting_for_a_slot() -> None:
    metrics = ControllerMetrics()
    clock = WallClock()
    cluster = MemoryCluster(clock)
    async with serve(trickle(seconds=SLOW_SECONDS)) as slow:
        for i in range(5):
            await cluster.create(analysis_run(f"slow-{i}", "slow", slow.url))
        controller = Controller(cluster, clock=clock, metrics=metrics)

        def waiting() -> float:
            for family in text_string_to_metric_families(metrics.render().decode()):
                for sample in family.samples:
                    if sample.name == "progressive_workqueue_depth" and sample.labels == {
                        "name": "analyses"
                    }:
                        return sample.value
            raise AssertionError("no analyses gauge")

        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: controller.run(
                    analysis_workers=2, analysis_workers_per_namespace=2, resync=None
                )
            )
            await until("two measured", lambda: len(slow.requests) == 2, WAIT)
            await until("three waiting", lambda: waiting() == 3, WAIT)
            tg.cancel_scope.cancel()
    assert waiting() == 0  # the pool is gone with run()
