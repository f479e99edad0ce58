"""HTTP for the providers: one request, retried when the failure is transient.

Retried (tenacity, bounded by attempts and total time): connection errors and
timeouts, 500, 502, 503, 504, and 429 (after its ``Retry-After``, capped).  Never
retried: every other status, 400 and 422 above all (a bad query stays bad).
:func:`set_testing` removes the waits between attempts, for tests.
"""

from __future__ import annotations

import email.utils
import functools
import math
import ssl
import time
from typing import Final

import attrs
import httpx
import tenacity as _t

__all__ = [
    "DEFAULT_RETRY",
    "RETRIED_STATUSES",
    "RequestFailed",
    "RetryPolicy",
    "send",
    "set_testing",
    "tls_verify",
]

RETRIED_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

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


@attrs.frozen
class RetryPolicy:
    """At most ``attempts`` tries within ``max_seconds``; waits grow exponentially from
    ``initial_wait`` to ``max_wait``; a ``Retry-After`` is honoured up to
    ``max_retry_after`` seconds (a longer one ends the retries)."""

    attempts: int = 3
    max_seconds: float = 20.0
    initial_wait: float = 0.5
    max_wait: float = 4.0
    max_retry_after: float = 10.0


DEFAULT_RETRY: Final = RetryPolicy()


class RequestFailed(Exception):
    """No response at all (connection refused, timeout...), after the retries."""


class _Transient(Exception):
    def __init__(
        self,
        message: str,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.response = response
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
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


async def send(
    client: httpx.AsyncClient, request: httpx.Request, policy: RetryPolicy = DEFAULT_RETRY
) -> tuple[httpx.Response, int]:
    """Send ``request``, retrying transient failures; returns (response, attempts).

    The response may be an error (a 4xx, or a 5xx once the retries are spent); its body
    has been read.

    Raises:
        RequestFailed: no response after the retries (the message says why).
    """
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
                try:
                    response = await client.send(request)
                    await response.aread()
                except httpx.TransportError as exc:
                    raise _Transient(_describe(exc)) from exc
                if response.status_code in RETRIED_STATUSES:
                    raise _Transient(
                        f"HTTP {response.status_code}", response, _retry_after(response)
                    )
                return response, attempts
    except _Transient as exc:
        if exc.response is not None:
            return exc.response, attempts
        times = f" ({attempts} attempts)" if attempts > 1 else ""
        raise RequestFailed(f"{exc}{times}") from exc
    raise AssertionError("unreachable")  # pragma: no cover
