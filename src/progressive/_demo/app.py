"""A demo service instrumented with prometheus-client, serving its own traffic.

The app exposes ``/metrics`` on a loopback port and, in a background thread, plays
requests on *streams*: one per ``(service, track)`` (``track`` is ``stable`` or
``canary``), each with a request rate, an error ratio and a latency.  Every request is
counted as a real instrumented server would count it::

    http_requests_total{service, track, rollouts_pod_template_hash, code}  # 200 or 500
    http_request_duration_seconds_bucket{service, track, rollouts_pod_template_hash, le}

Errors are spread deterministically (the error count is exactly ``error_rate`` of the
requests, give or take one), so tests do not depend on chance.  The label
``rollouts_pod_template_hash`` stands for what Prometheus' Kubernetes discovery adds to a
pod's series; a stream's ``pod_hash`` sets it (the demo gives each release its own).
Series are created at zero as soon as a stream is set, so ``rate()`` of the errors is
0, not absent, while a stream has no error yet.  The traffic thread stops by itself
after ``max_seconds`` (one hour by default).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

import attrs
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

__all__ = ["DemoApp", "Stream"]

_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@attrs.frozen
class Stream:
    """The traffic of one service's track."""

    error_rate: float = 0.0
    latency: float = 0.05
    rps: float = 100.0
    pod_hash: str = ""

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.error_rate <= 1:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate}")
        if self.rps <= 0 or self.latency < 0:
            raise ValueError("rps must be positive and latency not negative")


class DemoApp:
    """Start with :meth:`start` (returns the port), stop with :meth:`stop`.

    Args:
        tick: seconds between two batches of requests.
        max_seconds: the traffic thread stops after this long, whatever happens.
    """

    def __init__(self, *, tick: float = 0.1, max_seconds: float = 3600.0) -> None:
        self.tick = tick
        self.max_seconds = max_seconds
        self.registry = CollectorRegistry()
        labels = ["service", "track", "rollouts_pod_template_hash"]
        self.requests = Counter(
            "http_requests", "Requests served.", [*labels, "code"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Request latency.",
            labels,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._streams: dict[tuple[str, str], Stream] = {}
        self._carry: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self.port = 0

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>``, as a scrape target."""
        return f"127.0.0.1:{self.port}"

    def set_stream(
        self,
        service: str,
        track: str,
        *,
        error_rate: float = 0.0,
        latency: float = 0.05,
        rps: float = 100.0,
        pod_hash: str = "",
    ) -> None:
        """Start (or change) the traffic of ``service``'s ``track``."""
        stream = Stream(error_rate, latency, rps, pod_hash)
        with self._lock:
            self._streams[(service, track)] = stream
            for code in ("200", "500"):
                self.requests.labels(service, track, pod_hash, code)  # exist at 0
            self.latency.labels(service, track, pod_hash)

    def stream(self, service: str, track: str) -> Stream | None:
        with self._lock:
            return self._streams.get((service, track))

    def remove_stream(self, service: str, track: str) -> None:
        with self._lock:
            self._streams.pop((service, track), None)

    def start(self) -> int:
        """Serve ``/metrics`` on a free loopback port and start the traffic."""
        if self._thread is not None:
            return self.port
        self._server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._run, name="demo-app-traffic", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> DemoApp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- traffic ---------------------------------------------------------------------
    def _take(self, key: tuple[str, str, str], amount: float) -> int:
        total = self._carry.get(key, 0.0) + amount
        whole = int(total)
        self._carry[key] = total - whole
        return whole

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        last = time.monotonic()
        while not self._stop.wait(self.tick) and time.monotonic() < deadline:
            now = time.monotonic()
            elapsed, last = now - last, now
            with self._lock:
                streams = list(self._streams.items())
            for (service, track), s in streams:
                n = self._take((service, track, "requests"), s.rps * elapsed)
                errors = min(n, self._take((service, track, "errors"), n * s.error_rate))
                labels = (service, track, s.pod_hash)
                if n - errors:
                    self.requests.labels(*labels, "200").inc(n - errors)
                if errors:
                    self.requests.labels(*labels, "500").inc(errors)
                histogram = self.latency.labels(*labels)
                for i in range(min(n, 1000)):
                    # latencies spread evenly around the mean: 0.5x .. 1.5x
                    histogram.observe(s.latency * (0.5 + (i % 11) / 10))
