"""The Kubernetes transport without a server: which failures are retried (and how long
it waits), error mapping, request counting and the token bucket."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anyio
import attrs
import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from progressive._retry import KUBE_RETRY
from progressive._shell.kube import Transport, error_from_response
from progressive._shell.kube._api import lane_of
from progressive._shell.kube._discovery import Discovery, parse_resource_list
from progressive._shell.ratelimit import Limiter, TokenBucket, background, priority
from progressive.errors import (
    AlreadyExists,
    ApiConflict,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    Unavailable,
)


def api_error(
    status: int, reason: str = "", message: str = "", headers: Any = None
) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps(
        {
            "kind": "Status",
            "status": "Failure",
            "reason": reason,
            "message": message,
            "code": status,
        }
    ).encode()
    exc.headers = headers
    return exc


class FakeApi:
    """Stands in for ApiClient: answers with the scripted outcomes, in order."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def call_api(self, path: str, method: str, **kwargs: Any) -> Any:
        self.calls.append((method, path, kwargs))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome, 200, {}


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def transport(api: FakeApi, sleeps: Sleeps, **kw: Any) -> Transport:
    return Transport(api, qps=0, sleep=sleeps, **kw)  # type: ignore[arg-type]


async def test_transient_failures_are_retried_then_succeed() -> None:
    api = FakeApi(
        api_error(503, "ServiceUnavailable"),
        aiohttp.ServerDisconnectedError(),
        TimeoutError(),
        api_error(500, "InternalError"),
        {"ok": True},
    )
    sleeps = Sleeps()
    t = transport(api, sleeps)
    assert await t.call("get", "GET", "/api/v1/x", what="get x") == {"ok": True}
    assert len(api.calls) == 5 and len(sleeps.waits) == 4
    # exponential with jitter: 0.1, 0.2, 0.4, 0.8 times [0.5, 1]
    for wait, base in zip(sleeps.waits, (0.1, 0.2, 0.4, 0.8), strict=True):
        assert base * 0.5 <= wait <= base
    assert t.requests == {
        ("get", "503"): 1,
        ("get", "error"): 2,
        ("get", "500"): 1,
        ("get", "200"): 1,
    }


async def test_429_waits_as_long_as_retry_after_says() -> None:
    api = FakeApi(api_error(429, "TooManyRequests", headers={"Retry-After": "3"}), {"ok": 1})
    sleeps = Sleeps()
    assert await transport(api, sleeps).call("list", "GET", "/x", what="list") == {"ok": 1}
    assert sleeps.waits == [3.0]


async def test_retry_after_is_capped() -> None:
    api = FakeApi(api_error(429, headers={"Retry-After": "3600"}), {"ok": 1})
    sleeps = Sleeps()
    await transport(
        api, sleeps, retry=attrs.evolve(KUBE_RETRY, max_retry_after=10, max_seconds=60)
    ).call("get", "GET", "/x", what="get")
    assert sleeps.waits == [10.0]


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (400, "BadRequest", Invalid),
        (403, "Forbidden", Forbidden),
        (404, "NotFound", NotFound),
        (405, "MethodNotAllowed", Invalid),
        (409, "Conflict", Conflict),
        (409, "AlreadyExists", AlreadyExists),
        (410, "Expired", Gone),
        (422, "Invalid", Invalid),
    ],
)
async def test_permanent_failures_are_not_retried(
    status: int, reason: str, error: type[Exception]
) -> None:
    api = FakeApi(api_error(status, reason, "the server says no"))
    sleeps = Sleeps()
    with pytest.raises(error) as raised:
        await transport(api, sleeps).call("patch", "PATCH", "/x", what="patch thing")
    assert len(api.calls) == 1 and sleeps.waits == []
    assert raised.value.status == status  # type: ignore[attr-defined]
    assert "the server says no" in str(raised.value) and "patch thing" in str(raised.value)


async def test_attempts_are_bounded() -> None:
    api = FakeApi(*[api_error(503) for _ in range(10)])
    sleeps = Sleeps()
    with pytest.raises(Unavailable) as raised:
        await transport(api, sleeps, retry=attrs.evolve(KUBE_RETRY, attempts=3)).call(
            "get", "GET", "/x", what="get"
        )
    assert raised.value.status == 503
    assert len(api.calls) == 3 and len(sleeps.waits) == 2


async def test_total_time_is_bounded() -> None:
    api = FakeApi(*[api_error(429, headers={"Retry-After": "20"}) for _ in range(10)])
    sleeps = Sleeps()
    with pytest.raises(Unavailable):
        await transport(
            api, sleeps, retry=attrs.evolve(KUBE_RETRY, attempts=10, max_seconds=30)
        ).call("get", "GET", "/x", what="get")
    assert sleeps.waits == [20.0], "a second 20 s wait would end after 30 s"


async def test_other_errors_are_not_retried() -> None:
    api = FakeApi(ValueError("unreadable"), {"ok": 1})
    sleeps = Sleeps()
    with pytest.raises(ValueError, match="unreadable"):
        await transport(api, sleeps).call("get", "GET", "/x", what="get")
    assert len(api.calls) == 1 and sleeps.waits == []


async def test_a_single_attempt_raises_the_transient_error_itself() -> None:
    api = FakeApi(api_error(503, "ServiceUnavailable", "try later"))
    sleeps = Sleeps()
    with pytest.raises(Unavailable, match="try later"):
        await transport(api, sleeps, retry=attrs.evolve(KUBE_RETRY, attempts=1)).call(
            "get", "GET", "/x", what="get"
        )
    assert len(api.calls) == 1 and sleeps.waits == []


async def test_a_create_conflict_is_already_exists() -> None:
    api = FakeApi(api_error(409, "", "exists"))
    with pytest.raises(AlreadyExists):
        await transport(api, Sleeps()).call("create", "POST", "/x", what="create")


async def test_merge_patches_are_sent_with_their_content_type() -> None:
    api = FakeApi({"ok": 1})
    await transport(api, Sleeps()).call(
        "patch", "PATCH", "/x", what="p", body={"a": 1}, content_type="application/merge-patch+json"
    )
    _, _, kwargs = api.calls[0]
    assert kwargs["header_params"]["Content-Type"] == "application/merge-patch+json"
    assert kwargs["body"] == {"a": 1}
    assert kwargs["auth_settings"] == ["BearerToken"]


def test_error_mapping_keeps_status_reason_and_message() -> None:
    err = error_from_response(
        409,
        b'{"kind":"Status","reason":"Conflict","message":"the object has been modified"}',
        what="patch Rollout default/web",
    )
    assert isinstance(err, ApiConflict)
    assert (err.status, err.reason) == (409, "Conflict")
    assert (
        err.message == "patch Rollout default/web: the object has been modified (HTTP 409 Conflict)"
    )
    plain = error_from_response(502, "<html>bad gateway</html>", what="get")
    assert plain.transient and "bad gateway" in plain.message
    retry = error_from_response(
        504, '{"reason":"Timeout","details":{"retryAfterSeconds":2}}', what="get"
    )
    assert retry.retry_after == 2.0


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


async def test_the_token_bucket_allows_a_burst_then_qps() -> None:
    clock = FakeTime()
    bucket = TokenBucket(10, 5, monotonic=clock.monotonic, sleep=clock.sleep)
    for _ in range(5):
        await bucket.acquire()
    assert clock.slept == []
    await bucket.acquire()
    await bucket.acquire()
    assert clock.slept == pytest.approx([0.1, 0.1])
    clock.t += 10  # idle: the bucket refills up to its burst, no more
    assert bucket.tokens == pytest.approx(5)


async def test_waiters_queue_up_one_token_apart() -> None:
    clock = FakeTime()
    bucket = TokenBucket(2, 1, monotonic=clock.monotonic, sleep=clock.sleep)
    waited = [await bucket.acquire() for _ in range(4)]  # one after another
    assert waited == pytest.approx([0.0, 0.5, 0.5, 0.5])
    assert not bucket.try_acquire()
    assert TokenBucket(0, 1).unlimited


class SteppedTime:
    """Time that moves only in :meth:`advance`, waking the sleepers it reaches."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleepers: list[tuple[float, anyio.Event]] = []

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        event = anyio.Event()
        self.sleepers.append((self.t + seconds, event))
        await event.wait()

    async def advance(self, seconds: float) -> None:
        self.t += seconds
        for when, event in list(self.sleepers):
            if when <= self.t + 1e-9:
                self.sleepers.remove((when, event))
                event.set()
        await anyio.wait_all_tasks_blocked()


async def test_background_requests_take_spare_tokens_only() -> None:
    clock = SteppedTime()
    bucket = TokenBucket(10, 1, monotonic=clock.monotonic, sleep=clock.sleep)
    await bucket.acquire()  # the bucket is empty now
    served: list[str] = []

    async def take(who: str) -> None:
        if who == "event":
            with background():
                await bucket.acquire()
        else:
            await bucket.acquire()
        served.append(who)

    async with anyio.create_task_group() as tg:
        tg.start_soon(take, "event")  # waits first...
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(take, "status")  # ...but a status write arriving later goes first
        await anyio.wait_all_tasks_blocked()
        await clock.advance(0.1)
        assert served == ["status"]
        await clock.advance(0.1)
        assert served == ["status", "event"]
    clock.t += 1.0  # idle: a spare token is there at once
    with background():
        assert await bucket.acquire() == 0.0


class Waiters:
    """Requests at a 10-QPS bucket of one token, emptied first, on stepped time;
    :meth:`take` records who got a token, in order."""

    def __init__(self) -> None:
        self.clock = SteppedTime()
        self.bucket = TokenBucket(10, 1, monotonic=self.clock.monotonic, sleep=self.clock.sleep)
        self.served: list[str] = []

    async def empty(self) -> Waiters:
        await self.bucket.acquire()
        return self

    async def take(self, who: str, level: int) -> None:
        with priority(level):
            await self.bucket.acquire()
        self.served.append(who)


async def test_waiters_are_served_most_urgent_first_and_fifo_within_a_priority() -> None:
    w = await Waiters().empty()
    async with anyio.create_task_group() as tg:
        for who, level in [("resync", 2), ("change-1", 1), ("change-2", 1), ("due", 0)]:
            tg.start_soon(w.take, who, level)  # in this order
            await anyio.wait_all_tasks_blocked()
        assert w.bucket.waiting == 4
        for _ in range(4):
            await w.clock.advance(0.1)  # one token at a time
        assert w.served == ["due", "change-1", "change-2", "resync"]
    assert w.bucket.waiting == 0


async def test_an_urgent_request_takes_a_token_before_the_waiter_it_overtakes() -> None:
    w = await Waiters().empty()
    async with anyio.create_task_group() as tg:
        tg.start_soon(w.take, "change", 1)
        await anyio.wait_all_tasks_blocked()
        w.clock.t += 0.1  # a token is due; the waiter has not woken for it yet
        tg.start_soon(w.take, "due", 0)
        await anyio.wait_all_tasks_blocked()
        assert w.served == ["due"]  # at once, without queueing
        await w.clock.advance(0.0)  # the waiter wakes and finds the bucket empty again
        assert w.served == ["due"]
        await w.clock.advance(0.1)
        assert w.served == ["due", "change"]


async def test_a_cancelled_waiter_takes_no_token_and_holds_up_no_one() -> None:
    w = await Waiters().empty()
    head = anyio.CancelScope()

    async def cancelled_head() -> None:
        with head:
            await w.take("first", 0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(w.take, "second", 1)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(cancelled_head)
        await anyio.wait_all_tasks_blocked()
        assert w.bucket.waiting == 2
        head.cancel()  # the head of the queue gives up before its token is due
        await anyio.wait_all_tasks_blocked()
        assert w.bucket.waiting == 1
        await w.clock.advance(0.1)
        assert w.served == ["second"]
    assert w.bucket.tokens == pytest.approx(0.0)


def test_requests_are_limited_by_api_group_lane() -> None:
    assert lane_of("/api/v1/namespaces/a/events") == "kubernetes"
    assert lane_of("/apis/apps/v1/namespaces/a/replicasets/x") == "kubernetes"
    assert lane_of("/apis/networking.k8s.io/v1/ingresses") == "kubernetes"
    assert lane_of("/apis") == lane_of("/version") == "kubernetes"
    assert lane_of("/apis/argoproj.io/v1alpha1/namespaces/a/rollouts/x/status") == "argoproj.io"
    assert lane_of("/apis/split.smi-spec.io/v1alpha2") == "split.smi-spec.io"


async def test_each_lane_has_its_own_bucket_and_the_ceiling_spans_them() -> None:
    clock = FakeTime()
    limiter = Limiter(10, 1, monotonic=clock.monotonic, sleep=clock.sleep)
    api = FakeApi(*[{}] * 4)
    t = Transport(api, qps=10, burst=1)  # type: ignore[arg-type]
    t.limiter = limiter
    await t.call("patch", "PATCH", "/apis/apps/v1/namespaces/a/replicasets/x", what="rs")
    await t.call("patch", "PATCH", "/apis/split.smi-spec.io/v1alpha2/x", what="split")
    await t.call("update", "PUT", "/apis/argoproj.io/v1alpha1/x/status", what="status")
    assert clock.slept == [] and limiter.lanes == ["argoproj.io", "kubernetes", "split.smi-spec.io"]
    await t.call("get", "GET", "/api/v1/namespaces/a/services/x", what="svc")
    assert clock.slept == pytest.approx([0.1]) and limiter.waited == {"kubernetes": 0.1}
    ceiling = Limiter(
        10, 1, total_qps=10, total_burst=1, monotonic=clock.monotonic, sleep=clock.sleep
    )
    await ceiling.acquire("a")
    await ceiling.acquire("b")
    assert limiter.waited == {"kubernetes": 0.1} and ceiling.waited == {"b": pytest.approx(0.1)}


async def test_discovery_is_cached_and_refreshed_for_missing_kinds() -> None:
    fetched: list[str] = []
    clock = FakeTime()
    body = {
        "resources": [
            {"name": "rollouts", "kind": "Rollout", "namespaced": True, "verbs": ["get", "list"]},
            {"name": "rollouts/status", "kind": "Rollout", "namespaced": True},
            {"name": "rollouts/scale", "kind": "Scale", "namespaced": True},
        ]
    }

    async def fetch(path: str) -> Any:
        fetched.append(path)
        return body

    d = Discovery(fetch, refresh_after=5, monotonic=clock.monotonic)
    info = await d.resolve("progressive.dev/v1alpha1", "Rollout")
    assert info is not None and info.subresources == {"status", "scale"}
    assert info.path("ns", "web", "status") == (
        "/apis/progressive.dev/v1alpha1/namespaces/ns/rollouts/web/status"
    )
    assert info.path(None) == "/apis/progressive.dev/v1alpha1/rollouts"
    assert await d.resolve("progressive.dev/v1alpha1", "Experiment") is None
    assert len(fetched) == 1, "a missing kind is not looked up again at once"
    clock.t += 6
    assert await d.resolve("progressive.dev/v1alpha1", "Experiment") is None
    assert len(fetched) == 2
    assert await d.resolve("progressive.dev/v1alpha1", "Rollout") == info
    assert len(fetched) == 2
    core = parse_resource_list("v1", {"resources": [{"name": "nodes", "kind": "Node"}]})
    assert core["Node"].path("ignored", "n1") == "/api/v1/nodes/n1"
