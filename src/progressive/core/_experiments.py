"""Experiments: several ReplicaSets side by side, judged by analyses (pure).

An Experiment runs one ReplicaSet per template (a baseline and a canary, or A/B/C
variants), optionally behind a Service of its own, and analyses next to them.  The
lifecycle, as Argo's docs describe it:

1. create the ReplicaSets (and a Service for each template that asks for one, with
   ``service`` or ``weight``); they must become available within
   ``progressDeadlineSeconds`` (else the experiment Fails).  The phase is Pending;
2. once all are available (``availableAt``) the phase is Running, and the analyses start;
3. a Failed, Error or Inconclusive analysis ends the experiment with that phase
   (worst first: Failed, then Error, then Inconclusive);
4. otherwise it completes (Successful) after ``duration`` counted from ``availableAt``
   and once every ``requiredForCompletion`` analysis has succeeded; with neither, it runs
   until ``terminate``;
5. once complete, the ReplicaSets scale to zero ``scaleDownDelaySeconds`` later and
   open analyses are terminated.

:func:`reconcile_experiment` is to an Experiment what ``reconcile()`` is to a Rollout:
a pure function from what was observed to actions and a new status.
:func:`experiment_for_step` builds the Experiment of a Rollout's ``experiment`` step.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ..errors import FieldProblem, ManifestError
from ._actions import (
    Action,
    CreateAnalysisRun,
    CreateReplicaSet,
    CreateService,
    EmitEvent,
    ScaleReplicaSet,
    TerminateAnalysisRun,
)
from ._bounds import check_bounds
from ._durations import format_duration
from ._fields import Fields
from ._names import API_GROUPS, HASH_LABEL
from ._observed import ObservedRun, ReplicaSetView
from ._rollout import pod_template_hash
from ._status import Condition
from ._steps import AnalysisArg, RolloutAnalysis, TemplateRef
from ._times import format_time, parse_time

__all__ = [
    "Experiment",
    "ExperimentAnalysis",
    "ExperimentPlan",
    "ExperimentStatus",
    "ExperimentTemplate",
    "ObservedExperiment",
    "TemplateStatus",
    "experiment_for_step",
    "reconcile_experiment",
    "service_ports",
    "template_service",
]

COMPLETED: Final = frozenset({"Successful", "Failed", "Error", "Inconclusive"})
_WORST_FIRST: Final = ("Failed", "Error", "Inconclusive")


@attrs.frozen
class ExperimentTemplate:
    name: str
    template: dict[str, Any]
    selector: dict[str, Any]
    replicas: int = 1
    min_ready_seconds: int = 0
    # the Service to create for it (None: none); a template `weight` implies one
    service: str | None = None
    weight: int | None = None


@attrs.frozen
class ExperimentAnalysis:
    name: str
    template_name: str
    cluster_scope: bool = False
    args: tuple[AnalysisArg, ...] = ()
    required_for_completion: bool = False


@attrs.frozen
class TemplateStatus:
    name: str
    status: str  # Progressing | Running | Successful | Failed | Error
    replicas: int = 0
    available_replicas: int = 0
    pod_template_hash: str = ""
    service_name: str | None = None
    ready_replicas: int = 0


@attrs.frozen
class ExperimentStatus:
    """An Experiment's status: its phase, when it became available and finished, and
    the state of each template and analysis.

    In the manifest, as Argo's Experiment CRD has it: ``availableAt``, and the start and
    the end as the ``lastTransitionTime`` of the conditions ``Progressing`` (since the
    experiment started) and ``Completed`` (since it finished).
    """

    phase: str = "Pending"
    message: str = ""
    started_at: float | None = None
    available_at: float | None = None
    completed_at: float | None = None
    template_statuses: tuple[TemplateStatus, ...] = ()
    # analysis name -> (run name, phase)
    analysis_runs: tuple[tuple[str, str, str], ...] = ()

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase, "message": self.message}
        if self.available_at is not None:
            out["availableAt"] = format_time(self.available_at)
        conditions = []
        if self.started_at is not None:
            conditions.append(_since("Progressing", "ExperimentStarted", self.started_at))
        if self.completed_at is not None:
            conditions.append(_since("Completed", f"Experiment{self.phase}", self.completed_at))
        if conditions:
            out["conditions"] = [c.to_manifest() for c in conditions]
        out["templateStatuses"] = [
            {
                "name": t.name,
                "status": t.status,
                "replicas": t.replicas,
                "updatedReplicas": t.replicas,
                "readyReplicas": t.ready_replicas,
                "availableReplicas": t.available_replicas,
                "podTemplateHash": t.pod_template_hash,
                **({"serviceName": t.service_name} if t.service_name else {}),
            }
            for t in self.template_statuses
        ]
        out["analysisRuns"] = [
            {"name": name, "analysisRun": run, "phase": phase}
            for name, run, phase in self.analysis_runs
        ]
        return out

    @classmethod
    def from_manifest(cls, data: object) -> ExperimentStatus:
        """Leniently: a damaged status falls back to defaults (never raises)."""
        if not isinstance(data, Mapping):
            return cls()
        phase = data.get("phase")
        since = {
            c.type: c.last_transition_time
            for item in (data.get("conditions") or ())
            if isinstance(item, Mapping) and isinstance(item.get("type"), str)
            for c in (Condition.from_manifest(item),)
        }
        return cls(
            phase=phase if isinstance(phase, str) else "Pending",
            message=str(data.get("message") or ""),
            started_at=since.get("Progressing"),
            available_at=parse_time(data.get("availableAt")),
            completed_at=since.get("Completed"),
        )


def _since(type_: str, reason: str, when: float) -> Condition:
    return Condition(type_, "True", reason, "", when, when)


@attrs.frozen
class Experiment:
    """An Experiment: ReplicaSets side by side (baseline, canary, ...) and analyses
    judging them; see the module docstring for its lifecycle."""

    name: str
    namespace: str = "default"
    uid: str = ""
    templates: tuple[ExperimentTemplate, ...] = ()
    duration: float | None = None
    progress_deadline_seconds: int = 600
    terminate: bool = False
    scale_down_delay_seconds: int = 30
    analyses: tuple[ExperimentAnalysis, ...] = ()
    dry_run: tuple[str, ...] = ()
    labels: dict[str, str] = attrs.field(factory=dict)
    status: ExperimentStatus = attrs.field(factory=ExperimentStatus)

    @classmethod
    def from_manifest(cls, obj: object) -> Experiment:
        """Read an Experiment; every problem is reported at once with its field path.

        Raises:
            ManifestError: when the manifest has errors.
        """
        if (unfit := check_bounds(obj, string_keys=True)) is not None:
            raise ManifestError([unfit])
        errors: list[FieldProblem] = []
        top = Fields(obj, "", errors)
        api_version = top.str("apiVersion", required=True)
        if api_version is not None and api_version not in API_GROUPS:
            top.error(f"must be one of {', '.join(API_GROUPS)}, got {api_version!r}", "apiVersion")
        if top.str("kind", required=True) not in (None, "Experiment"):
            top.error("must be Experiment", "kind")
        meta = top.obj("metadata")
        spec = top.obj("spec")
        templates = []
        for _, t in spec.objs("templates"):
            service = t.opt_obj("service")
            name = t.str("name", required=True) or ""
            template = t.mapping("template")
            if not template:
                t.error("is required", "template")
            weight = t.int("weight", None, low=0, high=100)
            service_name = template_service(
                meta.str("name") or "",
                {
                    "name": name,
                    "weight": weight,
                    "service": None if service is None else {"name": service.str("name")},
                },
            )
            templates.append(
                ExperimentTemplate(
                    name=name,
                    template=template,
                    selector=t.mapping("selector"),
                    replicas=t.int("replicas", 1) or 0,
                    min_ready_seconds=t.int("minReadySeconds", 0) or 0,
                    service=service_name,
                    weight=weight,
                )
            )
        if not templates:
            spec.error("must list at least one template", "templates")
        names = [t.name for t in templates]
        if len(set(names)) != len(names):
            spec.error("template names must be unique", "templates")
        analyses = []
        for _, a in spec.objs("analyses"):
            args = tuple(
                AnalysisArg(
                    x.str("name", required=True) or "",
                    None if x.raw("value") is None else str(x.raw("value")),
                    x.mapping("valueFrom") or None,
                )
                for _, x in a.objs("args")
            )
            analyses.append(
                ExperimentAnalysis(
                    name=a.str("name", required=True) or "",
                    template_name=a.str("templateName", required=True) or "",
                    cluster_scope=a.bool("clusterScope", False),
                    args=args,
                    required_for_completion=a.bool("requiredForCompletion", False),
                )
            )
        experiment = cls(
            name=meta.str("name", required=True) or "",
            namespace=meta.str("namespace", "default") or "default",
            uid=meta.str("uid", "") or "",
            templates=tuple(templates),
            duration=spec.duration("duration"),
            progress_deadline_seconds=spec.int("progressDeadlineSeconds", 600, low=1) or 600,
            terminate=spec.bool("terminate", False),
            scale_down_delay_seconds=spec.int("scaleDownDelaySeconds", 30) or 0,
            analyses=tuple(analyses),
            dry_run=tuple(d.str("metricName", required=True) or "" for _, d in spec.objs("dryRun")),
            labels=meta.string_map("labels"),
            status=ExperimentStatus.from_manifest(top.raw("status")),
        )
        if any(e.severity == "error" for e in errors):
            raise ManifestError([e for e in errors if e.severity == "error"])
        return experiment

    def template_hash(self, template: ExperimentTemplate) -> str:
        """Distinct per template even when two templates share a pod spec (A/A tests)."""
        return pod_template_hash(
            {"experiment": self.name, "name": template.name, "template": template.template}
        )

    def replica_set_name(self, template: ExperimentTemplate) -> str:
        return f"{self.name}-{template.name}"

    def run_name(self, analysis: ExperimentAnalysis) -> str:
        return f"{self.name}-{analysis.name}"


@attrs.frozen
class ObservedExperiment:
    """What the shell observed: the Experiment, the ReplicaSets and runs it owns, and
    the names of the Services that exist in its namespace."""

    experiment: Experiment
    now: float
    replica_sets: tuple[ReplicaSetView, ...] = ()
    runs: tuple[ObservedRun, ...] = ()
    services: frozenset[str] = frozenset()


@attrs.frozen
class ExperimentPlan:
    actions: tuple[Action, ...]
    status: ExperimentStatus
    requeue_at: float | None = None


def reconcile_experiment(observed: ObservedExperiment) -> ExperimentPlan:
    """Plan the next move of an Experiment (see the module docstring)."""
    exp = observed.experiment
    now = observed.now
    status = exp.status
    out: list[Action] = []
    requeue: list[float] = []
    if status.started_at is None and status.phase not in COMPLETED:
        status = attrs.evolve(status, started_at=now, phase="Pending")
    sets = {rs.name: rs for rs in observed.replica_sets}
    runs = {run.name: run for run in observed.runs}

    # 1. a ReplicaSet per template (scaled to zero once the experiment is over)
    done = status.phase in COMPLETED
    scale_down_at = (
        None if status.completed_at is None else status.completed_at + exp.scale_down_delay_seconds
    )
    statuses = []
    for t in exp.templates:
        name, pod_hash = exp.replica_set_name(t), exp.template_hash(t)
        want: int | None = t.replicas
        if done:  # hold the pods until the scale-down delay is over, then none
            want = 0 if scale_down_at is not None and now >= scale_down_at else None
            if scale_down_at is not None and now < scale_down_at:
                requeue.append(scale_down_at)
        rs = sets.get(name)
        if rs is None and not done:
            out.append(_create(exp, t, name, pod_hash))
        elif rs is not None and want is not None and rs.replicas != want:
            out.append(ScaleReplicaSet(name, want))
        if t.service is not None and t.service not in observed.services and not done:
            out.append(CreateService(t.service, {HASH_LABEL: pod_hash}, service_ports(t)))
        available = rs.available_replicas if rs is not None else 0
        state = "Running" if available >= t.replicas else "Progressing"
        if done:
            state = "Successful" if status.phase == "Successful" else status.phase
        statuses.append(
            TemplateStatus(
                t.name,
                state,
                rs.replicas if rs else 0,
                available,
                pod_hash,
                t.service,
                rs.ready_replicas if rs else 0,
            )
        )
    status = attrs.evolve(status, template_statuses=tuple(statuses))
    if done:
        out += _terminate_open(exp, runs)
        return ExperimentPlan(tuple(out), status, min(requeue) if requeue else None)
    if exp.terminate:  # at any point: nothing more is created, it ends at once
        kept: list[Action] = [a for a in out if not isinstance(a, CreateReplicaSet | CreateService)]
        return _finish(exp, status, runs, kept, "Successful", now, "experiment terminated")

    # 2. all templates available, within the progress deadline
    if status.available_at is None:
        if all(s.status == "Running" for s in statuses):
            status = attrs.evolve(status, available_at=now, phase="Running")
        else:
            assert status.started_at is not None
            due = status.started_at + exp.progress_deadline_seconds
            if now >= due:
                slow = [s.name for s in statuses if s.status != "Running"]
                return _finish(
                    exp,
                    status,
                    runs,
                    out,
                    "Failed",
                    now,
                    f"templates {', '.join(slow)} not available within "
                    f"{exp.progress_deadline_seconds}s",
                )
            return ExperimentPlan(tuple(out), status, due)

    # 3. the analyses, and their verdicts
    available_at = status.available_at
    assert available_at is not None
    hashes = {t.name: exp.template_hash(t) for t in exp.templates}
    verdicts = []
    for a in exp.analyses:
        run_name = exp.run_name(a)
        run = runs.get(run_name)
        if run is None:
            out.append(_start_analysis(exp, a, run_name, hashes))
            verdicts.append((a.name, run_name, "Pending"))
        else:
            verdicts.append((a.name, run_name, run.phase))
    status = attrs.evolve(status, analysis_runs=tuple(verdicts))
    phases = {phase for _, _, phase in verdicts}
    for worst in _WORST_FIRST:
        if worst in phases:
            failed = [(n, r) for n, r, p in verdicts if p == worst]
            message = f"analysis {', '.join(n for n, _ in failed)} {worst.lower()}"
            reasons = [runs[r].message for _, r in failed if r in runs and runs[r].message]
            if reasons:
                message += f": {'; '.join(reasons)}"
            return _finish(exp, status, runs, out, worst, now, message)

    # 4. completion
    required = [
        p for (_, _, p), a in zip(verdicts, exp.analyses, strict=True) if a.required_for_completion
    ]
    required_done = all(p == "Successful" for p in required)
    if exp.terminate:
        return _finish(exp, status, runs, out, "Successful", now, "experiment terminated")
    if exp.duration is not None:
        end = available_at + exp.duration
        if now >= end and required_done:
            return _finish(exp, status, runs, out, "Successful", now, "experiment completed")
        if now < end:
            requeue.append(end)
    elif required and required_done:
        return _finish(exp, status, runs, out, "Successful", now, "required analyses passed")
    return ExperimentPlan(tuple(out), status, min(requeue) if requeue else None)


def template_service(experiment_name: str, template: Mapping[str, Any]) -> str | None:
    """The Service of an experiment template (a manifest's or a Rollout step's): its
    ``service.name``, else ``<experiment>-<template>`` when it asks for one (a
    ``service`` or a ``weight``), else None."""
    service = template.get("service")
    if service is None and template.get("weight") is None:
        return None
    name = service.get("name") if isinstance(service, Mapping) else None
    return str(name) if name else f"{experiment_name}-{template.get('name')}"


def service_ports(template: ExperimentTemplate) -> tuple[dict[str, Any], ...]:
    """Service ports for a template's pods: one per container port number and protocol
    (the same number as target), named after it (or ``port-<n>-<protocol>`` when there
    are several and it has no name)."""
    found: dict[tuple[int, str], Mapping[str, Any]] = {}  # one per number and protocol
    for container in (template.template.get("spec") or {}).get("containers") or ():
        if not isinstance(container, Mapping):
            continue
        for port in container.get("ports") or ():
            if isinstance(port, Mapping) and isinstance(port.get("containerPort"), int):
                key = (port["containerPort"], str(port.get("protocol") or "TCP"))
                found.setdefault(key, port)
    out = []
    for (number, protocol), port in found.items():
        item: dict[str, Any] = {"port": number, "targetPort": number, "protocol": protocol}
        if port.get("name"):
            item["name"] = str(port["name"])
        elif len(found) > 1:
            item["name"] = f"port-{number}-{protocol.lower()}"
        out.append(item)
    return tuple(out)


def _create(exp: Experiment, t: ExperimentTemplate, name: str, pod_hash: str) -> CreateReplicaSet:
    template = copy.deepcopy(t.template)
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), HASH_LABEL: pod_hash}
    selector = copy.deepcopy(t.selector) or {"matchLabels": dict(meta["labels"])}
    selector["matchLabels"] = {
        **(selector.get("matchLabels") or {}),
        HASH_LABEL: pod_hash,
    }
    return CreateReplicaSet(name, pod_hash, 1, t.replicas, template, selector, t.min_ready_seconds)


def _start_analysis(
    exp: Experiment, a: ExperimentAnalysis, run_name: str, hashes: Mapping[str, str]
) -> CreateAnalysisRun:
    """The run for analysis ``a``; ``{{templates.<name>.podTemplateHash}}`` and
    ``{{templates.<name>.replicaset.name}}`` in its args are resolved here."""
    args = []
    for arg in a.args:
        value = arg.value
        if value is not None:
            for t in exp.templates:
                value = value.replace(f"{{{{templates.{t.name}.podTemplateHash}}}}", hashes[t.name])
                value = value.replace(
                    f"{{{{templates.{t.name}.replicaset.name}}}}", exp.replica_set_name(t)
                )
        args.append(attrs.evolve(arg, value=value))
    analysis = RolloutAnalysis(
        templates=(TemplateRef(a.template_name, a.cluster_scope),),
        args=tuple(args),
        dry_run=exp.dry_run,
    )
    first = next(iter(hashes.values()), "")
    return CreateAnalysisRun(run_name, "Experiment", analysis, first, first)


def _terminate_open(exp: Experiment, runs: Mapping[str, ObservedRun]) -> list[Action]:
    return [
        TerminateAnalysisRun(run.name)
        for a in exp.analyses
        if (run := runs.get(exp.run_name(a))) is not None
        and run.phase not in COMPLETED
        and not run.terminated
    ]


def _finish(
    exp: Experiment,
    status: ExperimentStatus,
    runs: Mapping[str, ObservedRun],
    out: list[Action],
    phase: str,
    now: float,
    message: str,
) -> ExperimentPlan:
    status = attrs.evolve(status, phase=phase, message=message, completed_at=now)
    out = [
        *out,
        *_terminate_open(exp, runs),
        EmitEvent(
            f"Experiment{phase}",
            f"Experiment {exp.name}: {message}",
            "Normal" if phase == "Successful" else "Warning",
        ),
    ]
    return ExperimentPlan(tuple(out), status, now + exp.scale_down_delay_seconds)


def experiment_for_step(
    *,
    name: str,
    namespace: str,
    step_templates: tuple[Mapping[str, Any], ...],
    duration: float | None,
    analyses: tuple[Mapping[str, Any], ...],
    canary_template: Mapping[str, Any],
    stable_template: Mapping[str, Any],
    selector: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Experiment manifest of a Rollout's ``experiment`` step.

    Each step template names a ``specRef`` (``stable`` or ``canary``): the pod template
    of that revision, with the step template's ``metadata`` labels added and its
    ``replicas``, ``weight`` and ``service``.
    """
    templates = []
    for t in step_templates:
        source = canary_template if t.get("specRef") == "canary" else stable_template
        template = copy.deepcopy(dict(source))
        extra = (t.get("metadata") or {}).get("labels") or {}
        meta = template.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **extra}
        out: dict[str, Any] = {
            "name": t.get("name"),
            "replicas": t.get("replicas", 1),
            "template": template,
            "selector": copy.deepcopy(dict(t.get("selector") or selector)),
        }
        if t.get("service") is not None:
            out["service"] = t["service"]
        elif t.get("weight") is not None:
            out["service"] = {}  # a weight routes traffic to it: it needs a Service
        templates.append(out)
    spec: dict[str, Any] = {"templates": templates, "analyses": [dict(a) for a in analyses]}
    if duration is not None:
        spec["duration"] = format_duration(duration)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": spec,
    }
