"""The per-key work queue, on a clock the tests move by hand."""

from __future__ import annotations

import anyio
import pytest

from progressive._shell import ratelimit
from progressive._shell.workqueue import Priority, QueueShutDown, WorkQueue


class ManualClock:
    """Time moves only in :meth:`advance`; sleepers wake when their time is reached."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def now(self) -> float:
        return self.t

    async def sleep_until(self, t: float) -> None:
        if t <= self.t:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        self._sleepers.append((t, event))
        await event.wait()

    async def advance(self, seconds: float) -> None:
        self.t += seconds
        for when, event in list(self._sleepers):
            if when <= self.t:
                event.set()
                self._sleepers.remove((when, event))
        await anyio.wait_all_tasks_blocked()


def make() -> tuple[WorkQueue[str], ManualClock]:
    clock = ManualClock()
    return WorkQueue[str](clock=clock), clock


async def test_a_key_is_queued_once_however_often_it_is_added() -> None:
    q, _ = make()
    for _ in range(3):
        q.add("a")
    q.add("b")
    assert q.depth == 2
    assert await q.get() == "a"
    assert await q.get() == "b"
    assert q.depth == 0


async def test_a_key_added_while_being_handled_comes_back_after_done() -> None:
    q, _ = make()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert q.depth == 0, "not handed to a second worker while the first has it"
    q.done(key)
    assert q.depth == 1
    assert await q.get() == "a"
    q.done("a")
    assert q.depth == 0


async def test_delayed_adds_wait_for_their_time_and_the_earliest_wins() -> None:
    q, clock = make()
    q.add_after("a", 10)
    q.add_after("a", 5)  # earlier: wins
    q.add_after("a", 20)  # later: ignored
    q.add_at("b", clock.now() - 1)  # past: at once
    assert q.depth == 1 and q.delayed == 1
    assert await q.get() == "b"
    got: list[str] = []

    async def take() -> None:
        got.append(await q.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(take)
        await anyio.wait_all_tasks_blocked()
        await clock.advance(4.9)
        assert got == []
        await clock.advance(0.1)
    assert got == ["a"]
    assert q.delayed == 0


async def test_a_waiting_get_wakes_on_add() -> None:
    q, clock = make()
    q.add_after("late", 100)
    got: list[str] = []

    async def take() -> None:
        got.append(await q.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(take)
        await anyio.wait_all_tasks_blocked()
        q.add("now")
    assert got == ["now"]
    assert clock.now() == 1000.0


async def test_rate_limited_adds_back_off_exponentially_per_key_and_forget_resets() -> None:
    q, clock = make()
    delays = []
    for _ in range(5):
        delays.append(q.backoff("a"))
        q.add_rate_limited("a")
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert q.num_requeues("a") == 5
    assert q.backoff("b") == pytest.approx(0.005), "per key"
    q.forget("a")
    assert q.backoff("a") == pytest.approx(0.005)
    capped = WorkQueue[str](clock=clock, base_delay=1, max_delay=10)
    for _ in range(200):
        capped.add_rate_limited("x")
    assert capped.backoff("x") == 10


async def test_workers_are_bounded_and_one_key_is_never_handled_twice_at_once() -> None:
    q, _ = make()
    running: set[str] = set()
    peak = 0
    handled: list[str] = []

    all_handled = anyio.Event()

    async def handler(key: str) -> float | None:
        nonlocal peak
        assert key not in running
        running.add(key)
        peak = max(peak, len(running))
        await anyio.sleep(0.01)
        if key == "k0" and handled.count("k0") == 0:
            q.add("k0")  # changed while handled: once more, afterwards
        handled.append(key)
        running.discard(key)
        if len(handled) == 13:
            all_handled.set()
        return None

    for i in range(12):
        q.add(f"k{i}")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: q.run(handler, workers=3))
            await all_handled.wait()
            q.shut_down()
    assert peak == 3
    assert sorted(handled) == sorted([f"k{i}" for i in range(12)] + ["k0"])


async def test_failures_are_retried_with_backoff_and_success_forgets_them() -> None:
    q, clock = make()
    attempts: list[float] = []

    async def handler(key: str) -> float | None:
        attempts.append(clock.now())
        if len(attempts) < 3:
            raise RuntimeError("boom")
        return None

    errors: list[tuple[str, Exception]] = []
    q.on_error = lambda key, exc: errors.append((key, exc))
    q.add("a")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: q.run(handler, workers=1))
            await anyio.wait_all_tasks_blocked()
            assert len(attempts) == 1
            await clock.advance(0.005)
            assert len(attempts) == 2
            await clock.advance(0.009)
            assert len(attempts) == 2, "the second retry waits 10 ms"
            await clock.advance(0.001)
            assert len(attempts) == 3
            q.shut_down()
    assert [str(e) for _, e in errors] == ["boom", "boom"]
    assert q.num_requeues("a") == 0


async def test_a_handler_schedules_its_next_run() -> None:
    q, clock = make()
    seen: list[float] = []

    async def handler(key: str) -> float | None:
        seen.append(clock.now())
        return clock.now() + 30 if len(seen) < 3 else None

    q.add("a")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: q.run(handler, workers=2))
            await anyio.wait_all_tasks_blocked()
            for _ in range(4):
                await clock.advance(30)
            q.shut_down()
    assert seen == [1000.0, 1030.0, 1060.0]


async def test_shut_down_with_drain_handles_what_is_queued_first() -> None:
    q, _ = make()
    handled: list[str] = []

    async def handler(key: str) -> float | None:
        handled.append(key)
        await anyio.lowlevel.checkpoint()
        return None

    for key in "abcde":
        q.add(key)
    q.add_after("later", 5)
    q.shut_down(drain=True)
    q.add("ignored")
    with anyio.fail_after(5):
        await q.run(handler, workers=2)
    assert sorted(handled) == list("abcde")


async def test_shut_down_without_drain_stops_at_once() -> None:
    q, _ = make()
    handled: list[str] = []
    started = anyio.Event()

    async def handler(key: str) -> float | None:
        started.set()
        await anyio.sleep(0.01)
        handled.append(key)
        return None

    for key in "abcde":
        q.add(key)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: q.run(handler, workers=1))
            await started.wait()
            q.shut_down()
    assert handled == ["a"], "the key in hand is finished, the rest are left"
    with pytest.raises(QueueShutDown):
        await q.get()


async def test_idle_workers_exit_on_shut_down() -> None:
    q, _ = make()

    async def handler(key: str) -> float | None:
        return None

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: q.run(handler, workers=4))
            await anyio.wait_all_tasks_blocked()
            q.shut_down()


def test_a_queue_can_be_built_outside_an_event_loop() -> None:
    q = WorkQueue[str]()
    q.add("a")
    q.add_after("b", 1)
    assert (q.depth, q.delayed) == (1, 1)


async def test_take_ready_hands_out_a_round_of_keys() -> None:
    queue, clock = make()
    queue.add("a")
    queue.add("b")
    queue.add_after("later", 5)
    assert queue.ready() and queue.next_due() == clock.now() + 5
    assert queue.take_ready() == ["a", "b"]
    assert queue.processing == {"a", "b"} and not queue.ready()
    queue.add("a")  # changed while being handled: comes back after done()
    queue.done("a")
    queue.done("b")
    assert queue.take_ready() == ["a"]
    queue.done("a")
    await clock.advance(5)
    assert queue.take_ready() == ["later"] and queue.next_due() is None


async def test_the_most_urgent_key_is_taken_first_and_fifo_within_a_class() -> None:
    q, _ = make()
    q.add("resync", Priority.BACKGROUND)
    q.add("change-1")
    q.add("change-2")
    q.add("due", Priority.URGENT)
    assert q.depth == 4 and q.depth_of(Priority.NORMAL) == 2
    assert [await q.get() for _ in range(4)] == ["due", "change-1", "change-2", "resync"]


async def test_a_key_moves_up_when_added_more_urgently_and_never_down() -> None:
    q, _ = make()
    q.add("a", Priority.BACKGROUND)
    q.add("b")
    q.add("a", Priority.URGENT)  # a resync queued it; now its timer is due
    q.add("b", Priority.BACKGROUND)  # stays NORMAL
    assert q.depth == 2
    assert [await q.get(), await q.get()] == ["a", "b"]
    assert q.depth == 0 and not q.ready(), "the entry a left behind is not handed out"
    # added while being handled: it comes back at the most urgent priority asked for
    q.add("c")
    q.add("x", Priority.BACKGROUND)
    q.add("b", Priority.URGENT)
    q.done("a")
    q.done("b")
    assert [await q.get() for _ in range(3)] == ["b", "c", "x"]


async def test_a_timer_that_comes_due_is_urgent_and_a_retry_is_not() -> None:
    q, clock = make()
    q.add_after("pause-ends", 10)
    q.add_rate_limited("failed")  # 5 ms
    q.add_after("later", 20, Priority.BACKGROUND)
    for key in ("one", "two"):
        q.add(key)
    await clock.advance(30)
    assert q.take_ready() == ["pause-ends", "one", "two", "failed", "later"]


async def test_a_worker_makes_its_requests_at_the_priority_of_its_key() -> None:
    q, clock = make()
    seen: dict[str, int] = {}
    done = anyio.Event()

    async def handler(key: str) -> float | None:
        seen[key] = ratelimit.current_priority()
        if len(seen) == 3:
            done.set()
        return None

    q.add("resync", Priority.BACKGROUND)
    q.add("change", Priority.NORMAL)
    q.add_at("due", clock.now(), Priority.URGENT)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: q.run(handler, workers=1))
            await done.wait()
            q.shut_down()
    assert seen == {"due": 0, "change": 1, "resync": 2}
    assert ratelimit.current_priority() == ratelimit.DEFAULT_PRIORITY  # outside a worker
