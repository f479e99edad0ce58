"""HTTP for the providers: bounded in time and in memory, retried when the failure is
transient.

One measurement is one :class:`Session`: one client, one **overall deadline** for every
request it sends (``timeout x attempts + connect``, see :func:`deadline`), enforced with
a cancel scope, and each attempt bounded by ``timeout`` as a whole (connecting, the
headers and the *whole* body, not each read: a server that trickles its answer a byte
at a time is cut off like one that never answers).  A body is read as a stream and refused past
:attr:`ResponseLimits.max_body_bytes` (a ``Content-Length`` above it is refused before
the body is read); only ``gzip`` is asked for, and it is inflated under the same bound.

Retried (tenacity, bounded by attempts and total time): connection errors and
timeouts, 500, 502, 503, 504, and 429 (after its ``Retry-After``, capped).  Never
retried: every other status, 400 and 422 above all (a bad query stays bad), and an
answer that is too large.  :func:`set_testing` removes the waits between attempts,
for tests.
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import ssl
import time
import zlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

import anyio
import attrs
import httpx
import tenacity as _t

from .._retry import RetryPolicy
from ..core._analysis import MeasurementFailure
from ..errors import RequestFailed, ResponseTooLarge

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_RETRY",
    "MAX_CONNECT_SECONDS",
    "RETRIED_STATUSES",
    "HttpProvider",
    "Reply",
    "ResponseLimits",
    "RetryPolicy",
    "Session",
    "deadline",
    "insecure_problem",
    "set_testing",
    "tls_verify",
]

RETRIED_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: Connecting takes at most this long (or the metric's timeout, if shorter).
MAX_CONNECT_SECONDS: Final = 10.0
_MIB: Final = 1024 * 1024
_CLOSE_SECONDS: Final = 1.0  # closing a connection (a TLS goodbye to a silent server)

_testing = False


@functools.cache
def _default_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def tls_verify(insecure: bool) -> ssl.SSLContext | bool:
    """``verify=`` for an ``httpx.AsyncClient``: one TLS context made once and shared
    (loading the CA bundle costs ~20 ms of CPU, too much for every measurement), or
    False for a provider configured ``insecure``."""
    return False if insecure else _default_context()


def set_testing(enabled: bool = True) -> None:
    """No waits between attempts (the attempts themselves still happen)."""
    global _testing
    _testing = enabled


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen
class ResponseLimits:
    """How much of an answer one measurement reads; more is an Error measurement.

    Attributes:
        max_body_bytes: the body of one response (after inflating it), 4 MiB.
        max_series: series in a Prometheus result, 1,000.
        max_samples: samples in a Prometheus result (every point of every series of a
            range query), 100,000.
    """

    max_body_bytes: int = attrs.field(default=4 * _MIB, validator=_positive)
    max_series: int = attrs.field(default=1_000, validator=_positive)
    max_samples: int = attrs.field(default=100_000, validator=_positive)


DEFAULT_LIMITS: Final = ResponseLimits()


DEFAULT_RETRY: Final = RetryPolicy()


def deadline(timeout: float, policy: RetryPolicy = DEFAULT_RETRY) -> float:
    """The longest one measurement takes, in seconds: ``timeout`` per attempt, and the
    time to connect once more (at most :data:`MAX_CONNECT_SECONDS`), which leaves room
    for the waits between attempts."""
    return timeout * policy.attempts + min(timeout, MAX_CONNECT_SECONDS)


def _size(n: int) -> str:
    return f"{n / _MIB:g} MiB" if n >= _MIB and n % (_MIB // 4) == 0 else f"{n:,} bytes"


@attrs.frozen
class Reply:
    """A response read whole, within the limits."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not (or nests too deep)."""
        try:
            return json.loads(self.content)
        except RecursionError:
            raise ValueError("the JSON nests too deep") from None

    def describe(self) -> str:
        """``HTTP 502 (text/html, 1,234 bytes)``: what came back, without quoting it (a
        body may echo the request, secrets included)."""
        kind = self.headers.get("content-type", "").split(";")[0].strip() or "no content type"
        return f"HTTP {self.status_code} ({kind[:64]}, {len(self.content):,} bytes)"


class _Transient(Exception):
    def __init__(
        self,
        message: str,
        response: Reply | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.response = response
        self.retry_after = retry_after


def _retry_after(response: Reply) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _describe(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


class _Wait:
    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.backoff = _t.wait_exponential(
            multiplier=policy.initial_wait, min=policy.initial_wait, max=policy.max_wait
        )

    def __call__(self, state: _t.RetryCallState) -> float:
        if _testing:
            return 0.0
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.max_retry_after)
        return float(self.backoff(state))


class _StopIf(_t.stop.stop_base):
    """Stop when the last attempt asked to be retried later than we wait."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: _t.RetryCallState) -> bool:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        return (
            isinstance(exc, _Transient)
            and exc.retry_after is not None
            and exc.retry_after > self.policy.max_retry_after
        )


def _stop(policy: RetryPolicy) -> _t.stop.stop_base:
    return (
        _t.stop_after_attempt(policy.attempts)
        | _t.stop_after_delay(policy.max_seconds)
        | _StopIf(policy)
    )


async def _read(response: httpx.Response, limit: int) -> bytes:
    """The body of ``response``, at most ``limit`` bytes of it once inflated."""
    too_large = ResponseTooLarge(f"the response is larger than {_size(limit)} (max_body_bytes)")
    length = response.headers.get("content-length", "").strip()
    if length.isdigit() and int(length) > limit:
        raise too_large
    if response.is_stream_consumed:  # built whole, already inflated (httpx.MockTransport)
        if len(response.content) > limit:
            raise too_large
        return response.content
    encoding = response.headers.get("content-encoding", "").strip().lower()
    inflate = None
    if encoding in ("gzip", "x-gzip"):
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding not in ("", "identity"):
        raise RequestFailed(f"the response is encoded with {encoding[:32]!r} (gzip was asked)")
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            if inflate is not None:  # never more than one byte past the limit
                chunk = inflate.decompress(chunk, limit - len(body) + 1)
            body += chunk
            if len(body) > limit:
                raise too_large
        if inflate is not None:
            body += inflate.flush()
    except zlib.error as exc:
        raise RequestFailed(f"the response is not valid gzip: {exc}") from None
    if len(body) > limit:
        raise too_large
    return bytes(body)


async def _attempt(
    client: httpx.AsyncClient, request: httpx.Request, seconds: float, limit: int
) -> Reply:
    """One try: the whole answer within ``seconds`` (a transient failure otherwise)."""
    with anyio.move_on_after(seconds):
        try:
            response = await client.send(request, stream=True)
            try:
                content = await _read(response, limit)
            finally:
                with anyio.move_on_after(_CLOSE_SECONDS, shield=True):  # even when cut off
                    await response.aclose()
        except httpx.TransportError as exc:
            raise _Transient(_describe(exc)) from exc
        return Reply(response.status_code, response.headers, content)
    raise _Transient(f"no complete answer within {seconds:g} s")


async def _send(
    client: httpx.AsyncClient,
    request: httpx.Request,
    policy: RetryPolicy,
    seconds: float,
    limit: int,
) -> Reply:
    attempts = 0
    retrying = _t.AsyncRetrying(
        stop=_stop(policy),
        wait=_Wait(policy),
        retry=_t.retry_if_exception_type(_Transient),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                attempts += 1
                response = await _attempt(client, request, seconds, limit)
                if response.status_code in RETRIED_STATUSES:
                    raise _Transient(
                        f"HTTP {response.status_code}", response, _retry_after(response)
                    )
                return response
    except _Transient as exc:
        if exc.response is not None:
            return exc.response
        times = f" ({attempts} attempts)" if attempts > 1 else ""
        raise RequestFailed(f"{exc}{times}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


class Session:
    """One measurement's HTTP: a client, and one deadline for every request it sends.

    ``async with Session(timeout=10) as http: reply = await http.send("GET", url)``.
    Each attempt gets ``timeout`` for the whole answer (connecting included); all the
    attempts of all the requests together get :func:`deadline`.

    Args:
        timeout: seconds for one attempt's answer (the metric's ``timeoutSeconds``).
        insecure: skip TLS verification.
        policy: the retries.
        limits: how much of an answer is read.
        transport: an httpx transport (tests use ``httpx.MockTransport``).
    """

    def __init__(
        self,
        *,
        timeout: float,
        insecure: bool = False,
        policy: RetryPolicy = DEFAULT_RETRY,
        limits: ResponseLimits = DEFAULT_LIMITS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.connect = min(timeout, MAX_CONNECT_SECONDS)
        self.deadline = deadline(timeout, policy)
        self.policy = policy
        self.limits = limits
        self._client = httpx.AsyncClient(
            verify=tls_verify(insecure),
            timeout=httpx.Timeout(timeout, connect=self.connect),
            transport=transport,
            headers={"Accept-Encoding": "gzip"},
        )
        self._until = math.inf

    async def __aenter__(self) -> Session:
        await self._client.__aenter__()
        self._until = anyio.current_time() + self.deadline
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(kind, exc, tb)

    async def send(self, method: str, url: str, **request: Any) -> Reply:
        """Send a request (``headers=``, ``content=``, ``data=``, ``params=``), retrying
        transient failures; the reply may be an error (a 4xx, a 5xx once the retries are
        spent).

        Raises:
            RequestFailed: no usable answer (the message says why), in time or at all.
        """
        built = self._client.build_request(method, url, **request)
        with anyio.move_on_after(self._until - anyio.current_time()):
            return await _send(
                self._client, built, self.policy, self.timeout, self.limits.max_body_bytes
            )
        raise RequestFailed(
            f"no complete answer within {self.deadline:g} s "
            f"({self.policy.attempts} attempts of {self.timeout:g} s, and connecting)"
        )


def insecure_problem(config: Mapping[str, Any], key: str) -> MeasurementFailure | None:
    """Why ``config``'s ``insecure`` is refused: only ``true`` and ``false`` turn TLS
    verification off or leave it on (a string ``"false"`` must not turn it off)."""
    value = config.get("insecure", False)
    if isinstance(value, bool):
        return None
    return MeasurementFailure(f"{key}.insecure must be true or false, got {value!r}")


class HttpProvider:
    """What the providers that ask an HTTP server (``prometheus``, ``web``) share: their
    retry policy, how much of an answer they read, their transport, and the
    :class:`Session` of one measurement made from those."""

    retry: RetryPolicy
    limits: ResponseLimits
    transport: httpx.AsyncBaseTransport | None

    def session(self, config: Mapping[str, Any], timeout: float) -> Session:
        """One measurement's :class:`Session`: each attempt bounded by ``timeout``, TLS
        verified unless the metric's provider ``config`` says ``insecure: true`` (see
        :func:`insecure_problem`: anything but a boolean there is refused first)."""
        return Session(
            timeout=timeout,
            insecure=config.get("insecure") is True,
            policy=self.retry,
            limits=self.limits,
            transport=self.transport,
        )
