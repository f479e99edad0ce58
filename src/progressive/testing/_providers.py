"""The metric provider conformance check.

:func:`check_provider` holds a :class:`~progressive.metrics.MetricProvider` to what the
analysis runner relies on (``metrics/_protocol.py``): a measurement ends, within a
deadline, in one of the outcomes the runner knows (a value of plain data, a
MeasurementFailure, a MeasurementOutcome, a MeasurementInProgress); a long one, asked
again, goes on or ends rather than failing; and no configuration a tenant can write
makes it raise.  It takes a provider object, however it was found, and knows no
provider by name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import anyio

from ..core._analysis import (
    AnalysisRun,
    AnalysisTemplate,
    MeasurementFailure,
    MeasurementOutcome,
    Metric,
    build_analysis_run,
)
from ..metrics import MeasurementInProgress, MetricProvider

__all__ = ["check_provider"]

_SCALARS: Final = (str, int, float, bool, type(None))
# How deep and how many values a measured value may hold before it is not "plain data
# the status can store" any more.
_MAX_DEPTH: Final = 32


async def check_provider(
    provider: MetricProvider,
    metric: Metric,
    run: AnalysisRun | None = None,
    *,
    within: float = 30.0,
    advance: Callable[[float], Awaitable[object] | object] | None = None,
    polls: int = 50,
) -> object:
    """Hold ``provider`` to every provider's promises, measuring ``metric`` (one it can
    measure, its provider key and configuration included) for ``run`` (by default a run
    of a template holding just ``metric``, in namespace ``default``).

    A measurement in progress is asked for again, at most ``polls`` times; ``advance``
    (given the seconds the provider asked to wait) makes that time pass, on a virtual
    clock say, and without it the check ends at the first answer in progress.  Every
    call must return within ``within`` seconds of wall time.

    Returns:
        the last outcome (for the caller's own assertions on the value).

    Raises:
        AssertionError: naming the promise broken and what was seen.
    """
    run = run if run is not None else _run_of(metric)
    outcome = await _measure(provider, metric, run, within, "a measurement ends in an outcome")
    for _ in range(polls):
        if not isinstance(outcome, MeasurementInProgress) or advance is None:
            break
        waited = advance(outcome.poll_after)
        if isinstance(waited, Awaitable):
            await waited
        outcome = await _measure(
            provider, metric, run, within, "asked again, a measurement in progress goes on or ends"
        )
    else:
        if isinstance(outcome, MeasurementInProgress):
            raise AssertionError(
                f"a measurement in progress ends: still in progress after {polls} polls"
            )
    for variant, what in _bad_configurations(metric):
        promise = f"a tenant's configuration never makes the provider raise ({what})"
        await _measure(provider, variant, _run_of(variant), within, promise)
    return outcome


async def _measure(
    provider: MetricProvider, metric: Metric, run: AnalysisRun, within: float, promise: str
) -> object:
    try:
        with anyio.fail_after(within):
            outcome = await provider.measure(metric, run)
    except TimeoutError:
        raise AssertionError(f"{promise}: no answer within {within} s") from None
    except Exception as exc:  # the point of the check: a provider must not raise
        raise AssertionError(f"{promise}: raised {type(exc).__name__}: {exc}") from exc
    if isinstance(outcome, MeasurementFailure | MeasurementInProgress):
        return outcome
    value = outcome.value if isinstance(outcome, MeasurementOutcome) else outcome
    problem = _not_plain(value, 0)
    if problem is not None:
        raise AssertionError(f"{promise}: the value is not plain data ({problem}): {outcome!r}")
    return outcome


def _not_plain(value: object, depth: int) -> str | None:
    """Why ``value`` is not data a run's status can store, or None."""
    if depth > _MAX_DEPTH:
        return f"nested more than {_MAX_DEPTH} levels deep"
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, list | tuple):
        return next((p for v in value if (p := _not_plain(v, depth + 1)) is not None), None)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"a key that is not a string: {key!r}"
            if (problem := _not_plain(item, depth + 1)) is not None:
                return problem
        return None
    return f"a {type(value).__name__}"


def _bad_configurations(metric: Metric) -> list[tuple[Metric, str]]:
    """The metric with configurations a tenant may write that cannot be measured."""
    key = metric.provider_name
    config: Mapping[str, Any] = metric.provider.get(key) or {}
    wrong: dict[str, Any] = {k: [[]] for k in config} or {"query": [[]]}
    return [
        (Metric(metric.name, {key: wrong}), "every field of the wrong type"),
        (Metric(metric.name, {key: {"no-such-field": "x" * 200}}), "an unknown field only"),
        (Metric(metric.name, {key: {**config, "no-such-field": 1}}), "an unknown field more"),
    ]


def _run_of(metric: Metric) -> AnalysisRun:
    template = AnalysisTemplate("check", namespace="default", metrics=(metric,))
    return build_analysis_run("check-provider", "default", [template], (), None, 0.0)
