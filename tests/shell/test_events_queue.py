"""Events off the workers' path: while the recorder runs, posting queues an Event and
returns; one task writes the queue with spare tokens; what is shed is counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from progressive._shell.clocks import VirtualClock
from progressive._shell.events import EventRecorder, Involved
from progressive._shell.ratelimit import in_background
from progressive.errors import ClusterError
from progressive.memory import MemoryCluster

ABOUT = Involved("progressive.dev/v1alpha1", "Rollout", "default", "web", "uid-1")


class Gated(MemoryCluster):
    """Event writes wait for ``gate``; each notes whether it ran in the background."""

    def __init__(self) -> None:
        super().__init__(VirtualClock(1_700_000_000))
        self.gate = anyio.Event()
        self.background: list[bool] = []
        self.refuse = False

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        if obj.get("kind") == "Event":
            self.background.append(in_background())
            await self.gate.wait()
            if self.refuse:
                raise ClusterError("refused")
        return await super().create(obj)


def events(cluster: MemoryCluster) -> dict[str, int]:
    return {e["message"]: e["count"] for e in cluster.objects("v1", "Event")}


async def test_posts_queue_and_a_task_writes_them_in_the_background() -> None:
    cluster = Gated()
    dropped: Counter[str] = Counter()
    recorder = EventRecorder(
        cluster,
        clock=cluster.clock,
        buffer=2,
        on_drop=lambda reason, n: dropped.update({reason: n}),
        writers=1,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run)
        await anyio.wait_all_tasks_blocked()
        assert recorder.running
        for message in ("a", "b", "b", "c", "b", "d"):
            with anyio.fail_after(1):  # never waits for the write
                await recorder.post(ABOUT, "Normal", "R", message)
            await anyio.wait_all_tasks_blocked()  # the writer takes "a" and waits
        # "a" is being written; "b" (posted 3 times) and "c" wait; "d" overflowed
        assert recorder.queued == 2 and recorder.merged == 2
        assert dropped == {"overflow": 1} and recorder.dropped == dropped
        three = anyio.Event()
        cluster.subscribe(lambda _: three.set() if len(events(cluster)) == 3 else None)
        cluster.gate.set()
        with anyio.fail_after(5):
            await three.wait()
        assert recorder.queued == 0
        tg.cancel_scope.cancel()
    assert events(cluster) == {"a": 1, "b": 3, "c": 1}
    assert cluster.background == [True, True, True], "spare tokens only"
    assert not recorder.running
    await recorder.post(ABOUT, "Normal", "R", "b")  # not running: written at once
    assert events(cluster)["b"] == 4 and recorder.requests == 4


async def test_refused_and_unwritten_events_are_counted_not_lost_silently() -> None:
    cluster = Gated()
    recorder = EventRecorder(cluster, clock=cluster.clock)
    cluster.refuse = True
    cluster.gate.set()
    assert await recorder.record(ABOUT, "Warning", "R", "refused") is None
    assert recorder.dropped == {"error": 1}
    cluster.refuse = False
    cluster.gate = anyio.Event()  # the server hangs
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run)
        await anyio.wait_all_tasks_blocked()
        for message in ("x", "y", "y"):
            await recorder.post(ABOUT, "Normal", "R", message)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    # "x" was being written when the recorder stopped: it goes back to the queue
    assert recorder.queued == 2
    with anyio.fail_after(5):
        await recorder.close(grace=0.05)
    assert recorder.dropped == {"error": 1, "shutdown": 3} and recorder.queued == 0
    cluster.gate.set()
    async with anyio.create_task_group() as tg:  # a recorder that stops writes what it can
        tg.start_soon(recorder.run)
        await anyio.wait_all_tasks_blocked()
        await recorder.post(ABOUT, "Normal", "R", "z")
        tg.cancel_scope.cancel()
    await recorder.close()
    assert events(cluster) == {"z": 1}


async def test_a_recorder_runs_once() -> None:
    recorder = EventRecorder(MemoryCluster())
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(RuntimeError, match="running already"):
            await recorder.run()
        tg.cancel_scope.cancel()


async def test_writers_work_at_once_but_never_on_the_same_event() -> None:
    cluster = Gated()
    recorder = EventRecorder(cluster, clock=cluster.clock, writers=3)
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run)
        await anyio.wait_all_tasks_blocked()
        for message in ("a", "b", "a"):
            await recorder.post(ABOUT, "Normal", "R", message)
            await anyio.wait_all_tasks_blocked()
        # a and b in flight; a again waits for a's write to end, though a writer is free
        assert len(cluster.background) == 2 and recorder.queued == 1
        for message in ("c", "d"):
            await recorder.post(ABOUT, "Normal", "R", message)
            await anyio.wait_all_tasks_blocked()
        # the free writer took c; d waits for a writer
        assert len(cluster.background) == 3 and recorder.queued == 2
        done = anyio.Event()
        expected = {"a": 2, "b": 1, "c": 1, "d": 1}
        cluster.subscribe(lambda _: done.set() if events(cluster) == expected else None)
        cluster.gate.set()
        with anyio.fail_after(5):
            await done.wait()
        tg.cancel_scope.cancel()
    assert recorder.requests == 5, "four creates and one count patch: no conflict"


class LostReply(MemoryCluster):
    """Event writes are stored, then their reply waits for ``gate``: a request in flight
    when the recorder is cancelled, which the server carried out."""

    def __init__(self) -> None:
        super().__init__(VirtualClock(1_700_000_000))
        self.gate = anyio.Event()

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        stored = await super().create(obj)
        if obj.get("kind") == "Event":
            await self.gate.wait()
        return stored

    async def patch(self, ref: Any, patch: Mapping[str, Any]) -> dict[str, Any]:
        stored = await super().patch(ref, patch)
        if ref.kind == "Event":
            await self.gate.wait()
        return stored


async def test_a_write_cut_off_before_its_reply_is_not_counted_twice() -> None:
    cluster = LostReply()
    recorder = EventRecorder(cluster, clock=cluster.clock)
    expected: Counter[str] = Counter()
    # a create (posted once, then twice) and a count patch, each cut off once stored
    for message, posts in (("x", 1), ("x", 2), ("y", 2)):
        cluster.gate = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(recorder.run)
            await anyio.wait_all_tasks_blocked()
            for _ in range(posts):  # the second while the first is in flight
                await recorder.post(ABOUT, "Normal", "R", message)
                await anyio.wait_all_tasks_blocked()
            assert events(cluster)[message] == expected[message] + 1  # stored, no reply
            tg.cancel_scope.cancel()
        assert recorder.queued == 1
        cluster.gate.set()  # the server answers again
        with anyio.fail_after(5):
            await recorder.close()
        expected[message] += posts
        assert recorder.queued == 0 and not recorder.dropped
        assert events(cluster) == expected, "each post counted once"
