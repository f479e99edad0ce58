"""The cluster as the controller sees it.

A controller reconciles the API groups it was given (``argoproj.io``,
``progressive.dev`` or both) and lists only the kinds it may: through a
:class:`ControllerView`, the kinds it does not reconcile or may not list read as empty,
and everything else goes through to the cluster.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

import anyio.lowlevel

from .._clusters import Cluster, Ref, list_owned

__all__ = ["ControllerView"]


class ControllerView:
    """The cluster as the controller sees it: the CRD kinds of API groups it does not
    reconcile (and kinds it may not list) read as empty; everything else goes through."""

    def __init__(self, cluster: Cluster, hidden: set[tuple[str, str]]) -> None:
        self.cluster = cluster
        self.hidden = hidden

    async def get(self, ref: Ref) -> dict[str, Any] | None:
        if (ref.api_version, ref.kind) in self.hidden:
            return None
        return await self.cluster.get(ref)

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        if (api_version, kind) in self.hidden:
            await anyio.lowlevel.checkpoint()
            return []
        return await self.cluster.list(api_version, kind, namespace)

    async def list_owned(
        self, api_version: str, kind: str, namespace: str, owner_uid: str
    ) -> builtins.list[dict[str, Any]]:
        if (api_version, kind) in self.hidden:
            await anyio.lowlevel.checkpoint()
            return []
        return await list_owned(self.cluster, api_version, kind, namespace, owner_uid)

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return await self.cluster.create(obj)

    async def patch(self, ref: Ref, patch: Mapping[str, Any]) -> dict[str, Any]:
        return await self.cluster.patch(ref, patch)

    async def delete(self, ref: Ref) -> None:
        await self.cluster.delete(ref)

    async def replace_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return await self.cluster.replace_status(obj)
