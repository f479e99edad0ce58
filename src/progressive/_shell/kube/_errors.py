"""The API server's refusals as the errors of :mod:`progressive.errors`.

:func:`error_from_response` turns an HTTP status and the server's Status body into
the :class:`~progressive.errors.KubeError` of that status (the tree is drawn in
:mod:`progressive.errors`), carrying the ``status`` (0 when no response came back),
the server's ``reason`` (``NotFound``, ``Conflict``, ``Expired``...), its
``message`` and ``Retry-After``.  A 404 is also a ``NotFound``, a 409 an
``AlreadyExists`` or a ``Conflict``, so code written against the in-memory cluster
handles a real one unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from ...errors import (
    TRANSIENT_STATUSES,
    ApiAlreadyExists,
    ApiConflict,
    ApiForbidden,
    ApiNotFound,
    Gone,
    Invalid,
    KubeError,
    Unavailable,
)

__all__ = ["error_from_response"]


def _status_body(body: object) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        text = body.strip()
        try:
            body = json.loads(text)
        except ValueError:
            return {"message": text[:500]} if text else {}
    return body if isinstance(body, dict) else {}


def _retry_after(headers: Any, status: dict[str, Any]) -> float | None:
    value = None
    if headers is not None:
        try:
            value = headers.get("Retry-After")
        except AttributeError:
            value = None
    if value is None:
        details = status.get("details")
        if isinstance(details, dict):
            value = details.get("retryAfterSeconds")
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def error_from_response(
    status: int, body: object, headers: Any = None, *, what: str, creating: bool = False
) -> KubeError:
    """The error for an HTTP ``status`` with the server's Status ``body``.

    Args:
        what: the request, for the message (``"patch Rollout default/web"``).
        creating: a 409 from a create means AlreadyExists whatever the body says.
    """
    parsed = _status_body(body)
    reason = str(parsed.get("reason") or "")
    server_message = str(parsed.get("message") or reason or f"HTTP {status}")
    message = f"{what}: {server_message} (HTTP {status}{' ' + reason if reason else ''})"
    kwargs: dict[str, Any] = {
        "status": status,
        "reason": reason,
        "retry_after": _retry_after(headers, parsed),
    }
    cls: type[KubeError]
    if status == 404:
        cls = ApiNotFound
    elif status == 409:
        cls = ApiAlreadyExists if creating or reason == "AlreadyExists" else ApiConflict
    elif status == 410:
        cls = Gone
    elif status in (401, 403):
        cls = ApiForbidden
    elif status in TRANSIENT_STATUSES:
        cls = Unavailable
    elif 400 <= status < 500:
        cls = Invalid
    else:
        cls = KubeError
    return cls(message, **kwargs)
