"""AnalysisRuns and Experiments: creating them for a Rollout, and moving them forward.

The judging is pure (``progressive.core._analysis``); this module only fetches
templates, asks a :class:`~progressive.metrics.MetricProvider` for values, and stores
the run's status.  The experiment runner is deliberately tiny: an Experiment becomes
Running, then Successful once its ``duration`` has passed (or at once when it is
terminated); its templates' pods and its analyses are not run, only ``duration`` is
honoured for now.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ..core._actions import CreateAnalysisRun
from ..core._analysis import (
    AnalysisRun,
    AnalysisTemplate,
    MeasurementError,
    build_analysis_run,
    collect_templates,
    due_metrics,
    is_terminating,
    next_measurement_at,
    record,
    resolve_metric,
    start,
    start_measurement,
    terminate,
)
from ..core._durations import parse_duration
from ..core._errors import FieldError, ManifestError
from ..core._rollout import API_GROUPS, Rollout
from ..core._steps import AnalysisArg, TemplateRef
from ..core._times import format_time, parse_time
from ..metrics._protocol import MeasurementInProgress, MetricProvider
from ..metrics._secrets import read_secret
from .clusters import AlreadyExists, Cluster, ClusterError, Conflict

__all__ = [
    "MIN_MEASUREMENT_GAP",
    "RunnerResult",
    "advance_analysis_runs",
    "advance_experiments",
    "create_analysis_run",
]

HASH_LABEL: Final = "rollouts-pod-template-hash"
COMPLETED: Final = frozenset({"Successful", "Failed", "Error", "Inconclusive"})
# A metric measured with a zero interval is measured again no sooner than this.
MIN_MEASUREMENT_GAP: Final = 1.0


@attrs.frozen
class RunnerResult:
    writes: int = 0
    next_at: float | None = None


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


# -- creating runs -------------------------------------------------------------------------


async def create_analysis_run(
    cluster: Cluster,
    rollout: Rollout,
    action: CreateAnalysisRun,
    *,
    owner: Mapping[str, Any],
    now: float,
) -> None:
    """Build the run from the Rollout's templates and store it (an existing one is kept).

    A run that cannot be built (a missing template, an argument without a value) is
    stored with phase Error and the reasons, so the Rollout aborts with a message rather
    than waiting for ever.
    """
    ns = rollout.namespace
    labels = {"rollout-type": action.kind, HASH_LABEL: action.latest_hash}
    try:
        templates = await _templates(cluster, ns, action.analysis.templates)
        args = [_resolve_arg(arg, rollout, action) for arg in action.analysis.args]
        run = build_analysis_run(
            action.name,
            ns,
            templates,
            args,
            labels,
            now,
            dry_run=action.analysis.dry_run,
            measurement_retention=action.analysis.measurement_retention,
        )
        manifest = run.to_manifest()
    except ManifestError as exc:
        manifest = {
            "apiVersion": rollout.api_version,
            "kind": "AnalysisRun",
            "metadata": {"name": action.name, "namespace": ns, "labels": labels},
            "spec": {"metrics": []},
            "status": {
                "phase": "Error",
                "message": f"cannot start analysis: {exc}",
                "startedAt": format_time(now),
                "completedAt": format_time(now),
            },
        }
    manifest["apiVersion"] = rollout.api_version
    meta = manifest["metadata"]
    meta["ownerReferences"] = [dict(owner)]
    if action.step_index is not None:
        meta.setdefault("annotations", {})["rollout.argoproj.io/step-index"] = str(
            action.step_index
        )
    try:
        await cluster.create(manifest)
    except AlreadyExists:
        pass


async def _templates(
    cluster: Cluster, namespace: str, refs: tuple[TemplateRef, ...]
) -> tuple[AnalysisTemplate, ...]:
    raw: dict[TemplateRef, Mapping[str, Any]] = {}
    for group in reversed(API_GROUPS):  # argoproj.io wins over progressive.dev
        for obj in await cluster.list(group, "AnalysisTemplate", namespace):
            raw[TemplateRef(obj["metadata"]["name"], False)] = obj
        for obj in await cluster.list(group, "ClusterAnalysisTemplate"):
            raw[TemplateRef(obj["metadata"]["name"], True)] = obj

    def lookup(ref: TemplateRef) -> AnalysisTemplate | None:
        obj = raw.get(ref)
        return None if obj is None else AnalysisTemplate.from_manifest(obj)

    return collect_templates(refs, lookup)


def _resolve_arg(arg: AnalysisArg, rollout: Rollout, action: CreateAnalysisRun) -> AnalysisArg:
    """Resolve ``podTemplateHashValue`` and ``fieldRef``; secrets stay for measuring time."""
    source = arg.value_from
    if arg.value is not None or not source:
        return arg
    which = source.get("podTemplateHashValue")
    if which is not None:
        value = action.stable_hash if which == "Stable" else action.latest_hash
        return AnalysisArg(arg.name, value)
    field_ref = source.get("fieldRef")
    if isinstance(field_ref, Mapping):
        path = str(field_ref.get("fieldPath", ""))
        found = _field(rollout, path)
        if found is None:
            raise ManifestError([_arg_error(arg, f"cannot resolve fieldRef {path!r}")])
        return AnalysisArg(arg.name, found)
    return arg


def _arg_error(arg: AnalysisArg, message: str) -> FieldError:
    return FieldError(f"args.{arg.name}", message)


def _field(rollout: Rollout, path: str) -> str | None:
    simple = {
        "metadata.name": rollout.name,
        "metadata.namespace": rollout.namespace,
        "metadata.uid": rollout.uid,
    }
    if path in simple:
        return simple[path]
    for prefix, mapping in (
        ("metadata.labels", rollout.labels),
        ("metadata.annotations", rollout.annotations),
    ):
        if path.startswith(prefix + "[") and path.endswith("]"):
            key = path[len(prefix) + 1 : -1].strip("'\"")
            return mapping.get(key)
    return None


# -- the analysis runner -------------------------------------------------------------------


async def advance_analysis_runs(
    cluster: Cluster, provider: MetricProvider, now: float, namespace: str | None = None
) -> RunnerResult:
    """Measure what is due in every incomplete AnalysisRun and store the verdicts."""
    writes = 0
    next_at: float | None = None
    for group in API_GROUPS:
        for obj in await cluster.list(group, "AnalysisRun", namespace):
            status = obj.get("status") or {}
            if status.get("phase") in COMPLETED:
                continue
            try:
                wrote, when = await _advance_run(cluster, provider, obj, now)
            except Conflict:
                wrote, when = 0, now  # written meanwhile: look again
            writes += wrote
            next_at = _earliest(next_at, when)
    return RunnerResult(writes, next_at)


async def _advance_run(
    cluster: Cluster, provider: MetricProvider, obj: Mapping[str, Any], now: float
) -> tuple[int, float | None]:
    try:
        run = AnalysisRun.from_manifest(obj)
    except ManifestError as exc:
        status = {
            "phase": "Error",
            "message": f"invalid AnalysisRun: {exc}",
            "completedAt": format_time(now),
        }
        return await _store_status(cluster, obj, status), None
    if run.terminate:
        run = terminate(run, now)
    run = start(run, now)
    poll_at: float | None = None
    due = {m.name for m in due_metrics(run, now)}
    for metric in run.metrics:
        if metric.name not in due and not _in_flight(run, metric.name):
            continue
        outcome = await _measure(cluster, provider, run, metric.name)
        if isinstance(outcome, MeasurementInProgress):
            # a long measurement (a Job): in flight until the provider says it is over
            run = start_measurement(run, metric.name, now)
            if _in_flight(run, metric.name):
                poll_at = _earliest(poll_at, now + max(outcome.poll_after, MIN_MEASUREMENT_GAP))
            continue
        run = record(run, metric.name, outcome, now)
    wrote = await _store_status(cluster, obj, run.to_manifest()["status"])
    when = next_measurement_at(run)
    if when is not None and not math.isinf(when):
        when = max(when, now + MIN_MEASUREMENT_GAP) if when <= now else when
    elif when is not None:
        when = now + MIN_MEASUREMENT_GAP
    if not run.completed:
        when = _earliest(when, poll_at)
    return wrote, when


def _in_flight(run: AnalysisRun, metric_name: str) -> bool:
    """A measurement of the metric has started and not finished (a running Job)."""
    if run.completed or is_terminating(run):
        return False
    result = run.result(metric_name)
    last = result.last if result is not None else None
    return (
        result is not None
        and not result.phase.completed
        and last is not None
        and last.finished_at is None
    )


async def _measure(
    cluster: Cluster, provider: MetricProvider, run: AnalysisRun, metric_name: str
) -> object:
    metric = run.metric(metric_name)
    secrets = [a for a in run.args if a.value is None and a.value_from]
    if secrets:
        values: dict[str, str | None] = {a.name: a.value for a in run.args}
        for arg in secrets:
            value = await _secret(cluster, run.namespace, arg)
            if isinstance(value, MeasurementError):
                return value
            values[arg.name] = value
        try:
            metric = resolve_metric(metric, values)
        except ManifestError as exc:
            return MeasurementError(str(exc))
    try:
        return await provider.measure(metric, run)
    except Exception as exc:  # a provider bug must not stop the controller
        return MeasurementError(f"{type(exc).__name__}: {exc}")


async def _secret(cluster: Cluster, namespace: str, arg: AnalysisArg) -> str | MeasurementError:
    source = arg.value_from or {}
    ref = source.get("secretKeyRef")
    if not isinstance(ref, Mapping):
        return MeasurementError(f"argument {arg.name!r} has no value")
    return await read_secret(cluster, namespace, str(ref.get("name", "")), str(ref.get("key", "")))


async def _store_status(cluster: Cluster, obj: Mapping[str, Any], status: Mapping[str, Any]) -> int:
    if obj.get("status") == status:
        return 0
    meta = obj.get("metadata") or {}
    await cluster.replace_status(
        {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "metadata": {
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "status": dict(status),
        }
    )
    return 1


# -- the experiment runner -----------------------------------------------------------------


async def advance_experiments(
    cluster: Cluster, now: float, namespace: str | None = None
) -> RunnerResult:
    """Pending -> Running -> Successful after ``spec.duration`` (or when terminated)."""
    writes = 0
    next_at: float | None = None
    for group in API_GROUPS:
        for obj in await cluster.list(group, "Experiment", namespace):
            status = dict(obj.get("status") or {})
            if status.get("phase") in COMPLETED:
                continue
            spec = obj.get("spec") or {}
            try:
                duration = (
                    None if spec.get("duration") is None else parse_duration(spec["duration"])
                )
            except ValueError as exc:
                status.update(phase="Error", message=f"spec.duration {exc}")
                duration = None
            started = parse_time(status.get("startedAt"))
            if status.get("phase") == "Error":
                pass
            elif spec.get("terminate") is True:
                status.update(phase="Successful", message="Experiment terminated")
                status.setdefault("startedAt", format_time(now))
            elif status.get("phase") != "Running" or started is None:
                status.update(phase="Running", message="", startedAt=format_time(now))
                started = now
            if status.get("phase") == "Running" and started is not None and duration is not None:
                if now >= started + duration:
                    status.update(phase="Successful", message="Experiment completed")
                else:
                    next_at = _earliest(next_at, started + duration)
            if status.get("phase") in COMPLETED:
                status["completedAt"] = format_time(now)
            try:
                writes += await _store_status(cluster, obj, status)
            except (Conflict, ClusterError):
                next_at = _earliest(next_at, now)
    return RunnerResult(writes, next_at)
