"""Expectations: an object is never acted on again from a copy older than our own write.

The controller reads Rollouts, AnalysisRuns and Experiments through its informers' caches
(:mod:`.informers`), and what it writes is cached at once (write-through) -- except when
the answer to the write is lost: the API server stored the status, then timed out (a
loaded server; the transport's retry of the PUT then conflicts) or the answer never
came.  The cache holds the object as it was before the write until the watch brings the
new version, and a server under load sends it late.  A look at the object meanwhile (the
retry, a requeue, a resync, another change) would do again what the write recorded:
take a Rollout's step again and post its Event again, measure an AnalysisRun a second
time (a second request to a tenant's metric server, a second Job), emit an
Experiment's Events twice.

:class:`Expectations` is client-go's controller expectations applied to status writes.
Before writing over version X of an object it remembers X (a write that failed may have
landed); once the server answers with the stored version Y it remembers Y too.  A copy
at X, or older than Y, is stale: :meth:`Expectations.current` reads the object from the
API server itself instead (a GET without a resourceVersion, served from etcd), and that
copy is the one acted on.  Reading at once, rather than waiting for the watch, keeps a
lost watch event from stalling the object; it costs one GET, and only for a stale copy.

A write that got no answer at all (``Unavailable``: our client gave up waiting, 30 s by
default) may still be in the API server's hands, which works on a request for up to the
server's own ``--request-timeout`` (one minute by default): the server still holding X
says nothing yet.  Until :data:`UNANSWERED_WRITE_SECONDS` have passed, such an object is left alone
(:meth:`Expectations.current` gives None; :meth:`Expectations.retry_at` says when to look
again, and the write's watch event, should it land, brings the key back sooner).  After
that, the server still at X means the write never landed, and X is acted on again.

An entry goes when the object is deleted, or seen complete in the cache
(:meth:`Expectations.forget`, called by the controller), and the oldest go beyond
``max_entries``: memory stays bounded, and an entry forgotten early costs at most one
duplicate look, as before there were expectations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs

from .._clusters import Cluster, Ref, newer_version
from ..errors import Unavailable

__all__ = ["MAX_ENTRIES", "UNANSWERED_WRITE_SECONDS", "Expectations", "Reread"]

#: Reads an object from the API server itself (not a cache that may lag).
Reread = Callable[[Ref], Awaitable[dict[str, Any] | None]]
#: Objects remembered at most (the oldest write is forgotten first).
MAX_ENTRIES: Final = 10_000
#: Seconds after which a write that got no answer has landed or never will: the API
#: server's default ``--request-timeout`` (60 s), and a margin.
UNANSWERED_WRITE_SECONDS: Final = 75.0


@attrs.frozen
class _Written:
    uid: str
    replaced: str  # the resourceVersion written over
    stored: str  # the one the server answered with ("": no answer came back)
    undecided_until: float = 0.0  # no answer came: the write may land until then


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _uid(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


class Expectations:
    """The versions this controller's last status write of each object replaced and
    stored (see the module docstring).

    Args:
        reread: reads an object from the API server itself.
        now: the time (the controller's clock).
        max_entries: objects remembered at most.
        undecided_seconds: how long a write without an answer may still land.
    """

    def __init__(
        self,
        reread: Reread,
        now: Callable[[], float],
        *,
        max_entries: int = MAX_ENTRIES,
        undecided_seconds: float = UNANSWERED_WRITE_SECONDS,
    ) -> None:
        self.reread = reread
        self.now = now
        self.max_entries = max_entries
        self.undecided_seconds = undecided_seconds
        self._entries: dict[Ref, _Written] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def stale(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` is a copy from before our last status write of it."""
        entry = self._entries.get(Ref.of(obj))
        version = _version(obj)
        if entry is None or not version or entry.uid != _uid(obj):
            return False  # not written by us, or another object of that name
        if entry.stored:
            return newer_version(entry.stored, version)  # older than what we stored
        return not newer_version(version, entry.replaced)  # what we wrote over, or older

    async def current(self, obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """``obj``, or when it is stale the object as the API server holds it now.  None:
        deleted meanwhile, or a write of ours without an answer may still land (look
        again at :meth:`retry_at`)."""
        if not self.stale(obj):
            return obj
        ref = Ref.of(obj)
        fresh = await self.reread(ref)
        entry = self._entries.get(ref)
        if fresh is not None and entry is not None and _version(fresh) == entry.replaced:
            if entry.undecided_until > self.now():
                return None  # our write may still land: not acted on meanwhile
            self._entries.pop(ref)  # it never landed: the server's copy is current
        elif fresh is None or entry is None:
            self._entries.pop(ref, None)
        else:
            self._entries[ref] = _Written(entry.uid, entry.replaced, _version(fresh))
        return fresh

    def retry_at(self, ref: Ref) -> float | None:
        """When an object left alone by :meth:`current` is to be looked at again."""
        entry = self._entries.get(ref)
        return entry.undecided_until if entry is not None and entry.undecided_until else None

    def writing(self, obj: Mapping[str, Any]) -> None:
        """A status write over ``obj`` is about to be sent: from now on a copy at its
        version is stale, whatever the answer."""
        ref = Ref.of(obj)
        self._entries.pop(ref, None)  # to the end: the most recent write
        self._entries[ref] = _Written(_uid(obj), _version(obj), "")
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]

    def written(self, obj: Mapping[str, Any], stored: Mapping[str, Any]) -> None:
        """The status write over ``obj`` was answered: the server stored ``stored``."""
        ref = Ref.of(obj)
        entry = self._entries.get(ref)
        if entry is not None and entry.replaced == _version(obj):
            self._entries[ref] = attrs.evolve(entry, stored=_version(stored))

    def unanswered(self, obj: Mapping[str, Any]) -> None:
        """The status write over ``obj`` got no answer: it may land for a while yet."""
        ref = Ref.of(obj)
        entry = self._entries.get(ref)
        if entry is not None and entry.replaced == _version(obj):
            until = self.now() + self.undecided_seconds
            self._entries[ref] = attrs.evolve(entry, undecided_until=until)

    async def replace_status(
        self, cluster: Cluster, over: Mapping[str, Any], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write ``body``, a status write over ``over`` (the object as read: its name,
        uid and resourceVersion), recording it: :meth:`writing` before,
        :meth:`unanswered` when no answer came, :meth:`written` with the answer."""
        self.writing(over)
        try:
            stored = await cluster.replace_status(body)
        except Unavailable:
            self.unanswered(over)  # it may land yet
            raise
        self.written(over, stored)
        return stored

    def forget(self, ref: Ref) -> None:
        """Nothing more to expect of ``ref``: deleted, or complete in the cache."""
        self._entries.pop(ref, None)
