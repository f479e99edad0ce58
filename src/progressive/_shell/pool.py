"""A bounded pool of workers, fair across groups: where the controller measures analyses.

Measuring means waiting on somebody else's server (a Prometheus, a tenant's web
endpoint), so :meth:`Controller.run <progressive._shell.controller.Controller.run>`
does not measure on the workers that reconcile Rollouts: those hand every AnalysisRun
key to a :class:`FairPool` and go on (Argo Rollouts too runs analyses on workers of
their own).  The pool handles the keys with at most ``workers`` handlers at once and at
most ``per_group`` of them on one group's keys (a namespace's), taking the groups in
turn, so a namespace whose metrics are slow holds a few workers at most and never
delays another namespace's measurements, nor anybody's steps.

A key waits in the pool while it is still "being handled" for its work queue: the
queue keeps giving it to one handler at a time and remembers changes that arrive
meanwhile, as for any other key.  ``Controller.settle`` (virtual time) has no pool: it
measures in its passes, in their fixed order, so simulations stay deterministic.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio

__all__ = ["FairPool"]

K = TypeVar("K", bound=Hashable)


class FairPool(Generic[K]):
    """Handles submitted keys, ``workers`` at once, ``per_group`` at once per group.

    Args:
        group: the group of a key (the controller's: its namespace).
        workers: keys handled at once, in all.
        per_group: keys of one group handled at once (at most ``workers``).
    """

    def __init__(self, group: Callable[[K], str], *, workers: int, per_group: int) -> None:
        if workers < 1 or per_group < 1:
            raise ValueError(
                f"workers and per_group must be at least 1, got {workers} and {per_group}"
            )
        self.group = group
        self.workers = workers
        self.per_group = min(per_group, workers)
        # the groups with keys waiting, in the order they get their next turn
        self._waiting: dict[str, collections.deque[K]] = {}
        self._busy: collections.Counter[str] = collections.Counter()
        self._changed: anyio.Event | None = None  # made in run(), inside the event loop
        self._closed = False

    @property
    def waiting(self) -> int:
        """Keys submitted and not yet being handled."""
        return sum(len(keys) for keys in self._waiting.values())

    @property
    def busy(self) -> int:
        """Keys being handled now."""
        return sum(self._busy.values())

    def submit(self, key: K) -> None:
        """Handle ``key`` when a worker is free and its group has a turn (never blocks)."""
        self._waiting.setdefault(self.group(key), collections.deque()).append(key)
        self._wake()

    def close(self) -> None:
        """Take no more keys: :meth:`run` returns once the keys being handled are done;
        those still waiting are dropped (their work queue is shutting down too)."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _take(self) -> K | None:
        """The next key by turns: the first group with a key waiting and a free slot."""
        for name, keys in self._waiting.items():
            if self._busy[name] < self.per_group:
                key = keys.popleft()
                del self._waiting[name]
                if keys:
                    self._waiting[name] = keys  # to the back: the others go first
                self._busy[name] += 1
                return key
        return None

    async def run(self, handle: Callable[[K], Awaitable[object]]) -> None:
        """Handle keys with ``handle`` until :meth:`close` (or cancellation)."""
        self._changed = anyio.Event()
        async with anyio.create_task_group() as tg:
            for _ in range(self.workers):
                tg.start_soon(self._worker, handle)

    async def _worker(self, handle: Callable[[K], Awaitable[object]]) -> None:
        while not self._closed:
            key = self._take()
            if key is None:
                if self._changed is None or self._changed.is_set():
                    self._changed = anyio.Event()
                await self._changed.wait()
                continue
            name = self.group(key)
            try:
                await handle(key)
            finally:
                self._busy[name] -= 1
                if not self._busy[name]:
                    del self._busy[name]
                self._wake()  # a slot is free: a waiting key of this group may go
