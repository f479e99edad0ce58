"""The HTTP providers verify the server's certificate, unless the metric says
``insecure: true``: against a real HTTPS server on 127.0.0.1 whose certificate no CA
signed."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from progressive.core._analysis import Metric
from progressive.metrics import MeasurementFailure, PrometheusProvider, WebProvider

from ..http_servers import answer, self_signed, serve
from .helpers import run_for

SCALAR = {"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}}


def web(url: str, **config: Any) -> Metric:
    return Metric("m", {"web": {"url": url, "jsonPath": "{$.status}", **config}})


def prometheus(url: str, **config: Any) -> Metric:
    return Metric("m", {"prometheus": {"address": url, "query": "up", **config}})


async def measure(metric: Metric) -> object:
    provider = WebProvider() if "web" in metric.provider else PrometheusProvider()
    with anyio.fail_after(20):
        return await provider.measure(metric, run_for(metric))


@pytest.mark.parametrize(("kind", "value"), [(web, "success"), (prometheus, 1.0)])
async def test_a_certificate_no_ca_signed_is_refused_unless_insecure(
    kind: Any, value: object
) -> None:
    async with serve(answer(SCALAR), tls=self_signed()) as server:
        refused = await measure(kind(server.url))
        assert isinstance(refused, MeasurementFailure), refused
        assert "CERTIFICATE_VERIFY_FAILED" in refused.message
        assert server.finished == 0
        assert await measure(kind(server.url, insecure=True)) == value
        assert server.finished == 1


@pytest.mark.parametrize(("kind", "key"), [(web, "web"), (prometheus, "prometheus")])
async def test_insecure_is_a_boolean_or_refused(kind: Any, key: str) -> None:
    # a string "false" is truthy: read loosely, it would turn verification off
    async with serve(answer(SCALAR), tls=self_signed()) as server:
        for value in ("false", "true", 1):
            refused = await measure(kind(server.url, insecure=value))
            assert isinstance(refused, MeasurementFailure), refused
            assert refused.message == f"{key}.insecure must be true or false, got {value!r}"
        assert server.finished == 0
