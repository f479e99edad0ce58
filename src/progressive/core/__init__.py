"""The pure core of progressive: model, ``reconcile()``, and the analysis engine.

Nothing in this package performs I/O, reads a clock or imports an async library (an
import-linter contract checks it in CI), so it can be embedded anywhere: call
``reconcile(Observed(...))`` and apply the returned :class:`Plan` however you like.
"""

from . import _actions as actions
from ._commands import abort, merge_patch, pause, promote, restart, retry
from ._durations import format_duration, parse_duration
from ._errors import FieldError, ManifestError
from ._observed import Observed, ObservedRun, ReplicaSetView, TrafficView
from ._plan import Plan
from ._reconcile import reconcile, reconcile_invalid
from ._rollout import (
    BlueGreenStrategy,
    CanaryStrategy,
    Rollout,
    TrafficRouting,
    WorkloadRef,
    pod_template_hash,
    read_rollout,
)
from ._status import Condition, PauseCondition, PauseReason, Phase, RolloutStatus
from ._steps import (
    AnalysisArg,
    AnalysisStep,
    ExperimentStep,
    HeaderMatch,
    Pause,
    RolloutAnalysis,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    Step,
    TemplateRef,
)

__all__ = [
    "AnalysisArg",
    "AnalysisStep",
    "BlueGreenStrategy",
    "CanaryStrategy",
    "Condition",
    "ExperimentStep",
    "FieldError",
    "HeaderMatch",
    "ManifestError",
    "Observed",
    "ObservedRun",
    "Pause",
    "PauseCondition",
    "PauseReason",
    "Phase",
    "Plan",
    "ReplicaSetView",
    "Rollout",
    "RolloutAnalysis",
    "RolloutStatus",
    "SetCanaryScale",
    "SetHeaderRoute",
    "SetMirrorRoute",
    "SetWeight",
    "Step",
    "TemplateRef",
    "TrafficRouting",
    "TrafficView",
    "WorkloadRef",
    "abort",
    "actions",
    "format_duration",
    "merge_patch",
    "parse_duration",
    "pause",
    "pod_template_hash",
    "promote",
    "read_rollout",
    "reconcile",
    "reconcile_invalid",
    "restart",
    "retry",
]
