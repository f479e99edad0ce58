"""An in-memory cluster with a pod simulator, for tests, ``simulate`` and ``demo``.

:class:`MemoryCluster` implements :class:`~progressive._clusters.Cluster` over
plain dicts: resourceVersions, uids, generations, ownerReferences with cascading
deletes.  ReplicaSets behave as on a real cluster, minus the scheduler: each one's
``spec.replicas`` becomes Pods that turn Ready ``pod_ready_seconds`` after they are
created and Available ``spec.minReadySeconds`` later; scaling down removes the newest
pods first, and ``status.replicas/readyReplicas/availableReplicas`` follow the pods.
Time comes from a :class:`~progressive._shell.clocks.Clock`; :meth:`next_event_at`
tells a virtual-clock loop when a pod will next change, so it can jump there.

Jobs (``batch/v1``) run without pods: a Job finishes ``job_seconds`` after it is
created (``sim.progressive.dev/job-seconds: "30"`` on the Job or its pod template
overrides it) and succeeds, unless ``sim.progressive.dev/job-result: Failed`` says
otherwise; its status then reads as a real one (``succeeded``/``failed``, a ``Complete``
or ``Failed`` condition, ``startTime``, ``completionTime``).  ``job-result:
ErrImagePull`` (or ``ImagePullBackOff``, ``InvalidImageName``) stands for an image that
cannot be pulled: the Job gets one Pod whose first container waits with that reason,
and it never finishes, as on a real cluster.

Change notifications (:meth:`MemoryCluster.subscribe`): every object stored or deleted,
the simulator's pods and statuses included, is reported as a
:class:`~progressive._clusters.Change`, as a real cluster's watches report it.
The simulator moves lazily, on the next read or write; :meth:`MemoryCluster.catch_up`
brings it to the clock's ``now`` (and so reports the pods that became ready meanwhile).

Crash injection (:meth:`MemoryCluster.crash_after_actions`) stores a write and then
raises :class:`SimulatedCrash`, which stands for the controller process dying.
"""

from __future__ import annotations

import builtins
import heapq
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

import anyio.lowlevel

from ._clusters import (
    Change,
    OwnerIndex,
    Ref,
    Subscriber,
    copy_json,
    copy_to_write,
    merge_patch,
    owner_reference,
    snapshot,
)
from ._shell.clocks import Clock, VirtualClock
from .core._names import IMAGE_PULL_FAILURES
from .core._times import format_time, parse_time
from .errors import AlreadyExists, Conflict, NotFound

__all__ = ["JOB_RESULT", "JOB_SECONDS", "MemoryCluster", "SimulatedCrash"]

log = logging.getLogger("progressive.memory")

_READY_AT: Final = "sim.progressive.dev/ready-at"
#: Job annotations (on the Job or its pod template) read by the Job simulator.
JOB_SECONDS: Final = "sim.progressive.dev/job-seconds"
#: Complete (default) | Failed | one of IMAGE_PULL_FAILURES
JOB_RESULT: Final = "sim.progressive.dev/job-result"

_JOB_FINISH_AT: Final = "sim.progressive.dev/finish-at"
_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_DUMP_VERSION: Final = 1

_Kind = tuple[str, str]  # (apiVersion, kind)
_Key = tuple[str, str]  # (namespace, name)


class SimulatedCrash(BaseException):
    """The controller "died" right after a write was stored.

    A ``BaseException``, like ``KeyboardInterrupt``: the controller's per-Rollout error
    handling (which catches ``Exception``) must not swallow a process death.
    """


class MemoryCluster:
    """A :class:`~progressive._clusters.Cluster` held in memory.

    Args:
        clock: where creation times and pod readiness come from (a fresh
            :class:`VirtualClock` by default; share it with the controller).
        pod_ready_seconds: how long a new Pod takes to become Ready.
        job_seconds: how long a Job runs (unless its annotation says otherwise).
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        pod_ready_seconds: float = 2.0,
        job_seconds: float = 5.0,
    ) -> None:
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.pod_ready_seconds = pod_ready_seconds
        self.job_seconds = job_seconds
        self._store: dict[_Kind, dict[_Key, dict[str, Any]]] = {}
        self._resource_version = 0
        self._serial = 0
        self._writes = 0
        self._crash_at: int | None = None
        self._subscribers: list[Subscriber] = []
        self._owned: OwnerIndex[Ref] = OwnerIndex()  # cascading deletes, list_owned
        # the simulator's work: ReplicaSets and Jobs to look at on the next move, and
        # when to look at one again (a pod turning Ready or Available, a Job finishing)
        self._dirty: dict[Ref, None] = {}
        self._timers: list[tuple[float, int, Ref]] = []
        self._timer_serial = 0
        self._moving = False  # the simulator is writing

    # -- change notifications ----------------------------------------------------------
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with a :class:`~progressive._clusters.Change` for
        every object stored or deleted from now on; returns the unsubscribe function.

        It runs synchronously, inside the write: keep it quick, and do not change
        ``change.obj`` (the stored object itself).
        """
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def catch_up(self) -> None:
        """Bring the simulated pods and Jobs up to ``clock.now()`` (reads do it too),
        notifying subscribers of what changed."""
        self._simulate()

    def _notify(self, type_: str, ref: Ref, obj: Mapping[str, Any]) -> None:
        change = Change(ref.api_version, ref.kind, ref.namespace, ref.name, type_, obj)
        for subscriber in list(self._subscribers):
            try:
                subscriber(change)
            except Exception:
                log.exception("a subscriber failed on %s", change)

    # -- test and simulation helpers ---------------------------------------------------
    @property
    def writes(self) -> int:
        """How many writes (create, patch, delete, replace_status) have been stored."""
        return self._writes

    def crash_after_actions(self, n: int) -> None:
        """Make the ``n``-th write from now raise :class:`SimulatedCrash` once stored."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self._crash_at = self._writes + n

    def objects(self, api_version: str, kind: str) -> list[dict[str, Any]]:
        """Every stored object of a kind (copies), without advancing the simulation."""
        return [snapshot(o) for _, o in sorted(self._store.get((api_version, kind), {}).items())]

    def pods_of(self, replica_set: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [snapshot(p) for p in self._pods_of(replica_set["metadata"]["uid"])]

    # -- persistence ---------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """Everything the cluster holds, as JSON-ready data: :meth:`load` reads it back.

        The objects, the counters behind resourceVersions, uids and generated names, the
        simulator's settings and the clock's ``now`` (so a loaded cluster goes on from
        the same moment).  Crash injection and the write count are not kept.
        """
        return {
            "version": _DUMP_VERSION,
            "now": self.clock.now(),
            "podReadySeconds": self.pod_ready_seconds,
            "jobSeconds": self.job_seconds,
            "resourceVersion": self._resource_version,
            "serial": self._serial,
            "objects": [
                copy_json(obj)
                for _, bucket in sorted(self._store.items())
                for _, obj in sorted(bucket.items())
            ],
        }

    @classmethod
    def load(cls, data: Mapping[str, Any], clock: Clock | None = None) -> MemoryCluster:
        """A cluster holding what :meth:`dump` returned.

        Args:
            data: what :meth:`dump` returned (possibly through JSON).
            clock: the new cluster's clock; by default a :class:`VirtualClock` at the
                dumped ``now``.

        Raises:
            ValueError: ``data`` is not a dump of this version.
        """
        if not isinstance(data, Mapping) or data.get("version") != _DUMP_VERSION:
            raise ValueError(f"not a MemoryCluster dump (version {_DUMP_VERSION})")
        try:
            now = float(data["now"])
            cluster = cls(
                clock if clock is not None else VirtualClock(now),
                pod_ready_seconds=float(data["podReadySeconds"]),
                job_seconds=float(data["jobSeconds"]),
            )
            cluster._resource_version = int(data["resourceVersion"])
            cluster._serial = int(data["serial"])
            objects = data["objects"]
            if not isinstance(objects, list):
                raise TypeError("objects must be a list")
            for obj in objects:
                ref = Ref.of(obj)
                stored = _copy(obj)
                cluster._bucket(ref)[(ref.namespace, ref.name)] = stored
                cluster._index(ref, None, stored)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a MemoryCluster dump: {exc}") from None
        cluster._simulate()  # the simulator's timers (nobody is subscribed yet)
        return cluster

    def next_event_at(self) -> float | None:
        """When a pod next becomes Ready or Available, or a Job finishes (None: never).

        A time already reached is returned as now until a move (:meth:`catch_up`, or
        any read) has handled it: a caller that asks late (a loaded machine, a wall
        clock) must still be told to look, or nothing would report those pods."""
        now = self.clock.now()
        self._take_due(now)  # the next move handles them
        if self._dirty:
            return now
        return self._timers[0][0] if self._timers else None

    def _take_due(self, now: float) -> None:
        """Move the timers due at ``now`` into the simulator's work."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            self._dirty[heapq.heappop(timers)[2]] = None

    # -- Cluster -------------------------------------------------------------------------
    async def get(self, ref: Ref) -> dict[str, Any] | None:
        self._simulate()
        obj = self._bucket(ref).get((ref.namespace, ref.name))
        return snapshot(obj) if obj is not None else None

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        self._simulate()
        return [
            snapshot(obj)
            for (ns, _), obj in sorted(self._store.get((api_version, kind), {}).items())
            if namespace is None or ns == namespace
        ]

    async def list_owned(
        self, api_version: str, kind: str, namespace: str, owner_uid: str
    ) -> builtins.list[dict[str, Any]]:
        """The objects of a kind in ``namespace`` that ``owner_uid`` owns, by name (an
        index lookup: it does not scan the kind)."""
        self._simulate()
        return [
            snapshot(obj)
            for obj in sorted(
                self._owned_objects(owner_uid, api_version, kind),
                key=lambda o: str(o["metadata"]["name"]),
            )
            if obj["metadata"].get("namespace", "") == namespace
        ]

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        self._simulate()
        stored = self._insert(obj)
        self._simulate()
        return self._written(stored)

    async def patch(self, ref: Ref, patch: Mapping[str, Any]) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        self._simulate()
        current = self._existing(ref)
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and str(wanted) != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{ref}: resourceVersion {wanted} is stale")
        updated = merge_patch(current, copy_to_write(patch, f"patch {ref}"))
        for key in ("name", "namespace", "uid", "creationTimestamp"):
            if key in current["metadata"]:
                updated["metadata"][key] = current["metadata"][key]
        if updated.get("spec") != current.get("spec"):
            updated["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
        self._put(ref, updated)
        self._simulate()
        return self._written(updated)

    async def delete(self, ref: Ref) -> None:
        await anyio.lowlevel.checkpoint()
        self._simulate()
        obj = self._existing(ref)
        self._remove(ref, obj)
        self._simulate()
        self._written(None)

    async def replace_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        self._simulate()
        ref = Ref.of(obj)
        current = self._existing(ref)
        wanted = (obj.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and str(wanted) != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{ref}: resourceVersion {wanted} is stale")
        updated = dict(current)
        updated["status"] = copy_to_write(obj.get("status"), f"replace status of {ref}")
        if updated["status"] is None:
            del updated["status"]
        self._put(ref, updated)
        return self._written(updated)

    # -- storage ----------------------------------------------------------------------
    def _bucket(self, ref: Ref) -> dict[_Key, dict[str, Any]]:
        return self._store.setdefault((ref.api_version, ref.kind), {})

    def _owned_objects(
        self, uid: str, api_version: str, kind: str
    ) -> builtins.list[dict[str, Any]]:
        found = []
        for ref in self._owned.owned(uid):
            if ref.kind == kind and ref.api_version == api_version:
                obj = self._bucket(ref).get((ref.namespace, ref.name))
                if obj is not None:
                    found.append(obj)
        return found

    def _pods_of(self, uid: str) -> builtins.list[dict[str, Any]]:
        """A ReplicaSet's pods, oldest first."""
        return sorted(self._owned_objects(uid, "v1", "Pod"), key=lambda p: p["metadata"]["uid"])

    def _index(
        self, ref: Ref, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        """Keep the owner index and the simulator's work up to date with a change of
        ``ref`` from ``old`` to ``new`` (None: absent)."""
        self._owned.update(ref, old, new)
        if self._moving:
            return  # the simulator's own writes
        if ref.kind == "ReplicaSet" and ref.api_version == "apps/v1" and new is not None:
            self._dirty[ref] = None
        elif ref.kind == "Job" and ref.api_version == "batch/v1" and new is not None:
            self._dirty[ref] = None
        elif ref.kind == "Pod" and ref.api_version == "v1":
            for owner in self._replica_sets_owning(old if new is None else new):
                self._dirty[owner] = None

    def _replica_sets_owning(self, pod: Mapping[str, Any] | None) -> builtins.list[Ref]:
        if pod is None:
            return []
        namespace = str(pod["metadata"].get("namespace", ""))
        return [
            Ref("apps/v1", "ReplicaSet", namespace, str(r.get("name", "")))
            for r in pod["metadata"].get("ownerReferences") or ()
            if isinstance(r, Mapping) and r.get("kind") == "ReplicaSet"
        ]

    def _existing(self, ref: Ref) -> dict[str, Any]:
        obj = self._bucket(ref).get((ref.namespace, ref.name))
        if obj is None:
            raise NotFound(f"{ref} not found")
        return snapshot(obj)

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _put(self, ref: Ref, obj: dict[str, Any]) -> None:
        self._resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self._resource_version)
        bucket = self._bucket(ref)
        key = (ref.namespace, ref.name)
        old = bucket.get(key)
        added = old is None
        bucket[key] = obj
        self._index(ref, old, obj)
        if self._subscribers:
            self._notify("added" if added else "modified", ref, obj)

    def _insert(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        new: dict[str, Any] = copy_to_write(obj, f"create {Ref.of(obj)}")
        meta = new.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{_suffix(self._next_serial())}"
        ref = Ref.of(new)
        if not ref.name or not ref.kind or not ref.api_version:
            raise ValueError("an object needs apiVersion, kind and metadata.name")
        if (ref.namespace, ref.name) in self._bucket(ref):
            raise AlreadyExists(f"{ref} already exists")
        if ref.namespace:
            meta["namespace"] = ref.namespace
        meta["uid"] = f"00000000-0000-4000-8000-{self._next_serial():012d}"
        meta["creationTimestamp"] = format_time(self.clock.now())
        meta["generation"] = 1
        meta.pop("resourceVersion", None)
        self._put(ref, new)
        return new

    def _remove(self, ref: Ref, obj: Mapping[str, Any]) -> None:
        old = self._bucket(ref).pop((ref.namespace, ref.name), None)
        self._resource_version += 1
        if old is not None:
            self._index(ref, old, None)
        if self._subscribers:
            self._notify("deleted", ref, obj)
        uid = obj["metadata"].get("uid")
        for dependant_ref in self._owned.owned(uid) if uid else ():
            dependant = self._bucket(dependant_ref).get(
                (dependant_ref.namespace, dependant_ref.name)
            )
            if dependant is not None:
                self._remove(dependant_ref, dependant)

    def _written(self, obj: dict[str, Any] | None) -> dict[str, Any]:
        self._writes += 1
        if self._crash_at is not None and self._writes >= self._crash_at:
            self._crash_at = None
            raise SimulatedCrash(f"simulated crash after write #{self._writes}")
        return snapshot(obj) if obj is not None else {}

    # -- the pod simulator ---------------------------------------------------------------
    def _simulate(self) -> None:
        """Bring Pods, ReplicaSet and Job statuses up to ``clock.now()``.

        Incremental: only the ReplicaSets and Jobs written since the last move (or whose
        pods were), and those with a timer due (a pod turning Ready or Available, a Job
        finishing), are looked at, oldest first.
        """
        now = self.clock.now()
        self._take_due(now)
        if not self._dirty:
            return
        self._moving = True
        try:
            while self._dirty:
                dirty, self._dirty = self._dirty, {}
                jobs = []
                for ref in sorted(dirty, key=self._age):
                    obj = self._bucket(ref).get((ref.namespace, ref.name))
                    if obj is None:
                        continue
                    if ref.kind == "Job":
                        jobs.append(obj)
                    else:
                        self._simulate_replica_set(obj, now)
                for job in jobs:
                    self._simulate_job(job, now)
        finally:
            self._moving = False

    def _age(self, ref: Ref) -> tuple[int, str]:
        """ReplicaSets before Jobs, each kind by creation (uids are serial)."""
        obj = self._bucket(ref).get((ref.namespace, ref.name))
        uid = str(obj["metadata"].get("uid", "")) if obj is not None else ""
        return (1 if ref.kind == "Job" else 0, uid)

    def _at(self, when: float, ref: Ref) -> None:
        """Look at ``ref`` again at ``when``."""
        self._timer_serial += 1
        heapq.heappush(self._timers, (when, self._timer_serial, ref))

    def _simulate_replica_set(self, rs: dict[str, Any], now: float) -> None:
        uid = rs["metadata"]["uid"]
        pods = self._pods_of(uid)
        wanted = max(0, int(rs["spec"].get("replicas") or 0))
        while len(pods) > wanted:  # newest first
            victim = pods.pop()
            self._remove(Ref.of(victim), victim)
        while len(pods) < wanted:
            pods.append(self._new_pod(rs, now))
        min_ready = float(rs["spec"].get("minReadySeconds") or 0)
        ready = available = 0
        ref = Ref.of(rs)
        soonest = math.inf
        for pod in pods:
            ready_at = _ready_at(pod)
            if ready_at <= now:
                ready += 1
                if ready_at + min_ready <= now:
                    available += 1
                else:
                    soonest = min(soonest, ready_at + min_ready)
                if not _is_ready(pod):
                    self._mark_ready(pod, ready_at)
            else:
                soonest = min(soonest, ready_at)
        if math.isfinite(soonest):
            self._at(soonest, ref)
        status = {
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if rs.get("status") != status:
            updated = dict(rs)
            updated["status"] = status
            self._put(ref, updated)

    def _simulate_job(self, job: dict[str, Any], now: float) -> None:
        if _job_finished(job):
            return
        finish = _annotation_time(job, _JOB_FINISH_AT)
        status = dict(job.get("status") or {})
        if finish is None:
            updated = _copy(job)
            seconds = _job_setting(job, JOB_SECONDS)
            try:
                duration = self.job_seconds if seconds is None else max(0.0, float(seconds))
            except ValueError:
                duration = self.job_seconds
            finish = now + duration
            meta = updated["metadata"]
            meta.setdefault("annotations", {})[_JOB_FINISH_AT] = format_time(finish)
            updated["status"] = {"startTime": format_time(now), "active": 1}
            self._put(Ref.of(job), updated)
            job, status = updated, dict(updated["status"])
            if (reason := _job_setting(job, JOB_RESULT)) in IMAGE_PULL_FAILURES:
                self._stuck_job_pod(job, str(reason))
        if _job_setting(job, JOB_RESULT) in IMAGE_PULL_FAILURES:
            return  # its pod never starts: the Job runs for ever
        if now < finish:
            self._at(finish, Ref.of(job))
            return
        failed = (_job_setting(job, JOB_RESULT) or "Complete") == "Failed"
        status.pop("active", None)
        if failed:
            status.update(
                failed=1,
                conditions=[
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                        "lastTransitionTime": format_time(finish),
                    }
                ],
            )
        else:
            status.update(
                succeeded=1,
                completionTime=format_time(finish),
                conditions=[
                    {
                        "type": "Complete",
                        "status": "True",
                        "lastTransitionTime": format_time(finish),
                    }
                ],
            )
        updated = dict(job)
        updated["status"] = status
        self._put(Ref.of(job), updated)

    def _new_pod(self, rs: Mapping[str, Any], now: float) -> dict[str, Any]:
        template = rs["spec"].get("template") or {}
        meta = template.get("metadata") or {}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{rs['metadata']['name']}-{_suffix(self._next_serial())}",
                "namespace": rs["metadata"].get("namespace", "default"),
                "labels": dict(meta.get("labels") or {}),
                "annotations": {_READY_AT: format_time(now + self.pod_ready_seconds)},
                "ownerReferences": [
                    owner_reference(
                        "apps/v1", "ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"]
                    )
                ],
            },
            # shared with the ReplicaSet: stored objects are never changed in place
            "spec": template.get("spec") or {},
            "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
        }
        return self._insert(pod)

    def _stuck_job_pod(self, job: Mapping[str, Any], reason: str) -> None:
        """The Pod of a Job whose first container's image cannot be pulled."""
        meta = job["metadata"]
        spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
        containers = [c for c in spec.get("containers") or () if isinstance(c, Mapping)]
        name = str(containers[0].get("name") or "job") if containers else "job"
        image = str(containers[0].get("image") or "") if containers else ""
        self._insert(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{meta['name']}-{_suffix(self._next_serial())}",
                    "namespace": meta.get("namespace", "default"),
                    "labels": {"batch.kubernetes.io/job-name": meta["name"]},
                    "ownerReferences": [
                        owner_reference("batch/v1", "Job", meta["name"], meta["uid"])
                    ],
                },
                "spec": spec,
                "status": {
                    "phase": "Pending",
                    "containerStatuses": [
                        {
                            "name": name,
                            "image": image,
                            "ready": False,
                            "state": {
                                "waiting": {
                                    "reason": reason,
                                    "message": f'Back-off pulling image "{image}"',
                                }
                            },
                        }
                    ],
                },
            }
        )

    def _mark_ready(self, pod: dict[str, Any], ready_at: float) -> None:
        updated = dict(pod)
        updated["status"] = {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": format_time(ready_at)}
            ],
        }
        self._put(Ref.of(pod), updated)


def _copy(obj: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = copy_json(obj)
    return copied


def _ready_at(pod: Mapping[str, Any]) -> float:
    value = parse_time(((pod.get("metadata") or {}).get("annotations") or {}).get(_READY_AT))
    return float("inf") if value is None else value


def _annotation_time(obj: Mapping[str, Any], key: str) -> float | None:
    return parse_time(((obj.get("metadata") or {}).get("annotations") or {}).get(key))


def _job_setting(job: Mapping[str, Any], key: str) -> str | None:
    """An annotation of the Job, else of its pod template."""
    for meta in (
        job.get("metadata") or {},
        ((job.get("spec") or {}).get("template") or {}).get("metadata") or {},
    ):
        value = (meta.get("annotations") or {}).get(key)
        if value is not None:
            return str(value)
    return None


def _job_finished(job: Mapping[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or ()
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )


def _is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _suffix(n: int) -> str:
    chars = []
    for _ in range(5):
        n, digit = divmod(n, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))
