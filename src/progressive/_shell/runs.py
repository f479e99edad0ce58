"""AnalysisRuns and Experiments: creating them for a Rollout, and moving them forward.

The judging is pure (``progressive.core._analysis``, ``progressive.core._experiments``);
this module only fetches templates, asks a :class:`~progressive.metrics.MetricProvider`
for values, carries out what the experiment engine plans and stores the statuses.

* :func:`advance_analysis_runs` measures what is due in every incomplete AnalysisRun.
* :func:`advance_experiments` runs every Experiment with the pure engine
  (:func:`~progressive.core._experiments.reconcile_experiment`): it observes the
  ReplicaSets and AnalysisRuns the Experiment owns (``ownerReferences``) and the
  Services of its namespace, and applies the plan -- ReplicaSets and Services owned by
  the Experiment (a Service per template that asks for one, selecting that template's
  pods by their pod-template hash, with the ports of its containers), AnalysisRuns
  built from the AnalysisTemplates exactly as a Rollout's are
  (:func:`create_analysis_run`), Events on the Experiment -- and stores the status.
* :func:`create_experiment` makes the Experiment of a Rollout's ``experiment`` step:
  ``specRef: stable`` is the pod template of the stable ReplicaSet as stored,
  ``canary`` the Rollout's; it is owned by the Rollout, whose verdict rules
  (``progressive.core._verdicts``) turn its phase into abort or pause.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

import attrs

from .._clusters import Cluster, Ref, owned_by, owner_reference
from ..core._actions import (
    Action,
    CreateAnalysisRun,
    CreateExperiment,
    CreateReplicaSet,
    CreateService,
    EmitEvent,
    ScaleReplicaSet,
    TerminateAnalysisRun,
)
from ..core._analysis import (
    AnalysisRun,
    AnalysisTemplate,
    MeasurementFailure,
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
from ..core._analysis_model import template_refs_of
from ..core._experiments import (
    Experiment,
    ObservedExperiment,
    experiment_for_step,
    reconcile_experiment,
)
from ..core._names import (
    API_GROUPS,
    EXPERIMENT,
    HASH_LABEL,
    STABLE_HASH_ANNOTATION,
    STEP_INDEX_ANNOTATION,
)
from ..core._observed import ObservedRun
from ..core._references import analysis_problems as check_analyses
from ..core._rollout import Rollout, analyses_of
from ..core._steps import AnalysisArg, TemplateRef
from ..core._times import format_time
from ..errors import (
    AlreadyExists,
    ClusterError,
    Conflict,
    FieldProblem,
    ManifestError,
    NotFound,
)
from ..metrics._protocol import MeasurementInProgress, MetricProvider
from ..metrics._secrets import Redactor, read_secret, redacting
from .expectations import Expectations
from .observe import replica_set_view

__all__ = [
    "MIN_MEASUREMENT_GAP",
    "RunSource",
    "RunnerResult",
    "advance_analysis_run",
    "advance_analysis_runs",
    "advance_experiments",
    "analysis_problems",
    "create_analysis_run",
    "create_experiment",
    "create_service",
    "fetch_templates",
]

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


class RunSource(Protocol):
    """What starts an AnalysisRun (a Rollout, an Experiment): where the run lives, its
    API group, and what ``fieldRef`` arguments may read."""

    @property
    def name(self) -> str: ...

    @property
    def namespace(self) -> str: ...

    @property
    def uid(self) -> str: ...

    @property
    def api_version(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...


@attrs.frozen
class _ExperimentSource:
    name: str
    namespace: str
    uid: str
    api_version: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> _ExperimentSource:
        meta = obj.get("metadata") or {}
        return cls(
            str(meta.get("name", "")),
            str(meta.get("namespace") or "default"),
            str(meta.get("uid") or ""),
            str(obj.get("apiVersion") or API_GROUPS[0]),
            dict(meta.get("labels") or {}),
            dict(meta.get("annotations") or {}),
        )


async def create_analysis_run(
    cluster: Cluster,
    rollout: RunSource,
    action: CreateAnalysisRun,
    *,
    owner: Mapping[str, Any],
    now: float,
) -> None:
    """Build the run from the templates in ``rollout``'s namespace and store it (an
    existing one is kept).  ``rollout`` is the Rollout (or the Experiment) that starts
    the run: the run takes its namespace and API group, ``fieldRef`` args read it.

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
    # analysisRunMetadata: the user's labels and annotations, under the controller's own
    meta["labels"] = {**action.analysis.run_labels, **(meta.get("labels") or {})}
    if action.analysis.run_annotations:
        meta["annotations"] = {
            **action.analysis.run_annotations,
            **(meta.get("annotations") or {}),
        }
    if action.step_index is not None:
        meta.setdefault("annotations", {})[STEP_INDEX_ANNOTATION] = str(action.step_index)
    try:
        await cluster.create(manifest)
    except AlreadyExists:
        pass


async def _templates(
    cluster: Cluster, namespace: str, refs: tuple[TemplateRef, ...]
) -> tuple[AnalysisTemplate, ...]:
    raw = await fetch_templates(cluster, namespace, refs)

    def lookup(ref: TemplateRef) -> AnalysisTemplate | None:
        obj = raw.get(ref)
        return None if obj is None else AnalysisTemplate.from_manifest(obj)

    return collect_templates(refs, lookup)


async def fetch_templates(
    cluster: Cluster, namespace: str, refs: Iterable[TemplateRef]
) -> dict[TemplateRef, Mapping[str, Any]]:
    """The (Cluster)AnalysisTemplates ``refs`` name and those they compose, as stored
    (an ``argoproj.io`` one wins over a ``progressive.dev`` one of the same name); the
    missing ones are left out."""
    found: dict[TemplateRef, Mapping[str, Any]] = {}
    seen: set[TemplateRef] = set()
    pending = list(refs)
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        kind = ref.kind
        where = "" if ref.cluster_scope else namespace
        for group in API_GROUPS:
            obj = await cluster.get(Ref(group, kind, where, ref.template_name))
            if obj is not None:
                found[ref] = obj
                pending.extend(template_refs_of(obj))
                break
    return found


async def analysis_problems(cluster: Cluster, rollout: Rollout) -> list[FieldProblem]:
    """Why ``rollout``'s analyses could not start, from the templates in ``cluster``
    (:func:`progressive.core._references.analysis_problems`); read by name, not listed."""
    refs = [ref for _, analysis in analyses_of(rollout) for ref in analysis.templates]
    if not refs:
        return []
    raw = await fetch_templates(cluster, rollout.namespace, refs)
    return check_analyses(rollout, raw.get)


def _resolve_arg(arg: AnalysisArg, rollout: RunSource, action: CreateAnalysisRun) -> AnalysisArg:
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


def _arg_error(arg: AnalysisArg, message: str) -> FieldProblem:
    return FieldProblem(f"args.{arg.name}", message)


def _field(rollout: RunSource, path: str) -> str | None:
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
                wrote, when = await advance_analysis_run(cluster, provider, obj, now)
            except Conflict:
                wrote, when = 0, now  # written meanwhile: look again
            writes += wrote
            next_at = _earliest(next_at, when)
    return RunnerResult(writes, next_at)


async def advance_analysis_run(
    cluster: Cluster,
    provider: MetricProvider,
    obj: Mapping[str, Any],
    now: float,
    *,
    expectations: Expectations | None = None,
) -> tuple[int, float | None]:
    """Move one AnalysisRun forward: measure what is due, store the new status.

    Every secret read while measuring is masked in the stored status (its messages and
    measured values), so neither it nor the Rollout's status and the Events made from
    it can carry one: see :mod:`progressive.metrics._secrets`.

    With ``expectations`` (the controller's, on a cache), a copy of the run older than
    this controller's last status write of it is not measured: the run is read from the
    API server instead (:mod:`.expectations`), and so is the run after a conflict.

    Returns the writes made and when the run next needs looking at.
    """
    if expectations is not None:
        current = await expectations.current(obj)
        if current is None:
            return 0, expectations.retry_at(Ref.of(obj))
        if (current.get("status") or {}).get("phase") in COMPLETED:
            return 0, None
        obj = current
    try:
        run = AnalysisRun.from_manifest(obj)
    except ManifestError as exc:
        status = {
            "phase": "Error",
            "message": f"invalid AnalysisRun: {exc}",
            "completedAt": format_time(now),
        }
        return await _store_status(cluster, obj, status, expectations), None
    run = _started(run, now)
    outcomes: dict[str, object] = {}
    with redacting() as secrets:
        for name in _to_measure(run, now):
            outcomes[name] = await _measure(cluster, provider, run, name)
    recorded, poll_at = _recorded(run, outcomes, now, secrets)
    try:
        wrote = await _store_status(
            cluster, obj, _scrubbed(recorded.to_manifest()["status"], secrets), expectations
        )
    except Conflict as conflict:
        # written meanwhile (a run's creator stores its first status just after creating
        # it, while the watch already announces it; or our own write, whose answer was
        # lost): the measurements stand, recorded once more on the run as the API server
        # holds it now (a cache may still hold what conflicted); a second conflict is the
        # controller's
        reread = cluster.get if expectations is None else expectations.reread
        fresh = await reread(Ref.of(obj))
        if fresh is None:
            return 0, None
        try:
            run = _started(AnalysisRun.from_manifest(fresh), now)
        except ManifestError:
            raise conflict from None  # looked at again, and stored as invalid, at once
        wanted = _to_measure(run, now)
        again = {n: o for n, o in outcomes.items() if n in wanted}
        recorded, poll_at = _recorded(run, again, now, secrets)
        wrote = await _store_status(
            cluster, fresh, _scrubbed(recorded.to_manifest()["status"], secrets), expectations
        )
    run = recorded
    when = next_measurement_at(run)
    if when is not None and not math.isinf(when):
        when = max(when, now + MIN_MEASUREMENT_GAP) if when <= now else when
    elif when is not None:
        when = now + MIN_MEASUREMENT_GAP
    if not run.completed:
        when = _earliest(when, poll_at)
    return wrote, when


def _started(run: AnalysisRun, now: float) -> AnalysisRun:
    return start(terminate(run, now) if run.terminate else run, now)


def _to_measure(run: AnalysisRun, now: float) -> list[str]:
    """The metrics due now, and those with a measurement in flight (a Job), in order."""
    due = {m.name for m in due_metrics(run, now)}
    return [m.name for m in run.metrics if m.name in due or _in_flight(run, m.name)]


def _recorded(
    run: AnalysisRun, outcomes: Mapping[str, object], now: float, secrets: Redactor
) -> tuple[AnalysisRun, float | None]:
    """``run`` with the outcomes recorded (the values' secrets masked before a long one
    is cut short), and when to poll a measurement in flight."""
    poll_at: float | None = None
    for name, outcome in outcomes.items():
        if isinstance(outcome, MeasurementInProgress):
            # a long measurement (a Job): in flight until the provider says it is over
            run = start_measurement(run, name, now)
            if _in_flight(run, name):
                poll_at = _earliest(poll_at, now + max(outcome.poll_after, MIN_MEASUREMENT_GAP))
            continue
        run = record(run, name, outcome, now, redact=secrets.scrub_json if secrets else None)
    return run, poll_at


_FREE_TEXT: Final = frozenset({"message", "value"})


def _scrubbed(node: Any, secrets: Redactor) -> Any:
    """A run's status with the secrets masked in its messages and measured values (the
    only fields that carry what a provider or a server said)."""
    if not secrets:
        return node
    if isinstance(node, Mapping):
        return {
            k: secrets.scrub_json(v) if k in _FREE_TEXT else _scrubbed(v, secrets)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_scrubbed(v, secrets) for v in node]
    return node


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
            if isinstance(value, MeasurementFailure):
                return value
            values[arg.name] = value
        try:
            metric = resolve_metric(metric, values)
        except ManifestError as exc:
            return MeasurementFailure(str(exc))
    try:
        return await provider.measure(metric, run)
    except Exception as exc:  # a provider bug must not stop the controller
        return MeasurementFailure(f"{type(exc).__name__}: {exc}")


async def _secret(cluster: Cluster, namespace: str, arg: AnalysisArg) -> str | MeasurementFailure:
    source = arg.value_from or {}
    ref = source.get("secretKeyRef")
    if not isinstance(ref, Mapping):
        return MeasurementFailure(f"argument {arg.name!r} has no value")
    return await read_secret(cluster, namespace, str(ref.get("name", "")), str(ref.get("key", "")))


async def _store_status(
    cluster: Cluster,
    obj: Mapping[str, Any],
    status: Mapping[str, Any],
    expectations: Expectations | None = None,
) -> int:
    if obj.get("status") == status:
        return 0
    meta = obj.get("metadata") or {}
    body = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "status": dict(status),
    }
    if expectations is None:
        await cluster.replace_status(body)
    else:
        await expectations.replace_status(cluster, obj, body)
    return 1


# -- experiments ---------------------------------------------------------------------------


async def create_experiment(
    cluster: Cluster,
    rollout: Rollout,
    action: CreateExperiment,
    *,
    owner: Mapping[str, Any],
    now: float,
) -> None:
    """Store the Experiment of a Rollout's ``experiment`` step (an existing one is kept).

    Its templates come from :func:`~progressive.core._experiments.experiment_for_step`:
    ``specRef: stable`` is the pod template of the stable ReplicaSet (the one labelled
    ``action.stable_hash`` that the Rollout owns), ``canary`` the Rollout's template.
    When there is no stable ReplicaSet the Experiment is stored with phase Error, so
    the Rollout aborts with the reason instead of waiting.
    """
    ns = rollout.namespace
    stable: Mapping[str, Any] | None = None
    for rs in await cluster.list("apps/v1", "ReplicaSet", ns):
        labels = (rs.get("metadata") or {}).get("labels") or {}
        if labels.get(HASH_LABEL) == action.stable_hash and _owned(rs, rollout):
            stable = (rs.get("spec") or {}).get("template") or {}
            break
    if stable is None and action.stable_hash == action.latest_hash:
        stable = rollout.template
    manifest = experiment_for_step(
        name=action.name,
        namespace=ns,
        step_templates=action.templates,
        duration=action.duration,
        analyses=action.analyses,
        canary_template=rollout.template,
        stable_template=stable or {},
        selector=rollout.selector,
        labels={HASH_LABEL: action.latest_hash},
    )
    manifest["apiVersion"] = rollout.api_version
    meta = manifest["metadata"]
    meta["annotations"] = {STABLE_HASH_ANNOTATION: action.stable_hash}
    meta["ownerReferences"] = [dict(owner)]
    if stable is None:
        manifest["status"] = {
            "phase": "Error",
            "message": f"the stable ReplicaSet ({action.stable_hash}) was not found",
            "startedAt": format_time(now),
            "completedAt": format_time(now),
        }
    try:
        await cluster.create(manifest)
    except AlreadyExists:
        pass


def _owned(obj: Mapping[str, Any], rollout: Rollout) -> bool:
    if rollout.uid:
        return owned_by(obj, rollout.uid)
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return any(r.get("kind") == "Rollout" and r.get("name") == rollout.name for r in refs)


async def create_service(
    cluster: Cluster, namespace: str, action: CreateService, *, owner: Mapping[str, Any]
) -> None:
    """Store the Service of ``action`` (owned by ``owner``); an existing one is kept."""
    spec: dict[str, Any] = {"selector": dict(action.selector)}
    if action.ports:
        spec["ports"] = [dict(p) for p in action.ports]
    else:
        spec["clusterIP"] = "None"  # no port to expose: a headless Service
    try:
        await cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": action.name,
                    "namespace": namespace,
                    "ownerReferences": [dict(owner)],
                },
                "spec": spec,
            }
        )
    except AlreadyExists:
        pass


@attrs.frozen
class _Namespace:
    """One namespace's ReplicaSets, AnalysisRuns and Service names, listed once a pass."""

    replica_sets: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    services: frozenset[str]


async def _namespace(cluster: Cluster, namespace: str) -> _Namespace:
    runs: list[dict[str, Any]] = []
    for group in API_GROUPS:
        runs += await cluster.list(group, "AnalysisRun", namespace)
    services = frozenset(
        str(s["metadata"]["name"]) for s in await cluster.list("v1", "Service", namespace)
    )
    return _Namespace(await cluster.list("apps/v1", "ReplicaSet", namespace), runs, services)


async def advance_experiments(
    cluster: Cluster,
    now: float,
    namespace: str | None = None,
    *,
    expectations: Expectations | None = None,
) -> RunnerResult:
    """Move every Experiment forward with the pure engine and store its status.

    Completed Experiments are looked at too: their ReplicaSets go to zero
    ``scaleDownDelaySeconds`` after the end, and their open runs are terminated.

    With ``expectations`` (the controller's, on a cache), an Experiment older than this
    controller's last status write of it is read from the API server before it is
    planned (:mod:`.expectations`): a stale one would plan, and emit, its end again.
    """
    writes = 0
    next_at: float | None = None
    seen: dict[str, _Namespace] = {}
    for group in API_GROUPS:
        for listed in await cluster.list(group, EXPERIMENT, namespace):
            obj = listed if expectations is None else await expectations.current(listed)
            if obj is None:  # deleted, or a write of ours may land yet
                if expectations is not None:
                    next_at = _earliest(next_at, expectations.retry_at(Ref.of(listed)))
                continue
            meta = obj.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                continue
            ns = str(meta.get("namespace") or "default")
            if ns not in seen:
                seen[ns] = await _namespace(cluster, ns)
            try:
                wrote, when = await _advance_experiment(cluster, obj, seen[ns], now, expectations)
            except (Conflict, ClusterError):
                wrote, when = 0, now + MIN_MEASUREMENT_GAP  # look again soon
                seen.pop(ns, None)
            if wrote:
                seen.pop(ns, None)  # what it wrote changes what the next one sees
            writes += wrote
            next_at = _earliest(next_at, when)
    return RunnerResult(writes, next_at)


async def _advance_experiment(
    cluster: Cluster,
    obj: Mapping[str, Any],
    here: _Namespace,
    now: float,
    expectations: Expectations | None,
) -> tuple[int, float | None]:
    status = obj.get("status") or {}
    try:
        experiment = Experiment.from_manifest(obj)
    except ManifestError as exc:
        if status.get("phase") == "Error":
            return 0, None
        error = {
            "phase": "Error",
            "message": f"invalid Experiment: {exc}",
            "completedAt": format_time(now),
        }
        return await _store_status(cluster, obj, error, expectations), None
    uid = experiment.uid
    sets = tuple(
        view
        for rs in here.replica_sets
        if owned_by(rs, uid) and (view := replica_set_view(rs)) is not None
    )
    runs = tuple(
        ObservedRun(
            name=str(run["metadata"]["name"]),
            phase=str((run.get("status") or {}).get("phase") or "Pending"),
            message=str((run.get("status") or {}).get("message") or ""),
            terminated=(run.get("spec") or {}).get("terminate") is True,
        )
        for run in here.runs
        if owned_by(run, uid)
    )
    plan = reconcile_experiment(ObservedExperiment(experiment, now, sets, runs, here.services))
    source = _ExperimentSource.of(obj)
    owner = owner_reference(source.api_version, EXPERIMENT, source.name, uid)
    done = 0
    try:
        for action in plan.actions:
            await _apply_experiment_action(cluster, source, owner, action, now)
            done += 1
    except _NotOurs as exc:
        failed = attrs.evolve(plan.status, phase="Error", message=str(exc), completed_at=now)
        return done + await _store_status(cluster, obj, failed.to_manifest(), expectations), now
    wrote = await _store_status(cluster, obj, plan.status.to_manifest(), expectations)
    return done + wrote, plan.requeue_at


class _NotOurs(Exception):
    """An object the Experiment would create exists and belongs to someone else."""


async def _apply_experiment_action(
    cluster: Cluster,
    source: _ExperimentSource,
    owner: Mapping[str, Any],
    action: Action,
    now: float,
) -> None:
    ns = source.namespace
    match action:
        case CreateReplicaSet():
            await _create_experiment_replica_set(cluster, ns, owner, action)
        case ScaleReplicaSet(name, replicas):
            await cluster.patch(
                Ref("apps/v1", "ReplicaSet", ns, name), {"spec": {"replicas": replicas}}
            )
        case CreateService():
            await create_service(cluster, ns, action, owner=owner)
        case CreateAnalysisRun():
            await create_analysis_run(cluster, source, action, owner=owner, now=now)
        case TerminateAnalysisRun(name):
            for group in (source.api_version, *(g for g in API_GROUPS if g != source.api_version)):
                try:
                    await cluster.patch(
                        Ref(group, "AnalysisRun", ns, name), {"spec": {"terminate": True}}
                    )
                except NotFound:
                    continue
                break
        case EmitEvent():
            await _experiment_event(cluster, source, action, now)
        case _:
            raise TypeError(f"an experiment does not plan {type(action).__name__}")


async def _create_experiment_replica_set(
    cluster: Cluster, namespace: str, owner: Mapping[str, Any], action: CreateReplicaSet
) -> None:
    """The engine's template and selector already carry the template's hash label."""
    template = action.template
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    try:
        await cluster.create(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": action.name,
                    "namespace": namespace,
                    "labels": labels,
                    "ownerReferences": [dict(owner)],
                },
                "spec": {
                    "replicas": action.replicas,
                    "minReadySeconds": action.min_ready_seconds,
                    "selector": action.selector,
                    "template": template,
                },
            }
        )
    except AlreadyExists:
        existing = await cluster.get(Ref("apps/v1", "ReplicaSet", namespace, action.name))
        if existing is None or not owned_by(existing, str(owner["uid"])):
            raise _NotOurs(
                f"ReplicaSet {namespace}/{action.name} exists and is not the Experiment's"
            ) from None


async def _experiment_event(
    cluster: Cluster, source: _ExperimentSource, action: EmitEvent, now: float
) -> None:
    stamp = format_time(now)
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{source.name}.", "namespace": source.namespace},
            "involvedObject": {
                "apiVersion": source.api_version,
                "kind": EXPERIMENT,
                "name": source.name,
                "namespace": source.namespace,
                "uid": source.uid,
            },
            "reason": action.reason,
            "message": action.message,
            "type": action.type,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": "progressive"},
            "reportingComponent": "progressive",
        }
    )
