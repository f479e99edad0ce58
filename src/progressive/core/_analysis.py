"""The analysis engine: pure functions that move an AnalysisRun forward (Argo's semantics).

No I/O, no clock: ``now`` is always passed in, in seconds.  The shell asks
:func:`due_metrics` what to measure, runs the providers, hands each outcome to
:func:`record`, and sleeps until :func:`next_measurement_at`.

Theory of operation
-------------------
A run is judged bottom-up, and every step is recomputed from the counters, never from
history, so trimming old measurements changes nothing::

    measurement  one value, judged by the conditions with ``result`` bound to it
                   no conditions                 -> Successful
                   success only                  -> Successful if true, else Failed
                   failure only                  -> Failed if true, else Successful
                   both                          -> Failed if failure is true (it wins),
                                                    Successful if success is true,
                                                    else Inconclusive
                   provider or evaluation error  -> Error
        |  bumps counters: count (not for Error), successful / failed / inconclusive /
        |  error, consecutiveError (reset by any non-Error), consecutiveSuccess (reset by
        v  anything but Successful)
    metric       Pending (nothing measured), Running (in flight or more to come), then,
                 the later check winning:  failed > failureLimit (unless -1) -> Failed;
                 inconclusive > inconclusiveLimit -> Inconclusive;
                 consecutiveError > consecutiveErrorLimit -> Error.
                 Otherwise consecutiveSuccess >= consecutiveSuccessLimit (when set)
                 -> Successful; count reached -> Successful, unless a consecutive-success
                 limit is set and unmet (Inconclusive with a failureLimit, else Failed);
                 still open and the run terminating -> Successful.  Completed is final.
        v
    run          Running until every non-dry-run metric is complete, then the worst
                 phase: Successful < Running < Pending < Inconclusive < Error < Failed.
                 A non-dry-run Failed / Error / Inconclusive metric, or ``terminate``,
                 makes the run *terminating*: nothing new is measured, open-ended metrics
                 resolve Successful, and the run completes at once with the worst phase
                 so far (Successful if nothing completed).  Dry-run metrics are measured
                 and judged like the others but only feed ``dry_run_summary``.

Argo reaches a terminating run's verdict on the reconcile after the failing one; here
:func:`record` settles it in the same call.  Due times compare with ``>=`` (Argo uses a
strict ``After`` on a wall clock; with an exact fake clock ``>=`` saves a tick).

Empty and NaN results
---------------------
Explicit per-metric settings, progressive.dev extensions that Argo manifests lack, with
defaults under which missing data never passes silently:

* ``emptyResult`` (default ``error``): a result of ``None`` or ``[]`` (an empty
  Prometheus vector, a JSON ``null``) makes the measurement Error with
  :data:`EMPTY_RESULT_MESSAGE`, whatever the conditions say.  Argo gets the same Error
  for the usual ``result[0] >= 0.95``, but lets ``all(result, # < 1)``, a metric without
  conditions, or ``len(result) == 0 || ...`` pass on no data.  Five in a row put the
  metric in Error (default ``consecutiveErrorLimit`` 4).
* ``nanResult`` (default ``error``): a result that is NaN or a list holding a NaN (a
  ratio over no traffic, ``0/0``) makes the measurement Error with
  :data:`NAN_RESULT_MESSAGE`.  Under Argo, NaN compares false with everything, so a
  failure-only condition such as ``result[0] > 0.05`` lets it pass.

Each also takes ``failed`` or ``inconclusive`` (that phase), or ``conditions``: Argo's
behaviour, the value goes to the conditions (an empty result they cannot index is still
Error; NaN compares false).  A provider that judges for itself (a Job: complete or
failed) returns a :class:`MeasurementOutcome` with the phase; no policy or condition
applies to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

import attrs

from ..errors import EvaluationError, ExpressionError, FieldProblem, ManifestError
from ._analysis_model import (
    DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    DEFAULT_EMPTY_RESULT,
    DEFAULT_MEASUREMENT_RETENTION,
    DEFAULT_NAN_RESULT,
    RESULT_POLICIES,
    AnalysisPhase,
    AnalysisRun,
    AnalysisRunStatus,
    AnalysisTemplate,
    Arg,
    Measurement,
    MeasurementRetention,
    Metric,
    MetricResult,
    RunSummary,
    TemplateRef,
    compile_condition,
    read_analysis_run,
    read_analysis_template,
    resolve_metric,
    rule_matches,
    substitute_args,
)
from ._analysis_values import freeze_value
from ._stored_values import bounded, stored_value

__all__ = [
    "DEFAULT_CONSECUTIVE_ERROR_LIMIT",
    "DEFAULT_EMPTY_RESULT",
    "DEFAULT_MEASUREMENT_RETENTION",
    "DEFAULT_NAN_RESULT",
    "EMPTY_RESULT_MESSAGE",
    "EMPTY_RESULT_PHASE",
    "ERROR_RETRY_INTERVAL",
    "NAN_RESULT_MESSAGE",
    "RESULT_POLICIES",
    "AnalysisPhase",
    "AnalysisRun",
    "AnalysisRunStatus",
    "AnalysisTemplate",
    "Arg",
    "Measurement",
    "MeasurementFailure",
    "MeasurementOutcome",
    "MeasurementRetention",
    "Metric",
    "MetricResult",
    "RunSummary",
    "TemplateRef",
    "assess_metric",
    "build_analysis_run",
    "collect_templates",
    "due_metrics",
    "evaluate_measurement",
    "is_terminating",
    "next_measurement_at",
    "read_analysis_run",
    "read_analysis_template",
    "record",
    "resolve_metric",
    "start",
    "start_measurement",
    "terminate",
]

#: Seconds before a measurement that ended in Error is retried (whatever the interval).
ERROR_RETRY_INTERVAL: Final = 10.0
#: The phase of a measurement whose conditions cannot be evaluated on an empty result
#: (and, by default, of any measurement with an empty result).
EMPTY_RESULT_PHASE: Final = AnalysisPhase.ERROR
EMPTY_RESULT_MESSAGE: Final = (
    "metric result is nil or empty: no data returned from the metric provider"
)
NAN_RESULT_MESSAGE: Final = "metric result is NaN: no data to judge (a ratio over no traffic?)"
TERMINATED_MESSAGE: Final = "Metric Terminated"

P = AnalysisPhase
# Best to worst (Argo's analysisStatusOrder).
_RANK: Final = {
    phase: rank
    for rank, phase in enumerate(
        (P.SUCCESSFUL, P.RUNNING, P.PENDING, P.INCONCLUSIVE, P.ERROR, P.FAILED)
    )
}


@attrs.frozen
class MeasurementFailure:
    """The outcome of a measurement whose provider failed (a value, not an exception)."""

    message: str


@attrs.frozen
class MeasurementOutcome:
    """A measurement its provider judged itself (a Job: complete or failed).

    ``phase`` must be a completed phase; the conditions and the empty/NaN policies are
    not applied.  ``value`` is stored as the measurement's value.
    """

    phase: AnalysisPhase
    value: object = None
    message: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.phase.completed:
            raise ValueError(f"a measurement outcome must be completed, got {self.phase}")


# -- one measurement -------------------------------------------------------------------------


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, list | tuple) and not value)


def _is_nan(value: object) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list | tuple):
        return any(isinstance(v, float) and math.isnan(v) for v in value)
    return False


_POLICY_PHASES: Final = {"error": P.ERROR, "failed": P.FAILED, "inconclusive": P.INCONCLUSIVE}


def evaluate_measurement(metric: Metric, value: object) -> tuple[AnalysisPhase, str]:
    """Judge one value against the metric's conditions: ``(phase, message)``.

    ``result`` is bound to ``value``: a number, a list of numbers (a Prometheus vector),
    ``None`` or ``[]`` for no data, or any plain data a provider returns.  An empty or
    NaN result first meets the metric's ``emptyResult`` / ``nanResult`` policy.
    """
    for is_missing, policy, key, why in (
        (_is_empty, metric.empty_result, "emptyResult", EMPTY_RESULT_MESSAGE),
        (_is_nan, metric.nan_result, "nanResult", NAN_RESULT_MESSAGE),
    ):
        if policy != "conditions" and is_missing(value):
            return _POLICY_PHASES.get(policy, P.ERROR), f"{why} ({key}: {policy})"
    verdicts: list[bool | None] = []
    for key, source in (
        ("successCondition", metric.success_condition),
        ("failureCondition", metric.failure_condition),
    ):
        if not source:
            verdicts.append(None)
            continue
        try:
            verdicts.append(compile_condition(source).evaluate_bool({"result": value}))
        except (ExpressionError, EvaluationError) as exc:
            if _is_empty(value):
                return EMPTY_RESULT_PHASE, f'could not evaluate {key} "{source}": ' + (
                    EMPTY_RESULT_MESSAGE
                )
            return P.ERROR, f'could not evaluate {key} "{source}": {exc}'
    success, failure = verdicts
    if success is None and failure is None:
        return P.SUCCESSFUL, ""
    if failure is None:
        failure = not success
    if success is None:
        success = not failure
    if failure:
        return P.FAILED, ""
    return (P.SUCCESSFUL if success else P.INCONCLUSIVE), ""


def _counted(result: MetricResult, phase: AnalysisPhase) -> MetricResult:
    """Argo's bookkeeping when a measurement completes with ``phase``."""
    if phase is P.ERROR:
        return attrs.evolve(
            result,
            error=result.error + 1,
            consecutive_error=result.consecutive_error + 1,
            consecutive_success=0,
        )
    return attrs.evolve(
        result,
        count=result.count + 1,
        successful=result.successful + (phase is P.SUCCESSFUL),
        failed=result.failed + (phase is P.FAILED),
        inconclusive=result.inconclusive + (phase is P.INCONCLUSIVE),
        consecutive_error=0,
        consecutive_success=result.consecutive_success + 1 if phase is P.SUCCESSFUL else 0,
    )


# -- one metric ------------------------------------------------------------------------------


def _limit_breached(metric: Metric, result: MetricResult) -> tuple[AnalysisPhase | None, str]:
    phase: AnalysisPhase | None = None
    message = ""
    if metric.failure_limit >= 0 and result.failed > metric.failure_limit:
        phase = P.FAILED
        message = f"failed ({result.failed}) > failureLimit ({metric.failure_limit})"
    if result.inconclusive > metric.inconclusive_limit:
        phase = P.INCONCLUSIVE
        message = (
            f"inconclusive ({result.inconclusive}) > "
            f"inconclusiveLimit ({metric.inconclusive_limit})"
        )
    if result.consecutive_error > metric.consecutive_error_limit:
        phase = P.ERROR
        message = (
            f"consecutiveErrors ({result.consecutive_error}) > "
            f"consecutiveErrorLimit ({metric.consecutive_error_limit})"
        )
    return phase, message


def assess_metric(metric: Metric, result: MetricResult, terminating: bool) -> AnalysisPhase:
    """The metric's phase from its counters (Argo's ``assessMetricStatus``)."""
    if result.phase.completed:
        return result.phase
    last = result.last
    if last is None:
        return P.SUCCESSFUL if terminating else P.PENDING
    if not last.phase.completed:
        return P.RUNNING
    breached, _ = _limit_breached(metric, result)
    if breached is not None:
        return breached
    success_limit = metric.consecutive_success_limit
    if success_limit > 0 and result.consecutive_success >= success_limit:
        return P.SUCCESSFUL
    count = metric.effective_count
    if count is not None and result.count >= count:
        if success_limit > 0:
            return P.INCONCLUSIVE if metric.failure_limit >= 0 else P.FAILED
        return P.SUCCESSFUL
    return P.SUCCESSFUL if terminating else P.RUNNING


# -- the run ---------------------------------------------------------------------------------


def is_terminating(run: AnalysisRun) -> bool:
    """``terminate`` was requested, or a non-dry-run metric ended badly."""
    return run.terminate or any(
        not r.dry_run and r.phase in (P.FAILED, P.ERROR, P.INCONCLUSIVE)
        for r in run.status.metric_results
    )


def _with_results(run: AnalysisRun, results: Iterable[MetricResult]) -> AnalysisRun:
    return attrs.evolve(run, status=attrs.evolve(run.status, metric_results=tuple(results)))


def _set_result(run: AnalysisRun, result: MetricResult) -> AnalysisRun:
    results = list(run.status.metric_results)
    for i, old in enumerate(results):
        if old.name == result.name:
            results[i] = result
            break
    else:
        results.append(result)
    return _with_results(run, results)


def _settle(run: AnalysisRun, terminating: bool, now: float) -> AnalysisRun:
    """Finish in-flight measurements when terminating; re-assess and trim every metric."""
    metrics = {m.name: m for m in run.metrics}
    results = []
    for result in run.status.metric_results:
        last = result.last
        if terminating and last is not None and last.finished_at is None:
            done = attrs.evolve(
                last, phase=P.SUCCESSFUL, message=TERMINATED_MESSAGE, finished_at=now
            )
            result = _counted(
                attrs.evolve(result, measurements=(*result.measurements[:-1], done)),
                P.SUCCESSFUL,
            )
        metric = metrics.get(result.name)
        if metric is not None:
            phase = assess_metric(metric, result, terminating)
            if phase != result.phase:
                message = result.last.message if result.last is not None else result.message
                result = attrs.evolve(result, phase=phase, message=message)
        limit = run.retention_limit(result.name)
        if len(result.measurements) > limit:
            result = attrs.evolve(result, measurements=result.measurements[-limit:])
        results.append(result)
    return _with_results(run, bounded(results))


def _tally(summary: RunSummary, phase: AnalysisPhase | None) -> RunSummary:
    field = {P.FAILED: "failed", P.ERROR: "error", P.INCONCLUSIVE: "inconclusive"}.get(
        phase or P.SUCCESSFUL, "successful"
    )
    return attrs.evolve(summary, **{field: getattr(summary, field) + 1})


def _assess_run(run: AnalysisRun, terminating: bool, now: float) -> AnalysisRun:
    """Argo's ``assessRunStatus``: the run's phase, message and summaries."""
    worst: AnalysisPhase | None = None
    worst_message = "Run Terminated" if run.terminate else ""
    completed = True
    summary, dry_summary = RunSummary(), RunSummary()
    results = {r.name: r for r in run.status.metric_results}
    for metric in run.metrics:
        dry = run.is_dry_run(metric.name)
        if dry:
            dry_summary = attrs.evolve(dry_summary, count=dry_summary.count + 1)
        else:
            summary = attrs.evolve(summary, count=summary.count + 1)
        result = results.get(metric.name)
        if result is None or not result.phase.completed:
            completed = False
            continue
        breached, why = _limit_breached(metric, result)
        if dry:
            worst = worst or P.SUCCESSFUL
            if why:
                results[metric.name] = attrs.evolve(
                    result, message=f"Metric assessed {result.phase} due to {why}"
                )
            dry_summary = _tally(dry_summary, breached)
            continue
        if worst is None or _RANK[result.phase] > _RANK[worst]:
            worst = result.phase
            if why:
                worst_message = f'Metric "{metric.name}" assessed {result.phase} due to {why}'
                if result.message:
                    worst_message += f': "Error Message: {result.message}"'
        summary = _tally(summary, breached)
    if terminating:
        phase, message = worst or P.SUCCESSFUL, worst_message.strip()
    elif not completed or worst is None:
        phase, message = P.RUNNING, ""
    else:
        phase, message = worst, worst_message.strip()
    status = attrs.evolve(
        run.status,
        metric_results=tuple(results[r.name] for r in run.status.metric_results),
        run_summary=summary,
        dry_run_summary=dry_summary,
    )
    if phase != status.phase:
        status = attrs.evolve(status, phase=phase, message=message)
        if phase.completed and status.completed_at is None:
            status = attrs.evolve(status, completed_at=now)
    return attrs.evolve(run, status=status)


def _assess(run: AnalysisRun, now: float) -> AnalysisRun:
    run = start(run, now)
    terminating = is_terminating(run)
    run = _settle(run, terminating, now)
    if not terminating and is_terminating(run):
        # A metric just failed: settle the others as terminating now rather than on the
        # next reconcile, as Argo would.
        terminating = True
        run = _settle(run, terminating, now)
    return _assess_run(run, terminating, now)


def start(run: AnalysisRun, now: float) -> AnalysisRun:
    """Mark the run started at ``now`` (idempotent).  ``initialDelay`` counts from here."""
    status = run.status
    if status.started_at is not None:
        return run
    phase = P.RUNNING if status.phase is P.PENDING else status.phase
    return attrs.evolve(run, status=attrs.evolve(status, started_at=now, phase=phase))


# -- what to measure, and when ---------------------------------------------------------------


def _wait_after(metric: Metric, last: Measurement) -> float | None:
    """Seconds between ``last`` finishing and the next measurement; None: no more."""
    if last.phase is P.ERROR:
        return ERROR_RETRY_INTERVAL
    return metric.interval


def _due_at(run: AnalysisRun, metric: Metric) -> float | None:
    """When ``metric`` next needs a measurement; None: not (or not yet knowable)."""
    result = run.result(metric.name)
    if result is not None and result.phase.completed:
        return None
    last = result.last if result is not None else None
    if last is None:
        started = run.status.started_at
        if metric.initial_delay:
            return None if started is None else started + metric.initial_delay
        return started if started is not None else -math.inf
    if last.finished_at is None:
        return None  # in flight: the caller completes it with record()
    count = metric.effective_count
    assert result is not None
    if count is not None and result.count >= count:
        return None
    wait = _wait_after(metric, last)
    return None if wait is None else last.finished_at + wait


def due_metrics(run: AnalysisRun, now: float) -> tuple[Metric, ...]:
    """The metrics to measure at ``now``, in spec order.

    None once the run is complete or terminating, or for a metric that is complete,
    has reached its count, has a measurement in flight, is still in its
    ``initialDelay`` (counted from ``status.started_at``; a run that was never
    :func:`start`-ed waits), or measured less than its interval ago (10 s after an
    Error, whatever the interval).
    """
    if run.completed or is_terminating(run):
        return ()
    due = []
    for metric in run.metrics:
        at = _due_at(run, metric)
        if at is not None and now >= at:
            due.append(metric)
    return tuple(due)


def next_measurement_at(run: AnalysisRun) -> float | None:
    """The earliest time :func:`due_metrics` returns something; None if never by itself.

    It may lie in the past when something is due already (``-inf`` for a metric of an
    unstarted run).  In-flight measurements are the caller's to finish and are not
    counted.
    """
    if run.completed or is_terminating(run):
        return None
    times = [t for t in (_due_at(run, m) for m in run.metrics) if t is not None]
    return min(times, default=None)


# -- moving the run forward ------------------------------------------------------------------


def _open_result(run: AnalysisRun, metric_name: str) -> MetricResult | None:
    """The metric's result to add to, or None when the metric takes no more."""
    run.metric(metric_name)  # KeyError for an unknown metric: a caller's bug
    result = run.result(metric_name)
    if result is None:
        return MetricResult(metric_name, P.RUNNING, dry_run=run.is_dry_run(metric_name))
    return None if result.phase.completed else result


def start_measurement(run: AnalysisRun, metric_name: str, now: float) -> AnalysisRun:
    """Record that a long measurement (a Job, say) started; :func:`record` finishes it."""
    if run.completed or is_terminating(run):
        return run
    result = _open_result(run, metric_name)
    if result is None or (result.last is not None and result.last.finished_at is None):
        return run
    started = Measurement(P.RUNNING, started_at=now)
    run = _set_result(run, attrs.evolve(result, measurements=(*result.measurements, started)))
    return _assess(run, now)


def record(
    run: AnalysisRun,
    metric_name: str,
    outcome: object,
    now: float,
    *,
    redact: Callable[[object], object] | None = None,
) -> AnalysisRun:
    """Add one finished measurement of ``metric_name`` and re-assess the run.

    ``outcome`` is the provider's value (a float, an int, a list of floats, None or
    ``[]`` for no data, or other plain data), a :class:`MeasurementFailure`, or a
    :class:`MeasurementOutcome` (a phase the provider decided).  It
    completes the measurement in flight, if any, or adds a new one.  A completed run or
    metric ignores it.

    The conditions judge the whole value; the measurement keeps it within the bounds of
    :mod:`~progressive.core._stored_values` (a long value's beginning and a marker), after
    ``redact`` (the shell's secret masking: a secret cut in two would not be found).

    Raises:
        KeyError: the run has no metric ``metric_name``.
    """
    if run.completed:
        return run
    result = _open_result(run, metric_name)
    if result is None:
        return run
    last = result.last
    in_flight = last is not None and last.finished_at is None
    if not in_flight and is_terminating(run):
        return _assess(run, now)  # a terminating run starts nothing new
    if isinstance(outcome, MeasurementFailure):
        phase, message, value = P.ERROR, outcome.message, None
    elif isinstance(outcome, MeasurementOutcome):
        phase, message, value = outcome.phase, outcome.message, freeze_value(outcome.value)
    else:
        phase, message = evaluate_measurement(run.metric(metric_name), outcome)
        value = freeze_value(outcome)
    if redact is not None and value is not None:
        value = freeze_value(redact(value))
    value = stored_value(value)
    started = last.started_at if last is not None and in_flight else None
    measurement = Measurement(phase, value, message, now if started is None else started, now)
    kept = result.measurements[:-1] if in_flight else result.measurements
    result = _counted(attrs.evolve(result, measurements=(*kept, measurement)), phase)
    return _assess(_set_result(run, result), now)


def terminate(run: AnalysisRun, now: float) -> AnalysisRun:
    """``spec.terminate``: stop measuring; open metrics resolve Successful.

    The run completes at once with the worst phase reached so far (Successful if
    none); in-flight measurements finish Successful with "Metric Terminated".
    """
    if run.terminate and run.completed:
        return run
    run = attrs.evolve(run, terminate=True)
    return run if run.completed else _assess(run, now)


# -- building runs ---------------------------------------------------------------------------


def _where(template: AnalysisTemplate) -> str:
    return f"{template.kind}/{template.name}"


def collect_templates(
    refs: Iterable[TemplateRef], lookup: Callable[[TemplateRef], AnalysisTemplate | None]
) -> tuple[AnalysisTemplate, ...]:
    """The templates ``refs`` name plus those they compose (``spec.templates``), once each.

    ``lookup`` returns the template a reference names, or None when there is none.
    Cycles are harmless.

    Raises:
        ManifestError: a referenced template does not exist.
    """
    errors: list[FieldProblem] = []
    found: list[AnalysisTemplate] = []
    seen: set[TemplateRef] = set()
    pending: list[tuple[TemplateRef, str]] = [
        (ref, f"templates[{i}]") for i, ref in enumerate(refs)
    ]
    pending.reverse()
    while pending:
        ref, path = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        template = lookup(ref)
        if template is None:
            errors.append(FieldProblem(path, f"{ref.kind} {ref.template_name!r} not found"))
            continue
        found.append(template)
        nested = [
            (inner, f"{_where(template)}.spec.templates[{i}]")
            for i, inner in enumerate(template.templates)
        ]
        pending.extend(reversed(nested))
    if errors:
        raise ManifestError(errors)
    return tuple(found)


def _merge_args(
    templates: Sequence[AnalysisTemplate], supplied: Sequence[Arg], errors: list[FieldProblem]
) -> tuple[Arg, ...]:
    """Argo's ``flattenArgs`` then ``MergeArgs``: the rollout's values win."""
    merged: dict[str, tuple[Arg, str]] = {}
    for template in templates:
        for i, arg in enumerate(template.args):
            path = f"{_where(template)}.spec.args[{i}]"
            previous = merged.get(arg.name)
            if previous is None or previous[0].value is None:
                merged[arg.name] = (arg, path)
            elif arg.value is not None and arg.value != previous[0].value:
                errors.append(
                    FieldProblem(
                        path,
                        f"argument {arg.name!r} has different values in two templates: "
                        f"{previous[0].value!r} ({previous[1]}) and {arg.value!r}",
                    )
                )
    for arg in supplied:
        if arg.name not in merged:
            continue  # Argo ignores arguments no template declares
        old, path = merged[arg.name]
        if arg.value is not None:
            merged[arg.name] = (attrs.evolve(old, value=arg.value, value_from=None), path)
        elif arg.value_from is not None:
            merged[arg.name] = (attrs.evolve(old, value=None, value_from=arg.value_from), path)
    for arg, path in merged.values():
        if arg.value is None and arg.value_from is None:
            errors.append(
                FieldProblem(path, f"argument {arg.name!r} has no value and was not supplied")
            )
    return tuple(arg for arg, _ in merged.values())


def _merge_rules(
    own: Iterable[tuple[str, str]],
    templates: Sequence[AnalysisTemplate],
    metric_names: Sequence[str],
    errors: list[FieldProblem],
    retention: bool,
) -> list[str]:
    """Check ``dryRun`` / ``measurementRetention`` rules: unique, each matching a metric."""
    field = "measurementRetention" if retention else "dryRun"
    rules = list(own)
    for template in templates:
        names = (
            [r.metric_name for r in template.measurement_retention]
            if retention
            else list(template.dry_run)
        )
        rules += [(n, f"{_where(template)}.spec.{field}[{i}]") for i, n in enumerate(names)]
    seen: set[str] = set()
    for pattern, path in rules:
        if pattern in seen:
            errors.append(FieldProblem(f"{path}.metricName", f"duplicate rule {pattern!r}"))
        elif not any(rule_matches(pattern, name) for name in metric_names):
            errors.append(FieldProblem(f"{path}.metricName", f"{pattern!r} matches no metric"))
        seen.add(pattern)
    return [pattern for pattern, _ in rules]


def build_analysis_run(
    name: str,
    namespace: str,
    templates: Sequence[AnalysisTemplate],
    args: Sequence[Arg],
    labels: Mapping[str, str] | None,
    now: float,
    *,
    dry_run: Sequence[str] = (),
    measurement_retention: Sequence[MeasurementRetention | tuple[str, int]] = (),
) -> AnalysisRun:
    """A started AnalysisRun from ``templates`` (Argo's ``NewAnalysisRunFromTemplates``).

    ``templates`` must include every template they compose (see
    :func:`collect_templates`).  Metrics of namespaced templates come first, then those
    of cluster templates, each in order.  ``args`` (the rollout's) override the
    templates' values; callers resolve ``valueFrom`` (``fieldRef``,
    ``podTemplateHashValue``) before passing them.  An arg left with only a
    ``valueFrom`` (a secret) keeps its placeholder for :func:`resolve_metric`.
    ``dry_run`` and ``measurement_retention`` are the rollout's rules, added to the
    templates' own.

    Raises:
        ManifestError: a duplicate metric name, an arg with no value, a placeholder
            naming no arg, a condition that does not parse once substituted, a
            composed template that was not supplied, or a rule matching no metric.
    """
    errors: list[FieldProblem] = []
    unique: dict[TemplateRef, AnalysisTemplate] = {}
    for template in templates:
        unique.setdefault(template.ref, template)
    for template in unique.values():
        for i, ref in enumerate(template.templates):
            if ref not in unique:
                errors.append(
                    FieldProblem(
                        f"{_where(template)}.spec.templates[{i}]",
                        f"{ref.kind} {ref.template_name!r} was not supplied "
                        "(collect_templates finds composed templates)",
                    )
                )
    ordered = sorted(unique.values(), key=lambda t: t.cluster_scope)  # stable
    metrics: list[tuple[Metric, str]] = []
    first: dict[str, str] = {}
    for template in ordered:
        for j, metric in enumerate(template.metrics):
            path = f"{_where(template)}.spec.metrics[{j}]"
            if metric.name in first:
                errors.append(
                    FieldProblem(
                        f"{path}.name",
                        f"duplicate metric name {metric.name!r} (also {first[metric.name]})",
                    )
                )
                continue
            first[metric.name] = path
            metrics.append((metric, path))
    if not metrics:
        errors.append(FieldProblem("templates", "the templates define no metrics"))
    merged_args = _merge_args(ordered, args, errors)
    values = {a.name: a.value for a in merged_args}
    resolved = [substitute_args(metric, values, errors, path) for metric, path in metrics]
    names = [m.name for m, _ in metrics]
    dry = _merge_rules(
        ((p, f"dryRun[{i}]") for i, p in enumerate(dry_run)), ordered, names, errors, False
    )
    retention_rules = [
        r if isinstance(r, MeasurementRetention) else MeasurementRetention(*r)
        for r in measurement_retention
    ]
    _merge_rules(
        ((r.metric_name, f"measurementRetention[{i}]") for i, r in enumerate(retention_rules)),
        ordered,
        names,
        errors,
        True,
    )
    if errors:
        raise ManifestError(errors)
    run = AnalysisRun(
        name=name,
        namespace=namespace,
        metrics=tuple(resolved),
        args=merged_args,
        dry_run=tuple(dry),
        measurement_retention=(
            *retention_rules,
            *(r for t in ordered for r in t.measurement_retention),
        ),
        labels=dict(labels or {}),
    )
    return start(run, now)
