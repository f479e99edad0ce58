"""Leader election and Events on the in-memory cluster, with time under the test's
control (the real-server side is in tests/kube)."""

from __future__ import annotations

import pytest

from progressive._clusters import Ref
from progressive._shell.clocks import VirtualClock
from progressive._shell.events import EventRecorder, Involved, event_name
from progressive._shell.leader import LEASE_API, LeaderElector, micro_time
from progressive.memory import MemoryCluster


class Monotonic:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def electors(cluster: MemoryCluster, clock: Monotonic) -> tuple[LeaderElector, LeaderElector]:
    return tuple(  # type: ignore[return-value]
        LeaderElector(
            cluster,
            namespace="kube-system",
            name="progressive",
            identity=identity,
            lease_duration=15,
            renew_deadline=10,
            retry_period=2,
            monotonic=clock,
        )
        for identity in ("a", "b")
    )


async def test_one_holder_renewal_release_and_takeover() -> None:
    cluster, clock = MemoryCluster(), Monotonic()
    a, b = electors(cluster, clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert b.holder == "a" and not b.leading
    clock.t += 14
    assert not await b.try_acquire_or_renew(), "a renewal is due, not yet missed"
    assert await a.try_acquire_or_renew()
    clock.t += 14
    assert not await b.try_acquire_or_renew(), "a's renewal restarted b's observation"
    assert await a.release()
    assert await b.try_acquire_or_renew(), "released: taken at once"
    lease = await cluster.get(Ref(LEASE_API, "Lease", "kube-system", "progressive"))
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1


async def test_an_expired_lease_is_taken_over_and_the_old_holder_sees_it() -> None:
    cluster, clock = MemoryCluster(), Monotonic()
    a, b = electors(cluster, clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    clock.t += 15.5  # a died: no renewal for a lease duration
    assert await b.try_acquire_or_renew()
    assert not await a.try_acquire_or_renew()
    assert a.holder == "b" and not a.leading


def test_timings_are_checked_and_times_are_micro_times() -> None:
    with pytest.raises(ValueError, match="lease_duration"):
        LeaderElector(MemoryCluster(), namespace="n", name="l", lease_duration=5, renew_deadline=10)
    with pytest.raises(ValueError, match="retry_period"):
        LeaderElector(MemoryCluster(), namespace="n", name="l", renew_deadline=2, retry_period=2)
    assert micro_time(0.5) == "1970-01-01T00:00:00.500000Z"


async def test_events_are_counted_and_messages_bounded() -> None:
    cluster = MemoryCluster()
    clock = VirtualClock(1_700_000_000)
    recorder = EventRecorder(cluster, clock=clock, host="h")
    about = Involved("progressive.dev/v1alpha1", "Rollout", "default", "web", "uid-1")
    first = await recorder.record(about, "Normal", "SetWeight", "weight 20")
    clock.advance(5)
    second = await recorder.record(about, "Normal", "SetWeight", "weight 20")
    assert first is not None and second is not None
    assert first["metadata"]["name"] == second["metadata"]["name"]
    assert (second["count"], second["firstTimestamp"], second["lastTimestamp"]) == (
        2,
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:25Z",
    )
    other = await recorder.record(about, "Normal", "SetWeight", "weight 40")
    assert other is not None and other["metadata"]["name"] != first["metadata"]["name"]
    long = await recorder.record(about, "Warning", "Long", "x" * 5000)
    assert long is not None and len(long["message"]) == 1024
    assert event_name(about, "Normal", "R", "m").startswith("web.")
    assert len(await cluster.list("v1", "Event", "default")) == 3
