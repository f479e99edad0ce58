"""Metric providers: where analysis measurements come from, and what to make of them.

Providers only fetch; the core judges.  Each provider answers one key of a metric's
``provider`` (``prometheus``, ``web``, ``job``, ``judge``) behind the one :class:`MetricProvider`
Protocol; a :class:`ProviderRegistry` dispatches on the key, and
:func:`default_registry` builds the registry with all of them.  The
:class:`ScriptedProvider` replays values (tests, ``simulate --metrics``, ``demo``) and
falls back to a registry for metrics it has no values for.

Also here, re-exported from the pure core for convenience: SLO burn-rate gates
(:class:`SLO`, :func:`burn_rate_template`, ...) and the statistical judge
(:func:`judge`, :func:`mann_whitney_u`, ...).  See docs/analysis.md.
"""

from __future__ import annotations

from .._access import KubeAccess
from .._clusters import Cluster
from .._deprecated import renamed as _renamed_in
from ..core._judge import (
    Classification,
    Direction,
    Judgement,
    MannWhitneyResult,
    MetricConfig,
    MetricVerdict,
    classify_metric,
    judge,
    mann_whitney_u,
)
from ..core._names import BUILT_IN_PROVIDERS
from ..core._slo import (
    GOOGLE_SRE_WINDOWS,
    SLO,
    BurnRateWindow,
    burn_rate_metrics,
    burn_rate_query,
    burn_rate_template,
    error_budget_query,
    pyrra_recording_rules,
    pyrra_windows,
)
from ._http import DEFAULT_LIMITS, DEFAULT_RETRY, ResponseLimits, RetryPolicy, set_testing
from ._job import JobProvider
from ._judge import JudgeProvider
from ._plugins import ProviderContext, add_plugins
from ._prometheus import PrometheusProvider
from ._protocol import (
    MeasurementFailure,
    MeasurementInProgress,
    MeasurementOutcome,
    MetricProvider,
    ProviderRegistry,
    provider_config,
)
from ._scripted import ScriptedProvider, ScriptedValue
from ._web import WebProvider

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_RETRY",
    "GOOGLE_SRE_WINDOWS",
    "SLO",
    "BurnRateWindow",
    "Classification",
    "Direction",
    "JobProvider",
    "JudgeProvider",
    "Judgement",
    "KubeAccess",
    "MannWhitneyResult",
    "MeasurementFailure",
    "MeasurementInProgress",
    "MeasurementOutcome",
    "MetricConfig",
    "MetricProvider",
    "MetricVerdict",
    "PrometheusProvider",
    "ProviderContext",
    "ProviderRegistry",
    "ResponseLimits",
    "RetryPolicy",
    "ScriptedProvider",
    "ScriptedValue",
    "WebProvider",
    "burn_rate_metrics",
    "burn_rate_query",
    "burn_rate_template",
    "classify_metric",
    "default_registry",
    "error_budget_query",
    "judge",
    "mann_whitney_u",
    "pyrra_recording_rules",
    "provider_config",
    "pyrra_windows",
    "set_testing",
]

# renamed because it is a value, not an exception; the old name goes after a release
__getattr__ = _renamed_in(__name__, globals(), {"MeasurementError": "MeasurementFailure"})


def default_registry(
    cluster: Cluster | None = None,
    *,
    prometheus_address: str | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    limits: ResponseLimits = DEFAULT_LIMITS,
) -> ProviderRegistry:
    """``prometheus``, ``web``, ``judge`` (a baseline and a canary sample fetched through
    the ``prometheus`` provider, compared by the statistical judge) and (with a
    cluster) ``job``, ready to measure.

    ``cluster`` is where Jobs run and ``secretKeyRef`` values are read.
    ``prometheus_address`` is used by metrics that name no address (before the
    ``PROGRESSIVE_PROMETHEUS_ADDRESS`` / ``ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`` variables).
    ``retry`` and ``limits`` (how much of an answer is read) apply to every HTTP
    provider.  Then the installed plugins' providers (``progressive.metrics`` entry
    points, made with a :class:`ProviderContext` of the same; docs/plugins.md).
    """
    registry = ProviderRegistry()
    prometheus = PrometheusProvider(cluster, address=prometheus_address, retry=retry, limits=limits)
    registry.register("prometheus", prometheus)
    registry.register("judge", JudgeProvider(prometheus))
    registry.register("web", WebProvider(cluster, retry=retry, limits=limits))
    if cluster is not None:
        registry.register("job", JobProvider(cluster))
    return add_plugins(registry, ProviderContext(cluster, retry, limits), BUILT_IN_PROVIDERS)
