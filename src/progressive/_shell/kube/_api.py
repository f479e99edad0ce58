"""HTTP to the API server: rate limited, retried when transient, counted.

:class:`Transport` sends every request through one kubernetes-asyncio ``ApiClient``
(which holds the connection pool, TLS and credentials, refreshed tokens included) and
adds what a controller needs around it:

* client-side rate limits (:class:`~progressive._shell.ratelimit.Limiter`): QPS and
  burst per *lane*, as client-go has them per clientset (Argo's controller defaults to
  40/80 for each of its clientsets).  A request's lane is its API group
  (:func:`lane_of`); Kubernetes' own groups share the lane ``kubernetes``, each other
  group (a CRD's: argoproj.io, split.smi-spec.io...) has its own.  So a burst of
  router writes never waits behind ReplicaSet writes, and requests made in
  :func:`~progressive._shell.ratelimit.background` (Events) take spare tokens only;
* retries with tenacity for transient failures only: no response, 429 (honouring
  ``Retry-After``), 500, 502, 503, 504; never 400, 403, 404, 405, 409, 410 or 422, which
  would fail the same way again.  Attempts and total time are bounded;
* a count of requests by verb and HTTP code (``"error"`` when no response came back),
  kept in :attr:`Transport.requests` and passed to an optional hook for metrics;
* a timeout on each request (:data:`DEFAULT_REQUEST_TIMEOUT` unless told otherwise);
  when no answer comes back the error names the request, the API server's address
  and the time waited: ``discover /apis/argoproj.io/v1alpha1: the API server
  https://10.0.0.1:6443 did not answer within 30 s``.
"""

from __future__ import annotations

import collections
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, Final, TypedDict

import aiohttp
import anyio
import tenacity as _t
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from ..._retry import KUBE_RETRY, RetryPolicy
from ...errors import KubeError, Unavailable
from ..ratelimit import DEFAULT_BURST, DEFAULT_QPS, Limiter, WaitHook
from ._errors import error_from_response

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "KUBERNETES_LANE",
    "RequestHook",
    "RetryPolicy",
    "Transport",
    "TransportOptions",
    "builtin_group",
    "lane_of",
]

#: Seconds one API request may take, answer included (watches have their own).
DEFAULT_REQUEST_TIMEOUT: Final = 30.0
#: Seconds a watch may take to connect.
_WATCH_CONNECT_TIMEOUT: Final = 10.0

#: Called once per HTTP request with (verb, code): ``("patch", "200")``, ``("get", "error")``.
RequestHook = Callable[[str, str], None]

_NETWORK_ERRORS: Final = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    TimeoutError,
    ConnectionError,
)
# aiohttp's timeout while connecting (3.10 and later); sock_read's is another
_CONNECTING: Final = getattr(aiohttp, "ConnectionTimeoutError", ())
_JSON: Final = "application/json"
#: The lane of Kubernetes' own API groups (client-go's ``kubernetes.Clientset``).
KUBERNETES_LANE: Final = "kubernetes"


def builtin_group(group: str) -> bool:
    """Kubernetes' own API groups: the core group, dotless ones (apps, batch...) and
    ``*.k8s.io``."""
    return group == "" or "." not in group or group.endswith(".k8s.io")


def lane_of(path: str) -> str:
    """The rate-limit lane of a request path: its API group, or
    :data:`KUBERNETES_LANE` for Kubernetes' own groups and non-group paths."""
    if path.startswith("/apis/"):
        group = path[len("/apis/") :].split("/", 1)[0]
        if group and not builtin_group(group):
            return group
    return KUBERNETES_LANE


def _should_stop(policy: RetryPolicy, state: _t.RetryCallState) -> bool:
    """No more attempts, or the coming wait would end after ``max_seconds`` (counting
    the time spent and the waits asked for, so fake sleeps count too)."""
    if state.attempt_number >= max(1, policy.attempts):
        return True
    spent = max(state.seconds_since_start or 0.0, state.idle_for)
    return spent + state.upcoming_sleep > policy.max_seconds


def _backoff(policy: RetryPolicy, attempt: int, error: BaseException | None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (from 1): the server's
    ``Retry-After`` (at most ``max_retry_after``), else a doubling wait with jitter."""
    if isinstance(error, KubeError) and error.retry_after is not None:
        return min(float(error.retry_after), policy.max_retry_after)
    base = min(policy.max_wait, policy.initial_wait * 2.0 ** (attempt - 1))
    return base * random.uniform(0.5, 1.0)  # jitter


def _transient(error: BaseException) -> bool:
    return isinstance(error, KubeError) and error.transient


class TransportOptions(TypedDict, total=False):
    """How a :class:`Transport` sends requests; each left out takes the Transport's
    default.  A :class:`~progressive._shell.kube.KubeCluster` takes them as keywords and
    passes them on.

    Keys:
        qps: client-side rate limit of each API group's lane, requests per second
            (:data:`~progressive._shell.ratelimit.DEFAULT_QPS`, Argo's controller's for
            each of its clientsets; ``qps <= 0``: none).
        burst: the requests a lane may send at once above ``qps``
            (:data:`~progressive._shell.ratelimit.DEFAULT_BURST`).
        total_qps: a ceiling over all lanes together (0: none).
        retry: retries of transient failures (:data:`~progressive._retry.KUBE_RETRY`).
        on_request: called with (verb, HTTP code) after every request (metrics).
        on_wait: called with (lane, seconds) when a request waited for a token.
        request_timeout: seconds for one request (watches have their own).
        sleep: how retries wait (tests pass a fake).
    """

    qps: float
    burst: int
    total_qps: float
    retry: RetryPolicy | None
    on_request: RequestHook | None
    on_wait: WaitHook | None
    request_timeout: float
    sleep: Callable[[float], Awaitable[None]]


class Transport:
    """Requests to one API server.

    Args:
        api: the kubernetes-asyncio client (its configuration has host and credentials).
        qps, burst, total_qps, retry, on_request, on_wait, request_timeout, sleep: see
            :class:`TransportOptions`.
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        total_qps: float = 0.0,
        retry: RetryPolicy | None = None,
        on_request: RequestHook | None = None,
        on_wait: WaitHook | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.api = api
        self.limiter = Limiter(qps, burst, total_qps=total_qps, on_wait=on_wait)
        self.retry = retry if retry is not None else KUBE_RETRY
        self.on_request = on_request
        self.request_timeout = request_timeout
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self._sleep = sleep

    @property
    def server(self) -> str:
        """The API server's address, for error messages."""
        host = getattr(getattr(self.api, "configuration", None), "host", None)
        return f"the API server {host}" if isinstance(host, str) and host else "the API server"

    def _unanswered(self, what: str, exc: BaseException, timeout: float) -> Unavailable:
        """The error for a request that got no response: which, from where, and why."""
        if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
            message = f"{what}: {self.server} did not answer within {timeout:g} s"
        else:
            detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
            message = f"{what}: cannot reach {self.server}: {detail}"
        return Unavailable(message)

    def _count(self, verb: str, code: str) -> None:
        self.requests[(verb, code)] += 1
        if self.on_request is not None:
            self.on_request(verb, code)

    async def call(
        self,
        verb: str,
        method: str,
        path: str,
        *,
        what: str,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = _JSON,
    ) -> Any:
        """One API request, retried while the failure is transient; returns parsed JSON.

        Args:
            verb: the Kubernetes verb, for the request count (get, list, create, ...).
            what: names the request in error messages.

        Raises:
            KubeError: the server's refusal (or ``Unavailable`` once retries ran out).
        """
        policy = self.retry
        retrying = _t.AsyncRetrying(
            stop=lambda state: _should_stop(policy, state),
            wait=lambda state: _backoff(
                policy, state.attempt_number, state.outcome.exception() if state.outcome else None
            ),
            retry=_t.retry_if_exception(_transient),
            sleep=self._sleep,
            reraise=True,
        )
        return await retrying(self._once, verb, method, path, what, query, body, content_type)

    async def _once(
        self,
        verb: str,
        method: str,
        path: str,
        what: str,
        query: Sequence[tuple[str, str]],
        body: Any,
        content_type: str,
    ) -> Any:
        await self.limiter.acquire(lane_of(path))
        try:
            result, status, _ = await self.api.call_api(
                path,
                method,
                query_params=list(query),
                header_params={"Accept": _JSON, "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                response_types_map={200: "object", 201: "object", 202: "object"},
                _return_http_data_only=False,
                _preload_content=True,
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            self._count(verb, str(exc.status))
            raise error_from_response(
                int(exc.status or 0), exc.body, exc.headers, what=what, creating=verb == "create"
            ) from None
        except _NETWORK_ERRORS as exc:
            self._count(verb, "error")
            raise self._unanswered(what, exc, self.request_timeout) from exc
        self._count(verb, str(status))
        return result

    async def stream(
        self,
        path: str,
        *,
        what: str,
        query: Sequence[tuple[str, str]] = (),
        read_timeout: float = 330.0,
    ) -> AsyncGenerator[bytes, None]:
        """A streaming GET (a watch): yields the response's lines.  Not retried.

        Raises:
            KubeError: the server refused the request, or the connection failed.
        """
        await self.limiter.acquire(lane_of(path))
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=_WATCH_CONNECT_TIMEOUT, sock_read=read_timeout
        )
        try:
            response: aiohttp.ClientResponse = await self.api.call_api(
                path,
                "GET",
                query_params=list(query),
                header_params={"Accept": _JSON},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except _NETWORK_ERRORS as exc:
            self._count("watch", "error")
            waited = _WATCH_CONNECT_TIMEOUT if isinstance(exc, _CONNECTING) else read_timeout
            raise self._unanswered(what, exc, waited) from exc
        try:
            self._count("watch", str(response.status))
            if response.status != 200:
                body = await response.read()
                raise error_from_response(response.status, body, response.headers, what=what)
            try:
                async for line in response.content:
                    if line.strip():
                        yield line
            except _NETWORK_ERRORS as exc:
                raise self._unanswered(what, exc, read_timeout) from exc
        finally:
            response.close()
