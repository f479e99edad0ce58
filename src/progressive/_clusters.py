"""The one interface everything talks to a cluster through: the shell, the metric
providers (a Job, a Secret), the client and the CLI.  It holds no I/O and sits below
all of them, just above the core (the layers are in ``docs/architecture.md``).

A :class:`Cluster` stores plain-dict Kubernetes objects keyed by apiVersion, kind,
namespace and name (a :class:`Ref`).  Writes use optimistic concurrency the way the
API server does: ``metadata.resourceVersion`` in a write must match the stored one or
the write fails with :class:`Conflict`.  ``progressive.memory.MemoryCluster`` is the
in-memory implementation, :class:`~progressive._shell.kube.KubeCluster` the one on a
real API server.

A cluster may also tell who wants to know what changed in it: a :class:`Watchable`
calls its subscribers with a :class:`Change` for every object stored or deleted (the
in-memory cluster does; on a real server the informers of
:mod:`progressive._shell.informers` do), which is what feeds the controller's work queue.

And it may index what it holds by owner (an :class:`OwnerIndexed` cluster: the in-memory
cluster and the informers' caches are): :func:`list_owned` finds a Rollout's
ReplicaSets and runs without reading every object of the namespace, which is what keeps
a reconcile's cost flat as the Rollouts in a namespace grow.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, Protocol, TypeVar

import attrs

from .core._bounds import check_bounds
from .core._commands import merge_patch

__all__ = [
    "Change",
    "Cluster",
    "OwnerIndex",
    "OwnerIndexed",
    "Ref",
    "Subscriber",
    "UNSERVED_RECHECK",
    "Watchable",
    "copy_json",
    "copy_json_body",
    "copy_to_write",
    "list_owned",
    "merge_patch",
    "newer_version",
    "owned_by",
    "owner_reference",
    "owner_uids",
    "snapshot",
]

#: Seconds between two looks at a kind the server does not serve (its CRD may be
#: installed meanwhile): discovery asks again, the informers list again, the Rollouts
#: that need it are reconciled again, at most this often.
UNSERVED_RECHECK: Final = 5.0

# Kinds that live outside namespaces (their Ref has namespace "").
CLUSTER_SCOPED: Final = frozenset({"ClusterAnalysisTemplate", "Namespace", "Node"})


@attrs.frozen
class Ref:
    """Where an object lives: ``namespace`` is "" for cluster-scoped kinds."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Ref:
        """The Ref of a manifest; a namespaced kind without a namespace is in ``default``."""
        meta = obj.get("metadata") or {}
        kind = str(obj.get("kind", ""))
        default_ns = "" if kind in CLUSTER_SCOPED else "default"
        return cls(
            str(obj.get("apiVersion", "")),
            kind,
            str(meta.get("namespace") or default_ns),
            str(meta.get("name", "")),
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class Cluster(Protocol):
    """Async access to plain-dict Kubernetes objects.

    Every method returns copies: changing a returned dict never changes the cluster.
    A write of a value that contains itself raises :class:`ValueError` naming the
    field (:func:`copy_to_write`), before anything is stored or sent.
    """

    async def get(self, ref: Ref) -> dict[str, Any] | None:
        """The object, or None when there is none."""
        ...

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Every object of a kind, in one namespace or (None) in all, ordered by name."""
        ...

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store a new object (``metadata.generateName`` is honoured).

        Raises:
            AlreadyExists: an object with that Ref exists.
        """
        ...

    async def patch(self, ref: Ref, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a JSON merge patch (RFC 7386) to the object and return the result.

        A ``metadata.resourceVersion`` in the patch is a precondition.

        Raises:
            NotFound: no such object.
            Conflict: the precondition failed.
        """
        ...

    async def delete(self, ref: Ref) -> None:
        """Delete the object and, like Kubernetes' garbage collector, what it owns.

        Raises:
            NotFound: no such object.
        """
        ...

    async def replace_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the ``status`` of ``obj`` (the rest of ``obj`` is ignored).

        Raises:
            NotFound: no such object.
            Conflict: ``obj``'s ``metadata.resourceVersion`` is set and stale.
        """
        ...


@attrs.frozen
class Change:
    """An object was added, modified or deleted (or is re-announced by a resync)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    type: str  # "added" | "modified" | "deleted" | "resync"
    obj: Mapping[str, Any] = attrs.field(eq=False, repr=False, factory=dict)

    @property
    def key(self) -> str:
        """``namespace/name`` (``name`` for cluster-scoped objects): a work-queue key."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


#: Called with every :class:`Change`, synchronously: keep it quick (add a key to a queue).
#: ``change.obj`` is the object as stored: read it, never change it.
Subscriber = Callable[[Change], None]


class Watchable(Protocol):
    """A cluster that reports its changes (``progressive.memory.MemoryCluster``)."""

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every change from now on; returns the unsubscribe."""
        ...


class OwnerIndexed(Protocol):
    """A cluster that finds what an object owns by an index."""

    async def list_owned(
        self, api_version: str, kind: str, namespace: str, owner_uid: str
    ) -> list[dict[str, Any]]:
        """The objects of a kind in ``namespace`` listing ``owner_uid`` among their
        ownerReferences, ordered by name (copies)."""
        ...


async def list_owned(
    cluster: Cluster, api_version: str, kind: str, namespace: str, owner_uid: str
) -> list[dict[str, Any]]:
    """What ``owner_uid`` owns of a kind in ``namespace``, ordered by name: through the
    cluster's owner index when it has one (:class:`OwnerIndexed`), else a filtered list."""
    indexed = getattr(cluster, "list_owned", None)
    if indexed is not None:
        found: list[dict[str, Any]] = await indexed(api_version, kind, namespace, owner_uid)
        return found
    return [o for o in await cluster.list(api_version, kind, namespace) if owned_by(o, owner_uid)]


def newer_version(rv: str, than: str) -> bool:
    """Whether resourceVersion ``rv`` is later than ``than`` (etcd revisions are
    integers; anything else only counts as newer when it differs)."""
    if rv.isdigit() and than.isdigit():
        return int(rv) > int(than)
    return rv != than


def owner_reference(
    api_version: str, kind: str, name: str, uid: str, *, controller: bool = True
) -> dict[str, Any]:
    """An ``ownerReferences`` item naming the owner (``controller``: whether it is the
    one that manages the object), with ``blockOwnerDeletion``."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def owner_uids(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The uids ``obj``'s ownerReferences name, in order."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return tuple(str(r["uid"]) for r in refs if isinstance(r, Mapping) and r.get("uid"))


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    """Whether ``obj`` lists ``uid`` among its ownerReferences."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return any(isinstance(r, Mapping) and r.get("uid") == uid for r in refs)


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-like data: mappings become dicts, lists and tuples lists,
    anything else is shared (several times faster than ``copy.deepcopy``)."""
    if isinstance(value, Mapping):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_json(v) for v in value]
    return value


def copy_json_body(value: Any) -> Any:
    """:func:`copy_json` with every key a string, as a JSON request body needs (a key a
    YAML file wrote as ``1`` or ``true`` is sent as ``"1"``, ``"True"``)."""
    if isinstance(value, Mapping):
        return {str(k): copy_json_body(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_json_body(v) for v in value]
    return value


def copy_to_write(value: Any, what: str, copy: Callable[[Any], Any] = copy_json) -> Any:
    """``copy(value)`` of a body a caller asked to write, or a clear error.

    A caller's own dict may contain itself or be nested without end; copying it would
    recurse until Python gives up.  That is refused with a :class:`ValueError` that
    names the field, as :func:`~progressive.core._bounds.check_bounds` words it for a
    manifest (the check runs only then: an ordinary body costs nothing more).
    """
    try:
        return copy(value)
    except RecursionError:
        unfit = check_bounds(value)
        raise ValueError(f"{what}: {unfit or 'the value is nested too deeply'}") from None


def snapshot(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of an object a cache holds: plain dicts, lists and scalars (as
    decoded from JSON or made by :func:`copy_json`), which ``marshal`` copies in C,
    about twice as fast as :func:`copy_json`; anything else falls back to it."""
    try:
        copied: dict[str, Any] = marshal.loads(marshal.dumps(obj))  # type: ignore[arg-type]
    except ValueError:  # a type marshal does not know (a str subclass, a Mapping...)
        copied = copy_json(obj)
    return copied


_K = TypeVar("_K")


class OwnerIndex(Generic[_K]):
    """Which stored keys each owner uid owns (by the objects' ownerReferences), kept up
    to date on every store and delete: what :func:`list_owned` reads instead of a scan."""

    def __init__(self) -> None:
        self._owned: dict[str, dict[_K, None]] = {}  # insertion-ordered sets

    def update(self, key: _K, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        """``key`` changed from ``old`` to ``new`` (None: absent)."""
        before = owner_uids(old) if old is not None else ()
        after = owner_uids(new) if new is not None else ()
        self.move(key, before, after)

    def move(self, key: _K, before: tuple[str, ...], after: tuple[str, ...]) -> None:
        """``key``'s owner uids changed from ``before`` to ``after``."""
        if before == after:
            return
        for uid in before:
            owned = self._owned.get(uid)
            if owned is not None:
                owned.pop(key, None)
                if not owned:
                    del self._owned[uid]
        for uid in after:
            self._owned.setdefault(uid, {})[key] = None

    def owned(self, uid: str) -> list[_K]:
        """The keys ``uid`` owns, in the order they came to be owned."""
        return list(self._owned.get(uid, ()))
