"""A tiny pure world for driving ``reconcile()`` in unit and property tests.

It applies plans to plain data and makes pods ready when told to; no event loop and
no shell.  The real in-memory cluster (``progressive.memory``) is tested separately.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from progressive.core import (
    Observed,
    ObservedRun,
    Plan,
    ReplicaSetView,
    Rollout,
    RolloutStatus,
    TrafficView,
    actions,
    reconcile,
)
from progressive.core._observed import WorkloadView


class World:
    """Plans fed back with ``Observed.after`` (the reference the docs point embedders
    to), and what the world does on its own: pods becoming ready, runs finishing, time."""

    def __init__(self, rollout: Rollout, *, now: float = 0.0) -> None:
        self.rollout = rollout
        self.now = now
        self.sets: dict[str, ReplicaSetView] = {}
        self.runs: dict[str, ObservedRun] = {}
        self.traffic = TrafficView()
        self.services: dict[str, str | None] = {}
        self.workload: WorkloadView | None = None
        self.log: list[actions.Action] = []
        self.auto_ready = True
        # name -> verdict to give runs when asked (default Successful)
        self.verdicts: Callable[[str], str] = lambda name: "Successful"

    # -- observing and applying --------------------------------------------------------
    def observed(self) -> Observed:
        return Observed(
            rollout=self.rollout,
            now=self.now,
            replica_sets=tuple(self.sets.values()),
            runs=tuple(self.runs.values()),
            traffic=self.traffic,
            services=dict(self.services),
            workload=self.workload,
        )

    def plan(self) -> Plan:
        return reconcile(self.observed())

    def apply(self, plan: Plan) -> None:
        """Apply the actions, then store the status as a cluster does: as a manifest,
        read back (what the status remembers must survive that)."""
        for action in plan.actions:
            self.log.append(action)
            if isinstance(action, actions.CreateReplicaSet):
                assert action.name not in self.sets, f"duplicate ReplicaSet {action.name}"
        after = self.observed().after(plan)
        self.sets = {rs.name: rs for rs in after.replica_sets}
        self.runs = {run.name: run for run in after.runs}
        self.traffic = after.traffic
        self.services = dict(after.services)
        self.workload = after.workload
        stored = RolloutStatus.from_manifest(plan.status.to_manifest())
        self.rollout = self.rollout.with_status(stored)

    def refused(self, rounds: int = 20, seconds: float = 60.0) -> None:
        """Reconcile and apply ``rounds`` times, every status write refused (nothing of
        it is stored), pods ready and ``seconds`` passing in between."""
        for _ in range(rounds):
            plan = self.plan()
            self.apply(attrs.evolve(plan, status=self.rollout.status))
            self.make_ready()
            self.finish_runs()
            self.now += seconds

    # -- the passage of time -----------------------------------------------------------
    def make_ready(self) -> None:
        for name, rs in self.sets.items():
            self.sets[name] = attrs.evolve(
                rs, ready_replicas=rs.replicas, available_replicas=rs.replicas
            )

    def finish_runs(self) -> None:
        for name, run in self.runs.items():
            if run.phase in ("Pending", "Running"):
                verdict = "Successful" if run.terminated else self.verdicts(name)
                self.runs[name] = attrs.evolve(run, phase=verdict)

    def settle(self, max_rounds: int = 200) -> list[Plan]:
        """Reconcile, apply, make pods ready, finish runs, jump to requeues; until idle."""
        plans = []
        for _ in range(max_rounds):
            plan = self.plan()
            plans.append(plan)
            self.apply(plan)
            changed = bool(plan.actions)
            if self.auto_ready:
                before = dict(self.sets)
                self.make_ready()
                changed = changed or before != self.sets
                before_runs = dict(self.runs)
                self.finish_runs()
                changed = changed or before_runs != self.runs
            if changed:
                continue
            if plan.requeue_at is not None and not self.rollout.status.pause_conditions:
                self.now = plan.requeue_at
                continue
            if plan.requeue_at is not None and self._timed_pause(plan):
                self.now = plan.requeue_at
                continue
            return plans
        raise AssertionError("did not settle")

    def _timed_pause(self, plan: Plan) -> bool:
        return plan.requeue_at is not None

    def set_status(self, **changes: Any) -> None:
        self.rollout = self.rollout.with_status(attrs.evolve(self.rollout.status, **changes))

    def update_template(self, image: str) -> None:
        template = dict(self.rollout.template)
        spec = dict(template.get("spec") or {})
        spec["containers"] = [{"name": "app", "image": image}]
        template["spec"] = spec
        self.rollout = attrs.evolve(self.rollout, template=template)


def canary_manifest(
    steps: list[dict[str, Any]],
    *,
    replicas: int = 10,
    routing: bool = True,
    extra: dict[str, Any] | None = None,
    image: str = "app:1",
) -> dict[str, Any]:
    canary: dict[str, Any] = {"steps": steps}
    if routing:
        canary.update(
            canaryService="app-canary",
            stableService="app-stable",
            trafficRouting={
                "istio": {"virtualService": {"name": "app"}},
                "managedRoutes": [{"name": "h"}, {"name": "m"}],
            },
        )
    canary.update(extra or {})
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": {"canary": canary},
        },
    }


def healthy_world(manifest: dict[str, Any]) -> World:
    """A world where the manifest's template was deployed and is Healthy."""
    world = World(Rollout.from_manifest(manifest))
    world.settle()
    assert world.rollout.status.phase == "Healthy", world.rollout.status
    return world


_ = RolloutStatus
