"""Leader election on a real Lease: one leader among two; a killed leader is replaced
once its lease has expired, not before; a graceful stop hands over without waiting for
it; a lost lease cancels all the work at once.  Orderings and states, checked by the
times written in the Lease: a loaded machine is slower, never wrong."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive._shell.leader import LEASE_API, LeaderElector
from progressive.core._times import parse_time
from progressive.errors import LeadershipLost

from ..shell.helpers import until

pytestmark = pytest.mark.kube

LEASE = 3.0
RENEW = 2.0
RETRY = 0.25


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        yield cluster


def elector(kube: KubeCluster, namespace: str, identity: str, **kw: Any) -> LeaderElector:
    timing: dict[str, Any] = {"lease_duration": LEASE, "renew_deadline": RENEW}
    return LeaderElector(
        kube,
        namespace=namespace,
        name="progressive-controller",
        identity=identity,
        retry_period=RETRY,
        **(timing | kw),
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


async def lease(kube: KubeCluster, namespace: str) -> dict[str, Any]:
    found = await kube.get(Ref(LEASE_API, "Lease", namespace, "progressive-controller"))
    assert found is not None
    return dict(found["spec"])


def _time(text: str) -> float:
    at = parse_time(text)
    assert at is not None, text
    return at


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


async def test_a_killed_leader_is_replaced_once_its_lease_expires(
    kube: KubeCluster, namespace: str
) -> None:
    """Ordering, not speed: the standby waits while the leader renews, then takes over a
    leader that died without releasing, but only once the lease has expired (by the
    times written in the Lease); how soon after is the machine's load."""
    leader = elector(kube, namespace, "leader", release_on_cancel=False)
    standby = elector(kube, namespace, "standby")
    work, standby_work = Work(), Work()
    async with anyio.create_task_group() as tg:
        leader_scope = anyio.CancelScope()
        tg.start_soon(_run_in, leader_scope, leader, work)
        await wait_for(work.started, 30)
        tg.start_soon(standby.run, standby_work)
        await until("the standby sees the leader", lambda: standby.holder == "leader", 30)
        assert not standby.leading
        leader_scope.cancel()  # the process dies: no release
        await anyio.lowlevel.checkpoint()  # the leader is gone: it writes nothing more
        held = await lease(kube, namespace)
        assert held["holderIdentity"] == "leader"
        await wait_for(standby_work.started, 30)
        taken = await lease(kube, namespace)
        assert taken["holderIdentity"] == "standby"
        waited = _time(taken["acquireTime"]) - _time(held["renewTime"])
        assert waited >= LEASE - 0.001, f"taken {waited:.3f}s after the last renewal"
        tg.cancel_scope.cancel()


async def _run_in(scope: anyio.CancelScope, e: LeaderElector, work: Work) -> None:
    with scope:
        await e.run(work)


async def test_a_graceful_stop_releases_the_lease_at_once(
    kube: KubeCluster, namespace: str
) -> None:
    """A lease of a minute, a takeover waited for at most half of that: only a release
    explains it, however loaded the machine."""
    long = {"lease_duration": 60.0, "renew_deadline": 30.0}
    leader = elector(kube, namespace, "leader", **long)
    standby = elector(kube, namespace, "standby", **long)
    work, standby_work = Work(), Work()
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()
        tg.start_soon(_run_in, scope, leader, work)
        await wait_for(work.started, 30)
        tg.start_soon(standby.run, standby_work)
        await until("the standby sees the leader", lambda: standby.holder == "leader", 30)
        held = await lease(kube, namespace)
        scope.cancel()
        await wait_for(standby_work.started, 30)
        taken = await lease(kube, namespace)
        assert taken["holderIdentity"] == "standby"
        assert _time(taken["acquireTime"]) - _time(held["renewTime"]) < 30
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
