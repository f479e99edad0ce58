"""Every example lints clean and `simulate` gives the timeline Argo's docs describe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive._loader import load_documents
from progressive._simulation import SimulationResult, simulate
from progressive.routers import ROUTERS, DeclaredRouter, default_registry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str, *, auto_promote: bool, metrics: str | None = None) -> SimulationResult:
    documents = load_documents([EXAMPLES / name / "rollout.yaml"], cluster_may_have_more=False)
    assert documents.errors == []
    values: dict[str, Any] = {}
    if metrics:
        values = yaml.safe_load((EXAMPLES / name / metrics).read_text())
    return simulate([d.raw for d in documents.documents], values, auto_promote)


def weights_by_step(result: SimulationResult) -> list[tuple[int | None, int]]:
    """(step, weight) each time the step changes, in order."""
    seen: list[tuple[int | None, int]] = []
    for record in result.timeline:
        if not seen or seen[-1][0] != record.step:
            seen.append((record.step, record.weight))
    return seen


def time_of(result: SimulationResult, event: str) -> list[float]:
    return [r.t for r in result.timeline if r.event == event]


#: routers an example's own controller implements besides the built-in ones
OWN_ROUTERS = {"bespoke": ("skipper",)}


@pytest.mark.parametrize("name", sorted(p.parent.name for p in EXAMPLES.glob("*/rollout.yaml")))
def test_every_example_lints_clean(name: str) -> None:
    path = EXAMPLES / name / "rollout.yaml"
    own = (DeclaredRouter(key) for key in OWN_ROUTERS.get(name, ()))
    routers = default_registry().with_routers(*own)
    documents = load_documents([path], cluster_may_have_more=False, routers=routers)
    assert [str(p) for p in documents.errors] == []
    assert len(documents.rollouts) == 1


def test_the_stock_controller_refuses_the_bespoke_router() -> None:
    documents = load_documents([EXAMPLES / "bespoke" / "rollout.yaml"])
    assert [p.error.message for p in documents.errors] == [
        f"unknown traffic router 'skipper' (this controller implements {', '.join(ROUTERS)})"
    ]


def test_basic_canary_as_in_argos_getting_started() -> None:
    # setWeight 20 -> pause {} (promoted) -> 40 -> 10s -> 60 -> 10s -> 80 -> 10s -> 100
    result = run("canary-basic", auto_promote=True)
    assert result.phase == "Healthy" and result.exit_code == 0
    settled = [(r.step, r.weight) for r in result.timeline if r.event == "Paused"]
    assert settled == [(1, 20), (3, 40), (5, 60), (7, 80)]
    resumed = time_of(result, "Resumed")
    paused = time_of(result, "Paused")
    # each timed pause lasts its 10 seconds
    assert [round(r - p) for p, r in zip(paused[1:], resumed[1:], strict=True)] == [10, 10, 10]
    assert result.timeline[-1].weight == 100
    assert result.timeline[-1].old_replicas == 0 and result.timeline[-1].new_replicas == 5


def test_basic_canary_stops_at_the_indefinite_pause() -> None:
    result = run("canary-basic", auto_promote=False)
    assert result.phase == "Paused" and result.exit_code == 3
    last = result.timeline[-1]
    assert (last.step, last.weight, last.old_replicas, last.new_replicas) == (1, 20, 4, 1)


def test_nginx_canary_weights_and_pauses() -> None:
    result = run("canary-nginx", auto_promote=False)
    assert result.phase == "Healthy"
    weights = [r.weight for r in result.timeline if r.event in ("SetWeight", "Promoted")]
    assert weights[:3] == [5, 25, 50]
    assert result.timeline[-1].weight == 100
    paused, resumed = time_of(result, "Paused"), time_of(result, "Resumed")
    assert [round(r - p) for p, r in zip(paused, resumed, strict=True)] == [30, 60, 60]
    # the old stack is scaled down scaleDownDelaySeconds (30) after the promotion
    promoted = time_of(result, "Promoted")[0]
    assert time_of(result, "ScaledDown") == [promoted + 30]


def test_istio_header_route_before_any_weight() -> None:
    result = run("canary-istio-headers", auto_promote=False)
    assert result.phase == "Paused" and result.exit_code == 3
    last = result.timeline[-1]
    assert last.weight == 0 and last.new_replicas == 1
    assert "SetHeaderRoute" in [r.event for r in result.timeline]
    promoted = run("canary-istio-headers", auto_promote=True)
    assert promoted.phase == "Healthy"
    assert [r.weight for r in promoted.timeline if r.event == "Paused"] == [0, 20, 50]


def test_blue_green_waits_for_promotion_then_switches() -> None:
    waiting = run("blue-green", auto_promote=False)
    assert waiting.phase == "Paused"
    last = waiting.timeline[-1]
    assert (last.weight, last.old_replicas, last.new_replicas) == (0, 2, 2)
    result = run("blue-green", auto_promote=True)
    assert result.phase == "Healthy"
    promoted = next(r for r in result.timeline if r.event == "Promoted")
    assert promoted.weight == 100
    switched = promoted.t
    assert time_of(result, "ScaledDown") == [switched + 30]


def test_seed_custom_strategy_passes() -> None:
    result = run("custom-strategy", auto_promote=False, metrics="metrics-pass.yaml")
    assert result.phase == "Healthy"
    events = [r.event for r in result.timeline]
    # canary scaled up and header-routed while the weight is 0, tests before traffic
    first_weight = events.index("SetWeight")
    assert result.timeline[first_weight].weight == 10
    assert all(r.weight == 0 for r in result.timeline[: events.index("AnalysisSuccessful")])
    assert events.index("SetHeaderRoute") < events.index("AnalysisSuccessful") < first_weight
    assert [r.weight for r in result.timeline if r.event == "Paused"] == [10, 25, 50, 75]
    # the old stack stays ten minutes after promotion, for a fast rollback
    promoted = time_of(result, "Promoted")[0]
    assert time_of(result, "ScaledDown")[-1] == promoted + 600


def test_seed_custom_strategy_rolls_back_when_the_budget_burns() -> None:
    result = run("custom-strategy", auto_promote=False, metrics="metrics-burn.yaml")
    assert result.phase == "Degraded" and result.exit_code == 2
    aborted = time_of(result, "Aborted")[0]
    events = [r.event for r in result.timeline]
    # the analysis failed with 25% on the canary; the abort takes it all back at once
    failed = result.timeline[events.index("AnalysisFailed")]
    assert (failed.t, failed.phase, failed.weight) == (aborted, "Paused", 25)
    after = result.timeline[events.index("Aborted") :]
    assert all(r.weight == 0 for r in after)
    assert max(r.weight for r in result.timeline) == 25  # it never went further
    assert after[-1].new_replicas == 0  # canary scaled down after abortScaleDownDelaySeconds
    assert time_of(result, "ScaledDown")[-1] == aborted + 60


def test_smi_canary_writes_a_traffic_split_that_follows_the_steps() -> None:
    result = run("canary-smi", auto_promote=False)
    assert result.phase == "Healthy" and result.exit_code == 0
    assert [r.weight for r in result.timeline if r.event == "Paused"] == [10, 30, 60]
    assert result.timeline[-1].weight == 100


def test_gateway_api_canary_header_and_mirror_routes_then_weights() -> None:
    result = run("canary-gateway-api", auto_promote=False)
    assert result.phase == "Healthy" and result.exit_code == 0
    events = [r.event for r in result.timeline]
    assert events.index("SetHeaderRoute") < events.index("SetWeight")
    assert events.index("SetMirrorRoute") < events.index("SetWeight")
    header = result.timeline[events.index("SetHeaderRoute")]
    assert header.weight == 0  # testers first, no weighted traffic yet
    assert [r.weight for r in result.timeline if r.event == "Paused"] == [0, 20, 60]


def test_two_routers_move_together() -> None:
    result = run("canary-nginx-smi", auto_promote=False)
    assert result.phase == "Healthy" and result.exit_code == 0
    assert [r.weight for r in result.timeline if r.event == "Paused"] == [25, 50]
    assert result.timeline[-1].weight == 100


def test_experiment_ab_judges_a_baseline_and_a_canary_before_any_canary_traffic() -> None:
    result = run("experiment-ab", auto_promote=False, metrics="metrics-pass.yaml")
    assert result.phase == "Healthy" and result.exit_code == 0
    events = [r.event for r in result.timeline]
    assert events.index("ExperimentStarted") < events.index("ExperimentSuccessful")
    started = time_of(result, "ExperimentStarted")[0]
    done = time_of(result, "ExperimentSuccessful")[0]
    # five minutes counted from the moment the experiment's pods are available (2 s)
    assert done - started == 5 * 60 + 2
    # no canary traffic during the experiment (the weights go to its own Services)
    assert all(r.weight == 0 for r in result.timeline if r.t <= done)
    assert [r.weight for r in result.timeline if r.event == "Paused"] == [25, 50]
    assert result.timeline[-1].weight == 100


def test_experiment_ab_aborts_when_the_judge_fails() -> None:
    result = run("experiment-ab", auto_promote=False, metrics="metrics-fail.yaml")
    assert result.phase == "Degraded" and result.exit_code == 2
    assert "experiment" in result.message and "latency" in result.message
    events = [r.event for r in result.timeline]
    assert events.index("ExperimentFailed") < events.index("Aborted")
    assert max(r.weight for r in result.timeline) == 0


def test_each_event_shows_the_state_as_of_itself() -> None:
    # at 00:02 one pass sees the smoke tests pass, walks to setWeight 10 and on to the
    # pause after it, and the background analysis starts: each event at its own state
    result = run("custom-strategy", auto_promote=False, metrics="metrics-pass.yaml")
    at_2s = [(r.event, r.phase, r.step, r.weight) for r in result.timeline if r.t == 2 and r.event]
    assert at_2s == [
        ("SetHeaderRoute", "Progressing", 1, 0),
        ("AnalysisStarted", "Progressing", 2, 0),
        ("AnalysisSuccessful", "Progressing", 2, 0),
        ("SetWeight", "Progressing", 5, 10),
        ("Paused", "Paused", 6, 10),
        ("AnalysisStarted", "Paused", 6, 10),
    ]
    # what the pass changed without an event (the canary scaled to its 10%) comes after
    last_at_2s = [r for r in result.timeline if r.t == 2][-1]
    assert (last_at_2s.event, last_at_2s.new_replicas) == (None, 1)


def test_a_weight_held_below_the_step_says_why() -> None:
    # setWeight 25 with one canary pod of eight available: 12% until the second is ready
    result = run("custom-strategy", auto_promote=False, metrics="metrics-pass.yaml")
    held = [r for r in result.timeline if r.event == "SetWeight" and r.weight == 12]
    assert len(held) == 1
    assert (held[0].set_weight, held[0].weight_note) == (
        25,
        "held below 25% until the canary has the pods for it: 1 of 8 available carry 12%",
    )
    reached = [r for r in result.timeline if r.event == "SetWeight" and r.t > held[0].t][0]
    assert (reached.weight, reached.set_weight, reached.weight_note) == (25, 25, "")
