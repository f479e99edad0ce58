"""A token bucket: client-side QPS and burst limits, like client-go's ``--qps/--burst``.

:class:`TokenBucket` hands out one token per request.  The bucket holds at most
``burst`` tokens and refills at ``qps`` tokens a second; a request that finds it empty
*reserves* the next token and sleeps until it is due, so concurrent waiters are served
in arrival order without a lock (the reservation scheme of Go's ``x/time/rate``).
Time comes from two injectable callables, so tests run it on a virtual clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

__all__ = ["TokenBucket"]


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
        qps: float = 40.0,
        burst: int = 80,
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

    async def acquire(self) -> None:
        """Wait for a token.  A cancelled wait gives its reservation back."""
        delay = self.reserve()
        if delay <= 0:
            await anyio.lowlevel.checkpoint()
            return
        try:
            await self._sleep(delay)
        except BaseException:
            self._tokens = min(float(self.burst), self._tokens + 1.0)
            raise

    @property
    def tokens(self) -> float:
        """Tokens available now (negative: that many requests are already waiting)."""
        if self.unlimited:
            return math.inf
        self._refill()
        return self._tokens
