"""What the shell observed, trimmed to what ``reconcile()`` needs.

The shell builds an :class:`Observed` from its caches (or the in-memory cluster); tools
that embed the core can build one by hand.  ``now`` is part of it: the core never
reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from ._frozen import FrozenDict, Immutable, freeze_map
from ._rollout import Rollout

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["Observed", "ObservedRun", "ReplicaSetView", "TrafficView", "WorkloadView"]


@attrs.frozen
class ReplicaSetView(Immutable):
    """One ReplicaSet owned by the Rollout."""

    name: str
    pod_template_hash: str
    revision: int
    replicas: int
    ready_replicas: int = 0
    available_replicas: int = 0
    scale_down_deadline: float | None = None
    created_at: float = 0.0
    #: why its ``restartAt`` restart could not go on (the controller may not delete
    #: pods), as the shell found it; "" when nothing was refused
    restart_refused: str = ""


@attrs.frozen
class ObservedRun(Immutable):
    """An AnalysisRun or Experiment the Rollout started: its name and verdict so far,
    and whether a user promoted the rollout past that verdict (``acknowledged``)."""

    name: str
    phase: str
    message: str = ""
    terminated: bool = False
    acknowledged: bool = False


@attrs.frozen
class TrafficView(Immutable):
    """What the routers hold now, read back from their objects.

    With several routers, this is what ALL of them hold: ``weight`` is None when no
    router holds a weight for this Rollout yet, and otherwise the smallest canary
    weight among them (a router holding none counts as 0) -- every router sends at
    least that much to the canary.  ``header_routes`` and ``mirror_routes`` are the
    routes every router holds.  The shell moves the routers together and, should they
    disagree (a crash between two routers' writes), brings them back to this state
    before reconciling (``progressive._shell.traffic.RouterTraffic``), so that the
    weight is normally each router's.
    """

    weight: int | None = None
    header_routes: tuple[str, ...] = ()
    mirror_routes: tuple[str, ...] = ()
    # (service, weight) of the experiment templates the routers send traffic to
    experiment_weights: tuple[tuple[str, int], ...] = ()


@attrs.frozen
class WorkloadView(Immutable):
    """The workload a Rollout's ``workloadRef`` names (a Deployment): its spec replicas
    and how many of its pods are available."""

    replicas: int
    available_replicas: int = 0


def _replica_sets(value: Iterable[ReplicaSetView]) -> tuple[ReplicaSetView, ...]:
    return value if type(value) is tuple else tuple(value)


def _runs(value: Iterable[ObservedRun]) -> tuple[ObservedRun, ...]:
    return value if type(value) is tuple else tuple(value)


def _services(value: Mapping[str, str | None]) -> FrozenDict:
    return freeze_map(value)


def _names(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None or type(value) is frozenset else frozenset(value)


@attrs.frozen
class Observed(Immutable):
    """Everything ``reconcile()`` looks at: the Rollout with its stored status, what the
    shell observed of its ReplicaSets, runs, routers, Services and workload, and ``now``.

    Example::

        plan = reconcile(Observed(rollout=rollout, now=time.time(),
                                  replica_sets=(ReplicaSetView("web-abc", "abc", 1, 4, 4, 4),)))
    """

    rollout: Rollout
    now: float
    replica_sets: tuple[ReplicaSetView, ...] = attrs.field(default=(), converter=_replica_sets)
    runs: tuple[ObservedRun, ...] = attrs.field(default=(), converter=_runs)
    traffic: TrafficView = TrafficView()
    # Service name -> the rollouts-pod-template-hash its selector pins (None: unpinned)
    services: Mapping[str, str | None] = attrs.field(factory=FrozenDict, converter=_services)
    # the Deployment of spec.workloadRef (None: no workloadRef, or not found)
    workload: WorkloadView | None = None
    # the loaded AnalysisTemplate names, for InvalidSpec checks; None: unknown
    known_templates: frozenset[str] | None = attrs.field(default=None, converter=_names)

    def after(self, plan: Plan) -> Observed:
        """What the next ``reconcile()`` observes once every action of ``plan`` was
        applied (and its status stored), if nothing else changed: the reference for an
        embedder who feeds plans back by hand.  Pods becoming ready, runs reaching a
        verdict and time passing are the world's to add (see ``core/_feedback.py`` for
        which actions change what).
        """
        from ._feedback import after

        return after(self, plan)

    def replica_set(self, pod_template_hash: str | None) -> ReplicaSetView | None:
        if pod_template_hash is None:
            return None
        for rs in self.replica_sets:
            if rs.pod_template_hash == pod_template_hash:
                return rs
        return None

    def run(self, name: str) -> ObservedRun | None:
        for run in self.runs:
            if run.name == name:
                return run
        return None
