"""The structural schemas of what the controller writes in ``status``: a Rollout's, an
AnalysisRun's and an Experiment's, field by field.

They are the ``status`` of the progressive.dev CRDs (:mod:`progressive._deploy._crds`),
so that a status write the CRD does not declare is refused (the controller writes
statuses with ``fieldValidation=Strict``) under progressive's CRDs as under Argo
Rollouts' own: the same field names and types as Argo's (its Go types,
``pkg/apis/rollouts/v1alpha1``), declared here from what progressive writes and reads
(:mod:`progressive.core._status`, :mod:`progressive.core._analysis`,
:mod:`progressive.core._experiments`).  ``tests/kube/test_argo_status_schema.py``
compares them, field by field and rule by rule, with the CRDs Argo publishes (read from
the Go module cache) and lists what differs on purpose; the same file checks every
status the examples write against Argo's.

Pure data: nothing here does I/O.
"""

from __future__ import annotations

from typing import Final

from ._schema import Node, array, boolean, obj, string, string_map

__all__ = ["ANALYSIS_RUN_STATUS", "EXPERIMENT_STATUS", "ROLLOUT_STATUS"]


def _int32(description: str = "") -> Node:
    """A count as Go's int32 (no bounds beyond the type's: the controller writes it)."""
    return Node("integer", description, format="int32")


def _time(description: str = "") -> Node:
    """An RFC 3339 time (Go's metav1.Time)."""
    return string(description, format="date-time")


def _strings(*names: str) -> dict[str, Node]:
    return {name: string() for name in names}


def _conditions(description: str) -> Node:
    """Kubernetes-style conditions, with Argo's ``lastUpdateTime``."""
    return array(
        obj(
            "",
            {
                **_strings("type", "status", "reason", "message"),
                "lastTransitionTime": _time(),
                "lastUpdateTime": _time(),
            },
            required=(
                "type",
                "status",
                "lastTransitionTime",
                "lastUpdateTime",
                "reason",
                "message",
            ),
        ),
        description,
    )


def _run_status(description: str) -> Node:
    """Which AnalysisRun a step or phase started, and how it is doing."""
    return obj(description, _strings("name", "status", "message"), required=("name", "status"))


def _weight(description: str) -> Node:
    return obj(
        description,
        {**_strings("serviceName", "podTemplateHash"), "weight": _int32()},
        required=("weight",),
    )


def _target_group(description: str) -> Node:
    return obj(description, _strings("name", "arn", "fullName"), required=("name", "arn"))


def _alb(description: str) -> Node:
    """The AWS load balancer an ALB-routed canary uses (kept as Argo writes it)."""
    return obj(
        description,
        {
            "loadBalancer": _target_group("The load balancer."),
            "canaryTargetGroup": _target_group("The canary's target group."),
            "stableTargetGroup": _target_group("The stable's target group."),
            "ingress": string(),
        },
    )


ROLLOUT_STATUS: Final = obj(
    "Written by the controller.",
    {
        "phase": string("Healthy, Progressing, Paused or Degraded."),
        "message": string(),
        "abort": boolean("The update was aborted (the stable revision serves everything)."),
        "abortedAt": _time(),
        "pauseConditions": array(
            obj("", {"reason": string(), "startTime": _time()}, required=("reason", "startTime")),
            "Why the rollout is paused, since when.",
        ),
        "controllerPause": boolean(),
        "promoteFull": boolean(),
        "currentPodHash": string("The pod-template hash of the revision the status is about."),
        "currentStepHash": string(),
        "currentStepIndex": _int32(),
        "stableRS": string("The pod-template hash of the stable revision."),
        "observedGeneration": string("The generation the controller has seen (a string)."),
        "workloadObservedGeneration": string(),
        "collisionCount": _int32(),
        "replicas": _int32(),
        "updatedReplicas": _int32(),
        "readyReplicas": _int32(),
        "availableReplicas": _int32(),
        "HPAReplicas": _int32("The pods receiving active traffic, for the scale subresource."),
        "selector": string("The pods' label selector, for the scale subresource."),
        "restartedAt": _time(),
        "conditions": _conditions("Available, Progressing, Paused, InvalidSpec..."),
        "canary": obj(
            "",
            {
                "currentStepAnalysisRunStatus": _run_status("The current step's analysis."),
                "currentBackgroundAnalysisRunStatus": _run_status("The background analysis."),
                "currentExperiment": string(),
                "stablePingPong": string("Which of ping and pong is the stable Service."),
                "weights": obj(
                    "The weights the traffic routers hold.",
                    {
                        "canary": _weight("The canary's."),
                        "stable": _weight("The stable's."),
                        "additional": array(_weight(""), "The experiments' templates'."),
                        "verified": boolean(),
                    },
                    required=("canary", "stable"),
                ),
                "stepPluginStatuses": array(
                    obj(
                        "",
                        {
                            **_strings("name", "phase", "message", "operation", "backoff"),
                            "index": _int32(),
                            "executions": _int32(),
                            "disabled": boolean(),
                            "startedAt": _time(),
                            "finishedAt": _time(),
                            "updatedAt": _time(),
                            "status": Node("object", free=True),
                        },
                        required=("index", "name", "operation"),
                    )
                ),
            },
        ),
        "blueGreen": obj(
            "",
            {
                "previewSelector": string(),
                "activeSelector": string(),
                "scaleUpPreviewCheckPoint": boolean(),
                "prePromotionAnalysisRunStatus": _run_status("The pre-promotion analysis."),
                "postPromotionAnalysisRunStatus": _run_status("The post-promotion analysis."),
            },
        ),
        "alb": _alb("The ALB of an ALB-routed canary."),
        "albs": array(_alb(""), "The ALBs of a canary routed through several."),
    },
)


def _summary(description: str) -> Node:
    return obj(
        description,
        {name: _int32() for name in ("count", "successful", "failed", "inconclusive", "error")},
    )


ANALYSIS_RUN_STATUS: Final = obj(
    "Written by the controller.",
    {
        "phase": string("Pending, Running, Successful, Failed, Error or Inconclusive."),
        "message": string(),
        "startedAt": _time(),
        "completedAt": _time(),
        "runSummary": _summary("The metrics' verdicts, counted."),
        "dryRunSummary": _summary("The dry-run metrics' verdicts, counted."),
        "metricResults": array(
            obj(
                "",
                {
                    "name": string(),
                    "phase": string(),
                    "message": string(),
                    "dryRun": boolean(),
                    "metadata": string_map(),
                    **{
                        name: _int32()
                        for name in (
                            "count",
                            "successful",
                            "failed",
                            "inconclusive",
                            "error",
                            "consecutiveError",
                            "consecutiveSuccess",
                        )
                    },
                    "measurements": array(
                        obj(
                            "",
                            {
                                **_strings("phase", "message", "value"),
                                "startedAt": _time(),
                                "finishedAt": _time(),
                                "resumeAt": _time(),
                                "metadata": string_map(),
                            },
                            required=("phase",),
                        )
                    ),
                },
                required=("name", "phase"),
            ),
            "Per metric: its measurements and their verdicts.",
        ),
    },
    required=("phase",),
)

EXPERIMENT_STATUS: Final = obj(
    "Written by the controller.",
    {
        "phase": string("Pending, Running, Successful, Failed, Error or Inconclusive."),
        "message": string(),
        "availableAt": _time(),
        "conditions": _conditions("Progressing..."),
        "templateStatuses": array(
            obj(
                "",
                {
                    **_strings("name", "status", "message", "podTemplateHash", "serviceName"),
                    **{
                        name: _int32()
                        for name in (
                            "replicas",
                            "updatedReplicas",
                            "readyReplicas",
                            "availableReplicas",
                            "collisionCount",
                        )
                    },
                    "lastTransitionTime": _time(),
                },
                required=(
                    "name",
                    "replicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                ),
            ),
            "Per template: its ReplicaSet's pods.",
        ),
        "analysisRuns": array(
            obj(
                "",
                _strings("name", "analysisRun", "phase", "message"),
                required=("name", "analysisRun", "phase"),
            ),
            "Per analysis: its run and how it is doing.",
        ),
    },
)
