"""The analysis model: templates, runs and their status, read from and written to manifests.

``AnalysisTemplate.from_manifest`` and ``AnalysisRun.from_manifest`` read untrusted plain
data (as ``yaml.safe_load`` returns it) and either return a frozen value or raise one
:class:`~progressive.errors.ManifestError` listing every problem with its field path.
Nothing else escapes them, whatever the input.  The engine that moves a run forward lives
in :mod:`progressive.core._analysis`.

Two deliberate differences from Argo Rollouts, both documented where they matter:

* ``{{args.x}}`` placeholders are substituted in the provider, in the two conditions
  and, as in Argo, in the numeric fields (``count``, ``interval``, ``initialDelay``, the
  limits: :data:`DEFERRABLE`), which a template may write as a placeholder
  (``interval: "{{args.interval}}"``): the metric keeps that text in
  :attr:`Metric.deferred` until the run is built, which reads it then.  A value from a
  Secret cannot set one (it is resolved only when measuring, and never stored).
* A condition or numeric field that contains a placeholder is checked after
  substitution (when the run is built), since ``result > {{args.max}}`` only parses
  once ``max`` is known.

Two metric fields are progressive.dev extensions: ``emptyResult`` and ``nanResult``
(:data:`RESULT_POLICIES`) decide what a result without data makes of a measurement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ..errors import EvaluationError, ExpressionError, FieldProblem
from ._analysis_args import substitute_fields, substitute_text
from ._analysis_status import (
    AnalysisPhase,
    AnalysisRunStatus,
    Measurement,
    MetricResult,
    RunSummary,
    read_run_status,
    run_status_manifest,
)
from ._analysis_values import (
    PLACEHOLDER,
    compile_condition,
    compiled_rule,
    condition_error,
    plain_copy,
    raise_fatal,
    rule_matches,
)
from ._bounds import check_bounds
from ._durations import as_seconds, parse_duration, seconds_field
from ._fields import Fields, describe
from ._frozen import FrozenDict, Immutable, freeze_map, strings, thaw
from ._names import API_GROUPS, template_kind
from ._steps import AnalysisArg, TemplateRef

__all__ = [
    "DEFAULT_CONSECUTIVE_ERROR_LIMIT",
    "DEFERRABLE",
    "DEFAULT_EMPTY_RESULT",
    "DEFAULT_MEASUREMENT_RETENTION",
    "DEFAULT_NAN_RESULT",
    "RESULT_POLICIES",
    "AnalysisPhase",
    "AnalysisRun",
    "AnalysisRunStatus",
    "AnalysisTemplate",
    "Arg",
    "EvaluationError",
    "ExpressionError",
    "Measurement",
    "MeasurementRetention",
    "Metric",
    "MetricResult",
    "RunSummary",
    "TemplateRef",
    "compile_condition",
    "read_analysis_run",
    "read_analysis_template",
    "resolve_metric",
    "rule_matches",
    "substitute_args",
    "template_refs_of",
]

DEFAULT_CONSECUTIVE_ERROR_LIMIT: Final = 4
DEFAULT_MEASUREMENT_RETENTION: Final = 10
#: What an empty result (``emptyResult``) or a result holding NaN (``nanResult``) makes
#: of a measurement: ``error``, ``failed`` or ``inconclusive`` (that phase, whatever the
#: conditions say), or ``conditions`` (Argo's behaviour: the conditions judge it, and
#: ``len(result) == 0 || ...`` may let it pass).  Both are progressive.dev extensions that
#: Argo manifests lack; their defaults never let missing data pass.
RESULT_POLICIES: Final = ("error", "failed", "inconclusive", "conditions")
DEFAULT_EMPTY_RESULT: Final = "error"
DEFAULT_NAN_RESULT: Final = "error"
# Kubernetes IntOrString fields are int32.
_INT32_MAX: Final = 2**31 - 1


# A rollout-supplied argument and a template argument are the same thing.
Arg = AnalysisArg


@attrs.frozen
class MeasurementRetention(Immutable):
    """Keep the last ``limit`` measurements of metrics matching ``metric_name``."""

    metric_name: str
    limit: int


def metrics_tuple(value: Iterable[Metric]) -> tuple[Metric, ...]:
    return value if type(value) is tuple else tuple(value)


def _args(value: Iterable[Arg]) -> tuple[Arg, ...]:
    return value if type(value) is tuple else tuple(value)


def retention_tuple(
    value: Iterable[MeasurementRetention],
) -> tuple[MeasurementRetention, ...]:
    return value if type(value) is tuple else tuple(value)


def _refs(value: Iterable[TemplateRef]) -> tuple[TemplateRef, ...]:
    return value if type(value) is tuple else tuple(value)


@attrs.frozen
class Metric(Immutable):
    """One metric of a template or run.  Durations are seconds; limits follow Argo.

    ``failure_limit`` -1 disables it (only valid with a consecutive-success limit).
    ``count`` None (or 0) means one measurement without an interval, and measurements
    until the run is terminated with one.  ``empty_result`` and ``nan_result`` are the
    policies for results without data (see :data:`RESULT_POLICIES`).  ``provider`` is
    the provider's key and configuration (``{"prometheus": {"query": ...}}``); the
    durations may also be given as a manifest writes them (``"5m"``).
    """

    name: str
    provider: Mapping[str, Any] = attrs.field(factory=FrozenDict, converter=freeze_map)
    interval: float | None = attrs.field(default=None, converter=as_seconds)
    initial_delay: float | None = attrs.field(default=None, converter=as_seconds)
    count: int | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = DEFAULT_CONSECUTIVE_ERROR_LIMIT
    consecutive_success_limit: int = 0
    empty_result: str = DEFAULT_EMPTY_RESULT
    nan_result: str = DEFAULT_NAN_RESULT
    #: numeric fields a template writes with ``{{args.x}}`` placeholders, by manifest key
    #: (``{"count": "{{args.runs}}"}``): read when the run is built (their typed
    #: fields hold the defaults until then)
    deferred: Mapping[str, str] = attrs.field(factory=FrozenDict, converter=freeze_map)

    @property
    def effective_count(self) -> int | None:
        """How many measurements complete the metric; None runs until terminated."""
        if not self.count:
            return None if self.interval is not None else 1
        return self.count

    @property
    def provider_name(self) -> str:
        return next(iter(self.provider), "")

    @classmethod
    def from_manifest(cls, obj: object, path: str = "metric") -> Metric:
        """Read one metric (``spec.metrics[i]``); raises ManifestError."""
        errors: list[FieldProblem] = []
        metric = read_metric(Fields(obj, path, errors))
        raise_fatal(errors)
        assert metric is not None
        return metric

    def to_manifest(self) -> dict[str, Any]:
        """The metric as a manifest writes it (``spec.metrics[i]``)."""
        out: dict[str, Any] = {"name": self.name}
        if self.interval is not None:
            out["interval"] = seconds_field(self.interval)
        if self.initial_delay is not None:
            out["initialDelay"] = seconds_field(self.initial_delay)
        if self.count is not None:
            out["count"] = self.count
        if self.success_condition is not None:
            out["successCondition"] = self.success_condition
        if self.failure_condition is not None:
            out["failureCondition"] = self.failure_condition
        if self.failure_limit != 0:
            out["failureLimit"] = self.failure_limit
        if self.inconclusive_limit != 0:
            out["inconclusiveLimit"] = self.inconclusive_limit
        if self.consecutive_error_limit != DEFAULT_CONSECUTIVE_ERROR_LIMIT:
            out["consecutiveErrorLimit"] = self.consecutive_error_limit
        if self.consecutive_success_limit != 0:
            out["consecutiveSuccessLimit"] = self.consecutive_success_limit
        if self.empty_result != DEFAULT_EMPTY_RESULT:
            out["emptyResult"] = self.empty_result
        if self.nan_result != DEFAULT_NAN_RESULT:
            out["nanResult"] = self.nan_result
        out.update(self.deferred)
        out["provider"] = thaw(self.provider)
        return out


@attrs.frozen
class AnalysisTemplate(Immutable):
    """An AnalysisTemplate or (``cluster_scope``) ClusterAnalysisTemplate: metrics to
    measure and the arguments they take (Argo's kinds, read with :meth:`from_manifest`).
    A user building one in code may rather build an :class:`~progressive.Analysis`."""

    name: str
    namespace: str | None = None
    cluster_scope: bool = False
    metrics: tuple[Metric, ...] = attrs.field(default=(), converter=metrics_tuple)
    args: tuple[Arg, ...] = attrs.field(default=(), converter=_args)
    dry_run: tuple[str, ...] = attrs.field(default=(), converter=strings)
    measurement_retention: tuple[MeasurementRetention, ...] = attrs.field(
        default=(), converter=retention_tuple
    )
    templates: tuple[TemplateRef, ...] = attrs.field(default=(), converter=_refs)

    @property
    def kind(self) -> str:
        return template_kind(self.cluster_scope)

    @property
    def ref(self) -> TemplateRef:
        return TemplateRef(self.name, self.cluster_scope)

    @classmethod
    def from_manifest(cls, obj: object) -> AnalysisTemplate:
        """Read an (Cluster)AnalysisTemplate manifest.

        Raises:
            ManifestError: every error found, each with its field path.  Warnings
                (unknown fields) alone do not raise; see :func:`read_analysis_template`.
        """
        template, errors = read_analysis_template(obj)
        raise_fatal(errors)
        assert template is not None
        return template

    def to_manifest(self, api_version: str = API_GROUPS[1]) -> dict[str, Any]:
        """The template as a manifest (plain data): :meth:`from_manifest` reads it back
        equal.  A namespaced one without a namespace is written to ``default``."""
        metadata: dict[str, Any] = {"name": self.name}
        if not self.cluster_scope:
            metadata["namespace"] = self.namespace or "default"
        spec: dict[str, Any] = {}
        if self.metrics:
            spec["metrics"] = [m.to_manifest() for m in self.metrics]
        if self.args:
            spec["args"] = [a.to_manifest() for a in self.args]
        spec.update(_rules_manifest(self.dry_run, self.measurement_retention))
        if self.templates:
            spec["templates"] = [t.to_manifest() for t in self.templates]
        return {"apiVersion": api_version, "kind": self.kind, "metadata": metadata, "spec": spec}

    def validate(self) -> list[FieldProblem]:
        """Check this template as :meth:`from_manifest` checks a manifest, with the same
        field paths (``spec.metrics[0].interval: ...``).

        Returns:
            the warnings.

        Raises:
            ManifestError: listing every error found.
        """
        _, problems = read_analysis_template(self.to_manifest())
        raise_fatal(problems)
        return problems


@attrs.frozen
class AnalysisRun:
    """An AnalysisRun: metrics with their arguments already substituted, and a status.

    Args whose ``value`` is None but ``value_from`` is set (secrets) are left for the
    caller: their placeholders stay in the metrics until :func:`resolve_metric` is
    called just before measuring, so secret values are never stored in the run.
    """

    name: str
    namespace: str
    metrics: tuple[Metric, ...]
    args: tuple[Arg, ...] = ()
    dry_run: tuple[str, ...] = ()
    measurement_retention: tuple[MeasurementRetention, ...] = ()
    terminate: bool = False
    labels: Mapping[str, str] = attrs.field(factory=FrozenDict, converter=freeze_map)
    status: AnalysisRunStatus = AnalysisRunStatus()

    @property
    def phase(self) -> AnalysisPhase:
        return self.status.phase

    @property
    def completed(self) -> bool:
        return self.status.phase.completed

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(f"AnalysisRun {self.name!r} has no metric {name!r}")

    def result(self, name: str) -> MetricResult | None:
        for result in self.status.metric_results:
            if result.name == name:
                return result
        return None

    def is_dry_run(self, metric_name: str) -> bool:
        return any(rule_matches(rule, metric_name) for rule in self.dry_run)

    def retention_limit(self, metric_name: str) -> int:
        """The last matching rule with a positive limit wins; else 10 (Argo)."""
        limit = DEFAULT_MEASUREMENT_RETENTION
        for rule in self.measurement_retention:
            if rule_matches(rule.metric_name, metric_name):
                limit = rule.limit if rule.limit > 0 else DEFAULT_MEASUREMENT_RETENTION
        return limit

    @classmethod
    def from_manifest(cls, obj: object) -> AnalysisRun:
        """Read an AnalysisRun manifest, status included.

        Placeholders of args that have a value are substituted (a no-op for runs written
        by :meth:`to_manifest`).

        Raises:
            ManifestError: every error found, each with its field path.
        """
        run, errors = read_analysis_run(obj)
        raise_fatal(errors)
        assert run is not None
        return run

    def to_manifest(self) -> dict[str, Any]:
        """Plain data with Argo's camelCase field names; ``from_manifest`` reads it back."""
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.labels:
            metadata["labels"] = dict(self.labels)
        spec: dict[str, Any] = {"metrics": [m.to_manifest() for m in self.metrics]}
        if self.args:
            spec["args"] = [a.to_manifest() for a in self.args]
        spec.update(_rules_manifest(self.dry_run, self.measurement_retention))
        if self.terminate:
            spec["terminate"] = True
        return {
            "apiVersion": API_GROUPS[0],
            "kind": "AnalysisRun",
            "metadata": metadata,
            "spec": spec,
            "status": run_status_manifest(self.status),
        }


# -- argument substitution -------------------------------------------------------------------


def substitute_args(
    metric: Metric, values: Mapping[str, str | None], errors: list[FieldProblem], path: str
) -> Metric:
    """``metric`` with its arguments substituted (:func:`substitute_fields`, and its
    :attr:`~Metric.deferred` numeric fields read), errors recorded under ``path``."""
    if metric.deferred:
        metric = _resolve_numbers(metric, values, errors, path)
    provider, success, failure = substitute_fields(
        metric.provider, metric.success_condition, metric.failure_condition, values, errors, path
    )
    return attrs.evolve(
        metric, provider=provider, success_condition=success, failure_condition=failure
    )


def _resolve_numbers(
    metric: Metric, values: Mapping[str, str | None], errors: list[FieldProblem], path: str
) -> Metric:
    """``metric`` with its deferred numeric fields substituted and read, as a manifest's
    are (with the cross-field checks they were spared); unchanged when one cannot be."""

    def at(key: str) -> str:
        return f"{path}.{key}" if path else key

    raw = metric.to_manifest()
    failed = False
    for key, text in metric.deferred.items():
        problems: list[str] = []
        resolved = substitute_text(text, values, problems)
        if not problems and PLACEHOLDER.search(resolved):
            problems.append(f"{text} has no value here (a Secret's value cannot set {key})")
        if problems:
            errors.append(FieldProblem(at(key), "; ".join(dict.fromkeys(problems))))
            failed = True
        raw[key] = resolved
    if failed:
        return metric
    found: list[FieldProblem] = []
    read = read_metric(Fields(raw, path, found))
    errors.extend(found)
    return metric if read is None else read


def resolve_metric(metric: Metric, values: Mapping[str, str | None], *, path: str = "") -> Metric:
    """Substitute ``{{args.name}}`` in the provider's strings and in both conditions.

    A name mapped to None (an arg whose ``valueFrom`` the caller has yet to resolve, such
    as a secret) keeps its placeholder; call this again with the value just before
    measuring, so that the value is never stored.  Mapping keys are not substituted.

    Raises:
        ManifestError: a placeholder names an unknown argument, or a condition does not
            parse once substituted (paths are relative to ``path``).
    """
    errors: list[FieldProblem] = []
    resolved = substitute_args(metric, values, errors, path)
    raise_fatal(errors)
    return resolved


def resolve_metrics(
    metrics: Iterable[Metric], args: Iterable[Arg], errors: list[FieldProblem], path: str
) -> tuple[Metric, ...]:
    """:func:`resolve_metric` for each of ``metrics``, recording errors under ``path[i]``."""
    values = {a.name: a.value for a in args}
    return tuple(substitute_args(m, values, errors, f"{path}[{i}]") for i, m in enumerate(metrics))


# -- readers ---------------------------------------------------------------------------------

_INT_TEXT: Final = re.compile(r"[+-]?\d{1,10}")


def _int_or_string(
    f: Fields, key: str, default: int | None, *, low: int, high: int = _INT32_MAX
) -> int | None:
    """A Kubernetes IntOrString holding a number: ``3`` or ``"3"``."""
    value = f.raw(key)
    if value is None:
        return default
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        f.error(f"must be an integer, got {describe(value)}", key)
        return default
    if value.bit_length() > 64:  # too long even to print (int max str digits)
        f.error(f"must be between {low} and {high}, got a {value.bit_length()}-bit integer", key)
        return default
    return f.check_range(key, value, low, high, default)


def _duration(f: Fields, key: str) -> float | None:
    value = f.raw(key)
    if value is None or value == "":
        return None
    try:
        return parse_duration(value)
    except (ValueError, OverflowError) as exc:
        f.error(str(exc) or "must be a duration such as '30s'", key)
        return None


def _condition(f: Fields, key: str) -> str | None:
    source = f.str(key)
    if not source:
        return None
    problem = condition_error(source)
    if problem is not None:
        f.error(problem, key)
    return source


def _provider(f: Fields) -> dict[str, Any]:
    raw = f.raw("provider")
    if raw is None:
        f.error("is required", "provider")
        return {}
    if not isinstance(raw, Mapping):
        f.error(f"must be an object, got {type(raw).__name__}", "provider")
        return {}
    set_keys = [k for k, v in raw.items() if v is not None]
    if len(set_keys) != 1:
        shown = ", ".join(describe(k) for k in set_keys[:5])
        f.error(
            "must set exactly one provider (prometheus, web, job, ...), "
            f"got {len(set_keys)}" + (f": {shown}" if shown else ""),
            "provider",
        )
        return {}
    key = set_keys[0]
    config = raw[key]
    at = f"provider.{key}"
    if not isinstance(key, str) or not key:
        f.error(f"provider name must be a non-empty string, got {describe(key)}", "provider")
        return {}
    if not isinstance(config, Mapping) or not config:
        f.error(f"must be a non-empty object, got {describe(config)}", at)
        return {}
    if key == "plugin" and len(config) != 1:
        f.error(f"must name exactly one plugin, got {len(config)}", at)
        return {}
    return {key: plain_copy(config, f, at)}


_METRIC_FIELDS: Final = frozenset(
    {
        "name",
        "interval",
        "initialDelay",
        "count",
        "successCondition",
        "failureCondition",
        "failureLimit",
        "inconclusiveLimit",
        "consecutiveErrorLimit",
        "consecutiveSuccessLimit",
        "provider",
        "emptyResult",
        "nanResult",
    }
)


#: The numeric fields a template may write as ``{{args.x}}`` placeholders.
DEFERRABLE: Final = (
    "interval",
    "initialDelay",
    "count",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
    "consecutiveSuccessLimit",
)


def read_metric(f: Fields) -> Metric | None:
    """One metric, or None (errors recorded) when it is unusable.  Argo's ValidateMetric.

    A numeric field written with a placeholder is kept in :attr:`Metric.deferred` and
    read (with the checks between fields) when the run is built."""
    before = len(f.errors)
    f.unknown(_METRIC_FIELDS)
    name = f.str("name", required=True) or ""
    deferred = {
        key: value
        for key in DEFERRABLE
        if isinstance(value := f.raw(key), str) and PLACEHOLDER.search(value)
    }
    interval = None if "interval" in deferred else _duration(f, "interval")
    if interval == 0:
        f.error("must be greater than 0 (omit it for a single measurement)", "interval")
    initial_delay = None if "initialDelay" in deferred else _duration(f, "initialDelay")

    def number(key: str, default: int | None, low: int) -> int | None:
        return default if key in deferred else _int_or_string(f, key, default, low=low)

    count = number("count", None, 0)
    failure_limit = number("failureLimit", 0, -1)
    inconclusive_limit = number("inconclusiveLimit", 0, 0)
    error_limit = number("consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT, 0)
    success_limit = number("consecutiveSuccessLimit", 0, 0)
    metric = Metric(
        name=name,
        provider=_provider(f),
        interval=interval,
        initial_delay=initial_delay,
        count=count,
        success_condition=_condition(f, "successCondition"),
        failure_condition=_condition(f, "failureCondition"),
        failure_limit=0 if failure_limit is None else failure_limit,
        inconclusive_limit=inconclusive_limit or 0,
        consecutive_error_limit=(
            DEFAULT_CONSECUTIVE_ERROR_LIMIT if error_limit is None else error_limit
        ),
        consecutive_success_limit=success_limit or 0,
        empty_result=_policy(f, "emptyResult", DEFAULT_EMPTY_RESULT),
        nan_result=_policy(f, "nanResult", DEFAULT_NAN_RESULT),
        deferred=deferred,
    )
    if not _has_errors(f.errors[before:]) and not deferred:
        _check_limits(f, metric)
    return None if _has_errors(f.errors[before:]) else metric


def _policy(f: Fields, key: str, default: str) -> str:
    value = f.str(key)
    if value is None:
        return default
    if value not in RESULT_POLICIES:
        f.error(f"must be one of {', '.join(RESULT_POLICIES)}, got {describe(value)}", key)
        return default
    return value


def _has_errors(errors: Iterable[FieldProblem]) -> bool:
    return any(e.severity == "error" for e in errors)


def _check_limits(f: Fields, m: Metric) -> None:
    """Argo's cross-field checks between count, interval and the limits."""
    if m.consecutive_success_limit == 0 and m.failure_limit == -1:
        f.error("cannot be -1 unless consecutiveSuccessLimit is set", "failureLimit")
    count = m.count or 0
    if count > 0:
        if m.failure_limit >= 0 and count < m.failure_limit + m.consecutive_success_limit:
            f.error(
                f"must be at least failureLimit + consecutiveSuccessLimit "
                f"({m.failure_limit} + {m.consecutive_success_limit}), got {count}",
                "count",
            )
        elif m.failure_limit < 0 and count < m.consecutive_success_limit:
            f.error(f"must be at least consecutiveSuccessLimit, got {count}", "count")
        if count < m.inconclusive_limit:
            f.error(f"must be at least inconclusiveLimit, got {count}", "count")
    if count > 1 and m.interval is None:
        f.error("is required when count > 1", "interval")


def _read_args(f: Fields) -> tuple[Arg, ...]:
    args: list[Arg] = []
    seen: set[str] = set()
    for i, a in f.objs("args"):
        a.unknown(frozenset({"name", "value", "valueFrom"}))
        name = a.str("name", required=True) or ""
        value = a.raw("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # YAML reads `value: 5` as an int; Argo wants a string
        elif value is not None and not isinstance(value, str):
            a.error(f"must be a string, got {describe(value)}", "value")
            value = None
        value_from = a.raw("valueFrom")
        if value_from is not None:
            if not isinstance(value_from, Mapping) or not value_from:
                a.error(f"must be a non-empty object, got {describe(value_from)}", "valueFrom")
                value_from = None
            else:
                value_from = plain_copy(value_from, a, "valueFrom")
                if value is not None:
                    a.error("must not be set together with value", "valueFrom")
        if name in seen:
            f.error(f"duplicate argument {name!r}", f"args[{i}].name")
        seen.add(name)
        args.append(Arg(name, value, value_from))
    return tuple(args)


def _rule_pattern(r: Fields) -> str:
    pattern = r.str("metricName", required=True) or ""
    if pattern and pattern != "*" and compiled_rule(pattern) is None:
        r.error(f"must be '*' or a regular expression, got {describe(pattern)}", "metricName")
    return pattern


def _read_rules(f: Fields) -> tuple[tuple[str, ...], tuple[MeasurementRetention, ...]]:
    dry_run: list[str] = []
    for i, r in f.objs("dryRun"):
        pattern = _rule_pattern(r)
        if pattern in dry_run:
            f.error(f"duplicate rule {pattern!r}", f"dryRun[{i}].metricName")
        dry_run.append(pattern)
    retention: list[MeasurementRetention] = []
    for i, r in f.objs("measurementRetention"):
        pattern = _rule_pattern(r)
        limit = r.int("limit", required=True, low=0, high=_INT32_MAX) or 0
        if any(x.metric_name == pattern for x in retention):
            f.error(f"duplicate rule {pattern!r}", f"measurementRetention[{i}].metricName")
        retention.append(MeasurementRetention(pattern, limit))
    return tuple(dry_run), tuple(retention)


def _read_metrics(spec: Fields) -> tuple[Metric, ...]:
    metrics: list[Metric] = []
    first: dict[str, int] = {}
    for i, m in spec.objs("metrics"):
        metric = read_metric(m)
        if metric is None:
            continue
        if metric.name in first:
            m.error(f"duplicate metric name (also metrics[{first[metric.name]}])", "name")
        first.setdefault(metric.name, i)
        metrics.append(metric)
    return tuple(metrics)


def _read_header(top: Fields, kinds: tuple[str, ...]) -> tuple[str | None, Fields, Fields]:
    api_version = top.str("apiVersion", required=True)
    if api_version is not None and api_version not in API_GROUPS:
        top.error(f"must be one of {', '.join(API_GROUPS)}, got {api_version!r}", "apiVersion")
    kind = top.str("kind", required=True)
    if kind is not None and kind not in kinds:
        top.error(f"must be {' or '.join(kinds)}, got {kind!r}", "kind")
        kind = None
    return kind, top.obj("metadata"), top.obj("spec")


_TEMPLATE_SPEC_FIELDS: Final = frozenset(
    {"metrics", "args", "dryRun", "measurementRetention", "templates"}
)


def read_analysis_template(obj: object) -> tuple[AnalysisTemplate | None, list[FieldProblem]]:
    """Read a template and return it with every error and warning found (None and one
    error for a value :func:`~progressive.core._bounds.check_bounds` refuses)."""
    if (unfit := check_bounds(obj, string_keys=True)) is not None:
        return None, [unfit]
    errors: list[FieldProblem] = []
    top = Fields(obj, "", errors)
    kind, meta, spec = _read_header(top, ("AnalysisTemplate", "ClusterAnalysisTemplate"))
    spec.unknown(_TEMPLATE_SPEC_FIELDS)
    cluster = kind == "ClusterAnalysisTemplate"
    refs = _read_template_refs(spec)
    metrics = _read_metrics(spec)
    if not spec.raw("metrics") and not refs:
        spec.error("must list at least one metric (or compose templates)", "metrics")
    dry_run, retention = _read_rules(spec)
    template = AnalysisTemplate(
        name=meta.str("name", required=True) or "",
        namespace=None if cluster else meta.str("namespace", "default") or "default",
        cluster_scope=cluster,
        metrics=metrics,
        args=_read_args(spec),
        dry_run=dry_run,
        measurement_retention=retention,
        templates=refs,
    )
    return template, errors


def _read_template_refs(spec: Fields) -> tuple[TemplateRef, ...]:
    return tuple(
        TemplateRef(t.str("templateName", required=True) or "", t.bool("clusterScope", False))
        for _, t in spec.objs("templates")
    )


def template_refs_of(obj: object) -> tuple[TemplateRef, ...]:
    """The templates a (Cluster)AnalysisTemplate manifest composes (``spec.templates``),
    read leniently: the rest of it is not read (see :func:`read_analysis_template`)."""
    return _read_template_refs(Fields(obj, "", []).obj("spec"))


_RUN_SPEC_FIELDS: Final = frozenset(
    {"metrics", "args", "dryRun", "measurementRetention", "terminate", "ttlStrategy"}
)


def read_analysis_run(obj: object) -> tuple[AnalysisRun | None, list[FieldProblem]]:
    """Read an AnalysisRun and return it with every error and warning found (None and
    one error for a value :func:`~progressive.core._bounds.check_bounds` refuses)."""
    if (unfit := check_bounds(obj, string_keys=True)) is not None:
        return None, [unfit]
    errors: list[FieldProblem] = []
    top = Fields(obj, "", errors)
    _, meta, spec = _read_header(top, ("AnalysisRun",))
    spec.unknown(_RUN_SPEC_FIELDS)
    metrics = _read_metrics(spec)
    if not spec.raw("metrics"):
        spec.error("must list at least one metric", "metrics")
    args = _read_args(spec)
    for i, arg in enumerate(args):
        if arg.value is None and arg.value_from is None:
            spec.error("must set value or valueFrom", f"args[{i}]")
    dry_run, retention = _read_rules(spec)
    if not _has_errors(errors):
        metrics = resolve_metrics(metrics, args, errors, "spec.metrics")
    run = AnalysisRun(
        name=meta.str("name", required=True) or "",
        namespace=meta.str("namespace", "default") or "default",
        metrics=metrics,
        args=args,
        dry_run=dry_run,
        measurement_retention=retention,
        terminate=spec.bool("terminate", False),
        labels=meta.string_map("labels"),
        status=read_run_status(top.obj("status")),
    )
    return run, errors


# -- writers ---------------------------------------------------------------------------------


def _rules_manifest(
    dry_run: tuple[str, ...], retention: tuple[MeasurementRetention, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if dry_run:
        out["dryRun"] = [{"metricName": rule} for rule in dry_run]
    if retention:
        out["measurementRetention"] = [
            {"metricName": r.metric_name, "limit": r.limit} for r in retention
        ]
    return out
