"""The controller's Prometheus metrics and the HTTP endpoint that serves them.

Every metric lives in the :class:`ControllerMetrics`' *own*
``prometheus_client.CollectorRegistry``, never the global one: a library that runs
inside other people's processes must not register names there (registering a name
twice raises, in tests and in embedders).  :func:`default_metrics` creates the
process-wide instance once, on first use; importing this module registers nothing.

=====================================================  =================================
``progressive_rollout_info{namespace,name,strategy,phase}``  1 per Rollout (Argo's
                                                       ``rollout_info``)
``progressive_rollout_replicas{namespace,name,state}``  desired / updated / available
``progressive_reconcile_duration_seconds{kind}``       histogram
``progressive_reconcile_errors_total{kind,namespace,name}``  reconciles that raised
                                                       (``name``: the Rollout's; "" for
                                                       other keys)
``progressive_k8s_requests_total{verb,code}``          API requests (Argo's
                                                       ``controller_clientset_k8s_request_total``)
``progressive_workqueue_depth{name}``                  keys ready to be handled
``progressive_events_total{type,reason}``              Kubernetes Events emitted
``progressive_events_dropped_total{reason}``           Events shed: overflow, error, shutdown
``progressive_event_requests_total``                   API requests writing Events
``progressive_k8s_client_wait_seconds_total{lane}``    time requests waited for a
                                                       client-side token, by lane
``progressive_notifications_total{service,...}``      deliveries by service, trigger and
                                                       outcome: sent, retried, failed
``progressive_leader``                                 1 while this replica leads
=====================================================  =================================

:func:`serve_metrics` serves ``/metrics`` (and ``/healthz``, ``/readyz`` for probes) on
a small anyio HTTP server, loopback by default; over HTTPS and only to authorized bearer
tokens when given a TLS context and an ``authorize`` check
(:mod:`progressive._shell.metrics_auth`).

Cardinality is bounded by what the cluster holds: the per-Rollout series (``namespace``,
``name``) exist while the Rollout does and go with it (:meth:`forget_rollout`); the
other labels take a few values each (kinds, verbs, codes, event reasons).  A Rollout's
reconcile-error counter is made at 0 when the Rollout is first recorded, so that
``rate()`` and alerts see it before its first error.  AnalysisRun and Experiment keys,
whose names grow with every revision, count their errors by namespace alone.
``deploy/grafana`` and ``deploy/prometheus`` query these series (a test checks that they
exist with the labels queried).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from typing import Any, Final

import anyio
import anyio.abc
from anyio.streams.tls import TLSListener
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ..core._names import ROLLOUT

__all__ = [
    "DEFAULT_METRICS_PORT",
    "ENDPOINTS",
    "Authorize",
    "ControllerMetrics",
    "default_metrics",
    "serve_metrics",
]

DEFAULT_METRICS_PORT: Final = 8090  # Argo Rollouts' controller uses the same
_MAX_REQUEST: Final = 16 * 1024
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ControllerMetrics:
    """The controller's metrics in a registry of their own (``self.registry``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.rollout_info = Gauge(
            "progressive_rollout_info",
            "Information about a Rollout: its strategy and phase (always 1).",
            ["namespace", "name", "strategy", "phase"],
            registry=r,
        )
        self.rollout_replicas = Gauge(
            "progressive_rollout_replicas",
            "Replicas of a Rollout by state (desired, updated, available).",
            ["namespace", "name", "state"],
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "progressive_reconcile_duration_seconds",
            "Time one reconcile took.",
            ["kind"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.reconcile_errors = Counter(
            "progressive_reconcile_errors",
            "Reconciles that raised an error, by key kind and, for a Rollout, its name.",
            ["kind", "namespace", "name"],
            registry=r,
        )
        self.k8s_requests = Counter(
            "progressive_k8s_requests",
            "Requests to the Kubernetes API by verb and HTTP code ('error': no response).",
            ["verb", "code"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "progressive_workqueue_depth",
            "Keys in a work queue ready to be handled.",
            ["name"],
            registry=r,
        )
        self.events = Counter(
            "progressive_events",
            "Kubernetes Events emitted, by type and reason.",
            ["type", "reason"],
            registry=r,
        )
        self.events_dropped = Counter(
            "progressive_events_dropped",
            "Kubernetes Events shed: the queue was full (overflow), the server refused "
            "them (error), or they were still queued at shutdown.",
            ["reason"],
            registry=r,
        )
        self.event_requests = Counter(
            "progressive_event_requests",
            "API requests writing Kubernetes Events (creates, count patches, reads).",
            registry=r,
        )
        self.client_wait = Counter(
            "progressive_k8s_client_wait_seconds",
            "Seconds API requests waited for a client-side rate-limit token, by lane "
            "(API group; 'kubernetes' for Kubernetes' own groups).",
            ["lane"],
            registry=r,
        )
        self.notifications = Counter(
            "progressive_notifications",
            "Notification deliveries by service, trigger and outcome (sent, retried, failed).",
            ["service", "trigger", "outcome"],
            registry=r,
        )
        self.leader = Gauge(
            "progressive_leader",
            "1 while this controller replica holds the leader Lease.",
            registry=r,
        )
        self._rollouts: dict[tuple[str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()

    # -- rollouts ----------------------------------------------------------------------
    def set_rollout(
        self,
        namespace: str,
        name: str,
        *,
        strategy: str,
        phase: str,
        desired: int | None = None,
        updated: int | None = None,
        available: int | None = None,
    ) -> None:
        """Record a Rollout's strategy (``canary``/``blueGreen``) and phase."""
        key = (namespace, name)
        with self._lock:
            old = self._rollouts.get(key)
            if old is not None and old != (strategy, phase):
                with contextlib.suppress(KeyError):
                    self.rollout_info.remove(namespace, name, *old)
            self._rollouts[key] = (strategy, phase)
        self.rollout_info.labels(namespace, name, strategy, phase).set(1)
        self.reconcile_errors.labels(ROLLOUT, namespace, name)  # 0 until its first error
        for state, value in (("desired", desired), ("updated", updated), ("available", available)):
            if value is not None:
                self.rollout_replicas.labels(namespace, name, state).set(value)

    def forget_rollout(self, namespace: str, name: str) -> None:
        """A deleted Rollout: drop its series."""
        with self._lock:
            old = self._rollouts.pop((namespace, name), None)
        if old is not None:
            with contextlib.suppress(KeyError):
                self.rollout_info.remove(namespace, name, *old)
        for state in ("desired", "updated", "available"):
            with contextlib.suppress(KeyError):
                self.rollout_replicas.remove(namespace, name, state)
        with contextlib.suppress(KeyError):
            self.reconcile_errors.remove(ROLLOUT, namespace, name)

    # -- the rest ----------------------------------------------------------------------
    @contextlib.contextmanager
    def time_reconcile(
        self, kind: str = ROLLOUT, namespace: str = "", name: str = ""
    ) -> Iterator[None]:
        """``with metrics.time_reconcile(kind, namespace, name): ...`` observes the
        duration and counts an error: a Rollout's under its name, another key's under
        its namespace only (their names are not bounded)."""
        start = time.perf_counter()
        try:
            yield
        except Exception:
            self.reconcile_errors.labels(kind, namespace, name if kind == ROLLOUT else "").inc()
            raise
        finally:
            self.reconcile_duration.labels(kind).observe(time.perf_counter() - start)

    def record_request(self, verb: str, code: str) -> None:
        """A :data:`~progressive._shell.kube.RequestHook`: pass it as ``on_request``."""
        self.k8s_requests.labels(verb, code).inc()

    def track_queue(self, name: str, depth: Callable[[], int]) -> None:
        """Report ``depth()`` (``lambda: queue.depth``) at every scrape."""
        self.queue_depth.labels(name).set_function(lambda: float(depth()))

    def record_event(self, type_: str, reason: str) -> None:
        self.events.labels(type_, reason).inc()

    def record_events_dropped(self, reason: str, count: int) -> None:
        self.events_dropped.labels(reason).inc(count)

    def record_event_request(self) -> None:
        self.event_requests.inc()

    def record_client_wait(self, lane: str, seconds: float) -> None:
        """A :data:`~progressive._shell.ratelimit.WaitHook`: pass it as ``on_wait``."""
        self.client_wait.labels(lane).inc(seconds)

    def record_notification(self, service: str, trigger: str, outcome: str) -> None:
        """A delivery attempt's outcome: ``sent``, ``retried`` or ``failed`` (given up)."""
        self.notifications.labels(service, trigger, outcome).inc()

    def set_leader(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def render(self) -> bytes:
        """The exposition text a scrape gets."""
        return generate_latest(self.registry)


_default: ControllerMetrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> ControllerMetrics:
    """The process-wide metrics, created on the first call."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ControllerMetrics()
        return _default


# -- the endpoint ----------------------------------------------------------------------------


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


#: What a request may ask for, by default: the metrics and the probes.
ENDPOINTS: Final = ("/metrics", "/healthz", "/readyz")
_STATUS: Final = {
    401: "401 Unauthorized",
    403: "403 Forbidden",
    503: "503 Service Unavailable",
}

#: ``await authorize(bearer_token_or_None, path)`` -> an HTTP status (200: allowed).
Authorize = Callable[[str | None, str], Awaitable[int]]


def _bearer(head: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip().decode("latin-1")
    return None


async def _reply(
    data: bytes,
    metrics: ControllerMetrics,
    ready: Callable[[], bool],
    endpoints: Collection[str],
    authorize: Authorize | None,
) -> bytes:
    line = data.split(b"\r\n", 1)[0].decode("latin-1").split()
    if len(line) < 2:
        return _response("400 Bad Request", "text/plain", b"bad request\n")
    if line[0] not in ("GET", "HEAD"):
        return _response("405 Method Not Allowed", "text/plain", b"method not allowed\n")
    path = line[1].split("?", 1)[0]
    if path not in endpoints:
        return _response("404 Not Found", "text/plain", b"not found\n")
    if authorize is not None:
        try:
            decision = await authorize(_bearer(data.split(b"\r\n\r\n", 1)[0]), path)
        except Exception:  # a broken check answers 503, and the server goes on
            decision = 503
        if decision != 200:
            status = _STATUS.get(decision, "403 Forbidden")
            return _response(status, "text/plain", status.split(" ", 1)[1].lower().encode() + b"\n")
    if path == "/metrics":
        return _response("200 OK", CONTENT_TYPE_LATEST, metrics.render())
    if path == "/readyz" and not ready():
        return _response("503 Service Unavailable", "text/plain", b"not ready\n")
    return _response("200 OK", "text/plain", b"ok\n")


async def _handle(
    stream: anyio.abc.ByteStream,
    metrics: ControllerMetrics,
    ready: Callable[[], bool],
    endpoints: Collection[str],
    authorize: Authorize | None,
) -> None:
    """One request; never raises (an error here would stop the server): a client that
    goes away, or a TLS handshake or shutdown that fails, ends this request alone."""
    gone = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)
    try:
        async with stream:
            data = b""
            with anyio.move_on_after(5):
                while b"\r\n\r\n" not in data and len(data) < _MAX_REQUEST:
                    try:
                        chunk = await stream.receive(4096)
                    except gone:
                        break
                    data += chunk
            with anyio.move_on_after(10):
                reply = await _reply(data, metrics, ready, endpoints, authorize)
                if data.startswith(b"HEAD "):
                    reply = reply.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                await stream.send(reply)
    except (*gone, ssl.SSLError, OSError):
        pass


async def serve_metrics(
    metrics: ControllerMetrics | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_METRICS_PORT,
    ready: Callable[[], bool] = lambda: True,
    endpoints: Collection[str] = ENDPOINTS,
    tls: ssl.SSLContext | None = None,
    authorize: Authorize | None = None,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` until cancelled.

    Start it with ``port = await tg.start(serve_metrics, metrics)``: ``port=0`` picks a
    free port, and the port bound is what ``start`` returns.

    Args:
        host: the address to listen on (loopback by default).
        ready: what ``/readyz`` reports (say, informers synced).
        endpoints: the paths served (the rest: 404), e.g. only the probes.
        tls: serve HTTPS with this context
            (:func:`~progressive._shell.metrics_auth.serving_context`).
        authorize: asked about every request's bearer token and path
            (:class:`~progressive._shell.metrics_auth.TokenAuthorizer`); None: anyone.
    """
    chosen = metrics if metrics is not None else default_metrics()
    tcp = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = int(tcp.extra(anyio.abc.SocketAttribute.local_port))
    listener: anyio.abc.Listener[Any] = (
        tcp if tls is None else TLSListener(tcp, tls, handshake_timeout=5)
    )
    async with listener:
        task_status.started(bound)
        await listener.serve(lambda stream: _handle(stream, chosen, ready, endpoints, authorize))
