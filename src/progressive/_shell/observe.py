"""Build the core's :class:`~progressive.core._observed.Observed` from a cluster.

Read-only: observing never writes.  A Rollout's ReplicaSets, AnalysisRuns and
Experiments are the objects whose ``ownerReferences`` name its uid; its traffic is what
its routers read back from their objects (``traffic.observe``: canary Ingresses,
VirtualServices, TrafficSplits, HTTPRoutes, or the in-memory ``TrafficState``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._clusters import Cluster, Ref, list_owned
from ..core._lenient import as_int as _int
from ..core._names import (
    ACKNOWLEDGED_ANNOTATION,
    ANALYSIS_RUN,
    EXPERIMENT,
    HASH_LABEL,
    RESTART_REFUSED_ANNOTATION,
    REVISION_ANNOTATION,
    SCALE_DOWN_DEADLINE_ANNOTATION,
)
from ..core._observed import Observed, ObservedRun, ReplicaSetView, WorkloadView
from ..core._pod_templates import adopt_replica_set
from ..core._rollout import Rollout, strategy_services
from ..core._times import parse_time
from ..steps import StepRegistry
from ..steps import default_registry as default_steps
from .steps import observe_plugin_steps
from .traffic import Traffic

__all__ = ["observe", "observe_rollout", "replica_set_view", "workload_view"]


async def observe(
    cluster: Cluster, manifest: Mapping[str, Any], *, traffic: Traffic, now: float
) -> Observed:
    """Read the Rollout ``manifest`` (status included) and everything it owns.

    Raises:
        ManifestError: the Rollout is invalid.
    """
    return await observe_rollout(cluster, Rollout.from_manifest(manifest), traffic=traffic, now=now)


async def observe_rollout(
    cluster: Cluster,
    rollout: Rollout,
    *,
    traffic: Traffic,
    now: float,
    workload: WorkloadView | None = None,
    steps: StepRegistry | None = None,
) -> Observed:
    """Everything ``rollout`` owns and refers to; ``workload`` is its ``workloadRef``'s
    Deployment (resolved by the caller, which took the pod template from it).

    ``Observed.rollout`` is ``rollout``, with the hash of the ReplicaSet it reuses when
    its template is one an ``undo`` copied from a ReplicaSet (:func:`adopt_replica_set`):
    act on that one.
    """
    ns = rollout.namespace
    owned = await _owned(cluster, "apps/v1", "ReplicaSet", rollout)
    rollout = adopt_replica_set(rollout, owned)
    replica_sets = tuple(view for rs in owned if (view := replica_set_view(rs)) is not None)
    runs: list[ObservedRun] = []
    for kind in (ANALYSIS_RUN, EXPERIMENT):  # made in the Rollout's own group
        runs.extend(
            _run_view(obj) for obj in await _owned(cluster, rollout.api_version, kind, rollout)
        )
    services: dict[str, str | None] = {}
    for name in _service_names(rollout):
        service = await cluster.get(Ref("v1", "Service", ns, name))
        if service is not None:
            services[name] = _selector_hash(service)
    return Observed(
        rollout=rollout,
        now=now,
        replica_sets=tuple(sorted(replica_sets, key=lambda v: (v.revision, v.name))),
        runs=tuple(sorted(runs, key=lambda r: r.name)),
        traffic=await traffic.observe(rollout),
        plugin_steps=await observe_plugin_steps(
            cluster, rollout, steps if steps is not None else default_steps()
        ),
        services=services,
        workload=workload,
    )


def workload_view(workload: Mapping[str, Any]) -> WorkloadView:
    """The core's view of a Deployment: its spec replicas (1 when unset, as the API
    server defaults it) and its available pods."""
    spec = workload.get("spec") or {}
    replicas = spec.get("replicas")
    return WorkloadView(
        replicas=1 if replicas is None else _int(replicas),
        available_replicas=_int((workload.get("status") or {}).get("availableReplicas")),
    )


def replica_set_view(rs: Mapping[str, Any]) -> ReplicaSetView | None:
    """The core's view of a ReplicaSet; None when it carries no pod-template-hash label."""
    meta = rs.get("metadata") or {}
    pod_hash = (meta.get("labels") or {}).get(HASH_LABEL)
    if not isinstance(pod_hash, str) or not pod_hash:
        return None
    annotations = meta.get("annotations") or {}
    spec = rs.get("spec") or {}
    status = rs.get("status") or {}
    return ReplicaSetView(
        name=str(meta.get("name", "")),
        pod_template_hash=pod_hash,
        revision=_int(annotations.get(REVISION_ANNOTATION)),
        replicas=_int(spec.get("replicas")),
        ready_replicas=_int(status.get("readyReplicas")),
        available_replicas=_int(status.get("availableReplicas")),
        status_replicas=_int(status.get("replicas")),
        scale_down_deadline=parse_time(annotations.get(SCALE_DOWN_DEADLINE_ANNOTATION)),
        created_at=parse_time(meta.get("creationTimestamp")) or 0.0,
        restart_refused=str(annotations.get(RESTART_REFUSED_ANNOTATION) or ""),
    )


async def _owned(
    cluster: Cluster, api_version: str, kind: str, rollout: Rollout
) -> list[dict[str, Any]]:
    """What ``rollout`` owns of a kind: by its uid through the owner index, or (a
    Rollout without a uid) by the name in the ownerReferences."""
    if rollout.uid:
        return await list_owned(cluster, api_version, kind, rollout.namespace, rollout.uid)
    return [
        obj
        for obj in await cluster.list(api_version, kind, rollout.namespace)
        if any(
            r.get("kind") == "Rollout" and r.get("name") == rollout.name
            for r in (obj.get("metadata") or {}).get("ownerReferences") or ()
        )
    ]


def _service_names(rollout: Rollout) -> list[str]:
    """The Services a Rollout's strategy names (the ones whose selectors it pins)."""
    return sorted(set(strategy_services(rollout).values()))


def _run_view(obj: Mapping[str, Any]) -> ObservedRun:
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return ObservedRun(
        name=str((obj.get("metadata") or {}).get("name", "")),
        phase=str(status.get("phase") or "Pending"),
        message=str(status.get("message") or ""),
        terminated=spec.get("terminate") is True,
        acknowledged=annotations.get(ACKNOWLEDGED_ANNOTATION) == "true",
    )


def _selector_hash(service: Mapping[str, Any]) -> str | None:
    selector = (service.get("spec") or {}).get("selector") or {}
    value = selector.get(HASH_LABEL)
    return value if isinstance(value, str) else None
