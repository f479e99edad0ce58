"""A real Kubernetes API server: :class:`KubeCluster`, a
:class:`progressive.clusters.Cluster` on kubernetes-asyncio.

Connecting::

    from progressive.kube import KubeCluster

    async with await KubeCluster.from_kubeconfig() as cluster:       # ~/.kube/config
        ...
    cluster = KubeCluster.in_cluster()                               # a Pod's account
    cluster = await KubeCluster.connect(kubeconfig=path, context=name)

Its errors are :mod:`progressive.errors`' (``NotFound``, ``Conflict``...), each also a
:class:`KubeError` with the HTTP status and the server's message.  It needs asyncio
(kubernetes-asyncio and aiohttp are asyncio libraries); the in-memory cluster runs under
trio too.
"""

from __future__ import annotations

from ._shell.kube import (
    DEFAULT_REQUEST_TIMEOUT,
    FIELD_MANAGER,
    KubeCluster,
    ListResult,
    RequestHook,
    RetryPolicy,
    TransportOptions,
)
from .errors import (
    ApiAlreadyExists,
    ApiConflict,
    ApiForbidden,
    ApiNotFound,
    Gone,
    Invalid,
    KubeError,
    Unavailable,
    UnknownKind,
)

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "FIELD_MANAGER",
    "ApiAlreadyExists",
    "ApiConflict",
    "ApiForbidden",
    "ApiNotFound",
    "Gone",
    "Invalid",
    "KubeCluster",
    "KubeError",
    "ListResult",
    "RequestHook",
    "RetryPolicy",
    "TransportOptions",
    "Unavailable",
    "UnknownKind",
]
