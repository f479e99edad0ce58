"""The pure analysis engine: measurement -> metric -> run, templates and manifests."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from progressive.core._analysis import (
    EMPTY_RESULT_MESSAGE,
    ERROR_RETRY_INTERVAL,
    NAN_RESULT_MESSAGE,
    AnalysisPhase,
    AnalysisRun,
    AnalysisTemplate,
    Arg,
    MeasurementFailure,
    MeasurementOutcome,
    MeasurementRetention,
    Metric,
    TemplateRef,
    build_analysis_run,
    collect_templates,
    due_metrics,
    evaluate_measurement,
    next_measurement_at,
    record,
    resolve_metric,
    start_measurement,
    terminate,
)
from progressive.core._references import analysis_problems
from progressive.core._rollout import Rollout
from progressive.errors import ManifestError

from .world import canary_manifest

P = AnalysisPhase
PROM = {"prometheus": {"address": "http://prom:9090", "query": "up"}}


# -- helpers ---------------------------------------------------------------------------------


def metric(name: str = "m", **fields: Any) -> dict[str, Any]:
    return {"name": name, "provider": PROM, **fields}


def template(
    *metrics: dict[str, Any], name: str = "t", kind: str = "AnalysisTemplate", **spec: Any
) -> AnalysisTemplate:
    return AnalysisTemplate.from_manifest(template_manifest(*metrics, name=name, kind=kind, **spec))


def template_manifest(
    *metrics: object, name: str = "t", kind: str = "AnalysisTemplate", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"metrics": list(metrics), **spec},
    }


def new_run(
    *metrics: dict[str, Any],
    args: Sequence[Arg] = (),
    dry_run: Sequence[str] = (),
    retention: Sequence[tuple[str, int]] = (),
    now: float = 0.0,
    **spec: Any,
) -> AnalysisRun:
    return build_analysis_run(
        "run",
        "ns",
        [template(*metrics, **spec)],
        args,
        {"app": "web"},
        now,
        dry_run=dry_run,
        measurement_retention=retention,
    )


def feed(
    run: AnalysisRun,
    outcomes: Iterable[object],
    name: str = "m",
    start: float = 0.0,
    step: float = 10.0,
) -> AnalysisRun:
    """Record ``outcomes`` for ``name`` at ``start``, ``start + step``, ..."""
    now = start
    for outcome in outcomes:
        run = record(run, name, outcome, now)
        now += step
    return run


def phases(run: AnalysisRun, name: str = "m") -> tuple[AnalysisPhase, AnalysisPhase]:
    result = run.result(name)
    assert result is not None
    return result.phase, run.phase


OK, BAD = 1.0, 0.0  # with successCondition "result >= 0.5"
ERR = MeasurementFailure("connection refused")
CHECK = {"successCondition": "result >= 0.5"}
SUCCESS_ONLY = {"failureLimit": -1}  # judged by consecutiveSuccessLimit alone


# -- one measurement -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("success", "failure", "value", "expected"),
    [
        (None, None, 42, P.SUCCESSFUL),  # no conditions: Successful (the code, not the docs)
        ("result > 1", None, 2, P.SUCCESSFUL),
        ("result > 1", None, 0, P.FAILED),  # only success: Failed when false
        (None, "result > 1", 2, P.FAILED),
        (None, "result > 1", 0, P.SUCCESSFUL),  # only failure: Successful when false
        ("result > 5", "result < 1", 10, P.SUCCESSFUL),
        ("result > 5", "result < 1", 0, P.FAILED),
        ("result > 5", "result < 1", 3, P.INCONCLUSIVE),  # neither true
        ("result > 0", "result > 1", 2, P.FAILED),  # both true: failure wins
        ("result[0] >= 0.95", None, [0.99], P.SUCCESSFUL),  # a Prometheus vector
        ("all(result, # < 1000)", None, [1.0, 999.0], P.SUCCESSFUL),  # a matrix
        ("result < 0.01", None, 0, P.SUCCESSFUL),  # int results compare with floats
    ],
)
def test_measurement_conditions(
    success: str | None, failure: str | None, value: object, expected: AnalysisPhase
) -> None:
    m = Metric("m", PROM, success_condition=success, failure_condition=failure)
    assert evaluate_measurement(m, value) == (expected, "")


@pytest.mark.parametrize("empty", [None, [], ()])
def test_empty_result_that_a_condition_indexes_is_an_error(empty: object) -> None:
    # Argo's behaviour, kept under `emptyResult: conditions`
    m = Metric("m", PROM, success_condition="result[0] < 0.01", empty_result="conditions")
    phase, message = evaluate_measurement(m, empty)
    assert phase is P.ERROR
    expected = f'could not evaluate successCondition "result[0] < 0.01": {EMPTY_RESULT_MESSAGE}'
    assert message == expected


def test_empty_result_is_judged_when_the_conditions_decide() -> None:
    m = Metric(
        "m", PROM, success_condition="len(result) == 0 || result[0] < 1", empty_result="conditions"
    )
    assert evaluate_measurement(m, [])[0] is P.SUCCESSFUL


@pytest.mark.parametrize("empty", [None, [], ()])
@pytest.mark.parametrize(
    ("success", "failure"),
    [
        ("result[0] < 0.01", None),
        ("len(result) == 0 || result[0] < 1", None),  # Argo's "empty passes" idiom
        ("all(result, # < 1)", None),  # all() of nothing is true
        (None, "len(result) > 0 && result[0] > 0.05"),
        (None, None),  # no condition at all: Successful under Argo
    ],
)
def test_by_default_an_empty_result_never_passes(
    empty: object, success: str | None, failure: str | None
) -> None:
    m = Metric("m", PROM, success_condition=success, failure_condition=failure)
    assert evaluate_measurement(m, empty) == (
        P.ERROR,
        f"{EMPTY_RESULT_MESSAGE} (emptyResult: error)",
    )


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("error", P.ERROR), ("failed", P.FAILED), ("inconclusive", P.INCONCLUSIVE)],
)
@pytest.mark.parametrize("value", [math.nan, [math.nan], [0.001, math.nan]])
def test_nan_policy(policy: str, expected: P, value: object) -> None:
    m = Metric("m", PROM, success_condition="result[0] < 0.01", nan_result=policy)
    phase, message = evaluate_measurement(m, value)
    assert phase is expected
    assert message == f"{NAN_RESULT_MESSAGE} (nanResult: {policy})"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("error", P.ERROR), ("failed", P.FAILED), ("inconclusive", P.INCONCLUSIVE)],
)
def test_empty_policy(policy: str, expected: P) -> None:
    m = Metric("m", PROM, success_condition="len(result) == 0", empty_result=policy)
    assert evaluate_measurement(m, [])[0] is expected
    assert evaluate_measurement(m, [1.0])[0] is P.FAILED  # data: the conditions judge


def test_by_default_nan_never_passes_a_failure_only_condition() -> None:
    m = Metric("m", PROM, failure_condition="result[0] > 0.05")
    assert evaluate_measurement(m, [math.nan])[0] is P.ERROR
    assert evaluate_measurement(m, [0.01])[0] is P.SUCCESSFUL


@pytest.mark.parametrize(
    ("success", "failure", "expected"),
    [
        ("result[0] < 0.01", None, P.FAILED),  # NaN never passes a success condition
        ("result[0] >= 0.99", None, P.FAILED),
        ("result[0] < 0.01", "result[0] > 0.05", P.INCONCLUSIVE),
        # Argo's behaviour, documented: a failure-only condition lets NaN through.
        (None, "result[0] > 0.05", P.SUCCESSFUL),
        ("!isNaN(result[0]) && result[0] < 0.01", None, P.FAILED),
    ],
)
def test_nan_compares_false_when_the_conditions_decide(
    success: str | None, failure: str | None, expected: P
) -> None:
    m = Metric(
        "m", PROM, success_condition=success, failure_condition=failure, nan_result="conditions"
    )
    assert evaluate_measurement(m, [math.nan])[0] is expected


def test_policies_are_read_written_and_validated() -> None:
    m = Metric.from_manifest(metric(emptyResult="inconclusive", nanResult="conditions"))
    assert (m.empty_result, m.nan_result) == ("inconclusive", "conditions")
    assert Metric.from_manifest(m.to_manifest()) == m
    assert "emptyResult" not in Metric.from_manifest(metric()).to_manifest()
    with pytest.raises(ManifestError, match="emptyResult: must be one of error, failed"):
        Metric.from_manifest(metric(emptyResult="pass"))


def test_a_provider_can_judge_a_measurement_itself() -> None:
    run = new_run(metric(successCondition="result == 1"))
    run = record(run, "m", MeasurementOutcome(P.FAILED, 0, "job failed"), 0.0)
    result = run.result("m")
    assert result is not None and result.phase is P.FAILED
    assert (result.last and result.last.value, result.last and result.last.message) == (
        0,
        "job failed",
    )
    with pytest.raises(ValueError, match="completed"):
        MeasurementOutcome(P.RUNNING)


@pytest.mark.parametrize(
    ("condition", "value"),
    [("result.rate > 1", 5), ("result + 1", 1), ("result[3] > 1", [1.0]), ("result > 1", "x")],
)
def test_evaluation_errors_make_an_error_measurement(condition: str, value: object) -> None:
    phase, message = evaluate_measurement(Metric("m", PROM, success_condition=condition), value)
    assert phase is P.ERROR
    assert message.startswith(f'could not evaluate successCondition "{condition}": ')


# -- metric phase ----------------------------------------------------------------------------


def test_count_three_interval_ten_is_successful_at_the_third() -> None:
    run = new_run(metric(interval="10s", count=3, **CHECK))
    for now, expected in [(0, P.RUNNING), (10, P.RUNNING), (20, P.SUCCESSFUL)]:
        assert [m.name for m in due_metrics(run, now)] == ["m"]
        run = record(run, "m", OK, now)
        assert phases(run) == (expected, expected)
    result = run.result("m")
    assert result is not None
    assert (result.count, result.successful, result.consecutive_success) == (3, 3, 3)
    assert run.status.completed_at == 20
    assert due_metrics(run, 1000) == ()
    assert next_measurement_at(run) is None


@pytest.mark.parametrize(
    ("fields", "outcomes", "expected"),
    [
        # failureLimit: failed > limit fails the metric
        ({"count": 5, "failureLimit": 1}, [BAD], P.RUNNING),
        ({"count": 5, "failureLimit": 1}, [BAD, OK, BAD], P.FAILED),
        ({"count": 3, "failureLimit": 1}, [BAD, OK, OK], P.SUCCESSFUL),
        ({"count": 3}, [BAD], P.FAILED),  # default failureLimit 0
        # inconclusiveLimit
        ({"count": 5, "inconclusiveLimit": 1, "failureCondition": "result < 0"}, [0.2], P.RUNNING),
        (
            {"count": 5, "inconclusiveLimit": 1, "failureCondition": "result < 0"},
            [0.2, 0.2],
            P.INCONCLUSIVE,
        ),
        ({"count": 5, "failureCondition": "result < 0"}, [0.2], P.INCONCLUSIVE),
        # consecutiveErrorLimit (default 4): errors do not count towards count
        ({"count": 2}, [ERR] * 4, P.RUNNING),
        ({"count": 2}, [ERR] * 5, P.ERROR),
        ({"count": 2}, [ERR] * 4 + [OK] + [ERR] * 4 + [OK], P.SUCCESSFUL),
        ({"count": 2, "consecutiveErrorLimit": 0}, [ERR], P.ERROR),
        # consecutiveSuccessLimit
        ({"count": 3, **SUCCESS_ONLY, "consecutiveSuccessLimit": 2}, [BAD, OK, OK], P.SUCCESSFUL),
        ({"count": 3, **SUCCESS_ONLY, "consecutiveSuccessLimit": 2}, [OK, BAD, OK], P.FAILED),
        (
            {"count": 4, "failureLimit": 2, "consecutiveSuccessLimit": 2},
            [BAD, OK, BAD, OK],
            P.INCONCLUSIVE,
        ),
        ({**SUCCESS_ONLY, "consecutiveSuccessLimit": 3}, [OK, OK, BAD, OK, OK, OK], P.SUCCESSFUL),
        # later checks override earlier ones: consecutive errors beat failures
        ({"count": 9, "failureLimit": 0, "consecutiveErrorLimit": 0}, [BAD], P.FAILED),
        # no count: runs until terminated
        ({}, [OK] * 12, P.RUNNING),
    ],
)
def test_metric_phase(fields: dict[str, Any], outcomes: list[object], expected: P) -> None:
    run = new_run(metric(interval="10s", **{**CHECK, **fields}))
    run = feed(run, outcomes)
    assert phases(run)[0] is expected
    if expected.completed:
        assert run.phase is expected  # a single metric: the run follows it


def test_consecutive_errors_reset_by_a_success() -> None:
    run = feed(new_run(metric(interval="10s", count=5, **CHECK)), [ERR] * 4 + [OK])
    result = run.result("m")
    assert result is not None
    assert (result.error, result.consecutive_error, result.count) == (4, 0, 1)
    assert run.phase is P.RUNNING


def test_messages_name_the_limit() -> None:
    run = feed(new_run(metric(interval="10s", count=5, failureLimit=1, **CHECK)), [BAD, BAD])
    assert run.status.message == 'Metric "m" assessed Failed due to failed (2) > failureLimit (1)'
    run = feed(new_run(metric(interval="10s", count=5, **CHECK)), [ERR] * 5)
    assert run.status.message == (
        'Metric "m" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4)'
        ': "Error Message: connection refused"'
    )
    assert run.result("m") is not None


def test_single_measurement_without_interval_or_count() -> None:
    run = new_run(metric(**CHECK))
    assert next_measurement_at(run) == 0
    run = record(run, "m", OK, 0)
    assert phases(run) == (P.SUCCESSFUL, P.SUCCESSFUL)


def test_error_without_interval_is_retried_after_ten_seconds() -> None:
    run = record(new_run(metric(**CHECK)), "m", ERR, 5)
    assert next_measurement_at(run) == 5 + ERROR_RETRY_INTERVAL
    assert due_metrics(run, 14.9) == ()
    assert [m.name for m in due_metrics(run, 15)] == ["m"]
    run = record(run, "m", OK, 15)
    assert run.phase is P.SUCCESSFUL


def test_error_retry_is_ten_seconds_even_with_a_longer_interval() -> None:
    run = record(new_run(metric(interval="5m", **CHECK)), "m", ERR, 0)
    assert next_measurement_at(run) == ERROR_RETRY_INTERVAL
    run = record(run, "m", OK, 10)
    assert next_measurement_at(run) == 310


# -- scheduling ------------------------------------------------------------------------------


def test_initial_delay_counts_from_the_run_start() -> None:
    run = new_run(metric("late", initialDelay="1m", **CHECK), metric("now", **CHECK), now=100)
    assert [m.name for m in due_metrics(run, 100)] == ["now"]
    run = record(run, "now", OK, 100)
    assert due_metrics(run, 159) == ()
    assert next_measurement_at(run) == 160
    assert [m.name for m in due_metrics(run, 160)] == ["late"]
    run = record(run, "late", OK, 160)
    assert run.phase is P.SUCCESSFUL


def test_interval_is_measured_from_the_last_finish() -> None:
    run = record(new_run(metric(interval="1m30s", count=2, **CHECK)), "m", OK, 3)
    assert next_measurement_at(run) == 93
    assert due_metrics(run, 92) == ()
    assert len(due_metrics(run, 93)) == 1


def test_in_flight_measurement_is_finished_by_record() -> None:
    run = start_measurement(new_run(metric(interval="10s", count=2, **CHECK)), "m", 0)
    assert phases(run) == (P.RUNNING, P.RUNNING)
    assert due_metrics(run, 100) == ()
    assert next_measurement_at(run) is None
    run = record(run, "m", OK, 7)
    result = run.result("m")
    assert result is not None and len(result.measurements) == 1
    assert (result.measurements[0].started_at, result.measurements[0].finished_at) == (0, 7)
    assert next_measurement_at(run) == 17


# -- the run ---------------------------------------------------------------------------------


def test_dry_run_metric_failing_does_not_fail_the_run() -> None:
    run = new_run(metric("real", **CHECK), metric("trial", **CHECK), dry_run=["tri.*"])
    run = record(run, "trial", BAD, 0)
    assert phases(run, "trial") == (P.FAILED, P.RUNNING)
    assert [m.name for m in due_metrics(run, 0)] == ["real"]  # not terminating
    run = record(run, "real", OK, 0)
    assert run.phase is P.SUCCESSFUL
    trial = run.result("trial")
    assert trial is not None and trial.dry_run
    assert trial.message == "Metric assessed Failed due to failed (1) > failureLimit (0)"
    assert (run.status.run_summary.count, run.status.run_summary.successful) == (1, 1)
    assert run.status.dry_run_summary is not None
    assert (run.status.dry_run_summary.count, run.status.dry_run_summary.failed) == (1, 1)


def test_only_dry_run_metrics_end_successful() -> None:
    run = record(new_run(metric(**CHECK), dry_run=["*"]), "m", BAD, 0)
    assert run.phase is P.SUCCESSFUL


def test_a_failing_metric_terminates_the_run_and_open_metrics_resolve_successful() -> None:
    run = new_run(
        metric("open", interval="10s", **CHECK), metric("gate", interval="10s", count=5, **CHECK)
    )
    run = record(run, "open", OK, 0)
    run = record(run, "gate", BAD, 0)
    assert phases(run, "open") == (P.SUCCESSFUL, P.FAILED)
    assert phases(run, "gate") == (P.FAILED, P.FAILED)
    assert due_metrics(run, 100) == ()
    assert next_measurement_at(run) is None
    assert record(run, "open", OK, 10) == run  # a completed run ignores late outcomes


def test_run_waits_for_every_metric() -> None:
    run = new_run(metric("a", **CHECK), metric("b", **CHECK))
    run = record(run, "a", OK, 0)
    assert run.phase is P.RUNNING and run.status.completed_at is None
    run = record(run, "b", OK, 1)
    assert run.phase is P.SUCCESSFUL and run.status.completed_at == 1


def test_terminate_resolves_open_metrics_successful() -> None:
    run = feed(new_run(metric(interval="10s", **CHECK)), [OK, OK])
    run = terminate(run, 25)
    assert phases(run) == (P.SUCCESSFUL, P.SUCCESSFUL)
    assert run.terminate and run.status.message == "Run Terminated"
    assert run.status.completed_at == 25
    assert due_metrics(run, 100) == () and next_measurement_at(run) is None
    assert terminate(run, 30) == run


def test_terminate_before_any_measurement_is_successful() -> None:
    run = terminate(new_run(metric(**CHECK)), 1)
    assert run.phase is P.SUCCESSFUL and run.status.metric_results == ()


def test_terminate_finishes_in_flight_measurements() -> None:
    run = start_measurement(new_run(metric(interval="10s", count=3, **CHECK)), "m", 0)
    run = terminate(run, 4)
    result = run.result("m")
    assert result is not None
    assert result.measurements[-1].message == "Metric Terminated"
    assert (result.measurements[-1].phase, result.successful, result.phase) == (
        P.SUCCESSFUL,
        1,
        P.SUCCESSFUL,
    )


def test_terminate_keeps_a_completed_verdict() -> None:
    run = record(new_run(metric(**CHECK)), "m", BAD, 0)
    assert terminate(run, 5).phase is P.FAILED


@pytest.mark.parametrize(
    ("phases_", "expected"),
    [
        ((P.SUCCESSFUL, P.SUCCESSFUL), P.SUCCESSFUL),
        ((P.INCONCLUSIVE, P.SUCCESSFUL), P.INCONCLUSIVE),
        ((P.INCONCLUSIVE, P.ERROR), P.ERROR),
        ((P.FAILED, P.ERROR), P.FAILED),
        ((P.ERROR, P.INCONCLUSIVE), P.ERROR),
    ],
)
def test_run_phase_is_the_worst_metric_phase(
    phases_: tuple[AnalysisPhase, AnalysisPhase], expected: AnalysisPhase
) -> None:
    base = new_run(metric("a", **CHECK), metric("b", **CHECK)).to_manifest()
    base["status"]["metricResults"] = [
        {"name": n, "phase": p.value, "measurements": [{"phase": p.value, "finishedAt": 1}]}
        for n, p in zip("ab", phases_, strict=True)
    ]
    run = terminate(AnalysisRun.from_manifest(base), 2)
    assert run.phase is expected


def test_measurement_retention_keeps_the_last_n_while_counters_count() -> None:
    run = new_run(
        metric("m", interval="10s", failureLimit=1, **CHECK),
        metric("other", interval="10s", **CHECK),
        retention=[("^m$", 3)],
    )
    run = feed(run, [OK, BAD, ERR, OK, OK], name="m")
    run = feed(run, [OK] * 12, name="other")
    m, other = run.result("m"), run.result("other")
    assert m is not None and other is not None
    assert [x.finished_at for x in m.measurements] == [20, 30, 40]
    assert (m.count, m.successful, m.failed, m.error) == (4, 3, 1, 1)
    assert len(other.measurements) == 10 and other.count == 12  # default retention


# -- building runs ---------------------------------------------------------------------------


def test_args_are_substituted_in_provider_and_conditions() -> None:
    t = template(
        metric(
            provider={
                "web": {"url": "http://{{ args.host }}/x", "headers": [{"value": "{{args.host}}"}]}
            },
            successCondition="result >= {{args.min}}",
        ),
        args=[{"name": "host"}, {"name": "min", "value": "0.9"}],
    )
    assert t.metrics[0].success_condition == "result >= {{args.min}}"  # checked at build
    run = build_analysis_run("r", "ns", [t], [Arg("host", "web.ns")], None, 0)
    m = run.metrics[0]
    assert m.provider == {"web": {"url": "http://web.ns/x", "headers": [{"value": "web.ns"}]}}
    assert m.success_condition == "result >= 0.9"
    assert record(run, "m", 0.95, 0).phase is P.SUCCESSFUL


NUMBERS = {
    "count": "{{args.runs}}",
    "interval": "{{args.every}}",
    "initialDelay": "{{ args.every }}",
    "failureLimit": "{{args.fails}}",
    "inconclusiveLimit": "{{args.unsure}}",
}


def test_numeric_fields_take_args_as_in_argo() -> None:
    """Argo's e2e template analysis-secret-args: count, interval, initialDelay and
    failureLimit from args, read when the run is built."""
    t = template(
        metric(**NUMBERS),
        args=[{"name": "runs", "value": "10"}, {"name": "every", "value": "100s"}]
        + [{"name": "fails"}, {"name": "unsure", "value": "1"}],
    )
    (held,) = t.metrics
    assert held.deferred == NUMBERS and held.count is None  # read at build time
    assert AnalysisTemplate.from_manifest(t.to_manifest()) == t
    run = build_analysis_run("r", "ns", [t], [Arg("fails", "2")], None, 0)
    (m,) = run.metrics
    assert (m.count, m.interval, m.initial_delay) == (10, 100, 100)
    assert (m.failure_limit, m.inconclusive_limit, m.deferred) == (2, 1, {})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            [Arg("runs", "lots"), Arg("every", "1m"), Arg("fails", "0"), Arg("unsure", "0")],
            ["count: must be an integer, got 'lots'"],
        ),
        (
            [Arg("runs", "3"), Arg("every", "1m"), Arg("fails", "4"), Arg("unsure", "0")],
            ["count: must be at least failureLimit + consecutiveSuccessLimit (4 + 0), got 3"],
        ),
        (
            [Arg("runs", "3"), Arg("every", "soon"), Arg("fails", "0"), Arg("unsure", "0")],
            ["interval: must be a duration such as 30, '30s', '5m' or '1h', got 'soon'"]
            + ["initialDelay: must be a duration such as 30, '30s', '5m' or '1h', got 'soon'"],
        ),
        (
            [Arg("runs", None, {"secretKeyRef": {"name": "s", "key": "k"}})]
            + [Arg("every", "1m"), Arg("fails", "0"), Arg("unsure", "0")],
            ["count: {{args.runs}} has no value here (a Secret's value cannot set count)"],
        ),
    ],
)
def test_numeric_fields_are_checked_once_their_args_are_in(
    args: list[Arg], expected: list[str]
) -> None:
    t = template(
        metric(**NUMBERS), args=[{"name": n} for n in ("runs", "every", "fails", "unsure")]
    )
    with pytest.raises(ManifestError) as info:
        build_analysis_run("r", "ns", [t], args, None, 0)
    assert [str(e) for e in info.value.errors] == [
        f"AnalysisTemplate/t.spec.metrics[0].{line}" for line in expected
    ]


def test_rollout_args_override_template_args() -> None:
    t = template(
        metric(successCondition="result > {{args.min}}"), args=[{"name": "min", "value": "5"}]
    )
    run = build_analysis_run("r", "ns", [t], [Arg("min", "1"), Arg("unused", "x")], None, 0)
    assert run.metrics[0].success_condition == "result > 1"
    assert [(a.name, a.value) for a in run.args] == [("min", "1")]


def test_missing_arg_is_an_error_naming_it() -> None:
    t = template(metric(provider={"web": {"url": "{{args.host}}"}}), args=[{"name": "host"}])
    with pytest.raises(ManifestError) as info:
        build_analysis_run("r", "ns", [t], [], None, 0)
    assert [str(e) for e in info.value.errors] == [
        "AnalysisTemplate/t.spec.args[0]: argument 'host' has no value and was not supplied"
    ]


def test_unknown_placeholder_and_bad_substituted_condition_are_errors() -> None:
    t = template(
        metric(provider={"web": {"url": "{{args.nope}}"}}, successCondition="result > {{args.op}}"),
        args=[{"name": "op", "value": ">"}],
    )
    with pytest.raises(ManifestError) as info:
        build_analysis_run("r", "ns", [t], [], None, 0)
    paths = [e.path for e in info.value.errors]
    assert paths == [
        "AnalysisTemplate/t.spec.metrics[0].provider",
        "AnalysisTemplate/t.spec.metrics[0].successCondition",
    ]
    assert "{{args.nope}}" in info.value.errors[0].message


def test_secret_args_keep_their_placeholder_for_the_caller() -> None:
    t = template(
        metric(provider={"web": {"url": "x", "headers": [{"value": "Bearer {{args.token}}"}]}}),
        args=[{"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    )
    run = build_analysis_run("r", "ns", [t], [], None, 0)
    assert run.metrics[0].provider["web"]["headers"][0]["value"] == "Bearer {{args.token}}"
    ready = resolve_metric(run.metrics[0], {"token": "sekret"})
    assert ready.provider["web"]["headers"][0]["value"] == "Bearer sekret"
    assert AnalysisRun.from_manifest(run.to_manifest()) == run  # the secret is not stored


def test_template_args_with_different_values_conflict() -> None:
    a = template(metric("a"), name="a", args=[{"name": "x", "value": "1"}])
    b = template(metric("b"), name="b", args=[{"name": "x", "value": "2"}])
    with pytest.raises(ManifestError, match="different values"):
        build_analysis_run("r", "ns", [a, b], [], None, 0)
    c = template(metric("c"), name="c", args=[{"name": "x"}])
    run = build_analysis_run("r", "ns", [c, a], [], None, 0)
    assert [(x.name, x.value) for x in run.args] == [("x", "1")]


def test_template_composition() -> None:
    leaf = template(metric("latency"), name="leaf", kind="ClusterAnalysisTemplate")
    mid = template(
        metric("errors"),
        name="mid",
        templates=[{"templateName": "leaf", "clusterScope": True}, {"templateName": "top"}],
    )
    top = template(metric("success"), name="top", templates=[{"templateName": "mid"}])
    store = {t.ref: t for t in (leaf, mid, top)}
    found = collect_templates([TemplateRef("top")], store.get)  # a cycle top -> mid -> top
    assert [t.name for t in found] == ["top", "mid", "leaf"]
    run = build_analysis_run("r", "ns", found, [], None, 0)
    assert [m.name for m in run.metrics] == ["success", "errors", "latency"]  # cluster last
    with pytest.raises(ManifestError) as info:
        build_analysis_run("r", "ns", [top], [], None, 0)
    assert [e.path for e in info.value.errors] == ["AnalysisTemplate/top.spec.templates[0]"]


def test_missing_composed_template() -> None:
    top = template(metric("a"), name="top", templates=[{"templateName": "gone"}])
    with pytest.raises(ManifestError) as info:
        collect_templates(
            [TemplateRef("top"), TemplateRef("x", cluster_scope=True)], {top.ref: top}.get
        )
    assert [str(e) for e in info.value.errors] == [
        "AnalysisTemplate/top.spec.templates[0]: AnalysisTemplate 'gone' not found",
        "templates[1]: ClusterAnalysisTemplate 'x' not found",
    ]


def _stored(*manifests: dict[str, Any]) -> Any:
    """A lookup of templates as a cluster stores them, by reference."""
    store = {
        TemplateRef(m["metadata"]["name"], m["kind"] == "ClusterAnalysisTemplate"): m
        for m in manifests
    }
    return store.get


def test_the_templates_a_rollout_misses_are_named_at_their_paths() -> None:
    top = template_manifest(metric("a"), name="top", templates=[{"templateName": "gone"}])
    steps = [
        {"setWeight": 10},
        {"analysis": {"templates": [{"templateName": "top"}, {"templateName": "nope"}]}},
        {"analysis": {"templates": [{"templateName": "c", "clusterScope": True}]}},
    ]
    rollout = Rollout.from_manifest(canary_manifest(steps, routing=False))
    assert [str(e) for e in analysis_problems(rollout, _stored(top))] == [
        "spec.strategy.canary.steps[1].analysis.templates: AnalysisTemplate 'gone' not found "
        "(AnalysisTemplate/top.spec.templates[0])",
        "spec.strategy.canary.steps[1].analysis.templates[1]: AnalysisTemplate 'nope' not found",
        "spec.strategy.canary.steps[2].analysis.templates[0]: "
        "ClusterAnalysisTemplate 'c' not found",
    ]
    gone = template_manifest(metric("b"), name="gone")
    c = template_manifest(metric("c"), name="c", kind="ClusterAnalysisTemplate")
    nope = template_manifest(metric("d"), name="nope")
    assert analysis_problems(rollout, _stored(top, gone, c, nope)) == []


def test_an_analysis_whose_run_cannot_be_built_is_named_before_any_run() -> None:
    """What used to make an Error run without metrics (which the API server refuses
    under our CRD, in a create loop): an invalid template, an arg without a value, a
    run that cannot be built from templates that each read well."""
    needs_service = template_manifest(
        metric("rate", successCondition="result > {{args.floor}}"),
        name="rate",
        args=[{"name": "service"}, {"name": "floor", "value": "0.9"}],
    )
    broken = template_manifest(metric("m", count=-1), name="broken")
    also_rate = template_manifest(metric("rate"), name="also-rate")
    background = {
        "templates": [{"templateName": "rate"}],
        "args": [{"name": "service", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    }
    steps = [
        {"setWeight": 10},
        {"analysis": {"templates": [{"templateName": "rate"}]}},
        {"analysis": {"templates": [{"templateName": "broken"}]}},
        {
            "analysis": {
                "templates": [{"templateName": "rate"}, {"templateName": "also-rate"}],
                "args": [{"name": "service", "value": "web"}],
            }
        },
        {
            "analysis": {
                "templates": [{"templateName": "rate"}],
                "args": [{"name": "service", "value": "web"}, {"name": "floor", "value": "x y"}],
            }
        },
        # an experiment's analyses are the Experiment's to check, as in Argo
        {
            "experiment": {
                "templates": [{"name": "base", "specRef": "stable"}],
                "analyses": [{"name": "a", "templateName": "absent"}],
            }
        },
    ]
    manifest = canary_manifest(steps, routing=False, extra={"analysis": background})
    rollout = Rollout.from_manifest(manifest)
    problems = [
        str(e) for e in analysis_problems(rollout, _stored(needs_service, broken, also_rate))
    ]
    at = "spec.strategy.canary.steps"
    assert problems[0] == (
        f"{at}[1].analysis.args: argument 'service' has no value and was not supplied "
        "(AnalysisTemplate/rate.spec.args[0])"
    )
    assert problems[1].startswith(
        f"{at}[2].analysis.templates[0]: AnalysisTemplate 'broken' is invalid: "
    )
    assert "spec.metrics[0].count" in problems[1]
    assert problems[2] == (
        f"{at}[3].analysis.templates: duplicate metric name 'rate' "
        "(also AnalysisTemplate/rate.spec.metrics[0]) "
        "(AnalysisTemplate/also-rate.spec.metrics[0].name)"
    )
    assert problems[3].startswith(f"{at}[4].analysis.templates: ")
    assert "successCondition" in problems[3]
    assert len(problems) == 4, problems  # the background analysis's fieldRef counts as given


def test_duplicate_metric_names_across_templates() -> None:
    a, b = template(metric("m"), name="a"), template(metric("m"), name="b")
    with pytest.raises(ManifestError) as info:
        build_analysis_run("r", "ns", [a, b], [], None, 0)
    assert str(info.value.errors[0]) == (
        "AnalysisTemplate/b.spec.metrics[0].name: duplicate metric name 'm' "
        "(also AnalysisTemplate/a.spec.metrics[0])"
    )


def test_rules_must_match_a_metric() -> None:
    with pytest.raises(ManifestError) as info:
        new_run(metric(), dry_run=["nothing"], retention=[("m", 2), ("m", 3)])
    assert [str(e) for e in info.value.errors] == [
        "dryRun[0].metricName: 'nothing' matches no metric",
        "measurementRetention[1].metricName: duplicate rule 'm'",
    ]


def test_build_accepts_retention_objects_and_keeps_labels() -> None:
    run = build_analysis_run(
        "r",
        "ns",
        [template(metric())],
        [],
        {"a": "b"},
        3,
        measurement_retention=[MeasurementRetention("m", 1)],
    )
    assert run.retention_limit("m") == 1 and run.labels == {"a": "b"}
    assert (run.status.phase, run.status.started_at) == (P.RUNNING, 3)


# -- manifests -------------------------------------------------------------------------------


def test_metric_fields_and_defaults() -> None:
    m = Metric.from_manifest(
        metric(
            interval="1m30s",
            initialDelay=30,
            count="3",
            failureLimit="-1",
            consecutiveSuccessLimit=2,
            successCondition="result > 1",
        )
    )
    assert (m.interval, m.initial_delay, m.count, m.failure_limit) == (90, 30, 3, -1)
    assert (m.inconclusive_limit, m.consecutive_error_limit) == (0, 4)
    assert m.provider_name == "prometheus"
    assert Metric.from_manifest(metric(interval="1h")).interval == 3600
    assert Metric.from_manifest(metric(interval="5m")).effective_count is None
    assert Metric.from_manifest(metric()).effective_count == 1
    assert Metric.from_manifest(metric(interval="", successCondition="")) == Metric("m", PROM)


def test_cluster_template() -> None:
    t = template(metric(), name="c", kind="ClusterAnalysisTemplate")
    assert (t.cluster_scope, t.namespace, t.kind) == (True, None, "ClusterAnalysisTemplate")
    manifest = {**template_manifest(metric()), "apiVersion": "progressive.dev/v1alpha1"}
    t = AnalysisTemplate.from_manifest(manifest)
    assert (t.cluster_scope, t.namespace) == (False, "ns")


M1 = "spec.metrics[1]"


def bad(**fields: Any) -> dict[str, Any]:
    return template_manifest(metric("ok"), {"name": "bad", "provider": PROM, **fields})


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (bad(failureLimit="x"), f"{M1}.failureLimit: must be an integer, got 'x'"),
        (bad(failureLimit=1.5), f"{M1}.failureLimit: must be an integer, got 1.5"),
        (bad(failureLimit=True), f"{M1}.failureLimit: must be an integer, got True"),
        (bad(failureLimit=-2), f"{M1}.failureLimit: must be between -1 and"),
        (bad(failureLimit=10**30), f"{M1}.failureLimit: must be between -1 and"),
        (bad(failureLimit=10**5000), f"{M1}.failureLimit: must be between -1 and"),
        (bad(count="99999999999"), f"{M1}.count: must be an integer"),
        (bad(count=-1), f"{M1}.count: must be between 0 and"),
        (bad(interval="5x"), f"{M1}.interval: must be a duration"),
        (bad(interval=10**400), f"{M1}.interval: "),
        (bad(interval=math.inf), f"{M1}.interval: "),
        (bad(interval=0), f"{M1}.interval: must be greater than 0"),
        (bad(initialDelay=[1]), f"{M1}.initialDelay: must be a duration"),
        (bad(count=3), f"{M1}.interval: is required when count > 1"),
        (
            bad(count=2, interval=1, failureLimit=3),
            f"{M1}.count: must be at least failureLimit + consecutiveSuccessLimit (3 + 0)",
        ),
        (
            bad(count=3, interval=1, failureLimit=-1, consecutiveSuccessLimit=4),
            f"{M1}.count: must be at least consecutiveSuccessLimit, got 3",
        ),
        (
            bad(count=1, interval=1, inconclusiveLimit=2),
            f"{M1}.count: must be at least inconclusiveLimit",
        ),
        (bad(failureLimit=-1), f"{M1}.failureLimit: cannot be -1 unless"),
        (bad(consecutiveErrorLimit=-1), f"{M1}.consecutiveErrorLimit: must be"),
        (bad(successCondition="result >"), f"{M1}.successCondition: invalid expression"),
        (bad(failureCondition="nope > 1"), f"{M1}.failureCondition: invalid expression"),
        (bad(successCondition=5), f"{M1}.successCondition: must be a string"),
        (bad(provider=None), f"{M1}.provider: is required"),
        (bad(provider=[]), f"{M1}.provider: must be an object, got list"),
        (bad(provider={}), f"{M1}.provider: must set exactly one provider"),
        (
            bad(provider={"web": {"url": "x"}, **PROM}),
            f"{M1}.provider: must set exactly one provider (prometheus, web, job, ...), got 2",
        ),
        (bad(provider={"prometheus": {}}), f"{M1}.provider.prometheus: must be a non-empty"),
        (bad(provider={"job": "x"}), f"{M1}.provider.job: must be a non-empty"),
        (bad(provider={"plugin": {"a": {}, "b": {}}}), f"{M1}.provider.plugin: must name"),
        (bad(name=None), f"{M1}.name: is required"),
        (bad(name="ok"), f"{M1}.name: duplicate metric name (also metrics[0])"),
        (template_manifest(5), "spec.metrics[0]: must be an object, got int"),
        (template_manifest(None), "spec.metrics[0]: must be an object, got null"),
        (template_manifest(), "spec.metrics: must list at least one metric"),
        ({**template_manifest(metric()), "kind": "Rollout"}, "kind: must be AnalysisTemplate or"),
        ({**template_manifest(metric()), "apiVersion": "v1"}, "apiVersion: must be one of"),
        ({**template_manifest(metric()), "metadata": {}}, "metadata.name: is required"),
        (
            template_manifest(metric(), dryRun=[{"metricName": "("}]),
            "spec.dryRun[0].metricName: must be '*' or a regular expression",
        ),
        (
            template_manifest(metric(), measurementRetention=[{"metricName": "m", "limit": "x"}]),
            "spec.measurementRetention[0].limit: must be an integer",
        ),
        (
            template_manifest(metric(), args=[{"name": "a", "value": "1", "valueFrom": {"x": {}}}]),
            "spec.args[0].valueFrom: must not be set together with value",
        ),
        (
            template_manifest(metric(), args=[{"name": "a"}, {"name": "a"}]),
            "spec.args[1].name: duplicate argument 'a'",
        ),
        (
            template_manifest(metric(), args=[{"name": "a", "value": {"x": 1}}]),
            "spec.args[0].value: must be a string",
        ),
        (
            template_manifest(metric(), templates=[{"clusterScope": "yes"}]),
            "spec.templates[0].templateName: is required",
        ),
        ("junk", "must be an object, got str"),
        (None, "apiVersion: is required"),
    ],
)
def test_malformed_templates_report_field_paths(manifest: object, expected: str) -> None:
    with pytest.raises(ManifestError) as info:
        AnalysisTemplate.from_manifest(manifest)
    assert any(str(e).startswith(expected) for e in info.value.errors), info.value.errors


def test_all_errors_are_collected() -> None:
    manifest = template_manifest(
        {"name": "a", "provider": PROM, "failureLimit": "x", "interval": "?"},
        {"name": "b", "successCondition": "((("},
    )
    with pytest.raises(ManifestError) as info:
        AnalysisTemplate.from_manifest(manifest)
    assert sorted(e.path for e in info.value.errors) == [
        "spec.metrics[0].failureLimit",
        "spec.metrics[0].interval",
        f"{M1}.provider",
        f"{M1}.successCondition",
    ]


def test_unknown_fields_are_warnings_only() -> None:
    t = AnalysisTemplate.from_manifest(template_manifest(metric(sucessCondition="result > 1")))
    assert t.metrics[0].success_condition is None


def test_run_round_trip() -> None:
    run = build_analysis_run(
        "run",
        "ns",
        [
            template(
                metric(
                    "m",
                    interval="1m",
                    count=9,
                    failureLimit=3,
                    inconclusiveLimit=3,
                    successCondition="result[0] > 0.5",
                    failureCondition="result[0] < 0.1",
                    consecutiveErrorLimit=9,
                ),
                metric("dry", interval="2.5s", initialDelay="1.5s", **CHECK),
                args=[{"name": "a"}],
                dryRun=[{"metricName": "dry"}],
            )
        ],
        [Arg("a", "1")],
        {"app": "web"},
        1.5,
        measurement_retention=[("m", 2)],
    )
    run = feed(run, [[0.9], [0.2], ERR, [], [0.05]], start=1.5, step=60.25)
    run = record(run, "dry", BAD, 3.0)
    run = start_measurement(run, "dry", 5.5)
    for state in (run, terminate(run, 400)):
        manifest = state.to_manifest()
        assert AnalysisRun.from_manifest(manifest) == state
        assert AnalysisRun.from_manifest(manifest).to_manifest() == manifest
    manifest = run.to_manifest()
    assert manifest["apiVersion"] == "argoproj.io/v1alpha1" and manifest["kind"] == "AnalysisRun"
    assert manifest["spec"]["metrics"][1]["interval"] == "2.5s"
    assert manifest["status"]["startedAt"] == "1970-01-01T00:00:01.500000Z"
    result = manifest["status"]["metricResults"][0]
    assert set(result) >= {"consecutiveError", "consecutiveSuccess", "inconclusive"}
    assert result["measurements"][-1]["value"] == "[0.05]"  # a string, as Argo stores it


def test_run_manifest_resolves_args_and_validates() -> None:
    manifest = new_run(metric()).to_manifest()
    manifest["spec"]["metrics"][0]["successCondition"] = "result > {{args.min}}"
    manifest["spec"]["args"] = [{"name": "min", "value": "3"}]
    run = AnalysisRun.from_manifest(manifest)
    assert run.metrics[0].success_condition == "result > 3"
    manifest["spec"]["args"] = [{"name": "min"}]
    manifest["status"]["phase"] = "Sideways"
    manifest["status"]["startedAt"] = "yesterday"
    with pytest.raises(ManifestError) as info:
        AnalysisRun.from_manifest(manifest)
    assert sorted(e.path for e in info.value.errors) == [
        "spec.args[0]",
        "status.phase",
        "status.startedAt",
    ]


def test_unknown_metric_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        record(new_run(metric()), "nope", 1, 0)


# -- fuzzing ---------------------------------------------------------------------------------

FIELD_NAMES = [
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "labels",
    "spec",
    "metrics",
    "args",
    "value",
    "valueFrom",
    "dryRun",
    "metricName",
    "measurementRetention",
    "limit",
    "templates",
    "templateName",
    "clusterScope",
    "interval",
    "initialDelay",
    "count",
    "successCondition",
    "failureCondition",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
    "consecutiveSuccessLimit",
    "provider",
    "prometheus",
    "plugin",
    "terminate",
    "status",
    "phase",
    "message",
    "metricResults",
    "measurements",
    "startedAt",
    "finishedAt",
    "completedAt",
    "runSummary",
    "dryRunSummary",
    "dryRun",
    "consecutiveError",
]
SPEC_FIELDS = ["args", "dryRun", "measurementRetention", "templates", "terminate"]
METRIC_FIELDS = [
    "interval",
    "initialDelay",
    "count",
    "successCondition",
    "failureCondition",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
    "consecutiveSuccessLimit",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from([10**400, -(10**30), 2**31, 2**63, 1e300])
    | st.sampled_from(
        [
            "",
            "30s",
            "1m30s",
            "-1",
            "3",
            "*",
            "(",
            "result > 1",
            "result >",
            "{{args.x}}",
            "argoproj.io/v1alpha1",
            "AnalysisTemplate",
            "ClusterAnalysisTemplate",
            "AnalysisRun",
            "Failed",
            "Running",
            "2024-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
        ]
    )
)
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=6) | st.integers() | st.none()
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=25,
)


def maybe(valid: Any) -> st.SearchStrategy[Any]:
    return st.just(valid) | junk


metric_like = st.fixed_dictionaries(
    {"name": maybe("m"), "provider": maybe(PROM)},
    optional={k: junk for k in METRIC_FIELDS},
)
template_like = st.fixed_dictionaries(
    {
        "apiVersion": maybe("argoproj.io/v1alpha1"),
        "kind": st.sampled_from(["AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun"])
        | junk,
        "metadata": maybe({"name": "t"}),
        "spec": st.fixed_dictionaries(
            {"metrics": st.lists(metric_like | junk, max_size=3) | junk},
            optional={k: junk for k in SPEC_FIELDS},
        )
        | junk,
    },
    optional={"status": junk},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk | template_like)
def test_from_manifest_on_junk_raises_only_manifest_error(obj: object) -> None:
    for load in (AnalysisTemplate.from_manifest, AnalysisRun.from_manifest, Metric.from_manifest):
        try:
            load(obj)
        except ManifestError as exc:
            assert exc.errors and all(e.severity == "error" for e in exc.errors)


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "count": st.integers(0, 6),
            "failureLimit": st.integers(0, 2),
            "inconclusiveLimit": st.integers(0, 2),
            "consecutiveErrorLimit": st.integers(0, 3),
        }
    ),
    st.lists(st.sampled_from([1.0, 0.0, 0.3, math.nan, None, [], ERR]), max_size=12),
)
def test_engine_invariants(fields: dict[str, Any], outcomes: list[object]) -> None:
    count = fields["count"]
    fields["count"] = max(count, fields["failureLimit"], fields["inconclusiveLimit"])
    run = new_run(
        metric(
            interval="10s",
            successCondition="result >= 0.5",
            failureCondition="result < 0.2",
            **fields,
        ),
        retention=[("m", 3)],
    )
    now = 0.0
    for outcome in outcomes:
        if not due_metrics(run, now):
            at = next_measurement_at(run)
            if at is None:
                assert run.completed
                break
            now = max(now, at)
        run = record(run, "m", outcome, now)
        result = run.result("m")
        assert result is not None
        assert result.count == result.successful + result.failed + result.inconclusive
        assert len(result.measurements) <= 3
        assert run.completed == result.phase.completed
        assert AnalysisRun.from_manifest(run.to_manifest()) == run


def test_non_finite_values_are_written_as_prometheus_strings() -> None:
    import json

    run = new_run(metric(interval="10s", count=3, nanResult="conditions", successCondition="true"))
    run = record(run, "m", [math.nan, math.inf, -math.inf, 1.0], 0.0)
    manifest = run.to_manifest()
    text = json.dumps(manifest, allow_nan=False)  # the API server refuses NaN
    value = manifest["status"]["metricResults"][0]["measurements"][0]["value"]
    assert value == '["NaN","+Inf","-Inf",1.0]' and "NaN" in text
    assert AnalysisRun.from_manifest(manifest) == run
