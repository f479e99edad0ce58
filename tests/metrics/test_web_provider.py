"""The web provider and its JSONPath subset."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from progressive.core._analysis import AnalysisPhase, Metric, evaluate_measurement
from progressive.errors import JsonPathError
from progressive.metrics import MeasurementFailure, WebProvider
from progressive.metrics._jsonpath import JsonPath

from .helpers import FakeServer, run_for

URL = "http://checks:8080/health"
DOC = {"data": {"ok": True, "rate": 0.99, "items": [{"v": 1}, {"v": 2}], "a b": {"c": 3}}}


def web(**config: Any) -> Metric:
    return Metric("m", {"web": {"url": URL, **config}}, success_condition="result == true")


async def measure(server: FakeServer, metric: Metric) -> object:
    return await WebProvider(transport=server.transport).measure(metric, run_for(metric))


async def test_a_get_with_a_json_path() -> None:
    server = FakeServer(httpx.Response(200, json=DOC))
    headers = [{"key": "Authorization", "value": "Bearer t"}]
    value = await measure(server, web(jsonPath="{$.data.ok}", headers=headers))
    assert value is True
    (request,) = server.requests
    assert (request.method, str(request.url)) == ("GET", URL)
    assert request.headers["Authorization"] == "Bearer t"


async def test_without_a_json_path_the_whole_body_is_the_result() -> None:
    assert await measure(FakeServer(httpx.Response(200, json=[1, 2])), web()) == [1, 2]


async def test_a_post_with_a_json_body() -> None:
    server = FakeServer(httpx.Response(200, json=DOC))
    value = await measure(
        server, web(method="POST", jsonBody={"service": "web"}, jsonPath="$.data.rate")
    )
    assert value == 0.99
    request = server.requests[0]
    assert request.method == "POST"
    assert json.loads(request.content) == {"service": "web"}
    assert request.headers["Content-Type"] == "application/json"


async def test_a_put_with_a_text_body() -> None:
    server = FakeServer(httpx.Response(200, json=1))
    await measure(server, web(method="PUT", body="hello"))
    assert server.requests[0].content == b"hello"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            httpx.Response(404, text="no such check"),
            "received non 2xx response code: HTTP 404 (text/plain, 13 bytes)",
        ),
        (
            httpx.Response(200, text="fine"),
            "the response is not JSON: HTTP 200 (text/plain, 4 bytes): Expecting value",
        ),
        (httpx.Response(200, json={"data": {}}), "no key 'ok'"),
    ],
)
async def test_failures_are_errors(response: httpx.Response, message: str) -> None:
    outcome = await measure(FakeServer(response), web(jsonPath="{$.data.ok}"))
    assert isinstance(outcome, MeasurementFailure) and message in outcome.message
    assert "no such check" not in outcome.message and "fine" not in outcome.message  # no body


async def test_503_is_retried() -> None:
    server = FakeServer(httpx.Response(503), httpx.Response(200, json=DOC))
    assert await measure(server, web(jsonPath="{$.data.ok}")) is True
    assert len(server.requests) == 2


async def test_400_is_not_retried() -> None:
    server = FakeServer(httpx.Response(400, text="bad"))
    assert isinstance(await measure(server, web()), MeasurementFailure)
    assert len(server.requests) == 1


async def test_a_null_result_is_empty_and_so_an_error_by_default() -> None:
    metric = web(jsonPath="{$.data.missing}")
    value = await measure(FakeServer(httpx.Response(200, json={"data": {"missing": None}})), metric)
    assert value is None
    assert evaluate_measurement(metric, value)[0] is AnalysisPhase.ERROR


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "checks:8080"}, "web.url must be an http(s) URL"),
        ({"method": "DELETE"}, "web.method must be one of GET, POST, PUT"),
        ({"body": "x"}, "a body needs method POST or PUT"),
        ({"method": "POST", "body": "x", "jsonBody": {}}, "set body or jsonBody, not both"),
        ({"timeoutSeconds": 0}, "timeoutSeconds must be a positive number"),
        ({"jsonPath": "$.a[?(@.b)]"}, "unsupported syntax"),
        ({"oauth2": {}}, "web.oauth2 is not supported"),
    ],
)
async def test_config_errors(config: dict[str, Any], message: str) -> None:
    server = FakeServer(httpx.Response(200, json=DOC))
    outcome = await measure(server, web(**config))
    assert isinstance(outcome, MeasurementFailure) and message in outcome.message
    assert server.requests == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("{$.data.ok}", True),
        ("$.data.ok", True),
        ("{.data.rate}", 0.99),
        ("{$.data.items[0].v}", 1),
        ("{$.data.items[-1].v}", 2),
        ("{$.data.items[*].v}", [1, 2]),
        ("{$['data']['a b'].c}", 3),
        ('{$["data"].ok}', True),
        ("{$.data.items.*.v}", [1, 2]),
        ("{$.data.nothing[*]}", []),
        ("{$}", DOC),
        ("", DOC),
    ],
)
def test_json_paths(path: str, expected: object) -> None:
    assert JsonPath.parse(path).find(DOC) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("$..v", "recursive descent"),
        ("$.a[1:2]", "unsupported syntax"),
        ("$.a[?(@.x > 1)]", "unsupported syntax"),
        ("$.", "expected a name"),
        ("x" * 2000, "at most 1024"),
    ],
)
def test_unsupported_json_paths(path: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        JsonPath.parse(path)


@pytest.mark.parametrize(
    ("path", "message"), [("$.data.nope", "no key"), ("$.data.items[5]", "no index 5")]
)
def test_missing_values(path: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        JsonPath.parse(path).find(DOC)
