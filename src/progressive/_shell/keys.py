"""Which keys a change concerns.

What there is to do is a :class:`Key`: a Rollout, an AnalysisRun, the Experiments of a
namespace, or a ReplicaSet whose pods are being restarted.  A change notification (an
object stored or deleted) concerns itself (Rollouts, AnalysisRuns, Experiments,
ReplicaSets being restarted), its owner by ``ownerReferences`` (a ReplicaSet, an
AnalysisRun, a TrafficState: their Rollout), or the Rollouts that name it (a
``workloadRef`` Deployment, a canary or stable Service: :class:`RolloutIndex` finds
them without a read).  :func:`related_keys` says which; the controller
(:mod:`progressive._shell.controller`) queues them, with their priority.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from .._clusters import Change, Ref
from ..core._names import ANALYSIS_RUN, API_GROUPS, EXPERIMENT, ROLLOUT
from .restarts import restarting

__all__ = [
    "INSTANCE_ID_LABELS",
    "REPLICA_SET",
    "Key",
    "RolloutIndex",
    "api_versions",
    "carries_instance",
    "key_of",
    "object_meta",
    "owner_keys",
    "related_keys",
]

#: A Rollout carrying one of these labels is reconciled only by the controller started
#: with that ``--instance-id``; one started without handles the Rollouts carrying none.
INSTANCE_ID_LABELS: Final = (
    "progressive.dev/controller-instance-id",
    "argo-rollouts.argoproj.io/controller-instance-id",
)
REPLICA_SET: Final = "ReplicaSet"
# the order of one pass: runs and experiments first, so that the Rollouts of the same
# pass see their verdicts (as the poll-everything controller did)
_ORDER: Final = {ANALYSIS_RUN: 0, EXPERIMENT: 1, REPLICA_SET: 2, ROLLOUT: 3}
_SERVICE_FIELDS: Final = {
    "canary": ("canaryService", "stableService"),
    "blueGreen": ("activeService", "previewService"),
}


@attrs.frozen
class Key:
    """What to reconcile: one object (``Experiment`` keys: every Experiment of a
    namespace, ``name`` "")."""

    kind: str
    namespace: str
    name: str
    api_version: str = ""

    @property
    def ref(self) -> Ref:
        return Ref(self.api_version, self.kind, self.namespace, self.name)

    def order(self) -> tuple[int, int, str, str]:
        group = API_GROUPS.index(self.api_version) if self.api_version in API_GROUPS else -1
        return (_ORDER.get(self.kind, 9), group, self.namespace, self.name)

    def __str__(self) -> str:
        if self.kind == EXPERIMENT:
            return f"Experiments in {self.namespace}"
        return f"{self.kind} {self.namespace}/{self.name}"


def api_versions(groups: Sequence[str]) -> tuple[str, ...]:
    """``("argoproj.io", "progressive.dev/v1alpha1")`` -> the Rollout API versions, in
    :data:`~progressive.core._rollout.API_GROUPS` order.

    Raises:
        ValueError: a group that is neither argoproj.io nor progressive.dev.
    """
    wanted: set[str] = set()
    for group in groups:
        name = group.strip().split("/", 1)[0]
        found = [v for v in API_GROUPS if v.split("/", 1)[0] == name]
        if not found:
            known = ", ".join(v.split("/", 1)[0] for v in API_GROUPS)
            raise ValueError(f"unknown API group {group!r} (known: {known})")
        wanted.update(found)
    return tuple(v for v in API_GROUPS if v in wanted)


def object_meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _references(manifest: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """(kind, name) of what a Rollout names: its workloadRef and Services."""
    spec = manifest.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    out: set[tuple[str, str]] = set()
    ref = spec.get("workloadRef")
    if isinstance(ref, Mapping) and ref.get("name"):
        out.add((str(ref.get("kind") or "Deployment"), str(ref["name"])))
    strategy = spec.get("strategy")
    if isinstance(strategy, Mapping):
        for name, fields in _SERVICE_FIELDS.items():
            body = strategy.get(name)
            if isinstance(body, Mapping):
                out.update(("Service", str(body[f])) for f in fields if body.get(f))
    return frozenset(out)


def _aborted(manifest: Mapping[str, Any]) -> bool:
    status = manifest.get("status")
    return isinstance(status, Mapping) and status.get("abort") is True


class RolloutIndex:
    """The Rollouts known, by namespace and by what they name, so that a change to a
    Deployment or a Service finds the Rollouts it concerns without a read."""

    def __init__(self) -> None:
        self._generations: dict[Key, object] = {}
        self._aborts: dict[Key, bool] = {}
        self._refs: dict[Key, frozenset[tuple[str, str]]] = {}
        self._by_ref: dict[tuple[str, str, str], set[Key]] = {}
        self._by_ns: dict[str, set[Key]] = {}

    def update(self, key: Key, manifest: Mapping[str, Any]) -> tuple[bool, bool]:
        """Index the Rollout; returns whether its spec changed since the last look (a
        new ``metadata.generation``), and whether a user's command did (that, or
        ``status.abort`` set or cleared)."""
        generation = object_meta(manifest).get("generation")
        changed = self._generations.get(key, generation) != generation
        self._generations[key] = generation
        aborted = _aborted(manifest)
        commanded = changed or self._aborts.get(key, aborted) != aborted
        self._aborts[key] = aborted
        refs = _references(manifest)
        if self._refs.get(key) == refs:
            return changed, commanded
        self._unlink(key)
        self._refs[key] = refs
        self._by_ns.setdefault(key.namespace, set()).add(key)
        for kind, name in refs:
            self._by_ref.setdefault((key.namespace, kind, name), set()).add(key)
        return changed, commanded

    def remove(self, key: Key) -> None:
        self._generations.pop(key, None)
        self._aborts.pop(key, None)
        self._unlink(key)

    def _unlink(self, key: Key) -> None:
        refs = self._refs.pop(key, None)
        if refs is None:
            return
        self._by_ns.get(key.namespace, set()).discard(key)
        for kind, name in refs:
            self._by_ref.get((key.namespace, kind, name), set()).discard(key)

    def naming(self, namespace: str, kind: str, name: str) -> set[Key]:
        return set(self._by_ref.get((namespace, kind, name), ()))

    def in_namespace(self, namespace: str | None) -> set[Key]:
        if namespace is None:
            return set(self._refs)
        return set(self._by_ns.get(namespace, ()))


def key_of(kind: str, api_version: str, obj: Mapping[str, Any]) -> Key:
    meta = object_meta(obj)
    return Key(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""), api_version)


def carries_instance(obj: Mapping[str, Any], instance_id: str | None) -> bool:
    """Whether the controller started with ``instance_id`` reconciles ``obj`` (by its
    :data:`INSTANCE_ID_LABELS`; None: only what carries neither)."""
    labels = object_meta(obj).get("labels") or {}
    values = {labels[label] for label in INSTANCE_ID_LABELS if label in labels}
    if instance_id is None:
        return not values
    return instance_id in values


def owner_keys(obj: Mapping[str, Any], namespace: str, api_groups: Sequence[str]) -> list[Key]:
    """The keys of ``obj``'s owners (a Rollout, an AnalysisRun, the Experiments of its
    namespace) in ``api_groups``."""
    keys = []
    for ref in object_meta(obj).get("ownerReferences") or ():
        if not isinstance(ref, Mapping):
            continue
        kind, api_version = ref.get("kind"), str(ref.get("apiVersion") or "")
        if api_version not in api_groups:
            continue
        if kind == ROLLOUT:
            keys.append(Key(ROLLOUT, namespace, str(ref.get("name")), api_version))
        elif kind == ANALYSIS_RUN:
            keys.append(Key(ANALYSIS_RUN, namespace, str(ref.get("name")), api_version))
        elif kind == EXPERIMENT:
            keys.append(Key(EXPERIMENT, namespace, ""))
    return keys


def related_keys(change: Change, api_groups: Sequence[str], index: RolloutIndex) -> list[Key]:
    """The keys a change to anything but a Rollout concerns."""
    kind, ns, obj = change.kind, change.namespace, change.obj
    in_group = change.api_version in api_groups
    keys = owner_keys(obj, ns, api_groups)
    if kind == ANALYSIS_RUN and in_group and change.type != "deleted":
        keys.append(Key(ANALYSIS_RUN, ns, change.name, change.api_version))
    elif kind == EXPERIMENT and in_group:
        keys.append(Key(EXPERIMENT, ns, ""))
    elif kind == REPLICA_SET and change.api_version == "apps/v1":
        if change.type != "deleted" and restarting(obj):
            keys.append(Key(REPLICA_SET, ns, change.name, "apps/v1"))
    elif kind == "Service" and change.api_version == "v1":
        keys.extend(index.naming(ns, "Service", change.name))
    elif kind == "AnalysisTemplate" and in_group:
        keys.extend(index.in_namespace(ns))
    elif kind == "ClusterAnalysisTemplate" and in_group:
        keys.extend(index.in_namespace(None))
    elif not kind.startswith("Event"):
        keys.extend(index.naming(ns, kind, change.name))  # workloadRef
    return keys
