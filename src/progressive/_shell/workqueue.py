"""A per-key work queue, after client-go's ``workqueue``.

Keys (``namespace/name`` strings, or any hashable) say *what* to reconcile, never *how
it changed*: reconciling is level-triggered, so ten changes to one Rollout while it
waits are one reconcile.  The rules, as in client-go:

* a key is in the queue at most once (``add`` of a queued key does nothing);
* a key is handled by one worker at a time: added while it is being handled, it is
  queued again when that worker calls :meth:`WorkQueue.done`;
* :meth:`WorkQueue.add_at` / :meth:`WorkQueue.add_after` add it later (the earliest
  time asked for wins);
* :meth:`WorkQueue.add_rate_limited` adds it after an exponential per-key backoff,
  ``base_delay * 2**failures`` capped at ``max_delay`` (client-go: 5 ms up to 1000 s),
  and :meth:`WorkQueue.forget` resets it once the key succeeds.

Unlike client-go's queue, keys have a :class:`Priority`: a worker takes the oldest key
of the most urgent class.  A timer that came due (a pause ends) or a user's command (a
new revision, an abort) is ``URGENT``; a change notification is ``NORMAL``; a periodic
resync is ``BACKGROUND``.  Under load -- a burst of changes, a client-side rate limit
-- the step that is due is therefore not queued behind hundreds of routine looks.  A
key added again at a more urgent priority moves up; never down.  A worker handles a key
in its priority's :func:`~progressive._shell.ratelimit.priority` context, so the
requests the handler makes keep that order at the client-side rate limit too.

:meth:`WorkQueue.run` runs ``workers`` concurrent handlers until :meth:`shut_down`
(optionally draining what is queued first) or cancellation.  Time comes from a shell
:class:`~progressive._shell.clocks.Clock`, so tests drive the queue on a clock of their
own and a handler's ``requeue_at`` is the core's ``Plan.requeue_at`` unchanged.
"""

from __future__ import annotations

import collections
import enum
import heapq
import itertools
import logging
import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio

from ..errors import ProgressiveError
from . import ratelimit
from .clocks import Clock, WallClock

__all__ = ["Priority", "QueueShutDown", "WorkQueue"]

log = logging.getLogger("progressive.workqueue")

K = TypeVar("K", bound=Hashable)

#: A handler reconciles one key and returns when to do it again (None: only on change).
Handler = Callable[[K], Awaitable[float | None]]


class Priority(enum.IntEnum):
    """Which keys a worker takes first (lowest value first; FIFO within a class)."""

    URGENT = 0  # a timer that came due, a user's command (new revision, abort)
    NORMAL = 1  # a change notification, a retry
    BACKGROUND = 2  # a periodic resync


class QueueShutDown(ProgressiveError):
    """The queue was shut down and (when draining) is empty."""


class WorkQueue(Generic[K]):
    """De-duplicating, delaying, rate-limiting queue of keys.

    Args:
        clock: ``now`` and sleeping (wall time by default).
        base_delay, max_delay: the per-key backoff of :meth:`add_rate_limited`.
        on_error: called with the key and exception when a handler raises (the
            default logs it).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        base_delay: float = 0.005,
        max_delay: float = 1000.0,
        on_error: Callable[[K, Exception], None] | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else WallClock()
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.on_error = on_error
        # one FIFO per priority, of (serial, key); an entry whose serial is no longer
        # the key's (the key moved up, or was taken) is skipped
        self._queues: tuple[collections.deque[tuple[int, K]], ...] = tuple(
            collections.deque() for _ in Priority
        )
        self._queued: dict[K, int] = {}  # key -> serial of its live entry
        self._dirty: dict[K, Priority] = {}  # to be handled (queued, or after done())
        self._processing: set[K] = set()
        self._waiting: dict[K, tuple[float, Priority]] = {}  # the earliest asked for
        self._heap: list[tuple[float, int, K]] = []
        self._serial = itertools.count()
        self._failures: dict[K, int] = {}
        self._wakeup: anyio.Event | None = None  # created in the event loop, when needed
        self._shutting_down = False
        self._drain = False
        self.adds = 0
        self.retries = 0

    # -- state -------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Keys ready to be handled now (the ``workqueue_depth`` of client-go)."""
        return len(self._queued)

    def __len__(self) -> int:
        return len(self._queued)

    def depth_of(self, priority: Priority) -> int:
        """Keys ready to be handled now at ``priority``."""
        return sum(1 for k, p in self._dirty.items() if p == priority and k in self._queued)

    @property
    def delayed(self) -> int:
        """Keys waiting for their time to come."""
        return len(self._waiting)

    @property
    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def num_requeues(self, key: K) -> int:
        """Failures of ``key`` since it last succeeded."""
        return self._failures.get(key, 0)

    def _notify(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    # -- adding ------------------------------------------------------------------------
    def add(self, key: K, priority: Priority = Priority.NORMAL) -> None:
        """Queue ``key`` now (once, however often it is added before being handled; at
        the most urgent ``priority`` asked for)."""
        if self._shutting_down:
            return
        current = self._dirty.get(key)
        if current is not None and current <= priority:
            return
        if current is None:
            self.adds += 1
        self._dirty[key] = priority
        if key in self._processing:
            return  # queued again by done()
        self._enqueue(key, priority)

    def _enqueue(self, key: K, priority: Priority) -> None:
        serial = next(self._serial)
        self._queued[key] = serial
        self._queues[priority].append((serial, key))
        self._notify()

    def add_at(self, key: K, when: float, priority: Priority = Priority.URGENT) -> None:
        """Queue ``key`` at clock time ``when`` (at once if that is past), at
        ``priority`` then (a timer that comes due is urgent by default)."""
        if self._shutting_down:
            return
        if when <= self.clock.now():
            self.add(key, priority)
            return
        current = self._waiting.get(key)
        if current is not None and current[0] <= when:
            if priority < current[1]:
                self._waiting[key] = (current[0], priority)
            return
        self._waiting[key] = (when, priority if current is None else min(priority, current[1]))
        heapq.heappush(self._heap, (when, next(self._serial), key))
        self._notify()

    def add_after(self, key: K, delay: float, priority: Priority = Priority.URGENT) -> None:
        self.add_at(key, self.clock.now() + max(0.0, delay), priority)

    def backoff(self, key: K) -> float:
        """The delay the next :meth:`add_rate_limited` of ``key`` would use."""
        exponent = self._failures.get(key, 0)
        if exponent > 64:
            return self.max_delay
        return min(self.max_delay, self.base_delay * 2.0**exponent)

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after its backoff, which doubles with each call."""
        delay = self.backoff(key)
        self._failures[key] = self._failures.get(key, 0) + 1
        self.retries += 1
        self.add_after(key, delay, Priority.NORMAL)

    def forget(self, key: K) -> None:
        """``key`` succeeded: its next failure backs off from ``base_delay`` again."""
        self._failures.pop(key, None)

    # -- taking ------------------------------------------------------------------------
    def _promote_due(self) -> None:
        now = self.clock.now()
        while self._heap and self._heap[0][0] <= now:
            when, _, key = heapq.heappop(self._heap)
            waiting = self._waiting.get(key)
            if waiting is not None and waiting[0] == when:
                del self._waiting[key]
                self.add(key, waiting[1])

    def _next_due(self) -> float | None:
        while self._heap:
            waiting = self._waiting.get(self._heap[0][2])
            if waiting is not None and waiting[0] == self._heap[0][0]:
                return self._heap[0][0]
            heapq.heappop(self._heap)  # superseded by an earlier time
        return None

    def _pop(self) -> K | None:
        """The oldest live key of the most urgent class, now being handled."""
        taken = self._pop_with_priority()
        return None if taken is None else taken[0]

    def _pop_with_priority(self) -> tuple[K, Priority] | None:
        for fifo in self._queues:
            while fifo:
                serial, key = fifo.popleft()
                if self._queued.get(key) != serial:
                    continue  # moved up to a more urgent class
                del self._queued[key]
                priority = self._dirty.pop(key)
                self._processing.add(key)
                return key, priority
        return None

    async def get(self) -> K:
        """The next key to handle; call :meth:`done` with it afterwards.

        Raises:
            QueueShutDown: the queue is shutting down (and, when draining, empty).
        """
        return (await self.take())[0]

    async def take(self) -> tuple[K, Priority]:
        """:meth:`get`, with the priority the key was queued at.

        Raises:
            QueueShutDown: the queue is shutting down (and, when draining, empty).
        """
        while True:
            if self._shutting_down and not self._drain:
                raise QueueShutDown
            self._promote_due()
            taken = self._pop_with_priority()
            if taken is not None:
                return taken
            if self._shutting_down:
                raise QueueShutDown
            if self._wakeup is None:
                self._wakeup = anyio.Event()
            await self._wait(self._wakeup, self._next_due())

    async def _wait(self, event: anyio.Event, due: float | None) -> None:
        if due is None:
            await event.wait()
            return
        async with anyio.create_task_group() as tg:

            async def sleeper() -> None:
                await self.clock.sleep_until(due)
                tg.cancel_scope.cancel()

            async def waiter() -> None:
                await event.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(sleeper)
            tg.start_soon(waiter)

    def take_ready(self) -> list[K]:
        """Every key ready now, most urgent first, each marked as being handled (call
        :meth:`done` with each): one round of a single-task loop (``Controller.settle``)."""
        self._promote_due()
        keys = []
        while (key := self._pop()) is not None:
            keys.append(key)
        return keys

    def next_due(self) -> float | None:
        """When the earliest delayed key is due (None: none is waiting)."""
        return self._next_due()

    def ready(self) -> bool:
        """Whether a key can be handled now (delayed keys that are due included)."""
        self._promote_due()
        return bool(self._queued)

    def done(self, key: K) -> None:
        """The worker is finished with ``key``; queued again if it was added meanwhile."""
        self._processing.discard(key)
        priority = self._dirty.get(key)
        if priority is not None:
            self._enqueue(key, priority)
        elif self._shutting_down and not self._processing:
            self._notify()

    # -- running -----------------------------------------------------------------------
    def shut_down(self, *, drain: bool = False) -> None:
        """Stop: accept no more keys; workers exit after their current key or, with
        ``drain``, once the keys ready now are handled (delayed ones are dropped)."""
        self._shutting_down = True
        self._drain = drain
        self._waiting.clear()
        self._heap.clear()
        self._notify()

    async def run(self, handler: Handler[K], *, workers: int = 10) -> None:
        """Handle keys with ``workers`` concurrent handlers until shut down.

        A handler returns when to handle the key again (a clock time; None: not until
        it is added again).  A handler that raises is retried with backoff
        (:meth:`add_rate_limited`); one that returns resets the backoff.
        """
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(self._worker, handler)

    async def _worker(self, handler: Handler[K]) -> None:
        while True:
            try:
                key, priority = await self.take()
            except QueueShutDown:
                return
            try:
                with ratelimit.priority(priority):
                    requeue_at = await handler(key)
            except Exception as exc:
                if self.on_error is not None:
                    self.on_error(key, exc)
                else:
                    log.exception("handling %s failed", key)
                self.add_rate_limited(key)
            else:
                self.forget(key)
                if requeue_at is not None and math.isfinite(requeue_at):
                    self.add_at(key, requeue_at)
            finally:
                self.done(key)
