"""The progressive.dev/v1alpha1 CRDs, generated from the model's field declarations.

Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun and Experiment, with
structural schemas built from :mod:`progressive.core._schema` (the fields are declared
once, there) and, for what the controller writes, :mod:`progressive.core._status_schema`
(so a status field the CRD does not declare is refused), ``status`` subresources, the
scale subresource on Rollouts (so a HorizontalPodAutoscaler can drive one), and printer
columns and short names like Argo Rollouts' (``kubectl get ro``); the category
``progressive`` lists them all (``kubectl get progressive``).

Only the progressive.dev group is generated.  Users of Argo's ``argoproj.io`` group keep
Argo's CRDs: the controller reads ``argoproj.io/v1alpha1`` Rollouts as well, so it can
be pointed at them when Argo's own controller is not running (``progressive install
--argoproj``).

:mod:`progressive._deploy` renders them into ``deploy/crds.yaml`` and the Helm chart.
The CRDs others publish (the routers', Argo's), which the tests install, are read from
their Go modules by :mod:`progressive._cluster._published_crds`.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from ..core._schema import (
    ANALYSIS_RUN_SPEC,
    ANALYSIS_TEMPLATE_SPEC,
    EXPERIMENT_SPEC,
    ROLLOUT_SPEC,
    Node,
    openapi,
)
from ..core._status_schema import ANALYSIS_RUN_STATUS, EXPERIMENT_STATUS, ROLLOUT_STATUS

__all__ = [
    "CATEGORY",
    "GROUP",
    "KINDS",
    "VERSION",
    "CrdKind",
    "crd",
    "crds",
]

GROUP: Final = "progressive.dev"
VERSION: Final = "v1alpha1"
CATEGORY: Final = "progressive"
_AGE: Final = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_LABELS: Final = {"app.kubernetes.io/part-of": "progressive"}


@attrs.frozen
class CrdKind:
    kind: str
    plural: str
    spec: Node
    status: Node | None = None
    namespaced: bool = True
    scale: bool = False
    columns: tuple[dict[str, Any], ...] = ()
    short_names: tuple[str, ...] = ()  # Argo's (kubectl get ro)

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"


KINDS: Final = (
    CrdKind(
        "Rollout",
        "rollouts",
        ROLLOUT_SPEC,
        ROLLOUT_STATUS,
        scale=True,
        short_names=("ro",),
        columns=(
            {
                "name": "Desired",
                "type": "integer",
                "description": "Number of desired pods",
                "jsonPath": ".spec.replicas",
            },
            {
                "name": "Current",
                "type": "integer",
                "description": "Total number of non-terminated pods targeted by this rollout",
                "jsonPath": ".status.replicas",
            },
            {
                "name": "Up-to-date",
                "type": "integer",
                "description": "Total number of non-terminated pods targeted by this rollout "
                "that have the desired template spec",
                "jsonPath": ".status.updatedReplicas",
            },
            {
                "name": "Available",
                "type": "integer",
                "description": "Total number of available pods (ready for at least "
                "minReadySeconds) targeted by this rollout",
                "jsonPath": ".status.availableReplicas",
            },
            {
                "name": "Phase",
                "type": "string",
                "description": "Healthy, Progressing, Paused or Degraded",
                "jsonPath": ".status.phase",
            },
            _AGE,
        ),
    ),
    CrdKind(
        "AnalysisTemplate",
        "analysistemplates",
        ANALYSIS_TEMPLATE_SPEC,
        columns=(_AGE,),
        short_names=("at",),
    ),
    CrdKind(
        "ClusterAnalysisTemplate",
        "clusteranalysistemplates",
        ANALYSIS_TEMPLATE_SPEC,
        namespaced=False,
        columns=(_AGE,),
        short_names=("cat",),
    ),
    CrdKind(
        "AnalysisRun",
        "analysisruns",
        ANALYSIS_RUN_SPEC,
        ANALYSIS_RUN_STATUS,
        short_names=("ar",),
        columns=(
            {
                "name": "Status",
                "type": "string",
                "description": "AnalysisRun status",
                "jsonPath": ".status.phase",
            },
            _AGE,
        ),
    ),
    CrdKind(
        "Experiment",
        "experiments",
        EXPERIMENT_SPEC,
        EXPERIMENT_STATUS,
        short_names=("exp",),
        columns=(
            {
                "name": "Status",
                "type": "string",
                "description": "Experiment status",
                "jsonPath": ".status.phase",
            },
            _AGE,
        ),
    ),
)


def crd(kind: CrdKind) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of one kind."""
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": openapi(kind.spec),
    }
    if kind.status is not None:
        properties["status"] = openapi(kind.status)
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "required": ["spec"],
                "properties": properties,
            }
        },
    }
    subresources: dict[str, Any] = {}
    if kind.status is not None:
        subresources["status"] = {}
    if kind.scale:
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.HPAReplicas",  # as Argo's: the active pods
            "labelSelectorPath": ".status.selector",
        }
    if subresources:
        version["subresources"] = subresources
    if kind.columns:
        version["additionalPrinterColumns"] = [dict(c) for c in kind.columns]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.name, "labels": dict(_LABELS)},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                **({"shortNames": list(kind.short_names)} if kind.short_names else {}),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "versions": [version],
        },
    }


def crds() -> list[dict[str, Any]]:
    """Every progressive.dev CRD."""
    return [crd(kind) for kind in KINDS]
