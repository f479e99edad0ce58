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
"""

from __future__ import annotations

import collections
import hashlib
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from ..core._actions import EmitEvent
from ..core._times import format_time
from .clocks import Clock, WallClock
from .clusters import AlreadyExists, Cluster, ClusterError, NotFound, Ref

__all__ = ["COMPONENT", "EventRecorder", "Involved"]

log = logging.getLogger("progressive.events")

COMPONENT: Final = "progressive-controller"
_MAX_MESSAGE: Final = 1024
_MAX_NAME: Final = 253


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
        on_event: called with (type, reason) for each event recorded (metrics).
        cache_size: how many recent events' counts are remembered (beyond it, the
            count is read back from the cluster: a create that conflicts, a get and a
            patch instead of one patch).  A rollout update makes about 14 distinct
            events, so the default covers some 2,000 rollouts updating at once, in
            about 8 MB at most.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        component: str = COMPONENT,
        host: str | None = None,
        clock: Clock | None = None,
        on_event: Callable[[str, str], None] | None = None,
        cache_size: int = 32_768,
    ) -> None:
        self.cluster = cluster
        self.component = component
        self.host = host if host is not None else socket.gethostname()
        self.clock: Clock = clock if clock is not None else WallClock()
        self.on_event = on_event
        self._counts: collections.OrderedDict[tuple[str, str], int] = collections.OrderedDict()
        self._cache_size = cache_size

    def _remember(self, key: tuple[str, str], count: int) -> None:
        self._counts[key] = count
        self._counts.move_to_end(key)
        while len(self._counts) > self._cache_size:
            self._counts.popitem(last=False)

    async def record(
        self, involved: Involved | Mapping[str, Any], type_: str, reason: str, message: str
    ) -> dict[str, Any] | None:
        """Record an event; returns the Event as stored, or None if the cluster refused."""
        about = involved if isinstance(involved, Involved) else Involved.of(involved)
        message = message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."
        name = event_name(about, type_, reason, message)
        key = (about.namespace, name)
        ref = Ref("v1", "Event", about.namespace, name)
        stamp = format_time(int(self.clock.now()))
        if self.on_event is not None:
            self.on_event(type_, reason)
        try:
            known = self._counts.get(key)
            if known is not None:
                try:
                    stored = await self._bump(ref, known + 1, stamp)
                except NotFound:
                    stored = await self._create(ref, about, type_, reason, message, stamp)
            else:
                try:
                    stored = await self._create(ref, about, type_, reason, message, stamp)
                except AlreadyExists:
                    existing = await self.cluster.get(ref) or {}
                    stored = await self._bump(ref, int(existing.get("count") or 1) + 1, stamp)
        except ClusterError as exc:
            log.warning("could not record event %s %s on %s: %s", type_, reason, about.name, exc)
            return None
        self._remember(key, int(stored.get("count") or 1))
        return stored

    async def emit(self, involved: Involved | Mapping[str, Any], action: EmitEvent) -> None:
        """Carry out the core's ``EmitEvent`` action."""
        await self.record(involved, action.type, action.reason, action.message)

    async def _bump(self, ref: Ref, count: int, stamp: str) -> dict[str, Any]:
        return await self.cluster.patch(ref, {"count": count, "lastTimestamp": stamp})

    async def _create(
        self, ref: Ref, about: Involved, type_: str, reason: str, message: str, stamp: str
    ) -> dict[str, Any]:
        return await self.cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": ref.name, "namespace": ref.namespace},
                "involvedObject": about.manifest(),
                "type": type_,
                "reason": reason,
                "message": message,
                "count": 1,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "source": {"component": self.component, "host": self.host},
                "reportingComponent": self.component,
                "reportingInstance": self.host,
            }
        )
