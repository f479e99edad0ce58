"""API discovery: which REST path serves an apiVersion and kind, cached.

``/api/v1`` and ``/apis/<group>/<version>`` list the resources of a group version:
their plural name, whether they are namespaced, their verbs and subresources
(``rollouts/status``, ``rollouts/scale``).  :class:`Discovery` fetches a group version
the first time one of its kinds is needed and keeps it; a kind that is missing (a CRD
installed meanwhile) is looked up again, at most once per ``refresh_after`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import attrs

from ..._clusters import UNSERVED_RECHECK
from ...errors import ApiNotFound

__all__ = ["Discovery", "ResourceInfo", "group_version_path", "split_api_version"]


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` -> ``("apps", "v1")``; ``"v1"`` -> ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


def group_version_path(api_version: str) -> str:
    group, version = split_api_version(api_version)
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


@attrs.frozen
class ResourceInfo:
    """One resource of a group version, as discovery describes it."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()
    subresources: frozenset[str] = frozenset()

    @property
    def group(self) -> str:
        return split_api_version(self.api_version)[0]

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path: the collection (no ``name``) or one object, in ``namespace``
        (None or "" for every namespace; ignored for cluster-scoped kinds)."""
        out = group_version_path(self.api_version)
        if self.namespaced and namespace:
            out += f"/namespaces/{quote(namespace, safe='')}"
        out += f"/{self.plural}"
        if name is not None:
            out += f"/{quote(name, safe='')}"
            if subresource:
                out += f"/{subresource}"
        return out


Fetch = Callable[[str], Awaitable[Any]]


class Discovery:
    """Resolves (apiVersion, kind) to a :class:`ResourceInfo`.

    Args:
        fetch: GETs a discovery path and returns the parsed JSON; raises
            :class:`~progressive.errors.ApiNotFound` for a group version
            that is not served.
        refresh_after: the least time between two fetches of one group version when a
            kind is missing from it.
    """

    def __init__(
        self,
        fetch: Fetch,
        *,
        refresh_after: float = UNSERVED_RECHECK,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_after = refresh_after
        self._monotonic = monotonic
        # api_version -> (fetched at, kind -> info); an empty dict: not served
        self._cache: dict[str, tuple[float, dict[str, ResourceInfo]]] = {}
        self.fetches = 0

    def invalidate(self, api_version: str | None = None) -> None:
        """Forget one group version (or all): the next lookup fetches it again."""
        if api_version is None:
            self._cache.clear()
        else:
            self._cache.pop(api_version, None)

    async def resolve(self, api_version: str, kind: str) -> ResourceInfo | None:
        """The resource serving ``kind`` in ``api_version``, or None if none does."""
        cached = self._cache.get(api_version)
        if cached is not None:
            fetched_at, kinds = cached
            info = kinds.get(kind)
            if info is not None or self._monotonic() - fetched_at < self._refresh_after:
                return info
        kinds = await self._load(api_version)
        return kinds.get(kind)

    async def _load(self, api_version: str) -> dict[str, ResourceInfo]:
        self.fetches += 1
        try:
            body = await self._fetch(group_version_path(api_version))
        except ApiNotFound:
            body = {}
        kinds = parse_resource_list(api_version, body if isinstance(body, Mapping) else {})
        self._cache[api_version] = (self._monotonic(), kinds)
        return kinds


def parse_resource_list(api_version: str, body: Mapping[str, Any]) -> dict[str, ResourceInfo]:
    """kind -> ResourceInfo from an ``APIResourceList``."""
    resources = [r for r in body.get("resources") or () if isinstance(r, Mapping)]
    subresources: dict[str, set[str]] = {}
    for r in resources:
        name = str(r.get("name", ""))
        if "/" in name:
            parent, _, sub = name.partition("/")
            subresources.setdefault(parent, set()).add(sub)
    out: dict[str, ResourceInfo] = {}
    for r in resources:
        name = str(r.get("name", ""))
        kind = r.get("kind")
        if "/" in name or not isinstance(kind, str) or kind in out:
            continue
        out[kind] = ResourceInfo(
            api_version=api_version,
            kind=kind,
            plural=name,
            namespaced=bool(r.get("namespaced")),
            verbs=frozenset(str(v) for v in r.get("verbs") or ()),
            subresources=frozenset(subresources.get(name, ())),
        )
    return out
