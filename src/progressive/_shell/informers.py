"""Shared list+watch caches, one per kind, trimmed to what reconcile needs.

An :class:`Informer` lists a kind once, then watches it from the list's
resourceVersion and keeps a local copy of every object, so reconciles read memory
instead of the API server.  Like client-go's reflector:

* a watch that ends (the server's ``timeoutSeconds``, a dropped connection) resumes
  from the last resourceVersion seen, with no new list;
* bookmarks move that resourceVersion on while nothing changes, so a resumed watch
  rarely starts from one the server has forgotten;
* a 410 Gone (the resourceVersion is older than what the server keeps) lists again; the
  differences between the old and the new list are reported as changes, so nothing
  that happened in between is missed;
* failures reconnect after a bounded, jittered exponential backoff.

Objects are stored *trimmed*: :data:`TRIMS` drops what the shell never reads (a
ReplicaSet's pod template, ``managedFields``, kubectl's last-applied annotation), which
is most of a large cluster's memory; and *packed*: each is kept as its ``marshal``
bytes (with its resourceVersion and owner uids beside), a quarter of the memory of the
dicts it decodes to.  A read decodes a fresh copy, which it needed anyway (readers get
copies), in one C call.  Each change is reported as a :class:`Change`
(kind, namespace, name) to subscribers, typically a work queue's ``add``.

:class:`Informers` shares one informer per kind; :class:`CachedCluster` is a
:class:`~progressive._clusters.Cluster` that reads through them and writes to the
API server, and starts an informer on demand for a kind asked for with
:meth:`CachedCluster.watch_kind` (the traffic routers' objects: a TrafficSplit, a
VirtualService), so that a reconcile that changes nothing reads nothing from the server.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import marshal
import math
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final, NamedTuple, Protocol

import anyio
import anyio.abc

from .._clusters import (
    UNSERVED_RECHECK,
    Change,
    Cluster,
    OwnerIndex,
    Ref,
    Subscriber,
    copy_json,
    list_owned,
    newer_version,
    owner_uids,
)
from ..errors import Forbidden, Gone, KubeError, UnknownKind
from .kube._cluster import ListResult

__all__ = [
    "TRIMS",
    "CachedCluster",
    "Change",
    "Informer",
    "Informers",
    "ListWatch",
    "trim_default",
    "trim_pod",
    "trim_replica_set",
]

log = logging.getLogger("progressive.informers")

LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
#: Seconds before a kind that could not be cached (not served, not listable) is tried again.
RETRY_UNCACHED: Final = 300.0
_META_KEEP: Final = (
    "name",
    "namespace",
    "uid",
    "labels",
    "annotations",
    "ownerReferences",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "generateName",
    "finalizers",
)


class ListWatch(Protocol):
    """What an informer needs of a cluster (:class:`~progressive._shell.kube.KubeCluster`)."""

    async def list_with_version(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ListResult: ...

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        timeout_seconds: int = 300,
        bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]: ...


# -- trimming ----------------------------------------------------------------------------

Trim = Callable[[Mapping[str, Any]], dict[str, Any]]


def _trim_meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    out = {k: meta[k] for k in _META_KEEP if k in meta}
    annotations = out.get("annotations")
    if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
        out["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return out


def _pick(value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {k: value[k] for k in keys if k in value}


def trim_default(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Everything but ``managedFields`` and kubectl's last-applied annotation."""
    out = dict(obj)
    out["metadata"] = {
        **_trim_meta(obj),
        **{
            k: v
            for k, v in (obj.get("metadata") or {}).items()
            if k not in _META_KEEP and k != "managedFields"
        },
    }
    return out


def trim_replica_set(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the shell reads of a ReplicaSet: metadata, replicas and status counts
    (the pod template, most of its size, is dropped; its hash is a label)."""
    return {
        "apiVersion": obj.get("apiVersion", "apps/v1"),
        "kind": obj.get("kind", "ReplicaSet"),
        "metadata": _trim_meta(obj),
        "spec": _pick(obj.get("spec"), ("replicas", "minReadySeconds", "selector")),
        "status": _pick(
            obj.get("status"),
            (
                "replicas",
                "readyReplicas",
                "availableReplicas",
                "fullyLabeledReplicas",
                "observedGeneration",
            ),
        ),
    }


def trim_pod(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the shell reads of a Pod: metadata (owners, creation), phase, conditions."""
    status = obj.get("status") or {}
    conditions = [
        _pick(c, ("type", "status", "lastTransitionTime"))
        for c in status.get("conditions") or ()
        if isinstance(c, Mapping)
    ]
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", "Pod"),
        "metadata": _trim_meta(obj),
        "spec": _pick(obj.get("spec"), ("nodeName",)),
        "status": {**_pick(status, ("phase", "podIP", "startTime")), "conditions": conditions},
    }


#: The trim used for each kind (others: :func:`trim_default`).
TRIMS: Final[Mapping[str, Trim]] = {"ReplicaSet": trim_replica_set, "Pod": trim_pod}


# -- changes -----------------------------------------------------------------------------


_Key = tuple[str, str]


def _key_of(obj: Mapping[str, Any]) -> _Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class _Packed(NamedTuple):
    """An object as a cache holds it: its ``marshal`` bytes, and what the cache looks
    up without decoding them."""

    resource_version: str
    owners: tuple[str, ...]
    blob: bytes

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> _Packed:
        try:
            blob = marshal.dumps(obj)  # type: ignore[arg-type]
        except ValueError:  # a type marshal does not know (a str subclass, a Mapping...)
            blob = marshal.dumps(copy_json(obj))
        return cls(_rv(obj), owner_uids(obj), blob)

    def unpack(self) -> dict[str, Any]:
        """A fresh copy of the object."""
        obj: dict[str, Any] = marshal.loads(self.blob)
        return obj


class Informer:
    """The cache of one kind (in one namespace, or all).

    Args:
        source: lists and watches (a :class:`~progressive._shell.kube.KubeCluster`).
        namespace: None watches every namespace.
        label_selector, field_selector: watch only the objects they select.
        trim: what to keep of each object (default: :data:`TRIMS` for the kind).
        watch_timeout: seconds the server keeps one watch open before it is resumed.
        resync: re-announce every cached object this often (seconds; None: never),
            a safety net for level-triggered reconcilers.
        seed: start from this list instead of listing (its resourceVersion may be
            one the server forgot: then it lists).
        backoff_initial, backoff_max: reconnect backoff after failures.
    """

    def __init__(
        self,
        source: ListWatch,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        trim: Trim | None = None,
        watch_timeout: int = 300,
        resync: float | None = None,
        seed: ListResult | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.source = source
        self.api_version = api_version
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.trim: Trim = trim if trim is not None else TRIMS.get(kind, trim_default)
        self.watch_timeout = watch_timeout
        self.resync = resync
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._store: dict[_Key, _Packed] = {}
        self._by_owner: OwnerIndex[_Key] = OwnerIndex()
        self._subscribers: list[Subscriber] = []
        self._synced_event: anyio.Event | None = None
        self._tombstones: dict[_Key, str] = {}  # deleted keys -> the deletion's version
        self.synced = False
        self.resource_version = ""
        self._seed = seed
        # counters, for tests and metrics
        self.lists = 0
        self.watches = 0
        self.expired = 0
        self.failures = 0

    def __repr__(self) -> str:
        return f"<Informer {self.kind}.{self.api_version} in {self.namespace or 'all namespaces'}>"

    # -- reading -----------------------------------------------------------------------
    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of the cached object (cluster-scoped kinds: namespace "")."""
        packed = self._store.get((namespace, name))
        return packed.unpack() if packed is not None else None

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of the cached objects (of one namespace, or all), by namespace and name."""
        return [
            packed.unpack()
            for key, packed in sorted(self._store.items())
            if namespace is None or key[0] == namespace
        ]

    def list_owned(self, namespace: str, owner_uid: str) -> builtins.list[dict[str, Any]]:
        """Copies of the cached objects of ``namespace`` that ``owner_uid`` owns, by name
        (an index lookup, not a scan)."""
        return [
            self._store[key].unpack()
            for key in sorted(self._by_owner.owned(owner_uid))
            if key[0] == namespace
        ]

    def keys(self) -> builtins.list[_Key]:
        return sorted(self._store)

    def __len__(self) -> int:
        return len(self._store)

    async def wait_synced(self) -> None:
        """Return once the first list is in the cache."""
        if self.synced:
            return
        if self._synced_event is None:
            self._synced_event = anyio.Event()
        await self._synced_event.wait()

    # -- notifications -----------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every :class:`Change`; returns an unsubscribe function.

        Subscribers run synchronously in the informer's task: keep them quick (adding a
        key to a work queue is the intended use).
        """
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    @contextlib.asynccontextmanager
    async def changes(self, max_buffer: float = math.inf) -> AsyncIterator[AsyncIterator[Change]]:
        """``async with informer.changes() as changes: async for change in changes``."""
        send, receive = anyio.create_memory_object_stream[Change](max_buffer)
        unsubscribe = self.subscribe(send.send_nowait)
        try:
            async with receive:
                yield receive
        finally:
            unsubscribe()
            send.close()

    def _emit(self, type_: str, obj: Mapping[str, Any]) -> None:
        namespace, name = _key_of(obj)
        change = Change(self.api_version, self.kind, namespace, name, type_, obj)
        for subscriber in list(self._subscribers):
            try:
                subscriber(change)
            except Exception:
                log.exception("%r: a subscriber failed on %s", self, change)

    # -- the store ---------------------------------------------------------------------
    def _upsert(self, obj: Mapping[str, Any]) -> None:
        trimmed = self.trim(obj)
        key = _key_of(trimmed)
        packed = _Packed.of(trimmed)
        old = self._set(key, packed)
        if old is None:
            self._emit("added", trimmed)
        elif old.resource_version != packed.resource_version or old.blob != packed.blob:
            self._emit("modified", trimmed)

    def _observe(self, obj: Mapping[str, Any]) -> None:
        """A watch event's object, unless the cache holds a later version: this process
        wrote it, and the event of an earlier write arrives late.  Taken anyway, it would
        send the cache back in time, and the next reconcile would redo what it had done
        (measure again, then fail with a conflict)."""
        old = self._store.get(_key_of(obj))
        rv = _rv(obj)
        if old is not None and rv and rv != old.resource_version:
            if newer_version(old.resource_version, rv):
                return
        self._upsert(obj)

    def _remove(self, obj: Mapping[str, Any]) -> None:
        key = _key_of(obj)
        old = self._pop(key)
        rv = _rv(obj)
        if rv:
            if len(self._tombstones) >= 4096:
                self._tombstones.clear()
            self._tombstones[key] = rv
        self._emit("deleted", old if old is not None else self.trim(obj))

    def _set(self, key: _Key, packed: _Packed) -> _Packed | None:
        """Store an object (the owner index too); returns what it replaced."""
        old = self._store.get(key)
        self._store[key] = packed
        self._by_owner.move(key, old.owners if old is not None else (), packed.owners)
        return old

    def _pop(self, key: _Key) -> dict[str, Any] | None:
        """Drop ``key`` (from the owner index too); returns what was stored (or None)."""
        old = self._store.pop(key, None)
        if old is None:
            return None
        self._by_owner.move(key, old.owners, ())
        return old.unpack()

    def _replace(self, items: builtins.list[dict[str, Any]]) -> None:
        fresh = {_key_of(o): o for o in items}
        for key in [k for k in self._store if k not in fresh]:
            self._emit("deleted", self._pop(key) or {})
        for obj in fresh.values():
            self._upsert(obj)

    # -- what this process wrote ----------------------------------------------------------
    def record_write(self, obj: Mapping[str, Any]) -> None:
        """Cache an object this process just wrote, as the server returned it, unless the
        cache already holds it or something later (client-go's mutation cache): the next
        read sees the write even before its watch event arrives, and that event then
        changes nothing."""
        if self.label_selector or self.field_selector or not self.synced:
            return  # not necessarily ours to hold
        key = _key_of(obj)
        if self.namespace is not None and key[0] not in ("", self.namespace):
            return
        rv = _rv(obj)
        old = self._store.get(key)
        if not rv or (old is not None and not newer_version(rv, old.resource_version)):
            return
        gone = self._tombstones.get(key)
        if gone is not None and not newer_version(rv, gone):
            return  # deleted after this write: the watch said so first
        self._upsert(obj)

    def record_delete(self, namespace: str, name: str) -> None:
        """Drop an object this process just deleted (its watch event will follow)."""
        old = self._pop((namespace, name))
        if old is not None:
            self._emit("deleted", old)

    def _mark_synced(self) -> None:
        if not self.synced:
            self.synced = True
            if self._synced_event is not None:
                self._synced_event.set()

    # -- running -----------------------------------------------------------------------
    async def run(self) -> None:
        """List and watch until cancelled."""
        async with anyio.create_task_group() as tg:
            if self.resync:
                tg.start_soon(self._resync_loop, self.resync)
            await self._reflect()

    async def _resync_loop(self, period: float) -> None:
        while True:
            await self._sleep(period)
            for packed in list(self._store.values()):
                self._emit("resync", packed.unpack())

    def _backoff(self, failures: int) -> float:
        delay = min(self.backoff_max, self.backoff_initial * 2.0 ** min(failures - 1, 30))
        return delay * random.uniform(0.5, 1.0)  # jitter

    async def _reflect(self) -> None:
        failures = 0
        if self._seed is not None:
            self._replace(list(self._seed.items))
            self.resource_version = self._seed.resource_version
            self._seed = None
            self._mark_synced()
        while True:
            try:
                if not self.resource_version:
                    await self._list()
                if await self._watch():
                    failures = 0
                else:  # closed at once with nothing in it: do not spin
                    failures += 1
                    await self._sleep(self._backoff(failures))
            except Gone:
                self.expired += 1
                self.resource_version = ""  # too old: list again
            except UnknownKind:
                self.failures += 1
                failures += 1
                log.info("%r: not served yet; retrying", self)
                await self._sleep(min(self._backoff(failures), UNSERVED_RECHECK))
            except KubeError as exc:
                self.failures += 1
                failures += 1
                log.warning("%r: %s; reconnecting", self, exc)
                await self._sleep(self._backoff(failures))

    async def _list(self) -> None:
        result = await self.source.list_with_version(
            self.api_version,
            self.kind,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        self._replace(result.items)
        self.resource_version = result.resource_version
        self.lists += 1  # counted once in the cache
        self._mark_synced()

    async def _watch(self) -> bool:
        """One watch, from :attr:`resource_version`; True if it delivered anything."""
        self.watches += 1
        delivered = False
        started = time.monotonic()
        events = self.source.watch(
            self.api_version,
            self.kind,
            self.namespace,
            resource_version=self.resource_version,
            timeout_seconds=self.watch_timeout,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        async with contextlib.aclosing(events):
            async for event in events:
                type_ = event.get("type")
                obj = event.get("object")
                if not isinstance(obj, Mapping):
                    continue
                if type_ == "ERROR":
                    code = int(obj.get("code") or 0)
                    message = str(obj.get("message") or obj)
                    if code == 410:
                        raise Gone(f"watch {self.kind}: {message}", status=410, reason="Expired")
                    raise KubeError(
                        f"watch {self.kind}: {message}", status=code, reason=str(obj.get("reason"))
                    )
                delivered = True
                rv = _rv(obj)
                if type_ in ("ADDED", "MODIFIED"):
                    self._observe(obj)
                elif type_ == "DELETED":
                    self._remove(obj)
                if rv:
                    self.resource_version = rv
        # A watch the server closed at once, over and over, must not spin.
        return delivered or time.monotonic() - started >= min(1.0, self.watch_timeout / 2)


# -- sharing -------------------------------------------------------------------------------


class Informers:
    """One informer per (apiVersion, kind), started on demand, shared by every reader.

    Args:
        source: lists and watches.
        namespace: watch one namespace (None: all).
        options: passed to every :class:`Informer` (``watch_timeout``, ``resync``...).
    """

    def __init__(self, source: ListWatch, *, namespace: str | None = None, **options: Any) -> None:
        self.source = source
        self.namespace = namespace
        self.options = options
        self._informers: dict[tuple[str, str], Informer] = {}
        self._group: anyio.abc.TaskGroup | None = None

    def informer(
        self,
        api_version: str,
        kind: str,
        *,
        trim: Trim | None = None,
        seed: ListResult | None = None,
    ) -> Informer:
        """The informer of a kind, created (and started, if :meth:`run` is running);
        ``seed``, a list just made, spares it the first list."""
        key = (api_version, kind)
        found = self._informers.get(key)
        if found is None:
            found = Informer(
                self.source,
                api_version,
                kind,
                namespace=self.namespace,
                trim=trim,
                seed=seed,
                **self.options,
            )
            self._informers[key] = found
            if self._group is not None:
                self._group.start_soon(found.run)
        return found

    def find(self, api_version: str, kind: str) -> Informer | None:
        return self._informers.get((api_version, kind))

    @property
    def running(self) -> bool:
        """Whether :meth:`run` runs (an informer created now starts at once)."""
        return self._group is not None

    def __iter__(self) -> Any:
        return iter(list(self._informers.values()))

    async def run(self) -> None:
        """Run every informer (and those created later) until cancelled."""
        async with anyio.create_task_group() as tg:
            self._group = tg
            try:
                for informer in list(self._informers.values()):
                    tg.start_soon(informer.run)
                await anyio.sleep_forever()
            finally:
                self._group = None

    async def wait_synced(self) -> None:
        for informer in list(self._informers.values()):
            await informer.wait_synced()


class CachedCluster:
    """A :class:`~progressive._clusters.Cluster` that reads synced informers' caches
    and sends everything else (writes, kinds without an informer) to ``cluster``.

    Reads may lag the cluster by a watch event: writes that depend on what was read
    carry the read's resourceVersion and fail with ``Conflict`` if it was stale.  What
    this cluster writes is cached at once (``write_through``), so its own writes are
    never missing from the next read.
    """

    def __init__(
        self, cluster: Cluster, informers: Informers, *, write_through: bool = True
    ) -> None:
        self.cluster = cluster
        self.informers = informers
        self.write_through = write_through
        # kinds it may not list or watch, or not served: when it last tried
        self._uncached: dict[tuple[str, str], float] = {}
        self._starting: dict[tuple[str, str], anyio.Lock] = {}

    async def serves(self, api_version: str, kind: str) -> bool:
        """Whether the server serves the kind (what ``cluster`` says; True when it
        cannot tell)."""
        ask = getattr(self.cluster, "serves", None)
        return True if ask is None else bool(await ask(api_version, kind))

    async def watch_kind(self, api_version: str, kind: str) -> bool:
        """Cache ``kind`` from now on: list it once and keep an informer watching it
        (started by :meth:`Informers.run`).  True when reads of it are served from the
        cache; False when it is not served or may not be listed and watched (reads then
        go to the server, as before; tried again after :data:`RETRY_UNCACHED` seconds),
        or the list failed (tried again next time)."""
        key = (api_version, kind)
        if self._cache(api_version, kind) is not None:
            return True
        tried = self._uncached.get(key)
        if tried is not None and time.monotonic() - tried < RETRY_UNCACHED:
            return False
        lock = self._starting.setdefault(key, anyio.Lock())
        async with lock:
            if self.informers.find(api_version, kind) is None:
                try:
                    seed = await self.informers.source.list_with_version(
                        api_version, kind, self.informers.namespace
                    )
                except (UnknownKind, Forbidden) as exc:
                    log.info("not caching %s %s: %s", kind, api_version, exc)
                    self._uncached[key] = time.monotonic()
                    return False
                except KubeError as exc:
                    log.warning("could not list %s %s: %s", kind, api_version, exc)
                    return False
                informer = self.informers.informer(api_version, kind, seed=seed)
                if self.informers.running:
                    await informer.wait_synced()  # at once: the seed is its first list
        return self._cache(api_version, kind) is not None

    def _written(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.write_through and obj:
            informer = self.informers.find(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
            if informer is not None:
                informer.record_write(obj)
        return obj

    def _cache(self, api_version: str, kind: str) -> Informer | None:
        informer = self.informers.find(api_version, kind)
        return informer if informer is not None and informer.synced else None

    async def get(self, ref: Ref) -> dict[str, Any] | None:
        cache = self._cache(ref.api_version, ref.kind)
        if cache is None:
            return await self.cluster.get(ref)
        await anyio.lowlevel.checkpoint()
        found = cache.get(ref.namespace, ref.name)
        if found is None and ref.namespace:
            found = cache.get("", ref.name)  # a cluster-scoped kind
        return found

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        cache = self._cache(api_version, kind)
        if cache is None:
            return await self.cluster.list(api_version, kind, namespace)
        await anyio.lowlevel.checkpoint()
        return cache.list(namespace)

    async def list_owned(
        self, api_version: str, kind: str, namespace: str, owner_uid: str
    ) -> builtins.list[dict[str, Any]]:
        cache = self._cache(api_version, kind)
        if cache is None:
            return await list_owned(self.cluster, api_version, kind, namespace, owner_uid)
        await anyio.lowlevel.checkpoint()
        return cache.list_owned(namespace, owner_uid)

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return self._written(await self.cluster.create(obj))

    async def patch(self, ref: Ref, patch: Mapping[str, Any]) -> dict[str, Any]:
        return self._written(await self.cluster.patch(ref, patch))

    async def delete(self, ref: Ref) -> None:
        await self.cluster.delete(ref)
        informer = self.informers.find(ref.api_version, ref.kind)
        if self.write_through and informer is not None and informer.synced:
            informer.record_delete(ref.namespace, ref.name)

    async def replace_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return self._written(await self.cluster.replace_status(obj))
