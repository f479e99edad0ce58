"""The names progressive shares with Argo Rollouts and Kubernetes, each defined once:
the API groups it serves, the kinds of its own objects, and the labels and annotations
it reads and writes on other objects.

Argo's names are Argo's, spelled as Argo spells them, so that a cluster moves from
Argo's controller to this one (and back) with its objects as they are; the
``progressive.dev/`` ones are this project's own.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BUILT_IN_PROVIDERS",
    "ACKNOWLEDGED_ANNOTATION",
    "ANALYSIS_RUN",
    "ANALYSIS_TEMPLATE",
    "API_GROUPS",
    "CLUSTER_ANALYSIS_TEMPLATE",
    "CRD_KINDS",
    "EXPERIMENT",
    "HASH_LABEL",
    "IMAGE_PULL_FAILURES",
    "MANAGED_BY_ANNOTATION",
    "RESTART_REFUSED_ANNOTATION",
    "REVISION_ANNOTATION",
    "ROLLOUT",
    "SCALE_DOWN_DEADLINE_ANNOTATION",
    "STABLE_HASH_ANNOTATION",
    "STEP_INDEX_ANNOTATION",
    "template_kind",
]

#: The API groups (with their version) of Rollouts, AnalysisTemplates, AnalysisRuns and
#: Experiments: Argo's first (the default for what progressive creates), then its own.
API_GROUPS: Final = ("argoproj.io/v1alpha1", "progressive.dev/v1alpha1")

ROLLOUT: Final = "Rollout"
ANALYSIS_RUN: Final = "AnalysisRun"
EXPERIMENT: Final = "Experiment"
ANALYSIS_TEMPLATE: Final = "AnalysisTemplate"
CLUSTER_ANALYSIS_TEMPLATE: Final = "ClusterAnalysisTemplate"
#: The kinds of :data:`API_GROUPS`: progressive's own CRDs, and Argo's.
CRD_KINDS: Final = (
    ROLLOUT,
    ANALYSIS_RUN,
    EXPERIMENT,
    ANALYSIS_TEMPLATE,
    CLUSTER_ANALYSIS_TEMPLATE,
)


def template_kind(cluster_scope: bool) -> str:
    """The kind of an analysis template: ``ClusterAnalysisTemplate`` for a cluster-scoped
    one (``clusterScope: true``), else ``AnalysisTemplate``."""
    return CLUSTER_ANALYSIS_TEMPLATE if cluster_scope else ANALYSIS_TEMPLATE


#: on a ReplicaSet, its pods and the selectors of the Services routing to them: the hash
#: of the pod template (:func:`progressive.core.pod_template_hash`)
HASH_LABEL: Final = "rollouts-pod-template-hash"
#: on a ReplicaSet: the revision of the Rollout whose template it runs
REVISION_ANNOTATION: Final = "rollout.argoproj.io/revision"
#: on a ReplicaSet: when (RFC 3339) an old ReplicaSet is to be scaled down
SCALE_DOWN_DEADLINE_ANNOTATION: Final = "scale-down-deadline"
#: on a ReplicaSet whose spec.restartAt restart the API server refused: why, and how to
#: grant it (the Rollout's ReplicaFailure condition repeats it)
RESTART_REFUSED_ANNOTATION: Final = "progressive.dev/restart-refused"
#: on a Service or route object: the Rollout that manages it
MANAGED_BY_ANNOTATION: Final = "argo-rollouts.argoproj.io/managed-by-rollouts"
#: on an AnalysisRun or Experiment a user promoted the Rollout past (AcknowledgeRun)
ACKNOWLEDGED_ANNOTATION: Final = "progressive.dev/acknowledged"
#: on an Experiment a Rollout's step started: the stable revision's hash at the time
STABLE_HASH_ANNOTATION: Final = "rollout.argoproj.io/stable-hash"
#: on an AnalysisRun a step started: that step's index
STEP_INDEX_ANNOTATION: Final = "rollout.argoproj.io/step-index"

#: The reason of the Event a reconcile that makes a new revision stable writes: a
#: canary's promotion (a blue-green Rollout's switch of its active Service too) ...
PROMOTED_EVENT: Final = "Promoted"
#: ... and a blue-green Rollout's, once its post-promotion analysis passed.  Written
#: after the status that says so (``client.wait_for`` waits for them).
COMPLETED_EVENT: Final = "RolloutCompleted"

#: The waiting reasons of a container whose image cannot be pulled (Kubernetes').
IMAGE_PULL_FAILURES: Final = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")

#: The metric provider keys progressive ships (``progressive.metrics``; ``job`` only with
#: a cluster to run Jobs in): a plugin cannot take one, and ``lint`` checks the others
#: against the installed plugins.
BUILT_IN_PROVIDERS: Final = frozenset({"prometheus", "web", "job", "judge"})
