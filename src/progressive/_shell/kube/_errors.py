"""The API server's refusals as the shell's :class:`~progressive._clusters.ClusterError`.

Every error carries the HTTP ``status`` (0 when no response came back), the server's
``reason`` (``NotFound``, ``Conflict``, ``Expired``...) and ``message``.  The classes
are the shell's own (:class:`NotFound`, :class:`AlreadyExists`, :class:`Conflict`) so
code written against the in-memory cluster handles a real one unchanged::

    ClusterError
    └── KubeError                      status, reason, message, retry_after
        ├── ApiNotFound (NotFound)     404
        ├── ApiAlreadyExists (AlreadyExists)   409 from a create
        ├── ApiConflict (Conflict)     409 from a stale resourceVersion
        ├── Gone                       410: a watch or list resourceVersion too old
        ├── ApiForbidden (Forbidden)   401, 403
        ├── Invalid                    400, 405, 415, 422
        └── Unavailable                429, 5xx, no response: transient
"""

from __future__ import annotations

import json
from typing import Any, Final

from ..._clusters import AlreadyExists, ClusterError, Conflict, Forbidden, NotFound

__all__ = [
    "TRANSIENT_STATUSES",
    "ApiAlreadyExists",
    "ApiConflict",
    "ApiForbidden",
    "ApiNotFound",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeError",
    "Unavailable",
    "error_from_response",
]

#: Statuses worth retrying (api-conventions): throttled, or the server/gateway failed.
TRANSIENT_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


class KubeError(ClusterError):
    """A request the API server refused, or that got no answer (``status`` 0)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether trying again, unchanged, may succeed."""
        return self.status == 0 or self.status in TRANSIENT_STATUSES


class ApiNotFound(KubeError, NotFound):
    pass


class ApiAlreadyExists(KubeError, AlreadyExists):
    pass


class ApiConflict(KubeError, Conflict):
    pass


class Gone(KubeError):
    """410: the resourceVersion asked for is older than etcd keeps; list again."""


class ApiForbidden(KubeError, Forbidden):
    pass


class Invalid(KubeError):
    pass


class Unavailable(KubeError):
    pass


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
