"""The ``prometheus`` provider: instant and range queries, results mapped as Argo does.

Config (``provider.prometheus``), Argo's fields plus two extensions::

    address: http://prometheus.monitoring:9090   # else $PROGRESSIVE_PROMETHEUS_ADDRESS,
                                                 # else $ARGO_ROLLOUTS_PROMETHEUS_ADDRESS
    query: sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))
    timeout: 30                                  # seconds (or "30s"); also sent to the server
    insecure: false                              # skip TLS verification
    headers: [{key: X-Scope-OrgID, value: team-a}]
    rangeQuery: {start: 'now() - duration("5m")', end: 'now()', step: 1m}
    authentication:
      basicAuth: {username: u, password: {secretKeyRef: {name: prom, key: password}}}
      bearerToken: {secretKeyRef: {name: prom, key: token}}   # extension

``result``: a scalar is a float, a vector a list of floats (labels dropped), a matrix
(range queries) every sample of every series in one flat list; an empty vector is
``[]`` (the metric's ``emptyResult`` policy decides; Error by default).  A string result
is an Error.  Prometheus' errors (bad PromQL, execution errors, timeouts) become Error
measurements carrying Prometheus' own ``errorType`` and ``error``; any other answer (a
proxy's page, a 404) is described (status, content type, size), never quoted.
Connection errors, 5xx and 429 are retried (see :mod:`progressive.metrics._http`); 400
and 422 never are.  The whole measurement is bounded by ``timeout x attempts +
connect``, the body by ``max_body_bytes``, the result by ``max_series`` and
``max_samples`` (:class:`~progressive.metrics.ResponseLimits`): more is an Error.

Range queries: ``start`` and ``end`` are ``now()``, ``now() - duration("5m")`` (Argo's
expr forms, ``+`` too), a unix time or an RFC 3339 time; ``step`` a duration.  At most
11,000 points per series, as Prometheus allows.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import httpx

from .._clusters import Cluster
from ..core._analysis_model import AnalysisRun, Metric
from ..core._durations import parse_duration
from ..errors import RequestFailed
from ._http import (
    DEFAULT_LIMITS,
    DEFAULT_RETRY,
    HttpProvider,
    Reply,
    ResponseLimits,
    RetryPolicy,
    insecure_problem,
)
from ._protocol import MeasurementFailure, provider_config
from ._secrets import request_headers

__all__ = ["ADDRESS_VARIABLES", "DEFAULT_TIMEOUT", "PrometheusProvider", "map_result"]

#: Where the address comes from when the metric names none, in order.
ADDRESS_VARIABLES: Final = ("PROGRESSIVE_PROMETHEUS_ADDRESS", "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS")
DEFAULT_TIMEOUT: Final = 30.0
MAX_POINTS: Final = 11_000
_KNOWN: Final = frozenset(
    {"address", "query", "timeout", "insecure", "headers", "rangeQuery", "authentication"}
)
_NOW: Final = re.compile(
    r"""\s*now\(\)\s*(?:([+-])\s*duration\(\s*(?:"([^"]*)"|'([^']*)')\s*\)\s*)?""", re.X
)
_ERROR_SHOWN: Final = 300


class _ConfigError(Exception):
    pass


def map_result(
    data: object, limits: ResponseLimits = DEFAULT_LIMITS
) -> object | MeasurementFailure:
    """``data`` of a successful response as Argo maps it (see the module docstring);
    more series or samples than ``limits`` allow is an Error."""
    if not isinstance(data, Mapping):
        return MeasurementFailure("prometheus: unexpected response: no data")
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "scalar":
            return _sample(result)
        if kind == "vector":
            return [_sample(item.get("value")) for item in _items(result, limits)]
        if kind == "matrix":
            series = _items(result, limits)
            samples = sum(len(item.get("values") or ()) for item in series)
            if samples > limits.max_samples:
                return MeasurementFailure(
                    f"prometheus: the query returned {samples:,} samples, more than the "
                    f"{limits.max_samples:,} allowed (max_samples): raise the step or "
                    "shorten the range"
                )
            return [_sample(point) for item in series for point in (item.get("values") or ())]
    except _TooMany as exc:
        return MeasurementFailure(str(exc))
    except (TypeError, ValueError, AttributeError) as exc:
        return MeasurementFailure(f"prometheus: unexpected {kind} result: {exc}")
    if kind == "string":
        return MeasurementFailure(
            "prometheus: a string result is not supported (scalar, vector or matrix expected)"
        )
    return MeasurementFailure(f"prometheus: unsupported result type {kind!r}")


class _TooMany(Exception):
    pass


def _items(result: object, limits: ResponseLimits) -> list[Mapping[str, Any]]:
    if not isinstance(result, list) or not all(isinstance(i, Mapping) for i in result):
        raise TypeError("result is not a list of series")
    if len(result) > limits.max_series:
        raise _TooMany(
            f"prometheus: the query returned {len(result):,} series, more than the "
            f"{limits.max_series:,} allowed (max_series): aggregate it (sum by ...)"
        )
    for item in result:
        if "histogram" in item or "histograms" in item:
            raise ValueError("native histograms are not supported")
    return result


def _sample(pair: object) -> float:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise TypeError(f"a sample must be [time, value], got {pair!r}")
    return float(pair[1])  # "NaN", "+Inf", "-Inf" included


def _error_message(response: Reply) -> str:
    """Prometheus' own ``errorType`` and ``error`` (at most 300 characters on one line),
    or what came back: never the body itself."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and body.get("status") == "error":
        kind = " ".join(str(body.get("errorType") or "error").split())[:64]
        text = " ".join(str(body.get("error") or "no message").split())
        if len(text) > _ERROR_SHOWN:
            text = text[: _ERROR_SHOWN - 3] + "..."
        return f"prometheus {kind}: {text}"
    return f"prometheus returned {response.describe()}"


def _seconds(value: object, field: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise _ConfigError(f"prometheus.{field} {exc}") from None
    if seconds <= 0:
        raise _ConfigError(f"prometheus.{field} must be positive")
    return seconds


def _moment(value: object, now: float, field: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        m = _NOW.fullmatch(value)
        if m is not None:
            if m.group(1) is None:
                return now
            offset = _seconds(
                m.group(2) if m.group(2) is not None else m.group(3), f"rangeQuery.{field}"
            )
            return now + offset if m.group(1) == "+" else now - offset
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
        try:
            return float(value)
        except ValueError:
            pass
    raise _ConfigError(
        f'prometheus.rangeQuery.{field} must be now(), now() - duration("5m"), a unix time '
        f"or an RFC 3339 time, got {value!r}"
    )


def _format_number(seconds: float) -> str:
    return repr(round(seconds, 3))


class PrometheusProvider(HttpProvider):
    """Measures ``prometheus`` metrics over HTTP.

    Args:
        cluster: where ``secretKeyRef`` values are read (None: secrets only through
            ``{{args.x}}``).
        address: used when a metric names none (before the environment variables).
        retry: the retry policy for transient failures.
        limits: how much of an answer is read (body, series, samples).
        transport: an httpx transport (tests use ``httpx.MockTransport``).
        clock: the time ``now()`` means in range queries (wall time by default).
    """

    def __init__(
        self,
        cluster: Cluster | None = None,
        *,
        address: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        limits: ResponseLimits = DEFAULT_LIMITS,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cluster = cluster
        self.address = address
        self.retry = retry
        self.limits = limits
        self.transport = transport
        self.clock = clock

    def _address(self, config: Mapping[str, Any]) -> str:
        address = config.get("address") or self.address
        for variable in ADDRESS_VARIABLES:
            address = address or os.environ.get(variable)
        if not address:
            raise _ConfigError(
                "prometheus: no address: set provider.prometheus.address or "
                f"${ADDRESS_VARIABLES[0]}"
            )
        if not isinstance(address, str) or not re.match(r"https?://", address):
            raise _ConfigError(f"prometheus.address must be an http(s) URL, got {address!r}")
        return address.rstrip("/")

    def _request(self, config: Mapping[str, Any], timeout: float) -> tuple[str, dict[str, str]]:
        query = config.get("query")
        if not isinstance(query, str) or not query.strip():
            raise _ConfigError("prometheus.query is required")
        params = {"query": query, "timeout": _format_number(timeout)}
        window = config.get("rangeQuery")
        if window is None:
            return "/api/v1/query", params
        if not isinstance(window, Mapping):
            raise _ConfigError("prometheus.rangeQuery must be {start, end, step}")
        now = self.clock()
        start = _moment(window.get("start", "now()"), now, "start")
        end = _moment(window.get("end", "now()"), now, "end")
        if window.get("step") is None:
            raise _ConfigError("prometheus.rangeQuery.step is required")
        step = _seconds(window["step"], "rangeQuery.step")
        if end < start:
            raise _ConfigError("prometheus.rangeQuery: end is before start")
        if (end - start) / step > MAX_POINTS:
            raise _ConfigError(
                f"prometheus.rangeQuery: more than {MAX_POINTS} points per series (raise the step)"
            )
        params.update(
            start=_format_number(start), end=_format_number(end), step=_format_number(step)
        )
        return "/api/v1/query_range", params

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        config = provider_config(metric, "prometheus", _KNOWN)
        if isinstance(config, MeasurementFailure):
            return config
        try:
            address = self._address(config)
            timeout = _seconds(config.get("timeout", DEFAULT_TIMEOUT), "timeout")
            path, params = self._request(config, timeout)
        except _ConfigError as exc:
            return MeasurementFailure(str(exc))
        headers = await request_headers(config, self.cluster, run.namespace, "prometheus")
        if isinstance(headers, MeasurementFailure):
            return headers
        if (refused := insecure_problem(config, "prometheus")) is not None:
            return refused
        async with self.session(config, timeout) as http:
            try:
                response = await http.send("POST", address + path, data=params, headers=headers)
                if response.status_code == 405:  # a read-only proxy: GET it is
                    response = await http.send(
                        "GET", address + path, params=params, headers=headers
                    )
            except RequestFailed as exc:
                return MeasurementFailure(f"prometheus at {address}: {exc}")
        if response.status_code >= 300:
            return MeasurementFailure(_error_message(response))
        try:
            body = response.json()
        except ValueError:
            return MeasurementFailure(_error_message(response))
        if not isinstance(body, Mapping) or body.get("status") != "success":
            return MeasurementFailure(_error_message(response))
        return map_result(body.get("data"), self.limits)
