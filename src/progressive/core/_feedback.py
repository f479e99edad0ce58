"""Feeding a plan back: what the next ``reconcile()`` observes once a plan was applied.

The reference for embedders who drive ``reconcile()`` by hand (``Observed.after``, which
applies each action to a :class:`World`): the shell applies each action to a cluster
and observes the result; here the same effect is worked out on the
:class:`~progressive.core.Observed` itself, as if every action succeeded and nothing
else changed.  What the world does on its own is not here: pods
becoming ready, runs reaching a verdict, time passing.

Which actions change what is observed, and so must be fed back:

* ``CreateReplicaSet``, ``ScaleReplicaSet``, ``SetScaleDownDeadline``,
  ``SetReplicaSetRevision``, ``DeleteReplicaSet``: ``replica_sets``;
* ``SetServiceSelector``: ``services``;
* ``WriteWeight``, ``WriteHeaderRoute``, ``WriteMirrorRoute``, ``RemoveManagedRoutes``:
  ``traffic``;
* ``CreateAnalysisRun``, ``CreateExperiment`` (a new run, ``Pending``),
  ``TerminateAnalysisRun``, ``AcknowledgeRun``: ``runs``;
* ``ScaleWorkload``: ``workload``;
* ``RunStepPlugin``, ``UndoStepPlugin``: ``plugin_steps`` (the step's change in place,
  or undone);
* the plan's ``status``: ``rollout.status``.

The others change nothing ``reconcile()`` looks at: ``CreateService`` (an experiment
template's Service), ``RestartPods`` and ``EmitEvent``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import assert_never

import attrs

from ._actions import (
    AcknowledgeRun,
    Action,
    CreateAnalysisRun,
    CreateExperiment,
    CreateReplicaSet,
    CreateService,
    DeleteReplicaSet,
    EmitEvent,
    RemoveManagedRoutes,
    RestartPods,
    RunStepPlugin,
    ScaleReplicaSet,
    ScaleWorkload,
    SetReplicaSetRevision,
    SetScaleDownDeadline,
    SetServiceSelector,
    TerminateAnalysisRun,
    UndoStepPlugin,
    WriteHeaderRoute,
    WriteMirrorRoute,
    WriteWeight,
)
from ._views import ObservedRun, ReplicaSetView, TrafficView, WorkloadView

__all__ = ["World"]


class World:
    """The parts of an :class:`~progressive.core.Observed` a plan changes, as mutable
    collections: :meth:`apply` each action of the plan, in order."""

    def __init__(
        self,
        now: float,
        replica_sets: Iterable[ReplicaSetView],
        runs: Iterable[ObservedRun],
        services: Mapping[str, str | None],
        traffic: TrafficView,
        workload: WorkloadView | None,
        plugin_steps: set[int] | None = None,
    ) -> None:
        self.now = now
        self.plugin_steps = set(plugin_steps or ())
        self.sets = {rs.name: rs for rs in replica_sets}
        self.runs = {run.name: run for run in runs}
        self.services = dict(services)
        self.traffic = traffic
        self.workload = workload

    def apply(self, a: Action) -> None:
        match a:
            case CreateReplicaSet():
                self.sets[a.name] = ReplicaSetView(
                    a.name, a.pod_template_hash, a.revision, a.replicas, created_at=self.now
                )
            case ScaleReplicaSet():
                rs = self.sets[a.name]
                self.sets[a.name] = attrs.evolve(
                    rs,
                    replicas=a.replicas,
                    ready_replicas=min(rs.ready_replicas, a.replicas),
                    available_replicas=min(rs.available_replicas, a.replicas),
                )
            case SetScaleDownDeadline():
                self.sets[a.name] = attrs.evolve(self.sets[a.name], scale_down_deadline=a.deadline)
            case SetReplicaSetRevision():
                self.sets[a.name] = attrs.evolve(self.sets[a.name], revision=a.revision)
            case DeleteReplicaSet():
                self.sets.pop(a.name, None)
            case SetServiceSelector():
                self.services[a.service] = a.pod_template_hash
            case WriteWeight():
                self.traffic = attrs.evolve(
                    self.traffic, weight=a.weight, experiment_weights=a.experiment_weights
                )
                if self.traffic.stable_hash is not None:  # a router that pins hashes
                    self.traffic = attrs.evolve(
                        self.traffic, canary_hash=a.canary_hash, stable_hash=a.stable_hash
                    )
            case WriteHeaderRoute():
                routes = _route(self.traffic.header_routes, a.name, keep=bool(a.match))
                self.traffic = attrs.evolve(self.traffic, header_routes=routes)
            case WriteMirrorRoute():
                routes = _route(self.traffic.mirror_routes, a.name, keep=bool(a.match))
                self.traffic = attrs.evolve(self.traffic, mirror_routes=routes)
            case RemoveManagedRoutes():
                self.traffic = attrs.evolve(self.traffic, header_routes=(), mirror_routes=())
            case CreateAnalysisRun() | CreateExperiment():
                self.runs.setdefault(a.name, ObservedRun(a.name, "Pending"))
            case TerminateAnalysisRun():
                if a.name in self.runs:
                    self.runs[a.name] = attrs.evolve(self.runs[a.name], terminated=True)
            case AcknowledgeRun():
                if a.name in self.runs:
                    self.runs[a.name] = attrs.evolve(self.runs[a.name], acknowledged=True)
            case ScaleWorkload():
                available = self.workload.available_replicas if self.workload else 0
                self.workload = WorkloadView(a.replicas, min(available, a.replicas))
            case RunStepPlugin():
                self.plugin_steps.add(a.index)
            case UndoStepPlugin():
                self.plugin_steps.discard(a.index)
            case CreateService() | RestartPods() | EmitEvent():
                pass
            case _:
                assert_never(a)


def _route(names: tuple[str, ...], name: str, *, keep: bool) -> tuple[str, ...]:
    others = tuple(n for n in names if n != name)
    return (*others, name) if keep else others
