"""The controller around its work queue, on the in-memory cluster: change notifications
map to the keys they concern, timers and backoff, bounded concurrency, workloadRef,
sharding, API groups, Events counted, metrics, a graceful stop and leader election."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from prometheus_client.parser import text_string_to_metric_families

from progressive._clusters import Change
from progressive._shell import Controller, MemoryTraffic, Ref, VirtualClock, WallClock
from progressive._shell.keys import Key, api_versions
from progressive._shell.leader import LEASE_API, LeaderElector
from progressive._shell.metrics import ControllerMetrics
from progressive._shell.supervisor import supervise
from progressive._shell.workqueue import Priority
from progressive.core import Rollout
from progressive.core._times import parse_time
from progressive.errors import Conflict, LeadershipLost
from progressive.memory import MemoryCluster

from .helpers import canary_rollout, service, until, with_image

ARGO = "argoproj.io/v1alpha1"
PROGRESSIVE = "progressive.dev/v1alpha1"


def ref(name: str, api_version: str = ARGO) -> Ref:
    return Ref(api_version, "Rollout", "default", name)


def deployment(name: str = "web", replicas: int = 4, image: str = "web:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
        "status": {"availableReplicas": replicas},
    }


def workload_rollout(scale_down: str, name: str = "web") -> dict[str, Any]:
    manifest = canary_rollout(name, steps=[{"setWeight": 50}, {"pause": {"duration": "10s"}}])
    spec = manifest["spec"]
    del spec["template"], spec["selector"]
    spec["workloadRef"] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
        "scaleDown": scale_down,
    }
    return manifest


async def status(cluster: MemoryCluster, name: str, api_version: str = ARGO) -> dict[str, Any]:
    obj = await cluster.get(ref(name, api_version))
    assert obj is not None
    return dict(obj.get("status") or {})


async def settle(controller: Controller, cluster: MemoryCluster, seconds: float = 3600) -> Any:
    clock = controller.clock
    result = await controller.settle(wakeup=cluster.next_event_at, until=clock.now() + seconds)
    return result


# -- keys --------------------------------------------------------------------------------


def test_a_change_queues_the_keys_it_concerns() -> None:
    controller = Controller(MemoryCluster(), clock=VirtualClock())
    web = Key("Rollout", "default", "web", ARGO)
    manifest = workload_rollout("never")
    manifest["spec"]["strategy"]["canary"].update(
        canaryService="web-canary", stableService="web-stable"
    )

    def change(api_version: str, kind: str, name: str, obj: Any = None, type_: str = "modified"):
        return Change(api_version, kind, "default", name, type_, obj or {})

    assert controller.keys_for(change(ARGO, "Rollout", "web", manifest)) == [web]
    owned = {
        "metadata": {"ownerReferences": [{"apiVersion": ARGO, "kind": "Rollout", "name": "web"}]}
    }
    assert controller.keys_for(change("apps/v1", "ReplicaSet", "web-1", owned)) == [web]
    run = Key("AnalysisRun", "default", "run", ARGO)
    assert controller.keys_for(change(ARGO, "AnalysisRun", "run", owned)) == [web, run]
    job = {
        "metadata": {
            "ownerReferences": [{"apiVersion": ARGO, "kind": "AnalysisRun", "name": "run"}]
        }
    }
    assert controller.keys_for(change("batch/v1", "Job", "run-1", job)) == [run]
    # the workloadRef Deployment and the Services a Rollout names
    assert controller.keys_for(change("apps/v1", "Deployment", "web")) == [web]
    assert controller.keys_for(change("v1", "Service", "web-canary")) == [web]
    assert controller.keys_for(change("v1", "Service", "other")) == []
    assert controller.keys_for(change("v1", "Event", "web.1234")) == []
    restarting = {
        "metadata": {"annotations": {"progressive.dev/restart-before": "2023-11-14T22:13:20Z"}}
    }
    assert controller.keys_for(change("apps/v1", "ReplicaSet", "web-1", restarting)) == [
        Key("ReplicaSet", "default", "web-1", "apps/v1")
    ]
    # a deleted Rollout leaves the index
    assert controller.keys_for(change(ARGO, "Rollout", "web", manifest, "deleted")) == []
    assert controller.keys_for(change("apps/v1", "Deployment", "web")) == []


async def test_commands_and_due_steps_go_before_routine_looks_and_resyncs() -> None:
    cluster = MemoryCluster()
    controller = Controller(cluster, clock=VirtualClock())
    queue = controller.queue

    def rollout_change(name: str, generation: int, abort: bool = False) -> Change:
        obj = {"metadata": {"name": name, "generation": generation}, "status": {"abort": abort}}
        return Change(ARGO, "Rollout", "default", name, "modified", obj)

    for name in ("a", "b", "c", "d"):
        controller._on_change(rollout_change(name, 1))  # first look: routine
    assert queue.depth_of(Priority.NORMAL) == 4
    for _ in range(4):
        await queue.get()
    controller._on_change(rollout_change("a", 1))  # status only (its own write, say)
    controller._on_change(rollout_change("b", 2))  # a new spec: a new revision
    controller._on_change(rollout_change("c", 1, abort=True))  # kubectl argo rollouts abort
    for name in ("a", "b", "c", "d"):
        queue.done(Key("Rollout", "default", name, ARGO))
    assert queue.depth_of(Priority.URGENT) == 2 and queue.depth_of(Priority.NORMAL) == 1
    assert [k.name for k in queue.take_ready()] == ["b", "c", "a"]
    for name in ("a", "b", "c"):
        queue.done(Key("Rollout", "default", name, ARGO))
    # a resync queues everything in the background, behind a step that comes due
    await cluster.create(canary_rollout("e", steps=[{"pause": {"duration": "10s"}}]))
    await controller.resync()
    assert queue.depth_of(Priority.BACKGROUND) == 1
    e = Key("Rollout", "default", "e", ARGO)
    queue.add_at(e, controller.clock.now())  # its pause ends now
    assert queue.depth_of(Priority.URGENT) == 1
    assert await queue.get() == e


def test_api_groups_are_named_by_group_or_version() -> None:
    assert api_versions(["progressive.dev"]) == (PROGRESSIVE,)
    assert api_versions(["progressive.dev/v1alpha1", "argoproj.io"]) == (ARGO, PROGRESSIVE)
    with pytest.raises(ValueError, match="unknown API group 'apps'"):
        api_versions(["apps"])


# -- settle ------------------------------------------------------------------------------------


async def test_settle_is_deterministic() -> None:
    async def run() -> tuple[int, int, float, list[str]]:
        clock = VirtualClock()
        cluster = MemoryCluster(clock)
        await cluster.create(service("web-canary"))
        await cluster.create(service("web-stable"))
        manifest = canary_rollout(
            canaryService="web-canary",
            stableService="web-stable",
            steps=[{"setWeight": 25}, {"pause": {"duration": "30s"}}, {"setWeight": 75}],
        )
        await cluster.create(manifest)
        controller = Controller(cluster, clock=clock)
        first = await settle(controller, cluster)
        await cluster.patch(ref("web"), {"spec": with_image(manifest, "web:2")["spec"]})
        second = await settle(controller, cluster)
        reasons = [e["reason"] for e in cluster.objects("v1", "Event")]
        return first.passes + second.passes, cluster.writes, clock.now(), sorted(reasons)

    assert await run() == await run()


async def test_a_failing_rollout_is_retried_with_a_doubling_backoff() -> None:
    class Exploding(MemoryTraffic):
        def __init__(self, cluster: MemoryCluster) -> None:
            super().__init__(cluster)
            self.attempts: list[float] = []

        async def align(self, rollout: Rollout) -> int:
            if rollout.name == "boom":
                self.attempts.append(clock.now())
                raise RuntimeError("router unreachable")
            return 0

    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    traffic = Exploding(cluster)
    controller = Controller(cluster, clock=clock, traffic=traffic, backoff=(1.0, 60.0))
    await cluster.create(canary_rollout("boom"))
    await cluster.create(canary_rollout("fine"))
    result = await settle(controller, cluster, seconds=200)
    gaps = [round(b - a, 3) for a, b in zip(traffic.attempts, traffic.attempts[1:], strict=False)]
    assert gaps[:7] == [1, 2, 4, 8, 16, 32, 60]
    assert {e.key for e in result.errors} == {"default/boom"}
    assert (await status(cluster, "fine"))["phase"] == "Healthy"


async def test_what_a_failing_reconcile_wrote_does_not_bypass_its_backoff() -> None:
    class WritesThenFails(MemoryTraffic):
        attempts: list[float] = []

        async def align(self, rollout: Rollout) -> int:
            if rollout.template_hash() == failing:
                self.attempts.append(clock.now())
                # a write to the TrafficState the Rollout owns: a change it caused itself
                await self._write(rollout, {"attempt": len(self.attempts)})
                raise RuntimeError("the router refused")
            return 0

    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    traffic = WritesThenFails(cluster)
    controller = Controller(cluster, clock=clock, traffic=traffic, backoff=(1.0, 30.0))
    manifest = canary_rollout(steps=[{"setWeight": 50}])
    await cluster.create(manifest)
    await settle(controller, cluster)
    failing = Rollout.from_manifest(with_image(manifest, "web:2")).template_hash()
    await cluster.patch(ref("web"), {"spec": with_image(manifest, "web:2")["spec"]})
    start = clock.now()
    await settle(controller, cluster, seconds=100)
    gaps = [round(t - start) for t in traffic.attempts]
    # a retry already queued by its own write, then 1 s, then 4, 8, 16 (each failure
    # doubles the delay; the retry already queued was one) up to 30 s
    assert gaps == [0, 0, 1, 5, 13, 29, 59, 89], gaps
    # a new spec is tried at once, whatever the backoff reached
    failing = Rollout.from_manifest(with_image(manifest, "web:3")).template_hash()
    at = clock.now()
    await cluster.patch(ref("web"), {"spec": with_image(manifest, "web:3")["spec"]})
    await settle(controller, cluster, seconds=0.5)
    assert traffic.attempts[-1] == at


async def test_a_conflict_is_retried_at_once() -> None:
    class Conflicting(MemoryCluster):
        conflicts = 0

        async def replace_status(self, obj: Any) -> dict[str, Any]:
            if self.conflicts < 2 and obj.get("kind") == "Rollout":
                self.conflicts += 1
                raise Conflict("someone wrote meanwhile")
            return await super().replace_status(obj)

    clock = VirtualClock()
    cluster = Conflicting(clock)
    await cluster.create(canary_rollout(replicas=2))
    result = await settle(Controller(cluster, clock=clock), cluster)
    assert result.idle and not result.errors
    assert cluster.conflicts == 2
    assert (await status(cluster, "web"))["phase"] == "Healthy"


async def test_a_plan_whose_status_write_is_refused_loses_no_event() -> None:
    class Refusing(MemoryCluster):
        """The first status write at each step meets a spec edited meanwhile."""

        def __init__(self, clock: VirtualClock) -> None:
            super().__init__(clock)
            self.refused: list[Any] = []
            self.refuse = False

        async def replace_status(self, obj: Any) -> dict[str, Any]:
            step = obj["status"].get("currentStepIndex")
            if self.refuse and step not in self.refused:
                self.refused.append(step)
                edit = {"spec": {"revisionHistoryLimit": 10 + len(self.refused)}}
                await super().patch(ref("web"), edit)  # a new generation: decided again
                raise Conflict("someone wrote meanwhile")
            return await super().replace_status(obj)

    async def update(refuse: bool) -> Counter[str]:
        clock = VirtualClock()
        cluster = Refusing(clock)
        manifest = canary_rollout(replicas=2, steps=[{"setWeight": 50}, {"pause": {}}])
        await cluster.create(manifest)
        controller = Controller(cluster, clock=clock)
        await settle(controller, cluster)
        cluster.refuse = refuse
        await cluster.patch(ref("web"), {"spec": with_image(manifest, "web:2")["spec"]})
        await settle(controller, cluster)
        assert (await status(cluster, "web"))["phase"] == "Paused"
        assert cluster.refused == ([0, 1] if refuse else [])
        return Counter({e["message"]: e["count"] for e in cluster.objects("v1", "Event")})

    # A refused plan's Events are posted: some tell of writes it made (a ReplicaSet
    # created), which the plan decided again does not make again. The transitions it
    # tells of again (a pause begun) are counted again, as Argo's, which records its
    # Events before it writes the status.
    clean, refused = await update(refuse=False), await update(refuse=True)
    assert set(refused) == set(clean) and refused - clean == Counter(
        {"Rollout paused until promoted": 1, next(m for m in clean if "Updating to" in m): 1}
    )


async def test_an_invalid_spec_is_reported_once_and_the_others_go_on() -> None:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    await cluster.create(canary_rollout("bad", steps=[{"setWeight": 150}]))
    await cluster.create(canary_rollout("good", steps=[{"setWeight": 50}]))
    controller = Controller(cluster, clock=clock)
    await settle(controller, cluster)
    await cluster.patch(ref("bad"), {"metadata": {"annotations": {"touched": "1"}}})
    await settle(controller, cluster)
    bad = await status(cluster, "bad")
    assert bad["phase"] == "Degraded"
    assert any(c["type"] == "InvalidSpec" for c in bad["conditions"])
    (event,) = [e for e in cluster.objects("v1", "Event") if e["reason"] == "InvalidSpec"]
    assert event["type"] == "Warning" and event["count"] == 1
    assert event["involvedObject"]["name"] == "bad"
    assert (await status(cluster, "good"))["phase"] == "Healthy"


async def test_a_repeated_event_is_counted_on_one_event() -> None:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    manifest = canary_rollout(
        steps=[{"pause": {"duration": "10s"}}, {"pause": {"duration": "10s"}}]
    )
    await cluster.create(manifest)
    controller = Controller(cluster, clock=clock)
    await settle(controller, cluster)
    await cluster.patch(ref("web"), {"spec": with_image(manifest, "web:2")["spec"]})
    await settle(controller, cluster)
    paused = [e for e in cluster.objects("v1", "Event") if e["reason"] == "Paused"]
    assert len(paused) == 1 and paused[0]["count"] == 2
    assert paused[0]["lastTimestamp"] > paused[0]["firstTimestamp"]


# -- workloadRef ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "after"), [("never", 4), ("onsuccess", 0), ("progressively", 0)]
)
async def test_workload_ref_takes_the_deployments_template(policy: str, after: int) -> None:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    await cluster.create(deployment())
    await cluster.create(workload_rollout(policy))
    controller = Controller(cluster, clock=clock)
    await settle(controller, cluster)
    assert (await status(cluster, "web"))["phase"] == "Healthy"
    (rs,) = cluster.objects("apps/v1", "ReplicaSet")
    assert rs["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
    assert rs["spec"]["selector"]["matchLabels"]["app"] == "web"
    stored = await cluster.get(Ref("apps/v1", "Deployment", "default", "web"))
    assert stored is not None and stored["spec"]["replicas"] == after


async def test_a_missing_workload_is_an_invalid_spec_until_it_appears() -> None:
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.01)
    await cluster.create(workload_rollout("never"))
    controller = Controller(cluster, clock=clock)

    async def phase(wanted: str) -> bool:
        return (await status(cluster, "web")).get("phase") == wanted

    async with anyio.create_task_group() as tg:
        await tg.start(lambda task_status: controller.run(resync=None, task_status=task_status))
        await until("Degraded", lambda: phase("Degraded"))
        assert "Deployment default/web not found" in (await status(cluster, "web"))["message"]
        await cluster.create(deployment())  # the notification alone wakes the Rollout
        await until("Healthy", lambda: phase("Healthy"))
        tg.cancel_scope.cancel()


async def test_a_template_change_in_the_deployment_is_a_new_revision() -> None:
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.01)
    await cluster.create(deployment())
    manifest = workload_rollout("never")
    manifest["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}]
    await cluster.create(manifest)
    controller = Controller(cluster, clock=clock)

    async def images() -> set[str]:
        return {
            rs["spec"]["template"]["spec"]["containers"][0]["image"]
            for rs in cluster.objects("apps/v1", "ReplicaSet")
            if rs["spec"]["replicas"]
        }

    async with anyio.create_task_group() as tg:
        await tg.start(lambda task_status: controller.run(resync=None, task_status=task_status))

        async def healthy_at(image: str) -> bool:
            return (await status(cluster, "web")).get("phase") == "Healthy" and await images() == {
                image
            }

        await until("Healthy at web:1", lambda: healthy_at("web:1"))
        await cluster.patch(
            Ref("apps/v1", "Deployment", "default", "web"),
            {"spec": {"template": deployment(image="web:2")["spec"]["template"]}},
        )
        await until("Healthy at web:2", lambda: healthy_at("web:2"))
        tg.cancel_scope.cancel()
    revisions = sorted(
        rs["metadata"]["annotations"]["rollout.argoproj.io/revision"]
        for rs in cluster.objects("apps/v1", "ReplicaSet")
    )
    assert revisions == ["1", "2"]


# -- sharding and API groups ---------------------------------------------------------------


async def test_instance_ids_shard_the_rollouts() -> None:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    plain = canary_rollout("plain")
    ours = canary_rollout("ours")
    ours["metadata"]["labels"] = {"progressive.dev/controller-instance-id": "a"}
    argos = canary_rollout("argos")
    argos["metadata"]["labels"] = {"argo-rollouts.argoproj.io/controller-instance-id": "a"}
    for manifest in (plain, ours, argos):
        await cluster.create(manifest)
    await settle(Controller(cluster, clock=clock, instance_id="a"), cluster)
    assert [bool(await status(cluster, n)) for n in ("plain", "ours", "argos")] == [
        False,
        True,
        True,
    ]
    await settle(Controller(cluster, clock=clock), cluster)
    assert (await status(cluster, "plain"))["phase"] == "Healthy"


async def test_only_the_api_groups_asked_for_are_reconciled() -> None:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    argo = canary_rollout("argo")
    mine = copy.deepcopy(canary_rollout("mine"))
    mine["apiVersion"] = PROGRESSIVE
    await cluster.create(argo)
    await cluster.create(mine)
    await settle(Controller(cluster, clock=clock, api_groups=["progressive.dev"]), cluster)
    assert (await status(cluster, "mine", PROGRESSIVE))["phase"] == "Healthy"
    assert await status(cluster, "argo") == {}


# -- real time: workers, metrics, stopping -------------------------------------------------


async def test_workers_bound_the_concurrency_and_never_share_a_key() -> None:
    running: Counter[str] = Counter()
    peak = 0
    all_busy = anyio.Event()

    class Slow(MemoryTraffic):
        async def align(self, rollout: Rollout) -> int:
            nonlocal peak
            assert running[rollout.name] == 0, "one key, two workers"
            running[rollout.name] += 1
            peak = max(peak, sum(running.values()))
            if peak == 3:
                all_busy.set()
            # the first reconciles wait for each other (not for a while, which a loaded
            # machine may not overlap): fewer than three workers never get past here
            await all_busy.wait()
            await anyio.lowlevel.checkpoint()
            running[rollout.name] -= 1
            return 0

    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.01)
    for i in range(12):
        await cluster.create(canary_rollout(f"app-{i}", replicas=1))
    controller = Controller(cluster, clock=clock)
    controller.traffic = Slow(cluster)

    async def all_healthy() -> bool:
        phases = [(o.get("status") or {}).get("phase") for o in cluster.objects(ARGO, "Rollout")]
        return phases == ["Healthy"] * 12

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: controller.run(workers=3, resync=None))
        await until("all Healthy", all_healthy, seconds=10)
        tg.cancel_scope.cancel()
    assert peak == 3


async def test_metrics_follow_the_rollouts() -> None:
    metrics = ControllerMetrics()
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    await cluster.create(canary_rollout(replicas=2))
    await cluster.create(canary_rollout("bad", steps=[{"setWeight": 150}]))
    controller = Controller(cluster, clock=clock, metrics=metrics)
    await settle(controller, cluster)
    got: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            got[(s.name, tuple(sorted(s.labels.items())))] = s.value
    info = {
        dict(k[1])["name"]: dict(k[1])["phase"] for k in got if k[0] == "progressive_rollout_info"
    }
    assert info == {"web": "Healthy", "bad": "Degraded"}
    assert got[("progressive_reconcile_duration_seconds_count", (("kind", "Rollout"),))] >= 2
    assert got[("progressive_workqueue_depth", (("name", "rollouts"),))] == 0
    assert got[("progressive_events_total", (("reason", "InvalidSpec"), ("type", "Warning")))] == 1
    await cluster.delete(ref("bad"))
    await settle(controller, cluster)
    info = {
        dict(s.labels)["name"]
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name == "progressive_rollout_info"
    }
    assert info == {"web"}


async def test_stop_lets_the_reconcile_in_flight_finish() -> None:
    started = anyio.Event()
    release = anyio.Event()
    finished = []

    class Blocking(MemoryTraffic):
        async def align(self, rollout: Rollout) -> int:
            started.set()
            await release.wait()
            finished.append(rollout.name)
            return 0

    clock = WallClock()
    cluster = MemoryCluster(clock)
    await cluster.create(canary_rollout(replicas=1))
    controller = Controller(cluster, clock=clock)
    controller.traffic = Blocking(cluster)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await started.wait()
        controller.stop()
        await anyio.sleep(0.05)
        assert controller.running, "still finishing its reconcile"
        release.set()
        await until("stopped", lambda: not controller.running, seconds=2)
    assert finished == ["web"]
    assert (await status(cluster, "web"))["phase"], "the reconcile in flight wrote its status"


# -- leader election ----------------------------------------------------------------------------


def elector(cluster: MemoryCluster, identity: str, **kw: Any) -> LeaderElector:
    timing: dict[str, Any] = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}
    return LeaderElector(
        cluster, namespace="default", name="progressive", identity=identity, **(timing | kw)
    )


async def test_shutdown_finishes_and_releases_the_lease() -> None:
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.01)
    await cluster.create(canary_rollout(replicas=1))
    controller = Controller(cluster, clock=clock)
    metrics = ControllerMetrics()
    shutdown = anyio.Event()
    leader = elector(cluster, "a")

    async def healthy() -> bool:
        return (await status(cluster, "web")).get("phase") == "Healthy"

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: supervise(
                    controller, elector=leader, metrics=metrics, shutdown=shutdown, grace=2
                )
            )
            await until("Healthy", healthy)
            assert metrics.leader._value.get() == 1
            shutdown.set()
    lease = await cluster.get(Ref(LEASE_API, "Lease", "default", "progressive"))
    assert lease is not None and not lease["spec"].get("holderIdentity")  # released
    assert lease["spec"]["leaseDurationSeconds"] == 1
    assert metrics.leader._value.get() == 0


async def test_a_lost_lease_stops_all_work_at_once() -> None:
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.01)
    await cluster.create(canary_rollout(replicas=1))
    controller = Controller(cluster, clock=clock)
    leader = elector(cluster, "a")
    with anyio.fail_after(5), pytest.raises(ExceptionGroup) as raised:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: supervise(controller, elector=leader))
            await until("running", lambda: controller.running)
            # another replica took the Lease (say, after a long pause of this one)
            lease = Ref(LEASE_API, "Lease", "default", "progressive")
            await cluster.patch(lease, {"spec": {"holderIdentity": "b"}})
    assert raised.group_contains(LeadershipLost)
    assert not controller.running


def _time(text: str) -> float:
    at = parse_time(text)
    assert at is not None, text
    return at


async def test_a_standby_runs_nothing_until_it_leads() -> None:
    """Ordering, not speed: the standby runs nothing while the leader renews, and takes
    over a leader that died without releasing only once the lease has expired (by the
    times written in the Lease).  A lease of 2 s and a renew deadline of 1.5 s, so that
    a loaded machine's pauses do not cost the leader its lease before it is killed."""
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.01)
    first, second = Controller(cluster, clock=clock), Controller(cluster, clock=clock)
    timing = {"lease_duration": 2.0, "renew_deadline": 1.5}
    a = elector(cluster, "a", release_on_cancel=False, **timing)
    b = elector(cluster, "b", **timing)
    lease = Ref(LEASE_API, "Lease", "default", "progressive")
    await cluster.create(canary_rollout(replicas=1))
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            leading = anyio.CancelScope()

            async def run_a() -> None:
                with leading:
                    await supervise(first, elector=a)

            tg.start_soon(run_a)
            await until("a running", lambda: first.running, 30)
            tg.start_soon(lambda: supervise(second, elector=b))
            await until("b sees a lead", lambda: b.holder == "a", 30)
            assert not second.running
            leading.cancel()  # a dies without releasing the Lease
            await anyio.lowlevel.checkpoint()  # a is gone: it writes nothing more
            held = await cluster.get(lease)
            assert held is not None and held["spec"]["holderIdentity"] == "a"
            await until("b running", lambda: second.running, 30)
            taken = await cluster.get(lease)
            assert taken is not None and taken["spec"]["holderIdentity"] == "b"
            waited = _time(taken["spec"]["acquireTime"]) - _time(held["spec"]["renewTime"])
            assert waited >= timing["lease_duration"] - 0.001, "taken before the lease expired"
            tg.cancel_scope.cancel()
