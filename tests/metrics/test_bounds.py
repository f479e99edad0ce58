"""The HTTP providers are bounded in time and memory, against real misbehaving servers
on 127.0.0.1: a body that trickles in forever, an endless chunked body, a 2 GiB
``Content-Length``, a gzip bomb, too many Prometheus series or samples."""

from __future__ import annotations

import gzip
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from progressive.core._analysis import Metric
from progressive.metrics import (
    MeasurementFailure,
    PrometheusProvider,
    ResponseLimits,
    WebProvider,
)
from progressive.metrics._http import deadline

from ..http_servers import Reply, Request, answer, endless, huge, serve, trickle
from .helpers import run_for

TIMEOUT = 0.3
MiB = 1024 * 1024


def web(url: str, seconds: float = TIMEOUT, **config: Any) -> Metric:
    return Metric("m", {"web": {"url": url, "timeoutSeconds": seconds, **config}})


def prometheus(url: str, seconds: float = TIMEOUT, **config: Any) -> Metric:
    settings = {"address": url, "query": "up", "timeout": seconds, **config}
    return Metric("m", {"prometheus": settings})


async def measure(metric: Metric, **options: Any) -> object:
    provider = (WebProvider if "web" in metric.provider else PrometheusProvider)(**options)
    with anyio.fail_after(20):  # a provider that does not bound itself fails here
        return await provider.measure(metric, run_for(metric))


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def error(outcome: object) -> str:
    assert isinstance(outcome, MeasurementFailure), outcome
    return outcome.message


# -- time ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [web, prometheus])
async def test_a_body_that_trickles_in_forever_ends_at_the_deadline(kind: Any) -> None:
    async with serve(trickle(interval=0.02)) as server:
        started = time.monotonic()
        message = error(await measure(kind(server.url)))
        took = time.monotonic() - started
    # every read is quick (20 ms apart), the answer never complete: each attempt is
    # cut off after its timeout, the measurement after timeout x attempts + connect
    assert "no complete answer within" in message
    assert len(server.requests) == 3
    assert deadline(TIMEOUT) == pytest.approx(1.2)
    assert took < deadline(TIMEOUT) + 1.0, f"took {took:.2f}s"


async def test_the_deadline_covers_every_request_of_a_measurement() -> None:
    """A read-only proxy answers the POST with 503, 503, then 405, then trickles the GET:
    the GET gets what is left of the measurement's one deadline (2 s), not a deadline
    of its own (three more attempts, 2.85 s in all)."""
    seconds = 0.5
    posts = 0

    async def handle(request: Request, reply: Reply) -> None:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            await anyio.sleep(seconds * 0.9)  # slow, each attempt within its bound
            await reply.whole(503 if posts < 3 else 405, b"")
        else:
            await trickle(interval=0.02)(request, reply)

    async with serve(handle) as server:
        started = time.monotonic()
        message = error(await measure(prometheus(server.url, seconds)))
        took = time.monotonic() - started
    methods = [r.method for r in server.requests]
    assert methods[:3] == ["POST"] * 3 and 1 <= methods.count("GET") <= 2
    assert "no complete answer within 2 s (3 attempts of 0.5 s, and connecting)" in message
    assert took < deadline(seconds) + 0.45, f"took {took:.2f}s"


# -- memory --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [web, prometheus])
async def test_an_endless_chunked_body_is_cut_off_at_the_cap(kind: Any, traced: None) -> None:
    async with serve(endless(limit=64 * MiB)) as server:
        message = error(await measure(kind(server.url, 10)))
        _, peak = tracemalloc.get_traced_memory()
    assert "the response is larger than 4 MiB (max_body_bytes)" in message
    assert len(server.requests) == 1  # not retried: the same answer would come again
    assert server.sent < 32 * MiB  # the server never got to send it all
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_a_huge_content_length_is_refused_before_the_body_is_read(traced: None) -> None:
    async with serve(huge(length=2 * 1024**3, limit=64 * MiB)) as server:
        message = error(await measure(web(server.url)))
        _, peak = tracemalloc.get_traced_memory()
    assert "the response is larger than 4 MiB (max_body_bytes)" in message
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_a_gzip_bomb_is_inflated_no_further_than_the_cap(traced: None) -> None:
    bomb = gzip.compress(b"[" + b" " * (16 * MiB), compresslevel=9)  # ~16 KiB

    async def handle(request: Request, reply: Reply) -> None:
        assert "gzip" in request.headers.get("accept-encoding", "")
        await reply.head(200, {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))})
        await reply.body(bomb)

    async with serve(handle) as server:
        tracemalloc.reset_peak()
        message = error(await measure(web(server.url, 10)))
        _, peak = tracemalloc.get_traced_memory()
    assert "the response is larger than 4 MiB (max_body_bytes)" in message
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_gzip_within_the_cap_is_read() -> None:
    body = gzip.compress(b'{"ok": true}')

    async def handle(request: Request, reply: Reply) -> None:
        await reply.head(200, {"Content-Encoding": "gzip", "Content-Length": str(len(body))})
        await reply.body(body)

    async with serve(handle) as server:
        assert await measure(web(server.url, jsonPath="$.ok")) is True


async def test_the_body_cap_is_an_option() -> None:
    async with serve(answer({"ok": True, "pad": "x" * 2000})) as server:
        small = ResponseLimits(max_body_bytes=1000)
        message = error(await measure(web(server.url), limits=small))
        assert message.endswith("the response is larger than 1,000 bytes (max_body_bytes)")
        assert await measure(web(server.url, jsonPath="$.ok")) is True


# -- prometheus series and samples ---------------------------------------------------------


def vector(n: int) -> dict[str, Any]:
    series = [{"metric": {"pod": str(i)}, "value": [1.0, "1"]} for i in range(n)]
    return {"status": "success", "data": {"resultType": "vector", "result": series}}


def matrix(series: int, points: int) -> dict[str, Any]:
    values = [[float(t), "1"] for t in range(points)]
    result = [{"metric": {"pod": str(i)}, "values": values} for i in range(series)]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (vector(11), "the query returned 11 series, more than the 10 allowed (max_series)"),
        (matrix(11, 1), "the query returned 11 series, more than the 10 allowed (max_series)"),
        (matrix(5, 11), "the query returned 55 samples, more than the 50 allowed (max_samples)"),
    ],
)
async def test_too_many_series_or_samples_are_an_error(
    document: dict[str, Any], message: str
) -> None:
    limits = ResponseLimits(max_series=10, max_samples=50)
    async with serve(answer(document)) as server:
        assert message in error(await measure(prometheus(server.url), limits=limits))


@pytest.mark.parametrize("document", [vector(10), matrix(10, 5), matrix(5, 10)])
async def test_results_within_the_caps_are_read(document: dict[str, Any]) -> None:
    limits = ResponseLimits(max_series=10, max_samples=50)
    async with serve(answer(document)) as server:
        value = await measure(prometheus(server.url), limits=limits)
    assert isinstance(value, list) and set(value) == {1.0}


def test_the_default_limits_and_their_validation() -> None:
    limits = ResponseLimits()
    assert (limits.max_body_bytes, limits.max_series, limits.max_samples) == (
        4 * MiB,
        1_000,
        100_000,
    )
    with pytest.raises(ValueError, match="max_series must be a positive integer"):
        ResponseLimits(max_series=0)
