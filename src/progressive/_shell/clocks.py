"""Clocks: the only source of ``now`` in the shell.

The core never reads a clock (``now`` is a field of ``Observed``); the shell reads one
of these.  :class:`VirtualClock` jumps instantly, so simulations and tests cover days of
rollout in milliseconds; :class:`WallClock` is real time.
"""

from __future__ import annotations

import time
from typing import Final, Protocol

import anyio
import anyio.lowlevel

__all__ = ["DEFAULT_EPOCH", "Clock", "VirtualClock", "WallClock"]

# 2023-11-14T22:13:20Z: a virtual clock starts here rather than at 0, so that no
# timestamp is mistaken for "unset".
DEFAULT_EPOCH: Final = 1_700_000_000.0


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep_until(self, t: float) -> None:
        """Return once ``now() >= t`` (at once when ``t`` is past)."""
        ...


class VirtualClock:
    """A clock that only moves when told to; sleeping jumps straight to the deadline."""

    def __init__(self, start: float = DEFAULT_EPOCH) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot go back in time ({seconds}s)")
        self._now += seconds

    async def sleep_until(self, t: float) -> None:
        self._now = max(self._now, float(t))
        await anyio.lowlevel.checkpoint()


class WallClock:
    """The real clock: ``time.time()``, and sleeping for real."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, t: float) -> None:
        await anyio.sleep(max(0.0, t - time.time()))
