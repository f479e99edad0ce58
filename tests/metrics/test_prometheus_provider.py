"""The prometheus provider against a scripted HTTP server (httpx.MockTransport)."""

from __future__ import annotations

import base64
import math
from typing import Any

import httpx
import pytest

from progressive.core._analysis import Metric
from progressive.memory import MemoryCluster
from progressive.metrics import MeasurementFailure, PrometheusProvider, RetryPolicy
from progressive.metrics._http import _Wait, set_testing

from .helpers import FakeServer, ok, prom_error, run_for, vector

ADDRESS = "http://prom:9090"


def prom(**config: Any) -> Metric:
    return Metric("m", {"prometheus": {"address": ADDRESS, "query": "up", **config}})


async def measure(
    server: FakeServer, metric: Metric, cluster: MemoryCluster | None = None, **options: Any
) -> object:
    provider = PrometheusProvider(cluster, transport=server.transport, **options)
    return await provider.measure(metric, run_for(metric))


# -- results ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (vector("0.5", "1"), [0.5, 1.0]),
        (vector(), []),
        ({"resultType": "scalar", "result": [1795771558.6, "0.25"]}, 0.25),
        (
            {
                "resultType": "matrix",
                "result": [
                    {"metric": {"a": "1"}, "values": [[1, "1"], [2, "2"]]},
                    {"metric": {"a": "2"}, "values": [[1, "3"]]},
                ],
            },
            [1.0, 2.0, 3.0],
        ),
        (vector("+Inf", "-Inf"), [math.inf, -math.inf]),
    ],
)
async def test_results_are_mapped_as_argo_does(data: dict[str, Any], expected: object) -> None:
    assert await measure(FakeServer(ok(data)), prom()) == expected


async def test_nan_samples_are_floats() -> None:
    (value,) = await measure(FakeServer(ok(vector("NaN"))), prom())  # type: ignore[misc]
    assert math.isnan(value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"resultType": "string", "result": [1, "hello"]}, "a string result is not supported"),
        ({"resultType": "streams", "result": []}, "unsupported result type 'streams'"),
        ({"resultType": "vector", "result": [{"metric": {}, "value": "x"}]}, "unexpected vector"),
        (
            {"resultType": "vector", "result": [{"metric": {}, "histogram": [1, {}]}]},
            "native histograms are not supported",
        ),
    ],
)
async def test_unusable_results_are_errors(data: dict[str, Any], message: str) -> None:
    outcome = await measure(FakeServer(ok(data)), prom())
    assert isinstance(outcome, MeasurementFailure) and message in outcome.message


# -- requests --------------------------------------------------------------------------------


async def test_an_instant_query_posts_the_query_and_timeout() -> None:
    server = FakeServer(ok(vector("1")))
    headers = [{"key": "X-Scope-OrgID", "value": "team-a"}]
    await measure(server, prom(query="sum(up)", timeout="5s", headers=headers))
    (request,) = server.requests
    assert (request.method, str(request.url)) == ("POST", f"{ADDRESS}/api/v1/query")
    assert server.form() == {"query": "sum(up)", "timeout": "5.0"}
    assert request.headers["X-Scope-OrgID"] == "team-a"


async def test_a_range_query_uses_argo_s_start_end_and_step() -> None:
    server = FakeServer(ok({"resultType": "matrix", "result": []}))
    window = {"start": 'now() - duration("5m")', "end": "now()", "step": "1m"}
    assert await measure(server, prom(rangeQuery=window), clock=lambda: 10_000.0) == []
    assert str(server.requests[0].url) == f"{ADDRESS}/api/v1/query_range"
    form = server.form()
    assert (form["start"], form["end"], form["step"]) == ("9700.0", "10000.0", "60.0")


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"start": "now()", "end": "now()"}, "rangeQuery.step is required"),
        ({"start": "yesterday", "step": "1m"}, "rangeQuery.start must be now()"),
        ({"start": "now()", "end": 'now() - duration("1m")', "step": "1m"}, "end is before"),
        ({"start": 'now() - duration("720h")', "step": "1s"}, "more than 11000 points"),
        ({"start": 'now() - duration("1d")', "step": "1s"}, "rangeQuery.start must be a dur"),
    ],
)
async def test_bad_range_queries_are_errors(window: dict[str, Any], message: str) -> None:
    server = FakeServer(ok(vector()))
    outcome = await measure(server, prom(rangeQuery=window))
    assert isinstance(outcome, MeasurementFailure) and message in outcome.message
    assert server.requests == []


async def test_rfc3339_and_unix_times_are_accepted_in_range_queries() -> None:
    server = FakeServer(ok({"resultType": "matrix", "result": []}))
    window = {"start": "1970-01-01T00:01:40Z", "end": 200, "step": 10}
    await measure(server, prom(rangeQuery=window))
    assert (server.form()["start"], server.form()["end"]) == ("100.0", "200.0")


async def test_a_read_only_proxy_gets_a_get() -> None:
    server = FakeServer(httpx.Response(405), ok(vector("1")))
    assert await measure(server, prom()) == [1.0]
    assert [r.method for r in server.requests] == ["POST", "GET"]
    assert server.form() == {"query": "up", "timeout": "30.0"}


# -- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable", ["PROGRESSIVE_PROMETHEUS_ADDRESS", "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS"]
)
async def test_the_address_falls_back_to_the_environment(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROGRESSIVE_PROMETHEUS_ADDRESS", raising=False)
    monkeypatch.setenv(variable, "http://from-env:9090/")
    server = FakeServer(ok(vector("1")))
    metric = Metric("m", {"prometheus": {"query": "up"}})
    assert await measure(server, metric) == [1.0]
    assert str(server.requests[0].url) == "http://from-env:9090/api/v1/query"


async def test_the_provider_s_own_address_comes_before_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROGRESSIVE_PROMETHEUS_ADDRESS", "http://from-env:9090")
    server = FakeServer(ok(vector("1")))
    await measure(server, Metric("m", {"prometheus": {"query": "up"}}), address="http://own:1")
    assert str(server.requests[0].url) == "http://own:1/api/v1/query"


async def test_no_address_at_all_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PROGRESSIVE_PROMETHEUS_ADDRESS", "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS"):
        monkeypatch.delenv(variable, raising=False)
    outcome = await measure(FakeServer(ok(vector())), Metric("m", {"prometheus": {"query": "q"}}))
    assert isinstance(outcome, MeasurementFailure)
    assert "no address" in outcome.message and "PROGRESSIVE_PROMETHEUS_ADDRESS" in outcome.message


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"query": ""}, "prometheus.query is required"),
        ({"address": "prom:9090"}, "must be an http(s) URL"),
        ({"timeout": "soon"}, "prometheus.timeout"),
        ({"sigv4": {}}, "prometheus.sigv4 is not supported"),
        ({"authentication": {"oauth2": {}}}, "authentication.oauth2 is not supported"),
        ({"headers": {"a": "b"}}, "headers must be a list"),
    ],
)
async def test_config_errors(config: dict[str, Any], message: str) -> None:
    server = FakeServer(ok(vector()))
    outcome = await measure(server, prom(**config))
    assert isinstance(outcome, MeasurementFailure) and message in outcome.message
    assert server.requests == []


# -- errors and retries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "bad_data"), (422, "execution"), (404, "not_found")]
)
async def test_client_errors_carry_prometheus_message_and_are_not_retried(
    status: int, kind: str
) -> None:
    message = "1:15: parse error: unclosed left parenthesis"
    server = FakeServer(prom_error(status, kind, message))
    outcome = await measure(server, prom())
    assert outcome == MeasurementFailure(f"prometheus {kind}: {message}")
    assert len(server.requests) == 1


async def test_server_errors_are_retried_then_reported() -> None:
    server = FakeServer(prom_error(503, "timeout", "query timed out in expression evaluation"))
    outcome = await measure(server, prom())
    assert outcome == MeasurementFailure(
        "prometheus timeout: query timed out in expression evaluation"
    )
    assert len(server.requests) == 3


async def test_a_transient_error_then_success() -> None:
    server = FakeServer(httpx.Response(502, text="bad gateway"), ok(vector("0.9")))
    assert await measure(server, prom()) == [0.9]
    assert len(server.requests) == 2


async def test_a_non_json_error_body_is_described_not_quoted() -> None:
    page = "<html>\n  Bad   Gateway</html>"
    server = FakeServer(httpx.Response(502, text=page, headers={"Content-Type": "text/html"}))
    outcome = await measure(server, prom())
    assert outcome == MeasurementFailure("prometheus returned HTTP 502 (text/html, 29 bytes)")


async def test_a_non_json_success_body_is_an_error() -> None:
    outcome = await measure(FakeServer(httpx.Response(200, text="OK")), prom())
    assert outcome == MeasurementFailure("prometheus returned HTTP 200 (text/plain, 2 bytes)")


async def test_prometheus_error_messages_are_one_line_of_at_most_300_characters() -> None:
    server = FakeServer(prom_error(400, "bad_data", "parse error:\n" + "x" * 1000))
    outcome = await measure(server, prom())
    assert isinstance(outcome, MeasurementFailure)
    assert outcome.message.startswith("prometheus bad_data: parse error: xxx")
    assert outcome.message.endswith("...")
    assert len(outcome.message) == len("prometheus bad_data: ") + 300


async def test_connection_errors_are_retried_a_bounded_number_of_times() -> None:
    server = FakeServer(httpx.ConnectError("[Errno 111] Connection refused"))
    outcome = await measure(server, prom())
    assert isinstance(outcome, MeasurementFailure)
    assert outcome.message == (
        f"prometheus at {ADDRESS}: ConnectError: [Errno 111] Connection refused (3 attempts)"
    )
    assert len(server.requests) == 3


async def test_429_is_retried_after_retry_after() -> None:
    server = FakeServer(httpx.Response(429, headers={"Retry-After": "0"}), ok(vector("1")))
    assert await measure(server, prom()) == [1.0]
    assert len(server.requests) == 2


async def test_a_retry_after_longer_than_we_wait_ends_the_retries() -> None:
    server = FakeServer(httpx.Response(429, headers={"Retry-After": "3600"}, text="slow down"))
    outcome = await measure(server, prom())
    assert outcome == MeasurementFailure("prometheus returned HTTP 429 (text/plain, 9 bytes)")
    assert len(server.requests) == 1


async def test_the_attempts_are_configurable() -> None:
    server = FakeServer(httpx.ReadTimeout("timed out"))
    outcome = await measure(server, prom(), retry=RetryPolicy(attempts=5))
    assert isinstance(outcome, MeasurementFailure) and "(5 attempts)" in outcome.message
    assert len(server.requests) == 5


def test_waits_grow_and_honour_retry_after() -> None:
    import tenacity

    from progressive.metrics._http import _Transient

    policy = RetryPolicy(initial_wait=0.5, max_wait=4.0, max_retry_after=10.0)
    wait = _Wait(policy)

    def state(attempt: int, exc: BaseException) -> tenacity.RetryCallState:
        s = tenacity.RetryCallState(None, None, (), {})
        s.attempt_number = attempt
        s.set_exception((type(exc), exc, None))
        return s

    set_testing(False)
    try:
        transient = _Transient("HTTP 503")
        assert [wait(state(n, transient)) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
        assert wait(state(1, _Transient("HTTP 429", retry_after=7.0))) == 7.0
        assert wait(state(1, _Transient("HTTP 429", retry_after=99.0))) == 10.0
    finally:
        set_testing(True)
    assert wait(state(3, transient)) == 0.0


# -- authentication --------------------------------------------------------------------------


async def secret_cluster() -> MemoryCluster:
    cluster = MemoryCluster()
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "prom", "namespace": "ns"},
            "data": {
                "password": base64.b64encode(b"s3cret").decode(),
                "token": base64.b64encode(b"tok\n").decode(),
            },
        }
    )
    return cluster


async def test_basic_auth_from_a_secret() -> None:
    server = FakeServer(ok(vector("1")))
    auth = {
        "basicAuth": {
            "username": "admin",
            "password": {"secretKeyRef": {"name": "prom", "key": "password"}},
        }
    }
    await measure(server, prom(authentication=auth), await secret_cluster())
    expected = base64.b64encode(b"admin:s3cret").decode()
    assert server.requests[0].headers["Authorization"] == f"Basic {expected}"


async def test_a_bearer_token_from_a_secret() -> None:
    server = FakeServer(ok(vector("1")))
    auth = {"bearerToken": {"secretKeyRef": {"name": "prom", "key": "token"}}}
    await measure(server, prom(authentication=auth), await secret_cluster())
    assert server.requests[0].headers["Authorization"] == "Bearer tok"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"name": "nope", "key": "token"}, "secret ns/nope not found"),
        ({"name": "prom", "key": "nope"}, "secret ns/prom has no key 'nope'"),
        ({"name": "prom"}, "secretKeyRef needs a name and a key"),
    ],
)
async def test_secret_problems_are_errors(ref: dict[str, str], message: str) -> None:
    server = FakeServer(ok(vector("1")))
    auth = {"bearerToken": {"secretKeyRef": ref}}
    outcome = await measure(server, prom(authentication=auth), await secret_cluster())
    assert outcome == MeasurementFailure(message) or (
        isinstance(outcome, MeasurementFailure) and message in outcome.message
    )
    assert server.requests == []


async def test_a_secret_ref_needs_a_cluster() -> None:
    auth = {"bearerToken": {"secretKeyRef": {"name": "prom", "key": "token"}}}
    outcome = await measure(FakeServer(ok(vector())), prom(authentication=auth))
    assert (
        isinstance(outcome, MeasurementFailure)
        and "constructed with the cluster" in outcome.message
    )
