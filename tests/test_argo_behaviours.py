"""Argo Rollouts' documented behaviours, each as a simulation with the timeline Argo's
docs describe (``docs/features/*`` of the release the loader reads).

Every test simulates a whole update on the in-memory cluster in virtual time
(:func:`progressive._simulation.simulate`) and checks the records: phase, step, the
weight the routers hold, the replica counts of the previous and the new revision, and
the events, at the moments the docs name.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from progressive._simulation import SimulationResult, TimelineRecord, simulate
from progressive.routers import ALL_ROUTERS

from .routers.cases import CASES, rollout_manifest


def routed(router: str, steps: list[dict[str, Any]], replicas: int = 10, **spec: Any) -> list[Any]:
    """A Rollout (``web``) on ``router`` with ``steps``, and the router's objects."""
    routing, objects = CASES[router]
    manifest = rollout_manifest(copy.deepcopy(routing), steps)
    manifest["spec"].update(replicas=replicas, **spec)
    return [manifest, *copy.deepcopy(objects)]


def at_step(result: SimulationResult, step: int, phase: str = "Paused") -> TimelineRecord:
    """The first record at ``step`` in ``phase``."""
    return next(r for r in result.timeline if r.step == step and r.phase == phase)


def events(result: SimulationResult, reason: str) -> list[TimelineRecord]:
    return [r for r in result.timeline if r.event == reason]


# -- canary: setCanaryScale ----------------------------------------------------------------
# docs/features/canary/index.md, "Setting Canary Scale": with an explicit scale, the
# setWeight steps after it send their weight to however many pods that scale gives
# ("90% of traffic to only 10% of pods"); matchTrafficWeight: true sizes the canary by
# its weight again.  progressive does the same, says so with a Warning Event, and never
# leaves such a rollout waiting for capacity the steps themselves fixed.

FIXED_THEN_WEIGHT = [
    {"setCanaryScale": {"replicas": 1}},
    {"setWeight": 50},
    {"pause": {"duration": 30}},
    {"setCanaryScale": {"matchTrafficWeight": True}},
    {"setWeight": 75},
    {"pause": {"duration": 30}},
]


@pytest.mark.parametrize("router", ALL_ROUTERS)
@pytest.mark.parametrize("scale", [{"replicas": 1}, {"weight": 10}])
def test_an_explicit_canary_scale_takes_the_steps_weight(
    router: str, scale: dict[str, Any]
) -> None:
    steps = copy.deepcopy(FIXED_THEN_WEIGHT)
    steps[0] = {"setCanaryScale": scale}
    # a progress deadline shorter than the pause: a rollout waiting for capacity the
    # steps fixed would go Degraded here
    result = simulate(routed(router, steps, progressDeadlineSeconds=20), auto_promote=True)
    assert (result.phase, result.finished) == ("Healthy", True)
    paused = at_step(result, 2)
    assert (paused.weight, paused.set_weight, paused.new_replicas) == (50, 50, 1)
    (warning,) = events(result, "CanaryScaleOverweight")
    assert warning.message.startswith("Weight 50 goes to the canary's 1 of 10 pods, which carry 10")
    # matchTrafficWeight: the canary grows to the weight's size (5, then 8 for 75) and
    # keeps its 50 meanwhile, as Argo keeps the previous step's weight
    during = [r for r in result.timeline if r.step is not None and 3 <= r.step < 6]
    assert min(r.weight for r in during) == 50
    assert at_step(result, 5).weight == 75 and at_step(result, 5).new_replicas == 8
    assert result.timeline[-1].new_replicas == 10


@pytest.mark.parametrize("router", ALL_ROUTERS)
def test_a_weight_the_scale_can_carry_sends_no_warning(router: str) -> None:
    steps = [{"setCanaryScale": {"replicas": 5}}, {"setWeight": 20}, {"pause": {"duration": 10}}]
    result = simulate(routed(router, steps), auto_promote=True)
    assert result.phase == "Healthy"
    paused = at_step(result, 2)
    assert (paused.weight, paused.new_replicas) == (20, 5)
    assert events(result, "CanaryScaleOverweight") == []


@pytest.mark.parametrize("router", ALL_ROUTERS)
def test_a_scale_of_no_pods_gets_no_traffic(router: str) -> None:
    """Argo never weighs a canary with no available pods; a step weight waits."""
    steps = [
        {"setCanaryScale": {"replicas": 0}},
        {"setWeight": 30},
        {"pause": {"duration": 10}},
    ]
    result = simulate(routed(router, steps), auto_promote=True)
    assert result.phase == "Healthy"
    paused = at_step(result, 2)
    assert (paused.weight, paused.new_replicas) == (0, 0)
