"""The Cluster interface: what the controller, the SDK and the plugins talk to.

A :class:`Cluster` is a small Protocol over plain-dict Kubernetes objects (``get``,
``list``, ``create``, ``patch``, ``delete``, ``replace_status``).  Two implementations
ship: :class:`progressive.memory.MemoryCluster` (in memory, with a virtual clock: tests,
``simulate``, embedding) and :class:`progressive.kube.KubeCluster` (a real API server).
Their errors are :class:`ClusterError`'s subclasses, from :mod:`progressive.errors`:
code written against this module works on both.

Which parts are trio-safe: everything here and the in-memory cluster are anyio code
and run under asyncio or trio; :class:`~progressive.kube.KubeCluster` needs asyncio
(kubernetes-asyncio and aiohttp).  See docs/kubernetes.md.
"""

from __future__ import annotations

from ._clusters import (
    Change,
    Cluster,
    Ref,
    Watchable,
    list_owned,
    merge_patch,
    owned_by,
    owner_reference,
    owner_uids,
)
from .errors import (
    AlreadyExists,
    BeingDeleted,
    ClusterError,
    Conflict,
    Forbidden,
    NotFound,
)

__all__ = [
    "AlreadyExists",
    "BeingDeleted",
    "Change",
    "Cluster",
    "ClusterError",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Ref",
    "Watchable",
    "list_owned",
    "merge_patch",
    "owned_by",
    "owner_reference",
    "owner_uids",
]
