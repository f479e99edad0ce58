from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from progressive.core._analysis import AnalysisRun, Metric, build_analysis_run
from progressive.core._analysis_model import AnalysisTemplate

Reply = httpx.Response | Exception


def run_for(*metrics: Metric, namespace: str = "ns") -> AnalysisRun:
    template = AnalysisTemplate("t", namespace=namespace, metrics=metrics)
    return build_analysis_run("run", namespace, [template], (), None, 0.0)


class FakeServer:
    """An httpx transport answering from a script of replies (the last one repeats)."""

    def __init__(self, *replies: Reply | Callable[[httpx.Request], Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if callable(reply) and not isinstance(reply, httpx.Response | Exception):
            reply = reply(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def form(self, i: int = -1) -> dict[str, str]:
        request = self.requests[i]
        if request.method == "GET":
            return dict(request.url.params)
        return dict(httpx.QueryParams(request.content.decode()))


def ok(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": data})


def prom_error(status: int, kind: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"status": "error", "errorType": kind, "error": message})


def vector(*values: str) -> dict[str, Any]:
    return {
        "resultType": "vector",
        "result": [
            {"metric": {"i": str(i)}, "value": [1795771558.6, v]} for i, v in enumerate(values)
        ],
    }


def as_json(response: httpx.Response) -> Any:
    return json.loads(response.content)
