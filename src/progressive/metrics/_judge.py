"""The ``judge`` provider: a canary compared with a baseline by the statistical judge.

It fetches two samples through the ``prometheus`` provider (same address, range
query, timeout, headers and authentication for both), judges them with
:func:`progressive.core._judge.judge` (Mann-Whitney U, Kayenta's scoring) and returns
the score, 0 to 100, as ``result``; the measurement's message carries the judgement
(``Pass``, ``Marginal`` or ``Fail``) and each metric's verdict.  Config
(``provider.judge``)::

    prometheus:                        # every prometheus field but ``query``
      address: http://prometheus.monitoring:9090
      rangeQuery: {start: 'now() - duration("5m")', end: 'now()', step: 10s}
    baseline: <PromQL: the baseline's samples, e.g. filtered by {{args.baseline-hash}}>
    canary: <PromQL: the canary's samples>
    direction: increase                # increase (latency, errors) | decrease | either
    confidence: 0.98                   # a difference is significant below p = 1 - this
    allowedIncrease: 1.1               # mean ratio a significant increase must exceed
    allowedDecrease: 1.0               # mean ratio a significant decrease must fall under
    passThreshold: 95                  # score for Pass
    marginalThreshold: 75              # score for Marginal (below: Fail)

Several metrics judged together (their weighted share of passes is the score) go in
``metrics: [{name, baseline, canary, direction, allowedIncrease, allowedDecrease,
weight, critical, mustHaveData}]``, the top-level values being their defaults.

Samples: a range query's matrix gives every point of every series (a vector every
series' value, a scalar one value); NaN points are dropped; an empty side is
``NoData``.  The metric's conditions judge the score (``result >= 75``); a metric
without conditions is Successful on Pass, Inconclusive on Marginal and Failed on Fail.
A query that fails is an Error carrying the prometheus provider's message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ..core._analysis import AnalysisPhase, MeasurementOutcome, evaluate_measurement
from ..core._analysis_model import AnalysisRun, Metric
from ..core._judge import Direction, Judgement, MetricConfig, judge
from ._protocol import MeasurementFailure, MetricProvider, provider_config

__all__ = ["JudgeProvider", "judgement_message"]

_SETTINGS: Final = frozenset(
    {"confidence", "passThreshold", "marginalThreshold", "prometheus", "metrics"}
)
_PER_METRIC: Final = frozenset(
    {
        "baseline",
        "canary",
        "direction",
        "allowedIncrease",
        "allowedDecrease",
        "weight",
        "critical",
        "mustHaveData",
    }
)
_VERDICT_PHASE: Final = {
    "Pass": AnalysisPhase.SUCCESSFUL,
    "Marginal": AnalysisPhase.INCONCLUSIVE,
    "Fail": AnalysisPhase.FAILED,
}


class _ConfigError(Exception):
    pass


@attrs.frozen
class _Compared:
    config: MetricConfig
    baseline: str
    canary: str


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _ConfigError(f"judge.{key} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise _ConfigError(f"judge.{key} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise _ConfigError(f"judge.{key} must be finite")
    return number


def _flag(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise _ConfigError(f"judge.{key} must be true or false, got {value!r}")
    return value


def _query(config: Mapping[str, Any], key: str, where: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _ConfigError(f"{where}.{key} is required (a PromQL query)")
    return value


def _compared(
    name: str, item: Mapping[str, Any], defaults: Mapping[str, Any], where: str
) -> _Compared:
    merged = {**{k: v for k, v in defaults.items() if k in _PER_METRIC}, **item}
    unknown = sorted(set(item) - _PER_METRIC - {"name"})
    if unknown:
        raise _ConfigError(f"{where}.{unknown[0]} is not supported")
    try:
        config = MetricConfig(
            name,
            direction=Direction(str(merged.get("direction", "either"))),
            allowed_increase=_number(merged, "allowedIncrease", 1.0),
            allowed_decrease=_number(merged, "allowedDecrease", 1.0),
            weight=_number(merged, "weight", 1.0),
            critical=_flag(merged, "critical", False),
            must_have_data=_flag(merged, "mustHaveData", False),
        )
    except ValueError as exc:
        raise _ConfigError(f"{where}: {exc}") from None
    return _Compared(config, _query(merged, "baseline", where), _query(merged, "canary", where))


def _read_config(metric: Metric, config: Mapping[str, Any]) -> list[_Compared]:
    items = config.get("metrics")
    if items is None:
        single = {k: v for k, v in config.items() if k in _PER_METRIC}
        return [_compared(metric.name, single, {}, "judge")]
    if not isinstance(items, list) or not items:
        raise _ConfigError("judge.metrics must be a non-empty list")
    out = []
    for i, item in enumerate(items):
        where = f"judge.metrics[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise _ConfigError(f"{where} must be a mapping with a name")
        out.append(_compared(str(item["name"]), item, config, where))
    if len({c.config.name for c in out}) != len(out):
        raise _ConfigError("judge.metrics: names must be unique")
    return out


def _samples(value: object) -> list[float] | None:
    """The prometheus provider's result as a sample (None: not numbers)."""
    if value is None:
        return []
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        return [float(v) for v in value]
    return None


def judgement_message(result: Judgement) -> str:
    """``Pass: score 100 (latency: no significant change (p=0.41, mean ratio 1.01))``."""
    details = "; ".join(f"{m.name}: {m.classification} {m.reason}" for m in result.metrics)
    return f"{result.classification}: score {result.score:g} ({details}); {result.reason}"


class JudgeProvider:
    """Measures ``judge`` metrics; ``prometheus`` fetches the samples (the registry's
    ``prometheus`` provider, so addresses, retries and secrets work the same)."""

    def __init__(self, prometheus: MetricProvider) -> None:
        self.prometheus = prometheus

    async def _fetch(
        self, metric: Metric, run: AnalysisRun, shared: Mapping[str, Any], query: str
    ) -> list[float] | MeasurementFailure:
        fetched = await self.prometheus.measure(
            attrs.evolve(metric, provider={"prometheus": {**shared, "query": query}}), run
        )
        if isinstance(fetched, MeasurementFailure):
            return fetched
        samples = _samples(fetched)
        if samples is None:
            return MeasurementFailure(f"judge: {query!r} did not give numbers")
        return samples

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        config = provider_config(metric, "judge", _SETTINGS | _PER_METRIC)
        if isinstance(config, MeasurementFailure):
            return config
        shared = config.get("prometheus") or {}
        try:
            if not isinstance(shared, Mapping) or "query" in shared:
                raise _ConfigError("judge.prometheus must be a prometheus config without query")
            compared = _read_config(metric, config)
            confidence = _number(config, "confidence", 0.98)
            pass_threshold = _number(config, "passThreshold", 95.0)
            marginal_threshold = _number(config, "marginalThreshold", 75.0)
        except _ConfigError as exc:
            return MeasurementFailure(str(exc))
        samples: dict[str, tuple[list[float], list[float]]] = {}
        for item in compared:
            baseline = await self._fetch(metric, run, shared, item.baseline)
            if isinstance(baseline, MeasurementFailure):
                return MeasurementFailure(f"judge {item.config.name} baseline: {baseline.message}")
            canary = await self._fetch(metric, run, shared, item.canary)
            if isinstance(canary, MeasurementFailure):
                return MeasurementFailure(f"judge {item.config.name} canary: {canary.message}")
            samples[item.config.name] = (canary, baseline)
        try:
            result = judge(
                samples,
                [c.config for c in compared],
                confidence=confidence,
                pass_threshold=pass_threshold,
                marginal_threshold=marginal_threshold,
            )
        except ValueError as exc:
            return MeasurementFailure(f"judge: {exc}")
        message = judgement_message(result)
        if metric.success_condition or metric.failure_condition:
            phase, why = evaluate_measurement(metric, result.score)
        else:
            phase, why = _VERDICT_PHASE[result.classification], ""
        return MeasurementOutcome(phase, result.score, f"{message}{'; ' + why if why else ''}")
