"""The shell on a real Kubernetes API server (kubernetes-asyncio).

:class:`KubeCluster` implements :class:`~progressive._clusters.Cluster` for any
kind; its errors are the shell's (``NotFound``, ``AlreadyExists``, ``Conflict``), each a
:class:`KubeError` with the HTTP status and the server's message.
"""

from __future__ import annotations

from ...errors import (
    TRANSIENT_STATUSES,
    ApiAlreadyExists,
    ApiConflict,
    ApiForbidden,
    ApiNotFound,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    Unavailable,
    UnknownKind,
)
from ._api import DEFAULT_REQUEST_TIMEOUT, RequestHook, RetryPolicy, Transport, TransportOptions
from ._cluster import FIELD_MANAGER, KubeCluster, ListResult
from ._discovery import Discovery, ResourceInfo
from ._errors import error_from_response

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "FIELD_MANAGER",
    "TRANSIENT_STATUSES",
    "ApiAlreadyExists",
    "ApiConflict",
    "ApiForbidden",
    "ApiNotFound",
    "Discovery",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeCluster",
    "KubeError",
    "ListResult",
    "RequestHook",
    "ResourceInfo",
    "RetryPolicy",
    "Transport",
    "TransportOptions",
    "Unavailable",
    "UnknownKind",
    "error_from_response",
]
