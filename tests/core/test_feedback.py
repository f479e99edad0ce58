"""``Observed.after(plan)``: the reference for feeding a plan back by hand."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from progressive.core import (
    HeaderMatch,
    Observed,
    ObservedRun,
    Plan,
    ReplicaSetView,
    Rollout,
    RolloutAnalysis,
    RolloutStatus,
    TrafficView,
    actions,
    reconcile,
)
from progressive.core._feedback import __doc__ as FEEDBACK_DOC
from progressive.core._observed import WorkloadView

from .world import canary_manifest

ROLLOUT = Rollout.from_manifest(canary_manifest([{"setWeight": 20}, {"pause": {}}]))
BEFORE = Observed(
    rollout=ROLLOUT,
    now=50.0,
    replica_sets=(ReplicaSetView("app-old", "old", 1, 10, 10, 10),),
    runs=(ObservedRun("run-1", "Running"),),
    traffic=TrafficView(10, ("h",), ("m",)),
    services={"app-stable": "old"},
    workload=WorkloadView(4, 4),
    plugin_steps={2},
)
HEADER = (HeaderMatch("x", exact="1"),)

# each action, and what it changes in the Observed (None: nothing)
CASES: list[tuple[actions.Action, dict[str, Any] | None]] = [
    (
        actions.CreateReplicaSet("app-new", "new", 2, 3, {}, {}),
        {
            "replica_sets": (
                *BEFORE.replica_sets,
                ReplicaSetView("app-new", "new", 2, 3, created_at=50.0),
            )
        },
    ),
    (
        actions.ScaleReplicaSet("app-old", 4),
        {"replica_sets": (ReplicaSetView("app-old", "old", 1, 4, 4, 4),)},
    ),
    (
        actions.SetScaleDownDeadline("app-old", 80.0),
        {"replica_sets": (ReplicaSetView("app-old", "old", 1, 10, 10, 10, 80.0),)},
    ),
    (
        actions.SetReplicaSetRevision("app-old", 3),
        {"replica_sets": (ReplicaSetView("app-old", "old", 3, 10, 10, 10),)},
    ),
    (actions.DeleteReplicaSet("app-old"), {"replica_sets": ()}),
    (
        actions.SetServiceSelector("app-canary", "new"),
        {"services": {"app-stable": "old", "app-canary": "new"}},
    ),
    (
        actions.WriteWeight(30, "new", "old", 100, (("exp", 5),)),
        {"traffic": TrafficView(30, ("h",), ("m",), (("exp", 5),))},
    ),
    (actions.WriteHeaderRoute("h", ()), {"traffic": TrafficView(10, (), ("m",))}),
    (actions.WriteHeaderRoute("h2", HEADER), {"traffic": TrafficView(10, ("h", "h2"), ("m",))}),
    (actions.WriteMirrorRoute("m", (), 100), {"traffic": TrafficView(10, ("h",), ())}),
    (actions.RemoveManagedRoutes(("h", "m")), {"traffic": TrafficView(10)}),
    (
        actions.CreateAnalysisRun("run-2", "Step", RolloutAnalysis(), "old", "new"),
        {"runs": (*BEFORE.runs, ObservedRun("run-2", "Pending"))},
    ),
    (
        actions.CreateExperiment("exp-1", (), None, (), "old", "new"),
        {"runs": (*BEFORE.runs, ObservedRun("exp-1", "Pending"))},
    ),
    (
        actions.TerminateAnalysisRun("run-1"),
        {"runs": (ObservedRun("run-1", "Running", terminated=True),)},
    ),
    (
        actions.AcknowledgeRun("run-1"),
        {"runs": (ObservedRun("run-1", "Running", acknowledged=True),)},
    ),
    (actions.ScaleWorkload("apps/v1", "Deployment", "app", 1), {"workload": WorkloadView(1, 1)}),
    (actions.RunStepPlugin(4, "example/flag", {}), {"plugin_steps": frozenset({2, 4})}),
    (actions.UndoStepPlugin(2, "example/flag", {}), {"plugin_steps": frozenset()}),
    (actions.CreateService("exp-svc", {"a": "b"}), None),
    (actions.RestartPods("app-old", 10.0), None),
    (actions.EmitEvent("Reason", "message"), None),
]


@pytest.mark.parametrize(("action", "changes"), CASES, ids=lambda c: type(c).__name__)
def test_each_action_changes_what_the_docs_say(
    action: actions.Action, changes: dict[str, Any] | None
) -> None:
    status = RolloutStatus(phase="Progressing", current_step_index=1)
    after = BEFORE.after(Plan((action,), status))
    assert after.rollout.status == status
    assert after.rollout == ROLLOUT.with_status(status)
    expected = attrs.evolve(BEFORE, rollout=after.rollout, **(changes or {}))
    assert after == expected
    # the module's list of what must be fed back names it where it belongs
    listed = FEEDBACK_DOC or ""
    name = f"``{type(action).__name__}``"
    assert name in listed
    must = listed.split("change nothing")[0]
    assert (name in must) == (changes is not None)


def test_every_action_is_in_the_table() -> None:
    assert {type(a) for a, _ in CASES} == set(actions.Action.__args__)


def _until(observed: Observed, phase: str) -> Observed:
    """Reconcile and feed back, the pods ready at once, until ``phase`` (20 rounds)."""
    for _ in range(20):
        observed = observed.after(reconcile(observed))
        observed = attrs.evolve(
            observed,
            replica_sets=[
                attrs.evolve(rs, ready_replicas=rs.replicas, available_replicas=rs.replicas)
                for rs in observed.replica_sets
            ],
        )
        if observed.rollout.status.phase == phase:
            return observed
    raise AssertionError(f"not {phase}: {observed.rollout.status}")


def test_a_canary_fed_back_by_hand_gets_to_its_pause() -> None:
    observed = _until(Observed(rollout=ROLLOUT, now=0.0), "Healthy")  # the first revision
    # a new template: the update goes to its first step and pauses
    updated = dict(ROLLOUT.template)
    updated["spec"] = {"containers": [{"name": "app", "image": "app:2"}]}
    observed = attrs.evolve(observed, rollout=attrs.evolve(observed.rollout, template=updated))
    observed = _until(observed, "Paused")
    assert observed.traffic.weight == 20
    assert reconcile(observed).actions == ()  # nothing more to do until promoted
