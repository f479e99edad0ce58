"""A provider that replays scripted values: for tests, ``simulate`` and ``demo``.

Metrics it has no script for go to its ``fallback`` (the registry of real providers,
in ``progressive simulate``), so a strategy can be replayed against live metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import anyio.lowlevel

from ..core._analysis_model import AnalysisRun, Metric
from ._protocol import MeasurementFailure, MetricProvider

__all__ = ["ScriptedProvider", "ScriptedValue"]

ScriptedValue = float | int | list[float] | None | str
_WORDS: Final = ("NaN", "error")


class ScriptedProvider:
    """Per metric name, values returned in order; the last one repeats.

    A value is a number, a list of numbers (a Prometheus vector), ``None`` (an empty
    result), ``"NaN"`` (``float("nan")``) or ``"error"`` (a MeasurementFailure).  A
    metric with no script is measured by ``fallback`` (the provider its template
    names, through a registry), or without one is a MeasurementFailure naming it.

    Raises:
        ValueError: a value is none of those (the message names the metric).
    """

    def __init__(
        self, values: Mapping[str, Sequence[object]], *, fallback: MetricProvider | None = None
    ) -> None:
        self.fallback = fallback
        self._values: dict[str, tuple[object, ...]] = {}
        self._taken: dict[str, int] = {}
        for name, script in values.items():
            self.script(name, script)

    def script(self, metric_name: str, values: Sequence[object] | object) -> None:
        """Give ``metric_name`` these values from now on (a single value repeats); the
        next measurement of it takes the first.

        Raises:
            ValueError: a value is not one of those the class accepts.
        """
        items = tuple(values) if isinstance(values, list | tuple) else (values,)
        for item in items:
            _check(metric_name, item)
        if not items:
            raise ValueError(f"metric {metric_name!r}: no values")
        self._values[str(metric_name)] = items
        self._taken.pop(str(metric_name), None)

    @property
    def metric_names(self) -> frozenset[str]:
        return frozenset(self._values)

    def next_value(self, metric_name: str) -> object | MeasurementFailure:
        script = self._values.get(metric_name)
        if script is None:
            return MeasurementFailure(f"no scripted values for metric {metric_name!r}")
        index = self._taken.get(metric_name, 0)
        self._taken[metric_name] = index + 1
        return _convert(script[min(index, len(script) - 1)])

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        if metric.name not in self._values and self.fallback is not None:
            return await self.fallback.measure(metric, run)
        await anyio.lowlevel.checkpoint()
        return self.next_value(metric.name)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(name: str, value: object) -> None:
    if value is None or _is_number(value) or value in _WORDS:
        return
    if isinstance(value, list | tuple) and all(_is_number(v) or v == "NaN" for v in value):
        return
    raise ValueError(
        f"metric {name!r}: {value!r} is not a number, a list of numbers (or 'NaN'), null, "
        "'NaN' or 'error'"
    )


def _convert(value: object) -> object | MeasurementFailure:
    if value == "error":
        return MeasurementFailure("scripted error")
    if value == "NaN":
        return math.nan
    if isinstance(value, list | tuple):
        return [math.nan if v == "NaN" else float(v) for v in value]
    return value
