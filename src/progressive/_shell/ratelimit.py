"""Token buckets: client-side QPS and burst limits, like client-go's ``--qps/--burst``.

:class:`TokenBucket` hands out one token per request.  The bucket holds at most
``burst`` tokens and refills at ``qps`` tokens a second; a request that finds it empty
*reserves* the next token and sleeps until it is due, so concurrent waiters are served
in arrival order without a lock (the reservation scheme of Go's ``x/time/rate``).
Time comes from two injectable callables, so tests run it on a virtual clock.

Requests made inside :func:`background` (the Event recorder's) take *spare* tokens
only: a token that is there now with no request waiting for one.  They never queue
ahead of, nor delay by more than one token, a request that is not in the background.

:class:`Limiter` keeps one bucket per *lane*, each with the same ``qps``/``burst``, as
client-go gives each clientset (Argo Rollouts' controller has one for Kubernetes' own
groups, one for argoproj.io, one for SMI, a dynamic one...) its own bucket; and,
optionally, a ceiling over all lanes together.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Final

import anyio
import anyio.lowlevel

__all__ = ["DEFAULT_BURST", "DEFAULT_QPS", "Limiter", "TokenBucket", "background"]

#: Requests a second of one lane, and how many may go at once above that: client-go's
#: ``--qps/--burst`` as Argo Rollouts' controller sets them for each of its clientsets.
DEFAULT_QPS: Final = 40.0
DEFAULT_BURST: Final = 80

_BACKGROUND: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "progressive_background_requests", default=False
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


class TokenBucket:
    """At most ``burst`` requests at once, ``qps`` a second on average.

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

    @property
    def unlimited(self) -> bool:
        return self.qps <= 0 or math.isinf(self.qps)

    def _refill(self) -> float:
        now = self._monotonic()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
        return now

    def reserve(self) -> float:
        """Take a token now and return how many seconds to wait before using it."""
        if self.unlimited:
            return 0.0
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def try_acquire(self) -> bool:
        """Take a token only if one is available now."""
        if self.unlimited:
            return True
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> float:
        """Wait for a token (a spare one, in :func:`background`); returns the seconds
        waited.  A cancelled wait gives its reservation back."""
        if in_background():
            return await self._acquire_spare()
        delay = self.reserve()
        if delay <= 0:
            await anyio.lowlevel.checkpoint()
            return 0.0
        try:
            await self._sleep(delay)
        except BaseException:
            self._tokens = min(float(self.burst), self._tokens + 1.0)
            raise
        return delay

    async def _acquire_spare(self) -> float:
        """Take a token only when one is there and no request waits for it (a waiting
        request holds a reservation: the count is below one)."""
        waited = 0.0
        while not self.try_acquire():
            # the reservations ahead are served first, then one more token
            delay = (1.0 - self._tokens) / self.qps
            await self._sleep(delay)
            waited += delay
        await anyio.lowlevel.checkpoint()
        return waited

    @property
    def tokens(self) -> float:
        """Tokens available now (negative: that many requests are already waiting)."""
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
