"""Token buckets: client-side QPS and burst limits, like client-go's ``--qps/--burst``.

:class:`TokenBucket` hands out one token per request.  The bucket holds at most
``burst`` tokens and refills at ``qps`` tokens a second.  Unlike client-go's limiter,
which serves waiters in arrival order, requests that find the bucket empty wait in
*priority* order, FIFO within a priority: the next token goes to the most urgent
waiter.  A request's priority is the one of the :func:`priority` context it is made in
(the work queue's: a worker handling a step that came due makes ``URGENT`` requests),
so a due step's status write is not queued behind a burst of routine writes.
Time comes from two injectable callables, so tests run it on a virtual clock.

Requests made inside :func:`background` (the Event recorder's) take *spare* tokens
only: they rank below every other priority, so a token goes to them only when no
other request waits for it.  They never take a token another request could have had.

:class:`Limiter` keeps one bucket per *lane*, each with the same ``qps``/``burst``, as
client-go gives each clientset (Argo Rollouts' controller has one for Kubernetes' own
groups, one for argoproj.io, one for SMI, a dynamic one...) its own bucket; and,
optionally, a ceiling over all lanes together.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Final

import anyio
import anyio.lowlevel

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_PRIORITY",
    "DEFAULT_QPS",
    "Limiter",
    "TokenBucket",
    "background",
    "priority",
]

#: Requests a second of one lane, and how many may go at once above that: client-go's
#: ``--qps/--burst`` as Argo Rollouts' controller sets them for each of its clientsets.
DEFAULT_QPS: Final = 40.0
DEFAULT_BURST: Final = 80

#: The priority of a request made outside any :func:`priority` context (lower goes
#: first): the work queue's ``NORMAL``.
DEFAULT_PRIORITY: Final = 1
_SPARE: Final = 1 << 30  # background(): below every priority

_BACKGROUND: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "progressive_background_requests", default=False
)
_PRIORITY: contextvars.ContextVar[int] = contextvars.ContextVar(
    "progressive_request_priority", default=DEFAULT_PRIORITY
)


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Requests made in this context (this task, and tasks it starts) take spare
    tokens only."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


def in_background() -> bool:
    return _BACKGROUND.get()


@contextlib.contextmanager
def priority(level: int) -> Iterator[None]:
    """Requests made in this context that wait for a token are served before those
    of a higher ``level`` (0 first; the work queue's ``Priority`` values)."""
    token = _PRIORITY.set(int(level))
    try:
        yield
    finally:
        _PRIORITY.reset(token)


def current_priority() -> int:
    """The priority a request made here waits with (``background()``: the lowest)."""
    return _SPARE if _BACKGROUND.get() else _PRIORITY.get()


class _Waiter:
    """A request waiting for a token; ordered by (priority, arrival)."""

    __slots__ = ("event", "gone", "key")

    def __init__(self, key: tuple[int, int]) -> None:
        self.key = key
        self.event: anyio.Event | None = None  # set while it waits for its turn
        self.gone = False  # cancelled: skipped when it reaches the head

    def __lt__(self, other: _Waiter) -> bool:
        return self.key < other.key


class TokenBucket:
    """At most ``burst`` requests at once, ``qps`` a second on average; waiters are
    served most urgent first (see :func:`priority`).

    Args:
        qps: tokens added per second; 0 or less (or infinity) disables limiting.
        burst: the bucket's size (at least 1); it starts full.
        monotonic: the clock (seconds; ``time.monotonic`` by default).
        sleep: how to wait (``anyio.sleep`` by default).
    """

    def __init__(
        self,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.qps = float(qps)
        self.burst = max(1, int(burst))
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._last = monotonic()
        self._waiters: list[_Waiter] = []  # a heap; the head sleeps until a token is due
        self._arrivals = itertools.count()

    @property
    def unlimited(self) -> bool:
        return self.qps <= 0 or math.isinf(self.qps)

    def _refill(self) -> None:
        now = self._monotonic()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)

    def _head(self) -> _Waiter | None:
        while self._waiters and self._waiters[0].gone:
            heapq.heappop(self._waiters)
        return self._waiters[0] if self._waiters else None

    def _wake_head(self) -> None:
        head = self._head()
        if head is not None and head.event is not None:
            head.event.set()

    def _take(self) -> bool:
        self._refill()
        if self._tokens >= 1.0 - 1e-9:  # a clock may wake its sleeper a hair early
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def try_acquire(self) -> bool:
        """Take a token only if one is available now and no request waits for one."""
        if self.unlimited:
            return True
        return self._head() is None and self._take()

    @property
    def waiting(self) -> int:
        """Requests waiting for a token."""
        return sum(1 for w in self._waiters if not w.gone)

    async def acquire(self) -> float:
        """Wait for a token, behind the waiters of a more urgent or the same priority
        (a spare one, in :func:`background`); returns the seconds waited.  A cancelled
        wait takes no token."""
        if self.unlimited:
            await anyio.lowlevel.checkpoint()
            return 0.0
        level = current_priority()
        head = self._head()
        if (head is None or (level, -1) < head.key) and self._take():
            await anyio.lowlevel.checkpoint()
            return 0.0
        start = self._monotonic()
        waiter = _Waiter((level, next(self._arrivals)))
        heapq.heappush(self._waiters, waiter)
        try:
            while True:
                if self._head() is waiter:
                    if self._take():
                        break
                    await self._sleep((1.0 - self._tokens) / self.qps)
                else:
                    waiter.event = anyio.Event()
                    await waiter.event.wait()
                    waiter.event = None
        except BaseException:
            waiter.gone = True
            self._wake_head()
            raise
        heapq.heappop(self._waiters)  # the waiter, the head
        self._wake_head()
        return self._monotonic() - start

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        if self.unlimited:
            return math.inf
        self._refill()
        return self._tokens


#: Called with (lane, seconds) each time a request waited for a token.
WaitHook = Callable[[str, float], None]


class Limiter:
    """One :class:`TokenBucket` per lane, created on first use, each ``qps``/``burst``;
    with ``total_qps`` > 0, a request also takes a token of a bucket shared by every
    lane (``total_qps``/``total_burst``).

    Args:
        on_wait: called with (lane, seconds) when a request waited for its tokens.
    """

    def __init__(
        self,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        *,
        total_qps: float = 0.0,
        total_burst: int | None = None,
        on_wait: WaitHook | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.qps = float(qps)
        self.burst = max(1, int(burst))
        self.on_wait = on_wait
        self._monotonic = monotonic
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}
        self.total: TokenBucket | None = None
        if total_qps > 0 and not math.isinf(total_qps):
            size = total_burst if total_burst is not None else max(1, round(2 * total_qps))
            self.total = TokenBucket(total_qps, size, monotonic=monotonic, sleep=sleep)
        self.waited: dict[str, float] = {}  # seconds, by lane
        self.requests: dict[str, int] = {}  # by lane

    def bucket(self, lane: str) -> TokenBucket:
        found = self._buckets.get(lane)
        if found is None:
            found = TokenBucket(self.qps, self.burst, monotonic=self._monotonic, sleep=self._sleep)
            self._buckets[lane] = found
        return found

    @property
    def lanes(self) -> list[str]:
        return sorted(self._buckets)

    async def acquire(self, lane: str) -> None:
        """Wait for a token of ``lane`` (and of the ceiling, if any)."""
        waited = await self.bucket(lane).acquire()
        if self.total is not None:
            waited += await self.total.acquire()
        self.requests[lane] = self.requests.get(lane, 0) + 1
        if waited > 0:
            self.waited[lane] = self.waited.get(lane, 0.0) + waited
            if self.on_wait is not None:
                self.on_wait(lane, waited)
