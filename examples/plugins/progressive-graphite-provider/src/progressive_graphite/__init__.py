"""Graphite (its render API) as a progressive metric provider.

Configured as Argo's Graphite provider is, ``provider: {graphite: {address, query}}``,
or in the plugin form ``provider: {plugin: {argoproj-labs/graphite: {...}}}``.  A
measurement asks ``GET {address}/render?target={query}&format=json&from=-{window}``
and returns the latest non-null value of the first series (None when there is none),
which the metric's ``successCondition`` judges as ``result``.  It never raises: an
unreachable server, an error status, an answer too large or not Graphite's shape is
a MeasurementFailure (an Error measurement).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from progressive import AnalysisRun, Metric
from progressive.errors import FieldProblem
from progressive.metrics import MeasurementFailure, ProviderContext, provider_config

__all__ = ["GraphiteProvider"]

SETTINGS = frozenset({"address", "query", "window", "timeout"})


class GraphiteProvider:
    """Measures ``provider.graphite.query`` at ``provider.graphite.address``."""

    plugin_names = ("argoproj-labs/graphite",)

    def __init__(self, context: ProviderContext) -> None:
        self.max_bytes = context.limits.max_body_bytes

    def validate(self, metric: Metric) -> list[FieldProblem]:
        """What ``lint`` reports (paths under the metric's ``provider``)."""
        config = metric.provider.get("graphite") or {}
        problems = [
            FieldProblem(f"graphite.{key}", "is not a setting (address, query, window, timeout)")
            for key in sorted(set(config) - SETTINGS)
        ]
        address = config.get("address")
        if not isinstance(address, str) or urlsplit(address).scheme not in ("http", "https"):
            problems.append(FieldProblem("graphite.address", "must be an http(s) URL"))
        if not isinstance(config.get("query"), str) or not config.get("query"):
            problems.append(FieldProblem("graphite.query", "is required"))
        return problems

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        config = provider_config(metric, "graphite", SETTINGS)
        if isinstance(config, MeasurementFailure):
            return config
        params = {
            "target": str(config.get("query")),
            "format": "json",
            "from": f"-{config.get('window', '5min')}",
        }
        url = str(config.get("address", "")).rstrip("/") + "/render"
        try:
            async with httpx.AsyncClient(timeout=float(config.get("timeout", 10))) as client:
                async with client.stream("GET", url, params=params) as response:
                    if response.status_code != 200:
                        return MeasurementFailure(f"graphite answered {response.status_code}")
                    body = b""
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > self.max_bytes:
                            too_big = f"graphite's answer is over {self.max_bytes} bytes"
                            return MeasurementFailure(too_big)
        except httpx.HTTPError as exc:
            return MeasurementFailure(f"graphite at {url}: {type(exc).__name__}: {exc}")
        return _latest(body)


def _latest(body: bytes) -> object | MeasurementFailure:
    """The latest non-null value of the first series: ``[{"target": ..., "datapoints":
    [[value, timestamp], ...]}]``."""
    try:
        series: Any = json.loads(body)
    except ValueError:
        return MeasurementFailure("graphite's answer is not JSON")
    if not isinstance(series, list):
        return MeasurementFailure("graphite's answer is not a list of series")
    if not series:
        return None
    points = series[0].get("datapoints") if isinstance(series[0], dict) else None
    if not isinstance(points, list):
        return MeasurementFailure("graphite's first series has no datapoints")
    values = [p[0] for p in points if isinstance(p, list) and p and p[0] is not None]
    return values[-1] if values else None
