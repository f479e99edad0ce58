"""What the shell observed, trimmed to what ``reconcile()`` needs.

The shell builds an :class:`Observed` from its caches (or the in-memory cluster); tools
that embed the core can build one by hand.  ``now`` is part of it: the core never
reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from ._feedback import World
from ._frozen import FrozenDict, Immutable, freeze_map
from ._rollout import Rollout
from ._views import ObservedRun, ReplicaSetView, TrafficView, WorkloadView

if TYPE_CHECKING:
    from ._plan import Plan

__all__ = ["Observed", "ObservedRun", "ReplicaSetView", "TrafficView", "WorkloadView"]


def _replica_sets(value: Iterable[ReplicaSetView]) -> tuple[ReplicaSetView, ...]:
    return value if type(value) is tuple else tuple(value)


def _runs(value: Iterable[ObservedRun]) -> tuple[ObservedRun, ...]:
    return value if type(value) is tuple else tuple(value)


def _services(value: Mapping[str, str | None]) -> FrozenDict:
    return freeze_map(value)


def _names(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None or type(value) is frozenset else frozenset(value)


def _indexes(value: Iterable[int]) -> frozenset[int]:
    return value if isinstance(value, frozenset) else frozenset(value)


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
    # the indexes of the plugin steps whose plugin reports its change in place for this
    # revision (progressive.steps): such a step is done; an abort undoes them
    plugin_steps: frozenset[int] = attrs.field(default=frozenset(), converter=_indexes)

    def after(self, plan: Plan) -> Observed:
        """What the next ``reconcile()`` observes once every action of ``plan`` was
        applied (and its status stored), if nothing else changed: the reference for an
        embedder who feeds plans back by hand.  Pods becoming ready, runs reaching a
        verdict and time passing are the world's to add (see ``core/_feedback.py`` for
        which actions change what).
        """
        world = World(
            self.now,
            self.replica_sets,
            self.runs,
            self.services,
            self.traffic,
            self.workload,
            set(self.plugin_steps),
        )
        for action in plan.actions:
            world.apply(action)
        return attrs.evolve(
            self,
            rollout=self.rollout.with_status(plan.status),
            replica_sets=tuple(world.sets.values()),
            runs=tuple(world.runs.values()),
            services=world.services,
            traffic=world.traffic,
            workload=world.workload,
            plugin_steps=frozenset(world.plugin_steps),
        )

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
