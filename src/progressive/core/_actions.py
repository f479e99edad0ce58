"""Effects as data.

``reconcile()`` returns these; the shell applies them, in order, in one place
(``progressive._shell.apply``).  Every action is a frozen, final value and carries all
it needs: an applier never looks anything up to carry one out.  The order inside a
plan is the safe order: traffic moves away from pods before they are scaled down, and
the status is written last, so a crash between two actions leaves a state from which
the next reconcile continues.

The actions that write traffic are named ``Write*`` (:class:`WriteWeight`,
:class:`WriteHeaderRoute`, :class:`WriteMirrorRoute`) so that none shares its name
with the step it comes from (Argo's ``setWeight`` step is
:class:`~progressive.core.SetWeight`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, final

import attrs

from ._steps import HeaderMatch, RolloutAnalysis

__all__ = [
    "AcknowledgeRun",
    "Action",
    "CreateAnalysisRun",
    "CreateExperiment",
    "CreateReplicaSet",
    "CreateService",
    "DeleteReplicaSet",
    "EmitEvent",
    "RemoveManagedRoutes",
    "RestartPods",
    "RunStepPlugin",
    "ScaleWorkload",
    "UndoStepPlugin",
    "ScaleReplicaSet",
    "WriteHeaderRoute",
    "WriteMirrorRoute",
    "SetReplicaSetRevision",
    "SetScaleDownDeadline",
    "SetServiceSelector",
    "WriteWeight",
    "TerminateAnalysisRun",
]


@final
@attrs.frozen
class CreateReplicaSet:
    """Create ReplicaSet ``name`` for the pod template with hash ``pod_template_hash``."""

    name: str
    pod_template_hash: str
    revision: int
    replicas: int
    template: dict[str, Any]
    selector: dict[str, Any]
    min_ready_seconds: int = 0


@final
@attrs.frozen
class ScaleReplicaSet:
    name: str
    replicas: int


@final
@attrs.frozen
class SetScaleDownDeadline:
    """Mark ReplicaSet ``name`` to be scaled to zero at ``deadline`` (None clears it)."""

    name: str
    deadline: float | None


@final
@attrs.frozen
class SetReplicaSetRevision:
    """A rollback re-uses an old ReplicaSet; it takes the newest revision number."""

    name: str
    revision: int


@final
@attrs.frozen
class DeleteReplicaSet:
    """Remove an old, scaled-down ReplicaSet beyond ``revisionHistoryLimit``."""

    name: str


@final
@attrs.frozen
class SetServiceSelector:
    """Pin ``service`` to the pods of one revision (``rollouts-pod-template-hash``)."""

    service: str
    pod_template_hash: str


@final
@attrs.frozen
class WriteWeight:
    """Every router sends ``weight`` (of ``max_weight``) to the canary Service.

    ``experiment_weights``: ``(service, weight)`` for each weighted template of the
    experiment the rollout is running (same units as ``weight``), extra destinations
    for the routers that can express them; the stable Service gets what remains.
    """

    weight: int
    canary_hash: str
    stable_hash: str
    max_weight: int = 100
    experiment_weights: tuple[tuple[str, int], ...] = ()


@final
@attrs.frozen
class WriteHeaderRoute:
    """The routers send requests matching ``match`` to the canary (route ``name``); no
    match removes the route."""

    name: str
    match: tuple[HeaderMatch, ...]


@final
@attrs.frozen
class WriteMirrorRoute:
    """The routers copy ``percentage`` % of the requests matching ``match`` to the
    canary (route ``name``); no match removes the route."""

    name: str
    match: tuple[Mapping[str, Any], ...]
    percentage: int


@final
@attrs.frozen
class RemoveManagedRoutes:
    """Remove every header and mirror route this Rollout manages."""

    names: tuple[str, ...]


@final
@attrs.frozen
class CreateAnalysisRun:
    """Start an AnalysisRun ``name`` from ``analysis`` (templates are resolved by the shell).

    ``kind`` is the ``rollout-type`` label: Step, Background, PrePromotion or
    PostPromotion.  ``pod_template_hashes`` resolves ``podTemplateHashValue`` args.
    """

    name: str
    kind: str
    analysis: RolloutAnalysis
    stable_hash: str
    latest_hash: str
    step_index: int | None = None


@final
@attrs.frozen
class TerminateAnalysisRun:
    name: str


@final
@attrs.frozen
class AcknowledgeRun:
    """A user promoted the rollout past the verdict of run ``name`` (an AnalysisRun or
    Experiment that paused it): mark the run so (annotation
    ``progressive.dev/acknowledged``), and it never pauses the rollout again."""

    name: str


@final
@attrs.frozen
class CreateExperiment:
    name: str
    templates: tuple[Mapping[str, Any], ...]
    duration: float | None
    analyses: tuple[Mapping[str, Any], ...]
    stable_hash: str
    latest_hash: str


@final
@attrs.frozen
class CreateService:
    """Create Service ``name`` selecting the pods labelled ``selector`` (an experiment
    template's pods, by their pod-template hash), with ``ports`` (Service ports); none
    makes a headless Service.  An existing one is kept."""

    name: str
    selector: dict[str, str]
    ports: tuple[dict[str, Any], ...] = ()


@final
@attrs.frozen
class ScaleWorkload:
    """Scale the workload a Rollout's ``workloadRef`` names (a Deployment being
    migrated) to ``replicas``, as its ``scaleDown`` policy says."""

    api_version: str
    kind: str
    name: str
    replicas: int


@final
@attrs.frozen
class RestartPods:
    """Replace the pods of ReplicaSet ``name`` created before ``before`` (``restartAt``),
    at most ``max_unavailable`` at a time, waiting for each batch to be available."""

    name: str
    before: float
    max_unavailable: int = 1


@final
@attrs.frozen
class RunStepPlugin:
    """Carry out the step plugin ``name``'s step ``index`` (``plugin: {name, config}``)
    for the Rollout's current revision: the plugin plans the writes, the shell makes
    them.  Planned until the plugin reports its change in place."""

    index: int
    name: str
    config: Mapping[str, Any]


@final
@attrs.frozen
class UndoStepPlugin:
    """Undo what step plugin ``name`` did at step ``index`` (an abort), as Argo's
    step plugins' Abort: planned while the plugin reports its change in place."""

    index: int
    name: str
    config: Mapping[str, Any]


@final
@attrs.frozen
class EmitEvent:
    """A Kubernetes Event on the Rollout: ``reason`` is CamelCase, like ``WriteWeight``.

    ``step`` is the canary step the event tells of (the index the step walk was at),
    for timelines; it is not part of the event's identity (``==`` ignores it).
    """

    reason: str
    message: str
    type: str = "Normal"
    step: int | None = attrs.field(default=None, eq=False)


Action = (
    CreateReplicaSet
    | ScaleReplicaSet
    | SetScaleDownDeadline
    | SetReplicaSetRevision
    | DeleteReplicaSet
    | SetServiceSelector
    | WriteWeight
    | WriteHeaderRoute
    | WriteMirrorRoute
    | RemoveManagedRoutes
    | CreateAnalysisRun
    | TerminateAnalysisRun
    | AcknowledgeRun
    | CreateExperiment
    | CreateService
    | RestartPods
    | ScaleWorkload
    | RunStepPlugin
    | UndoStepPlugin
    | EmitEvent
)
