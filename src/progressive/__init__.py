"""progressive: progressive delivery on Kubernetes as an async Python SDK.

Canary, blue-green, header-routed A/B tests, experiments, automated analysis and
rollback, as Argo Rollouts and Flagger do them, built around a pure core::

    from progressive import Observed, Rollout, reconcile

    rollout = Rollout.from_manifest(manifest)     # argoproj.io or progressive.dev
    plan = reconcile(Observed(rollout=rollout, now=now, replica_sets=..., ...))
    for action in plan.actions: ...               # frozen data: apply them your way

and an async shell (:class:`Controller`) that observes a cluster, reconciles and
applies; :class:`MemoryCluster` is the embedded in-memory default.  Tools that drive
releases use :mod:`progressive.client` (``set_image``, ``watch``, ``wait_for``, also
importable from here).

The shell, the in-memory cluster and the YAML loader are imported on first use, so
``import progressive`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._deprecated import renamed as _renamed_in
from .core import (
    Analysis,
    AnalysisArg,
    AnalysisStep,
    BlueGreenStrategy,
    CanaryStrategy,
    CombinedStep,
    Condition,
    ExperimentStep,
    HeaderMatch,
    Observed,
    ObservedRun,
    Pause,
    PauseCondition,
    Phase,
    PingPong,
    Plan,
    PluginStep,
    ReplicaSetView,
    Rollout,
    RolloutAnalysis,
    RolloutStatus,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    Step,
    Strategy,
    TemplateRef,
    TrafficRouting,
    TrafficView,
    VerdictActions,
    WorkloadRef,
    actions,
    pod_template_hash,
    reconcile,
)
from .core._analysis import (
    AnalysisRun,
    AnalysisTemplate,
    Measurement,
    MeasurementFailure,
    Metric,
    MetricResult,
)
from .errors import FieldProblem, ManifestError

if TYPE_CHECKING:
    from . import client
    from ._loader import Documents, load_documents
    from ._shell import Controller, Ref, VirtualClock, WallClock
    from ._shell.traffic import RouterTraffic
    from ._simulation import SimulationResult, simulate
    from .client import RolloutEvent, RolloutFailed, RolloutState, set_image, wait_for, watch
    from .memory import MemoryCluster

__all__ = [
    "Analysis",
    "AnalysisArg",
    "AnalysisRun",
    "AnalysisStep",
    "AnalysisTemplate",
    "BlueGreenStrategy",
    "CanaryStrategy",
    "CombinedStep",
    "Condition",
    "Controller",
    "Ref",
    "RouterTraffic",
    "Documents",
    "ExperimentStep",
    "PluginStep",
    "FieldProblem",
    "HeaderMatch",
    "ManifestError",
    "Measurement",
    "MeasurementFailure",
    "MemoryCluster",
    "Metric",
    "MetricResult",
    "Observed",
    "ObservedRun",
    "Pause",
    "PauseCondition",
    "Phase",
    "PingPong",
    "Plan",
    "ReplicaSetView",
    "Rollout",
    "RolloutAnalysis",
    "RolloutEvent",
    "RolloutFailed",
    "RolloutState",
    "RolloutStatus",
    "SetCanaryScale",
    "SetHeaderRoute",
    "SetMirrorRoute",
    "SetWeight",
    "SimulationResult",
    "Step",
    "Strategy",
    "TemplateRef",
    "TrafficRouting",
    "TrafficView",
    "VerdictActions",
    "VirtualClock",
    "WallClock",
    "WorkloadRef",
    "actions",
    "client",
    "load_documents",
    "pod_template_hash",
    "reconcile",
    "set_image",
    "simulate",
    "wait_for",
    "watch",
]

_LAZY = {
    "Controller": "._shell",
    "Ref": "._shell",
    "RouterTraffic": "._shell.traffic",
    "VirtualClock": "._shell",
    "WallClock": "._shell",
    "MemoryCluster": ".memory",
    "Documents": "._loader",
    "load_documents": "._loader",
    "SimulationResult": "._simulation",
    "simulate": "._simulation",
    "RolloutEvent": ".client",
    "RolloutFailed": ".client",
    "RolloutState": ".client",
    "set_image": ".client",
    "wait_for": ".client",
    "watch": ".client",
}

# renamed because they are values, not exceptions; the old names go after a release
_renamed = _renamed_in(
    __name__, globals(), {"FieldError": "FieldProblem", "MeasurementError": "MeasurementFailure"}
)


def __getattr__(name: str) -> Any:
    import importlib

    if name == "client":
        value: Any = importlib.import_module(".client", __name__)
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        return _renamed(name)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
