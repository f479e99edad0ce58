"""The pure core of progressive: model, ``reconcile()``, and the analysis engine.

Nothing in this package performs I/O, reads a clock or imports an async library (an
import-linter contract checks it in CI), so it can be embedded anywhere: call
``reconcile(Observed(...))`` and apply the returned :class:`Plan` however you like.
"""

from .._deprecated import renamed as _renamed_in
from ..errors import FieldProblem, ManifestError
from . import _actions as actions
from ._analysis_model import AnalysisTemplate, MeasurementRetention, Metric
from ._commands import abort, merge_patch, pause, promote, restart, resume, retry
from ._durations import format_duration, parse_duration
from ._experiments import Experiment, ExperimentStatus, reconcile_experiment
from ._judge import Classification, Direction, Judgement, MetricConfig, judge, mann_whitney_u
from ._observed import Observed, ObservedRun, ReplicaSetView, TrafficView, WorkloadView
from ._plan import Plan
from ._reconcile import reconcile, reconcile_invalid
from ._rollout import (
    BlueGreenStrategy,
    CanaryStrategy,
    PingPong,
    Rollout,
    Strategy,
    TrafficRouting,
    WorkloadRef,
    pod_template_hash,
    read_rollout,
)
from ._slo import (
    GOOGLE_SRE_WINDOWS,
    SLO,
    BurnRateWindow,
    burn_rate_metrics,
    burn_rate_query,
    burn_rate_template,
    pyrra_recording_rules,
)
from ._status import Condition, PauseCondition, PauseReason, Phase, RolloutStatus
from ._steps import (
    AnalysisArg,
    AnalysisStep,
    CombinedStep,
    ExperimentStep,
    HeaderMatch,
    Pause,
    PluginStep,
    RolloutAnalysis,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    Step,
    TemplateRef,
    VerdictActions,
)
from ._user_analysis import Analysis

__all__ = [
    "Analysis",
    "AnalysisArg",
    "AnalysisStep",
    "AnalysisTemplate",
    "BlueGreenStrategy",
    "BurnRateWindow",
    "CanaryStrategy",
    "Classification",
    "CombinedStep",
    "Condition",
    "Direction",
    "Experiment",
    "ExperimentStatus",
    "ExperimentStep",
    "PluginStep",
    "FieldProblem",
    "GOOGLE_SRE_WINDOWS",
    "HeaderMatch",
    "Judgement",
    "ManifestError",
    "MeasurementRetention",
    "Metric",
    "MetricConfig",
    "Observed",
    "ObservedRun",
    "Pause",
    "PauseCondition",
    "PauseReason",
    "PingPong",
    "Phase",
    "Plan",
    "ReplicaSetView",
    "Rollout",
    "RolloutAnalysis",
    "RolloutStatus",
    "SLO",
    "SetCanaryScale",
    "SetHeaderRoute",
    "SetMirrorRoute",
    "SetWeight",
    "Step",
    "Strategy",
    "TemplateRef",
    "TrafficRouting",
    "TrafficView",
    "VerdictActions",
    "WorkloadRef",
    "WorkloadView",
    "abort",
    "actions",
    "burn_rate_metrics",
    "burn_rate_query",
    "burn_rate_template",
    "format_duration",
    "judge",
    "mann_whitney_u",
    "merge_patch",
    "parse_duration",
    "pause",
    "pod_template_hash",
    "promote",
    "pyrra_recording_rules",
    "read_rollout",
    "reconcile",
    "reconcile_experiment",
    "reconcile_invalid",
    "restart",
    "resume",
    "retry",
]

# renamed because it is a value, not an exception; the old name goes after a release
__getattr__ = _renamed_in(__name__, globals(), {"FieldError": "FieldProblem"})
