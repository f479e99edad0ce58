"""The ``web`` provider: call an HTTP endpoint, take a value out of its JSON answer.

Config (``provider.web``), Argo's fields::

    url: http://checks.example/api/health?service={{args.service}}
    method: GET                      # GET (default), POST or PUT
    headers: [{key: Authorization, value: "Bearer {{args.token}}"}]
    body: '{"service": "web"}'       # a string, or:
    jsonBody: {service: web}         # an object sent as JSON (not both)
    timeoutSeconds: 10
    insecure: false
    jsonPath: "{$.data.ok}"          # a small safe subset, see _jsonpath; default: the body
    authentication: {basicAuth: {...}, bearerToken: ...}   # as for prometheus (extension)

``result`` is the JSON value ``jsonPath`` selects (a number, a bool, a string, a list
or an object; JSON ``null`` is an empty result).  A non-2xx answer, a body that is not
JSON, or a path that selects nothing is an Error measurement; its message says what
came back (status, content type, size) and never quotes the body, which may echo the
request and its secrets.  Transient failures are retried, the whole measurement is
bounded by ``timeoutSeconds x attempts + connect`` and the body by
:attr:`~progressive.metrics.ResponseLimits.max_body_bytes`, as for every provider
(:mod:`progressive.metrics._http`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

import httpx

from .._clusters import Cluster
from ..core._analysis_model import AnalysisRun, Metric
from ..errors import JsonPathError, RequestFailed
from ._http import (
    DEFAULT_LIMITS,
    DEFAULT_RETRY,
    HttpProvider,
    ResponseLimits,
    RetryPolicy,
    insecure_problem,
)
from ._jsonpath import JsonPath
from ._protocol import MeasurementFailure, provider_config
from ._secrets import request_headers

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "WebProvider"]

DEFAULT_TIMEOUT_SECONDS: Final = 10
_METHODS: Final = ("GET", "POST", "PUT")
_KNOWN: Final = frozenset(
    {
        "url",
        "method",
        "headers",
        "body",
        "jsonBody",
        "timeoutSeconds",
        "insecure",
        "jsonPath",
        "authentication",
    }
)


class WebProvider(HttpProvider):
    """Measures ``web`` metrics.

    Args:
        cluster: where ``secretKeyRef`` values are read (None: only ``{{args.x}}``).
        retry: the retry policy for transient failures.
        limits: how much of an answer is read (``max_body_bytes``).
        transport: an httpx transport (tests use ``httpx.MockTransport``).
    """

    def __init__(
        self,
        cluster: Cluster | None = None,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        limits: ResponseLimits = DEFAULT_LIMITS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.cluster = cluster
        self.retry = retry
        self.limits = limits
        self.transport = transport

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        config = provider_config(metric, "web", _KNOWN)
        if isinstance(config, MeasurementFailure):
            return config
        problem = _check(config)
        if problem:
            return MeasurementFailure(problem)
        try:
            path = JsonPath.parse(config["jsonPath"]) if config.get("jsonPath") else None
        except JsonPathError as exc:
            return MeasurementFailure(f"web.{exc}")
        headers = await request_headers(config, self.cluster, run.namespace, "web")
        if isinstance(headers, MeasurementFailure):
            return headers
        content: bytes | None = None
        if config.get("jsonBody") is not None:
            content = json.dumps(config["jsonBody"]).encode()
            headers.setdefault("Content-Type", "application/json")
        elif config.get("body") is not None:
            content = str(config["body"]).encode()
        timeout = float(config.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS)
        method = str(config.get("method") or "GET").upper()
        if (refused := insecure_problem(config, "web")) is not None:
            return refused
        async with self.session(config, timeout) as http:
            try:
                reply = await http.send(method, config["url"], headers=headers, content=content)
            except RequestFailed as exc:
                return MeasurementFailure(f"web {config['url']}: {exc}")
        if not 200 <= reply.status_code < 300:
            return MeasurementFailure(f"web: received non 2xx response code: {reply.describe()}")
        try:
            document: object = reply.json()
        except ValueError as exc:
            return MeasurementFailure(f"web: the response is not JSON: {reply.describe()}: {exc}")
        if path is None:
            return document
        try:
            return path.find(document)
        except JsonPathError as exc:
            return MeasurementFailure(f"web: {exc}")


def _check(config: Mapping[str, Any]) -> str:
    url = config.get("url")
    if not isinstance(url, str) or not re.match(r"https?://", url):
        return f"web.url must be an http(s) URL, got {url!r}"
    method = str(config.get("method") or "GET").upper()
    if method not in _METHODS:
        return f"web.method must be one of {', '.join(_METHODS)}, got {config.get('method')!r}"
    has_body = config.get("body") is not None or config.get("jsonBody") is not None
    if config.get("body") is not None and config.get("jsonBody") is not None:
        return "web: set body or jsonBody, not both"
    if has_body and method == "GET":
        return "web: a body needs method POST or PUT"
    timeout = config.get("timeoutSeconds")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        return f"web.timeoutSeconds must be a positive number, got {timeout!r}"
    return ""
