"""Kubernetes Events (``core/v1``), de-duplicated the way ``kubectl describe`` shows them.

The core asks for events with ``EmitEvent`` actions.  :class:`EventRecorder` writes
them as ``v1`` Events on the object they are about; the same event again (same object,
type, reason and message) does not make a new Event but bumps the existing one's
``count`` and ``lastTimestamp``, as client-go's event correlator does, so a Rollout
stuck in a loop shows ``(x12 over 3m)`` instead of twelve lines.

An Event's name is derived from what it says (``<object>.<hash>``), so the
de-duplication survives a controller restart: creating an Event that exists already
turns into bumping it.  Recording never raises for a cluster error: an Event is
information, and losing one must not fail a reconcile.

While :meth:`EventRecorder.run` runs (the controller starts it), :meth:`EventRecorder.post`
only queues the Event and returns: a few tasks write the queue, oldest first, with
*spare* client-side tokens (:func:`~progressive._shell.ratelimit.background`), so an
Event never delays a status or router write (client-go's broadcaster writes Events from
a goroutine of its own, too).  The same Event posted again while queued is one write
(its count goes up by the number of posts).  The queue is bounded (``buffer`` distinct
Events); what it sheds is counted, never dropped silently: ``dropped["overflow"]`` (the
queue was full), ``dropped["error"]`` (the server refused the write) and
``dropped["shutdown"]`` (still queued when the recorder stopped and could not be
written within its grace), each also passed to ``on_drop``.  Without a running
recorder (``Controller.settle``, the simulator, tests) an Event is written at once.

A write cancelled in flight (the controller stopping) goes back to the queue, and the
server may have carried it out before the reply was lost: a create written again finds
the Event it stored (its count and ``lastTimestamp``, this ``reportingInstance``) and
counts those posts once, a count patch sets the count rather than adding to it.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any, Final

import anyio
import anyio.lowlevel
import attrs

from .._clusters import Cluster, Ref
from ..core._actions import EmitEvent
from ..core._times import format_time
from ..errors import AlreadyExists, ClusterError, NotFound
from .clocks import Clock, WallClock
from .ratelimit import background

__all__ = ["COMPONENT", "EventRecorder", "Involved"]

log = logging.getLogger("progressive.events")

COMPONENT: Final = "progressive-controller"
_MAX_MESSAGE: Final = 1024
_MAX_NAME: Final = 253
_DROP_LOG_EVERY: Final = 1000  # a warning for the first Event shed, then every 1000th
#: Events written at once: one writer at a round trip per Event falls behind ten workers
#: (an update makes 14 Events per rollout); in-process, each writer gets a loop turn
#: for each worker's.
EVENT_WRITERS: Final = 8

#: Called with (reason, how many Events) when Events are shed.
DropHook = Callable[[str, int], None]


@attrs.frozen
class Involved:
    """The object an Event is about (``involvedObject``)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Involved:
        ref = Ref.of(obj)
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        return cls(ref.api_version, ref.kind, ref.namespace, ref.name, uid)

    def manifest(self) -> dict[str, Any]:
        out = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
        }
        if self.uid:
            out["uid"] = self.uid
        return out


@attrs.define
class _Pending:
    """An Event waiting in the queue: ``posts`` times since it was queued."""

    about: Involved
    type: str
    reason: str
    message: str
    first: str  # when first posted (RFC 3339)
    last: str
    posts: int = 1
    #: (count, lastTimestamp) of each create of it sent: one cut off before its reply
    #: may have been stored, and a second write must not count its posts again
    sent: list[tuple[int, str]] = attrs.Factory(list)


def event_name(involved: Involved, type_: str, reason: str, message: str) -> str:
    """``<name>.<16 hex digits>``: the same event on the same object, the same name."""
    digest = hashlib.sha256(
        "\x00".join(
            (
                involved.api_version,
                involved.kind,
                involved.name,
                involved.uid,
                type_,
                reason,
                message,
            )
        ).encode()
    ).hexdigest()[:16]
    return f"{involved.name[: _MAX_NAME - 17]}.{digest}"


class EventRecorder:
    """Writes Events into ``cluster``.

    Args:
        component: ``source.component`` / ``reportingComponent``.
        host: ``source.host`` (this Pod's name, say).
        clock: where timestamps come from.
        on_event: called with (type, reason) for each event posted or recorded (metrics).
        on_drop: called with (reason, count) when Events are shed (metrics).
        on_request: called once per API request the recorder makes (metrics).
        cache_size: how many recent events' counts are remembered (beyond it, the
            count is read back from the cluster: a create that conflicts, a get and a
            patch instead of one patch).  A rollout update makes about 14 distinct
            events, so the default covers some 2,000 rollouts updating at once, in
            about 8 MB at most.
        buffer: how many distinct Events may wait in the queue (about 1 KB each).
        writers: Events written at once by :meth:`run` (each a request in flight;
            their tokens are spare ones, so more writers never take a token a
            status or router write waits for).
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        component: str = COMPONENT,
        host: str | None = None,
        clock: Clock | None = None,
        on_event: Callable[[str, str], None] | None = None,
        on_drop: DropHook | None = None,
        on_request: Callable[[], None] | None = None,
        cache_size: int = 32_768,
        buffer: int = 4096,
        writers: int = EVENT_WRITERS,
    ) -> None:
        self.cluster = cluster
        self.component = component
        self.host = host if host is not None else socket.gethostname()
        self.clock: Clock = clock if clock is not None else WallClock()
        self.on_event = on_event
        self.on_drop = on_drop
        self.on_request = on_request
        self._counts: collections.OrderedDict[tuple[str, str], int] = collections.OrderedDict()
        self._cache_size = cache_size
        self.buffer = max(1, buffer)
        self.writers = max(1, writers)
        self._writing: set[tuple[str, str]] = set()
        self._queue: collections.OrderedDict[tuple[str, str], _Pending] = collections.OrderedDict()
        self._idle: collections.deque[anyio.Event] = collections.deque()  # writers waiting
        self._running = False
        self.dropped: collections.Counter[str] = collections.Counter()
        self.merged = 0  # posts that joined an Event already queued
        self.requests = 0

    @property
    def running(self) -> bool:
        """Whether :meth:`run` writes the Events posted (else they are written at once)."""
        return self._running

    @property
    def queued(self) -> int:
        """Distinct Events waiting to be written."""
        return len(self._queue)

    def _remember(self, key: tuple[str, str], count: int) -> None:
        self._counts[key] = count
        self._counts.move_to_end(key)
        while len(self._counts) > self._cache_size:
            self._counts.popitem(last=False)

    def _pending(
        self, involved: Involved | Mapping[str, Any], type_: str, reason: str, message: str
    ) -> _Pending:
        about = involved if isinstance(involved, Involved) else Involved.of(involved)
        message = message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."
        stamp = format_time(int(self.clock.now()))
        if self.on_event is not None:
            self.on_event(type_, reason)
        return _Pending(about, type_, reason, message, stamp, stamp)

    async def record(
        self, involved: Involved | Mapping[str, Any], type_: str, reason: str, message: str
    ) -> dict[str, Any] | None:
        """Write an event now; returns the Event as stored, or None if the cluster
        refused (counted in ``dropped["error"]``)."""
        return await self._write(self._pending(involved, type_, reason, message))

    async def post(
        self, involved: Involved | Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        """Queue an event for :meth:`run` to write (at once, when it is not running)."""
        pending = self._pending(involved, type_, reason, message)
        if not self._running:
            await self._write(pending)
            return
        key = (pending.about.namespace, event_name(*self._identity(pending)))
        queued = self._queue.get(key)
        if queued is not None:
            queued.posts += 1
            queued.last = pending.last
            self.merged += 1
        elif len(self._queue) >= self.buffer:
            self._drop("overflow", 1)
        else:
            self._queue[key] = pending
            if self._idle:
                self._idle.popleft().set()  # one writer, not all of them
        await anyio.lowlevel.checkpoint()

    async def emit(self, involved: Involved | Mapping[str, Any], action: EmitEvent) -> None:
        """Carry out the core's ``EmitEvent`` action."""
        await self.post(involved, action.type, action.reason, action.message)

    # -- the queue ------------------------------------------------------------------------
    async def run(self) -> None:
        """Write the queued Events, oldest first, ``writers`` at a time (one Event by
        one writer at a time), with spare tokens only, until cancelled; what is still
        queued then is written by :meth:`close`."""
        if self._running:
            raise RuntimeError("this EventRecorder is running already")
        self._running = True
        try:
            with background():
                async with anyio.create_task_group() as tg:
                    for _ in range(self.writers):
                        tg.start_soon(self._writer)
        finally:
            self._running = False
            self._idle.clear()

    async def _writer(self) -> None:
        while True:
            key = next((k for k in self._queue if k not in self._writing), None)
            if key is None:
                wakeup = anyio.Event()
                self._idle.append(wakeup)
                await wakeup.wait()
                continue
            await self._write_key(key)

    async def close(self, grace: float = 2.0) -> None:
        """Write what is queued (at once, without waiting for spare tokens) for at
        most ``grace`` seconds, even in a cancelled scope; the rest is shed
        (``dropped["shutdown"]``)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(grace):
            while self._queue:
                await self._write_key(next(iter(self._queue)))
        if self._queue:
            self._drop("shutdown", sum(p.posts for p in self._queue.values()))
            self._queue.clear()

    async def _write_key(self, key: tuple[str, str]) -> None:
        """Write the queued Event ``key``; cancelled meanwhile, it stays queued."""
        pending = self._queue.pop(key)
        self._writing.add(key)
        try:
            await self._write(pending)
        except BaseException:
            newer = self._queue.pop(key, None)
            if newer is not None:  # posted again meanwhile: one Event, both counts
                pending.posts += newer.posts
                pending.last = newer.last
            self._queue[key] = pending
            self._queue.move_to_end(key, last=False)
            raise
        finally:
            self._writing.discard(key)

    def _drop(self, reason: str, count: int) -> None:
        before = sum(self.dropped.values())
        self.dropped[reason] += count
        if before // _DROP_LOG_EVERY != (before + count) // _DROP_LOG_EVERY or not before:
            log.warning(
                "Events shed so far: %s (%s now: %d)",
                dict(self.dropped),
                reason,
                count,
            )
        if self.on_drop is not None:
            self.on_drop(reason, count)

    # -- writing ----------------------------------------------------------------------------
    @staticmethod
    def _identity(p: _Pending) -> tuple[Involved, str, str, str]:
        return p.about, p.type, p.reason, p.message

    async def _write(self, p: _Pending) -> dict[str, Any] | None:
        about = p.about
        name = event_name(*self._identity(p))
        key = (about.namespace, name)
        ref = Ref("v1", "Event", about.namespace, name)
        try:
            known = self._counts.get(key)
            if known is not None:
                try:  # the count is set, not added to: a patch repeated stores the same
                    stored = await self._bump(ref, known + p.posts, p.last)
                except NotFound:
                    self._counts.pop(key)  # expired: what a repeat finds is the create's
                    stored = await self._create(ref, p)
            else:
                try:
                    stored = await self._create(ref, p)
                except AlreadyExists:
                    self._requested()
                    existing = await self.cluster.get(ref) or {}
                    count = int(existing.get("count") or 1) + p.posts - self._landed(p, existing)
                    stored = existing
                    if count != stored.get("count"):
                        stored = await self._bump(ref, count, p.last)
        except ClusterError as exc:
            log.warning("could not record event %s %s on %s: %s", p.type, p.reason, about.name, exc)
            self._drop("error", p.posts)
            return None
        self._remember(key, int(stored.get("count") or 1))
        return stored

    def _landed(self, p: _Pending, existing: Mapping[str, Any]) -> int:
        """The posts ``existing`` holds already: those of a create of ``p`` cut off
        before its reply, when ``existing`` is what that create stored."""
        count, stamp = int(existing.get("count") or 1), existing.get("lastTimestamp")
        ours = existing.get("reportingInstance") == self.host and (count, stamp) in p.sent
        return count if ours else 0

    def _requested(self) -> None:
        self.requests += 1
        if self.on_request is not None:
            self.on_request()

    async def _bump(self, ref: Ref, count: int, stamp: str) -> dict[str, Any]:
        self._requested()
        return await self.cluster.patch(ref, {"count": count, "lastTimestamp": stamp})

    async def _create(self, ref: Ref, p: _Pending) -> dict[str, Any]:
        self._requested()
        p.sent.append((p.posts, p.last))
        return await self.cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": ref.name, "namespace": ref.namespace},
                "involvedObject": p.about.manifest(),
                "type": p.type,
                "reason": p.reason,
                "message": p.message,
                "count": p.posts,
                "firstTimestamp": p.first,
                "lastTimestamp": p.last,
                "source": {"component": self.component, "host": self.host},
                "reportingComponent": self.component,
                "reportingInstance": self.host,
            }
        )
