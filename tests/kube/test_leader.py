"""Leader election on a real Lease: one leader among two; a killed leader is replaced
within the lease duration; a graceful stop hands over at once; a lost lease cancels all
the work at once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import pytest

from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive._shell.leader import LEASE_API, LeaderElector
from progressive.errors import LeadershipLost

pytestmark = pytest.mark.kube

LEASE = 3.0
RENEW = 2.0
RETRY = 0.25


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        yield cluster


def elector(kube: KubeCluster, namespace: str, identity: str, **kw: object) -> LeaderElector:
    return LeaderElector(
        kube,
        namespace=namespace,
        name="progressive-controller",
        identity=identity,
        lease_duration=LEASE,
        renew_deadline=RENEW,
        retry_period=RETRY,
        **kw,  # type: ignore[arg-type]
    )


class Work:
    """What a controller does while leading: marks when it started, waits forever."""

    def __init__(self) -> None:
        self.started_at: float | None = None
        self.cancelled = False
        self.started = anyio.Event()

    async def __call__(self) -> None:
        self.started_at = time.monotonic()
        self.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            self.cancelled = True


async def holder(kube: KubeCluster, namespace: str) -> str | None:
    lease = await kube.get(Ref(LEASE_API, "Lease", namespace, "progressive-controller"))
    return None if lease is None else lease["spec"].get("holderIdentity")


async def wait_for(event: anyio.Event, seconds: float) -> None:
    with anyio.fail_after(seconds):
        await event.wait()


async def test_only_one_of_two_leads(kube: KubeCluster, namespace: str) -> None:
    a, b = elector(kube, namespace, "a"), elector(kube, namespace, "b")
    work_a, work_b = Work(), Work()
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run, work_a)
        tg.start_soon(b.run, work_b)
        for _ in range(40):
            if a.leading or b.leading:
                break
            await anyio.sleep(RETRY)
        await anyio.sleep(3 * RETRY)  # several renewals: still one leader
        leaders = [e.identity for e in (a, b) if e.leading]
        assert leaders == [await holder(kube, namespace)]
        assert [w.started_at is not None for w in (work_a, work_b)].count(True) == 1
        tg.cancel_scope.cancel()


async def test_a_killed_leader_is_replaced_within_the_lease_duration(
    kube: KubeCluster, namespace: str
) -> None:
    leader = elector(kube, namespace, "leader", release_on_cancel=False)
    standby = elector(kube, namespace, "standby")
    work, standby_work = Work(), Work()
    async with anyio.create_task_group() as tg:
        leader_scope = anyio.CancelScope()
        tg.start_soon(_run_in, leader_scope, leader, work)
        await wait_for(work.started, 10)
        tg.start_soon(standby.run, standby_work)
        await anyio.sleep(2 * RETRY)
        assert not standby.leading
        killed_at = time.monotonic()
        leader_scope.cancel()  # the process dies: no release
        await wait_for(standby_work.started, LEASE + 3)
        assert standby_work.started_at is not None
        handover = standby_work.started_at - killed_at
        assert handover <= LEASE + 2 * RETRY + 0.5, handover
        assert await holder(kube, namespace) == "standby"
        tg.cancel_scope.cancel()


async def _run_in(scope: anyio.CancelScope, e: LeaderElector, work: Work) -> None:
    with scope:
        await e.run(work)


async def test_a_graceful_stop_releases_the_lease_at_once(
    kube: KubeCluster, namespace: str
) -> None:
    leader, standby = elector(kube, namespace, "leader"), elector(kube, namespace, "standby")
    work, standby_work = Work(), Work()
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()
        tg.start_soon(_run_in, scope, leader, work)
        await wait_for(work.started, 10)
        tg.start_soon(standby.run, standby_work)
        await anyio.sleep(2 * RETRY)
        stopped_at = time.monotonic()
        scope.cancel()
        await wait_for(standby_work.started, LEASE)
        assert standby_work.started_at is not None
        assert standby_work.started_at - stopped_at < LEASE / 2, "no wait for the lease to expire"
        assert work.cancelled
        tg.cancel_scope.cancel()
    assert await holder(kube, namespace) in (None, ""), "the standby released it too"


async def test_losing_the_lease_cancels_all_the_work_at_once(
    kube: KubeCluster, namespace: str
) -> None:
    leader = elector(kube, namespace, "leader")
    works = [Work() for _ in range(3)]

    async def all_the_work() -> None:
        async with anyio.create_task_group() as tg:
            for w in works:
                tg.start_soon(w)

    async def steal() -> None:
        await wait_for(works[2].started, 10)
        ref = Ref(LEASE_API, "Lease", namespace, "progressive-controller")
        lease = await kube.get(ref)
        assert lease is not None
        await kube.patch(ref, {"spec": {"holderIdentity": "intruder", "leaseDurationSeconds": 60}})

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(steal)
            with pytest.raises(LeadershipLost):
                await leader.run(all_the_work)
    assert all(w.cancelled for w in works)
    assert not leader.leading
    assert await holder(kube, namespace) == "intruder", "a lost lease is not released"
