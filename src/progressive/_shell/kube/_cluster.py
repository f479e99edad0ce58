""":class:`KubeCluster`: the shell's :class:`~progressive._clusters.Cluster` on a
real API server, for any kind, built-in or custom.

Paths come from discovery (:mod:`._discovery`), so one code path serves ReplicaSets,
Services, Rollouts and Istio VirtualServices alike.  What it does the way the in-memory
cluster does, and how:

* ``patch`` is a JSON merge patch (``application/merge-patch+json``; never the
  JSON-patch default of kubernetes-asyncio, which the server reads differently).  A
  ``metadata.resourceVersion`` in the patch is a precondition: a stale one is a 409,
  raised as :class:`~progressive.errors.Conflict`.  A ``status`` in the patch of
  a kind with a ``/status`` subresource goes to ``/status`` (the main resource would
  ignore it).
* ``create`` of an object with a ``status`` writes that status through ``/status`` too.
* ``replace_status`` replaces the whole status through ``/status`` when there is one,
  strictly (``fieldValidation=Strict``): a field the CRD's schema lacks is refused
  with the server's message instead of dropped without a word.
* ``delete`` deletes in the background; Kubernetes' garbage collector removes what the
  object owns.
* ``list`` of a kind the server does not serve is empty and ``get`` is None, as in the
  in-memory cluster (the controller looks in both API groups; usually one is installed).

Items of a list carry ``apiVersion`` and ``kind`` (the server leaves them out), and
nothing returned is shared with the caller.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from typing import Any, Final, Self, Unpack

import attrs
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration

from ..._clusters import Ref, copy_json_body, copy_to_write
from ...errors import ApiConflict, ApiNotFound, KubeError, Unavailable, UnknownKind
from ._api import Transport, TransportOptions, builtin_group
from ._discovery import Discovery, ResourceInfo
from ._session import api_client

__all__ = ["FIELD_MANAGER", "KubeCluster", "ListResult", "UnknownKind"]

FIELD_MANAGER: Final = "progressive"
MERGE_PATCH: Final = "application/merge-patch+json"
APPLY_PATCH: Final = "application/apply-patch+yaml"
_PAGE: Final = 500
# A status a schema does not declare in full is refused rather than stored in part
# (pruned): what a controller writes in its status is what it means to remember.
_STRICT: Final = (("fieldValidation", "Strict"),)
_STATUS_RETRIES: Final = 5


@attrs.frozen
class ListResult:
    """A consistent list: the items and the resourceVersion to watch from."""

    items: list[dict[str, Any]]
    resource_version: str


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


class KubeCluster:
    """A :class:`~progressive._clusters.Cluster` backed by a Kubernetes API server.

    Args:
        api: a kubernetes-asyncio ``ApiClient``; closed by :meth:`close` only when
            ``owns_client`` (the named constructors set it).  The named constructors
            make one whose session resolves the environment's proxy once, not per
            request (:mod:`._session`); one passed here is used as it is.
        field_manager: the name server-side apply records as the owner of fields.
        transport: how requests are sent, passed on to its :class:`~._api.Transport`
            (:class:`~._api.TransportOptions`: ``qps``, ``burst``, ``total_qps``,
            ``retry``, ``on_request``, ``on_wait``, ``request_timeout``, ``sleep``).
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        field_manager: str = FIELD_MANAGER,
        owns_client: bool = False,
        **transport: Unpack[TransportOptions],
    ) -> None:
        self.api = api
        self.transport = Transport(api, **transport)
        self.discovery = Discovery(self._discover)
        self.field_manager = field_manager
        self._owns_client = owns_client

    # -- construction ------------------------------------------------------------------
    @classmethod
    async def from_kubeconfig(
        cls, path: str | os.PathLike[str] | None = None, context: str | None = None, **kw: Any
    ) -> Self:
        """Connect with a kubeconfig file (default: ``$KUBECONFIG`` or ``~/.kube/config``)."""
        if path is None:
            path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
        configuration = Configuration()
        await kube_config.load_kube_config(
            config_file=None if path is None else os.fspath(path),
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
        return cls(api_client(configuration), owns_client=True, **kw)

    @classmethod
    async def from_kubeconfig_dict(
        cls, data: Mapping[str, Any], context: str | None = None, **kw: Any
    ) -> Self:
        configuration = Configuration()
        await kube_config.load_kube_config_from_dict(
            dict(data), context=context, client_configuration=configuration
        )
        return cls(api_client(configuration), owns_client=True, **kw)

    @classmethod
    def in_cluster(cls, **kw: Any) -> Self:
        """Connect with the Pod's ServiceAccount (token refreshed from its file)."""
        configuration = Configuration()
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(api_client(configuration), owns_client=True, **kw)

    @classmethod
    async def connect(
        cls, kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None, **kw: Any
    ) -> Self:
        """A kubeconfig when one is given or found, else the in-cluster ServiceAccount."""
        in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        if kubeconfig is None and context is None and in_pod and not os.environ.get("KUBECONFIG"):
            return cls.in_cluster(**kw)
        return await cls.from_kubeconfig(kubeconfig, context, **kw)

    async def close(self) -> None:
        if self._owns_client:
            await self.api.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def requests(self) -> Mapping[tuple[str, str], int]:
        """Requests sent so far, by (verb, HTTP code)."""
        return self.transport.requests

    # -- discovery ---------------------------------------------------------------------
    async def _discover(self, path: str) -> Any:
        return await self.transport.call("get", "GET", path, what=f"discover {path}")

    async def serves(self, api_version: str, kind: str) -> bool:
        """Whether the server serves ``kind`` in ``api_version`` (discovery, cached: a
        kind found missing is looked up again after ``Discovery.refresh_after``)."""
        return await self.discovery.resolve(api_version, kind) is not None

    async def resource(self, api_version: str, kind: str) -> ResourceInfo:
        """Where ``kind`` is served.

        Raises:
            UnknownKind: the server does not serve it.
        """
        info = await self.discovery.resolve(api_version, kind)
        if info is None:
            raise UnknownKind(
                f"the server serves no {kind} in {api_version} (is its CRD installed?)",
                status=404,
                reason="NotFound",
            )
        return info

    async def _resolved(self, ref: Ref) -> tuple[ResourceInfo, str | None]:
        info = await self.resource(ref.api_version, ref.kind)
        namespace = ref.namespace if info.namespaced else None
        if info.namespaced and not namespace:
            raise ValueError(f"{ref}: {ref.kind} is namespaced; the Ref needs a namespace")
        return info, namespace

    # -- Cluster -------------------------------------------------------------------------
    async def get(self, ref: Ref, *, subresource: str | None = None) -> dict[str, Any] | None:
        """The object (or one of its subresources, such as ``scale``), or None."""
        try:
            info, ns = await self._resolved(ref)
        except UnknownKind:
            return None
        try:
            obj = await self.transport.call(
                "get", "GET", info.path(ns, ref.name, subresource), what=f"get {_named(ref, ns)}"
            )
        except ApiNotFound:
            return None
        return _with_kind(obj, info) if subresource is None else dict(obj)

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        try:
            result = await self.list_with_version(api_version, kind, namespace)
        except UnknownKind:
            return []
        return sorted(
            result.items,
            key=lambda o: (str(_meta(o).get("namespace", "")), str(_meta(o).get("name", ""))),
        )

    async def list_with_version(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ListResult:
        """Every object of a kind, page by page, with the list's resourceVersion.

        Raises:
            UnknownKind: the kind is not served.
            Gone: the list expired between pages (list again).
        """
        info = await self.resource(api_version, kind)
        path = info.path(namespace or None)
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query = [("limit", str(_PAGE))]
            if token:
                query.append(("continue", token))
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            page = await self.transport.call(
                "list",
                "GET",
                path,
                what=f"list {kind} in {namespace or 'all namespaces'}",
                query=query,
            )
            items.extend(_with_kind(o, info) for o in page.get("items") or ())
            meta = page.get("metadata") or {}
            token = str(meta.get("continue") or "")
            if not token:
                return ListResult(items, str(meta.get("resourceVersion") or ""))

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        timeout_seconds: int = 300,
        bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Watch events (``{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}``)
        from ``resource_version`` until the server ends the watch (``timeout_seconds``).

        An ``ERROR`` event's object is a Status (410 ``Expired``: list again).  Use it
        with ``contextlib.aclosing`` so an abandoned watch closes its connection.
        """
        info = await self.resource(api_version, kind)
        query = [("watch", "true"), ("timeoutSeconds", str(int(timeout_seconds)))]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if bookmarks:
            query.append(("allowWatchBookmarks", "true"))
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        lines = self.transport.stream(
            info.path(namespace or None),
            what=f"watch {kind} in {namespace or 'all namespaces'}",
            query=query,
            read_timeout=timeout_seconds + 30.0,
        )
        async with aclosing(lines):
            async for line in lines:
                try:
                    event = json.loads(line)
                except ValueError as exc:
                    raise Unavailable(f"watch {kind}: unreadable event: {exc}") from None
                if not isinstance(event, dict):
                    continue
                obj = event.get("object")
                if isinstance(obj, dict) and event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    event["object"] = _with_kind(obj, info)
                yield event

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create ``obj``; a ``status`` in it is stored as well (through ``/status``).

        Raises:
            AlreadyExists: an object with that name exists.
        """
        ref = Ref.of(obj)
        info, ns = await self._resolved(ref)
        body = copy_to_write(obj, f"create {_named(ref, ns)}", copy_json_body)
        body.get("metadata", {}).pop("resourceVersion", None)
        status = body.get("status")
        created = await self.transport.call(
            "create", "POST", info.path(ns), what=f"create {_named(ref, ns)}", body=body
        )
        created = _with_kind(created, info)
        if status is not None and "status" in info.subresources and created.get("status") != status:
            created = await self._put_status(
                info, ns, created, status, what=f"create {_named(ref, ns)}"
            )
        return created

    async def patch(
        self, ref: Ref, patch: Mapping[str, Any], *, subresource: str | None = None
    ) -> dict[str, Any]:
        """Apply a JSON merge patch; ``metadata.resourceVersion`` in it is a precondition.

        Raises:
            NotFound: no such object.
            Conflict: the precondition failed.
        """
        info, ns = await self._resolved(ref)
        what = f"patch {_named(ref, ns)}"
        body = copy_to_write(patch, what, copy_json_body)
        if subresource is not None or "status" not in body or "status" not in info.subresources:
            result = await self.transport.call(
                "patch",
                "PATCH",
                info.path(ns, ref.name, subresource),
                what=what,
                body=body,
                content_type=MERGE_PATCH,
            )
            return _with_kind(result, info) if subresource is None else dict(result)
        # The main resource ignores status: send it to /status, after the rest.
        status_patch: dict[str, Any] = {"status": body.pop("status")}
        rv = (body.get("metadata") or {}).get("resourceVersion")
        rest = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
        if rest and rest != {"metadata": {"resourceVersion": rv}}:
            done = await self.transport.call(
                "patch",
                "PATCH",
                info.path(ns, ref.name),
                what=what,
                body=body,
                content_type=MERGE_PATCH,
            )
            rv = rv and _meta(done).get("resourceVersion")
        if rv is not None:
            status_patch["metadata"] = {"resourceVersion": rv}
        result = await self.transport.call(
            "patch",
            "PATCH",
            info.path(ns, ref.name, "status"),
            what=what,
            body=status_patch,
            content_type=MERGE_PATCH,
        )
        return _with_kind(result, info)

    async def delete(self, ref: Ref) -> None:
        """Delete the object; the garbage collector deletes what it owns, in the background.

        Raises:
            NotFound: no such object.
        """
        info, ns = await self._resolved(ref)
        await self.transport.call(
            "delete",
            "DELETE",
            info.path(ns, ref.name),
            what=f"delete {_named(ref, ns)}",
            query=[("propagationPolicy", "Background")],
        )

    async def replace_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the status of ``obj`` (the rest of ``obj`` is ignored).

        Raises:
            NotFound: no such object.
            Conflict: ``obj``'s ``metadata.resourceVersion`` is set and stale.
        """
        ref = Ref.of(obj)
        info, ns = await self._resolved(ref)
        what = f"replace status of {_named(ref, ns)}"
        wanted = _meta(obj).get("resourceVersion")
        status = copy_to_write(obj.get("status"), what, copy_json_body)
        for _ in range(_STATUS_RETRIES):
            minimal = (
                wanted is not None
                and "status" in info.subresources
                and not builtin_group(info.group)
            )
            if minimal:
                # A custom resource's /status takes only the status from the body.
                current: dict[str, Any] = {
                    "apiVersion": ref.api_version,
                    "kind": ref.kind,
                    "metadata": {"name": ref.name, "resourceVersion": str(wanted)},
                }
                if ns:
                    current["metadata"]["namespace"] = ns
            else:
                found = await self.get(ref)
                if found is None:
                    raise ApiNotFound(f"{what}: not found", status=404, reason="NotFound")
                current = found
                if wanted is not None:
                    current["metadata"]["resourceVersion"] = str(wanted)
            try:
                return await self._put_status(info, ns, current, status, what=what)
            except ApiConflict:
                if wanted is not None:
                    raise
                # No precondition was asked for: someone wrote meanwhile; read again.
        raise ApiConflict(f"{what}: kept conflicting", status=409, reason="Conflict")

    async def _put_status(
        self,
        info: ResourceInfo,
        ns: str | None,
        current: Mapping[str, Any],
        status: Any,
        *,
        what: str,
    ) -> dict[str, Any]:
        body = copy_json_body(current)
        if status is None:
            body.pop("status", None)
        else:
            body["status"] = status
        name = str(_meta(current).get("name", ""))
        sub = "status" if "status" in info.subresources else None
        result = await self.transport.call(
            "update", "PUT", info.path(ns, name, sub), what=what, body=body, query=_STRICT
        )
        return _with_kind(result, info)

    # -- beyond the Cluster protocol ----------------------------------------------------
    async def apply(self, obj: Mapping[str, Any], *, force: bool = True) -> dict[str, Any]:
        """Server-side apply ``obj`` as :attr:`field_manager` (creates it if missing)."""
        ref = Ref.of(obj)
        info, ns = await self._resolved(ref)
        query = [("fieldManager", self.field_manager)]
        if force:
            query.append(("force", "true"))
        result = await self.transport.call(
            "patch",
            "PATCH",
            info.path(ns, ref.name),
            what=f"apply {_named(ref, ns)}",
            body=copy_to_write(obj, f"apply {_named(ref, ns)}", copy_json_body),
            content_type=APPLY_PATCH,
            query=query,
        )
        return _with_kind(result, info)

    async def request(
        self,
        verb: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> Any:
        """Any other API call (``POST .../serviceaccounts/x/token``), rate limited,
        retried and counted like the rest."""
        return await self.transport.call(
            verb,
            method,
            path,
            what=f"{method} {path}",
            body=body,
            query=query,
            content_type=content_type,
        )


def _with_kind(obj: Any, info: ResourceInfo) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise KubeError(f"unexpected response for {info.kind}: {type(obj).__name__}")
    obj.setdefault("apiVersion", info.api_version)
    obj.setdefault("kind", info.kind)
    return obj


def _named(ref: Ref, namespace: str | None) -> str:
    """``Rollout ns/web``, or ``CustomResourceDefinition x`` for cluster-scoped kinds."""
    return f"{ref.kind} {namespace + '/' if namespace else ''}{ref.name}"
