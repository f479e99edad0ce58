"""The dashboard's web application (Starlette): one static page, a JSON API, server-sent
event streams fed by the source's :class:`~._sources.Hub`, and the buttons' actions.

* ``GET /``, ``/rollouts/NS/NAME``: the page (static: it carries no cluster data; its
  script fetches the data and puts every string in as text, never as markup);
* ``GET /api/rollouts``, ``/api/rollouts/NS/NAME``: what the pages show, as JSON
  (:mod:`._views`);
* ``GET /api/stream``, ``/api/stream/NS/NAME``: the same as ``text/event-stream``, again
  whenever the cluster's watches report a change in that namespace (never on a timer:
  a comment line every :data:`KEEPALIVE` seconds keeps proxies from closing it);
* ``POST /api/rollouts/NS/NAME/ACTION``: promote, promote-full, abort, retry, pause,
  resume, restart, undo (:data:`~._sources.ACTIONS`, the client's commands).

Served on 127.0.0.1 by default.  The page and the API answer only to the host names
it is served as (no DNS rebinding); an action needs the header the page sends
(``X-Progressive-Dashboard``) and, when the browser says where the request comes from
(``Origin``), that it comes from the dashboard itself, so another site open in the same
browser cannot press the buttons.  A Content-Security-Policy allows the dashboard's
own script only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from importlib import resources
from typing import Any, Final

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...errors import BeingDeleted, ClusterError, Conflict, EditError, NotFound
from . import _views
from ._sources import ACTIONS, Source

__all__ = ["ACTION_HEADER", "create_app"]

ACTION_HEADER: Final = "X-Progressive-Dashboard"
KEEPALIVE: Final = 15.0  # seconds between two comment lines on an idle stream
DEBOUNCE: Final = 0.1  # seconds a burst of changes may take before a stream looks
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STATIC: Final = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class _SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                for key, value in SECURITY_HEADERS.items():
                    if key.lower().encode() not in present:
                        headers.append((key.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    source: Source, *, allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> Starlette:
    """The dashboard on ``source`` (whose :meth:`~._sources.Source.run` is running).

    Args:
        allowed_hosts: the host names the page may be asked for by (``*``: any).
    """
    page = _asset("index.html")
    assets = {name: _asset(name) for name in _STATIC}

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(assets[name], media_type=_STATIC[name])

    def scope_of(request: Request) -> str | None:
        """The namespace a list is about: the source's, or (all namespaces) the page's."""
        if source.namespace is not None:
            return source.namespace
        return request.query_params.get("namespace") or None

    async def rows(namespace: str | None) -> dict[str, Any]:
        rollouts = await source.rollouts(source.namespace)
        namespaces = sorted({str(r["metadata"].get("namespace") or "") for r in rollouts})
        shown = [
            r for r in rollouts if namespace is None or r["metadata"].get("namespace") == namespace
        ]
        sets = await source.replica_sets(namespace)
        return {
            "namespace": namespace,
            "allNamespaces": source.namespace is None,
            "namespaces": namespaces,
            "rollouts": _views.rollout_rows(shown, sets, now=source.now()),
        }

    async def detail(namespace: str, name: str) -> dict[str, Any] | None:
        rollout = await source.rollout(namespace, name)
        if rollout is None:
            return None
        objects = await source.objects(rollout)
        events = await source.events(namespace, name)
        return _views.rollout_page(rollout, objects, events, now=source.now())

    def in_scope(namespace: str) -> bool:
        return source.namespace is None or namespace == source.namespace

    async def list_json(request: Request) -> Response:
        return JSONResponse(await rows(scope_of(request)))

    async def rollout_json(request: Request) -> Response:
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        found = await detail(namespace, name) if in_scope(namespace) else None
        if found is None:
            return _error(404, f'rollout "{name}" not found in namespace "{namespace}"')
        return JSONResponse(found)

    def stream(
        namespace: str | None, compute: Callable[[], Awaitable[object]]
    ) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            last = None
            while True:
                seen = source.hub.mark(namespace)
                text = json.dumps(await compute(), sort_keys=True, ensure_ascii=False)
                if text != last:
                    yield f"data: {text}\n\n"
                    last = text
                with anyio.move_on_after(KEEPALIVE) as idle:
                    while source.hub.mark(namespace) == seen:
                        await source.hub.wait()
                if idle.cancelled_caught:
                    yield ": still here\n\n"
                else:
                    await anyio.sleep(DEBOUNCE)  # what else that burst changes

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
        )

    async def list_stream(request: Request) -> Response:
        namespace = scope_of(request)
        return stream(namespace, lambda: rows(namespace))

    async def rollout_stream(request: Request) -> Response:
        namespace, name = request.path_params["namespace"], request.path_params["name"]

        async def compute() -> object:
            found = await detail(namespace, name) if in_scope(namespace) else None
            return found if found is not None else {"gone": True, "name": name}

        return stream(namespace, compute)

    async def act(request: Request) -> Response:
        if request.headers.get(ACTION_HEADER) != "1":
            return _error(403, f"an action needs the {ACTION_HEADER} header")
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host')}":
            return _error(403, "an action must come from the dashboard's own page")
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        action = request.path_params["action"]
        if action not in ACTIONS:
            return _error(404, f"no action {action!r} (one of: {', '.join(ACTIONS)})")
        if not in_scope(namespace):
            return _error(404, f'rollout "{name}" not found in namespace "{namespace}"')
        try:
            message = await source.act(action, namespace, name)
        except NotFound as exc:
            return _error(404, str(exc))
        except (BeingDeleted, Conflict) as exc:
            return _error(409, str(exc))
        except EditError as exc:
            return _error(422, str(exc))
        except ClusterError as exc:
            return _error(502, str(exc))
        source.hub.changed(namespace)
        return JSONResponse({"message": message})

    routes = [
        Route("/", index),
        Route("/rollouts/{namespace}/{name}", index),
        Route("/static/{name}", static),
        Route("/api/rollouts", list_json),
        Route("/api/rollouts/{namespace}/{name}", rollout_json),
        Route("/api/rollouts/{namespace}/{name}/{action}", act, methods=["POST"]),
        Route("/api/stream", list_stream),
        Route("/api/stream/{namespace}/{name}", rollout_stream),
    ]
    middleware = [
        Middleware(_SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
    ]
    return Starlette(routes=routes, middleware=middleware)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)
