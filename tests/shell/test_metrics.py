"""The controller's metrics: their own registry, and an endpoint a test scrapes."""

from __future__ import annotations

import importlib

import anyio
import httpx
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from progressive._shell import metrics as metrics_module
from progressive._shell.metrics import ControllerMetrics, default_metrics, serve_metrics
from progressive._shell.metrics_auth import serving_context
from progressive._shell.workqueue import WorkQueue


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_never_touch_the_global_registry_and_can_be_made_twice() -> None:
    before = set(prometheus_client.REGISTRY._names_to_collectors)
    one, two = ControllerMetrics(), ControllerMetrics()
    one.record_request("get", "200")
    assert one.registry is not two.registry
    importlib.reload(metrics_module)
    assert metrics_module.ControllerMetrics() is not None
    assert default_metrics() is default_metrics()
    assert set(prometheus_client.REGISTRY._names_to_collectors) == before


def test_a_phase_change_replaces_the_rollouts_info_series() -> None:
    m = ControllerMetrics()
    m.set_rollout("ns", "web", strategy="canary", phase="Progressing", desired=4, available=2)
    m.set_rollout("ns", "web", strategy="canary", phase="Healthy", available=4)
    got = samples(m.render().decode())
    info = {k: v for k, v in got.items() if k[0] == "progressive_rollout_info"}
    assert info == {
        (
            "progressive_rollout_info",
            (("name", "web"), ("namespace", "ns"), ("phase", "Healthy"), ("strategy", "canary")),
        ): 1.0
    }
    assert (
        got[
            (
                "progressive_rollout_replicas",
                (("name", "web"), ("namespace", "ns"), ("state", "available")),
            )
        ]
        == 4
    )
    # its error counter is there, at 0, before any error (rate() and alerts see it)
    errors = (
        "progressive_reconcile_errors_total",
        (("kind", "Rollout"), ("name", "web"), ("namespace", "ns")),
    )
    assert got[errors] == 0
    m.forget_rollout("ns", "web")
    left = samples(m.render().decode())
    assert not [k for k in left if k[0].startswith("progressive_rollout")]
    assert errors not in left, "a deleted Rollout's series go with it"


async def test_the_endpoint_serves_every_metric() -> None:
    m = ControllerMetrics()
    m.set_rollout("default", "web", strategy="blueGreen", phase="Paused")
    for code in ("200", "200", "409"):
        m.record_request("patch", code)
    with m.time_reconcile():
        pass
    for kind, name in (("AnalysisRun", "web-abc-1"), ("Rollout", "web"), ("Rollout", "web")):
        try:
            with m.time_reconcile(kind, "default", name):
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    queue = WorkQueue[str]()
    for key in "abc":
        queue.add(key)
    m.track_queue("rollouts", lambda: queue.depth)
    m.record_event("Warning", "RolloutAborted")
    m.set_leader(True)
    ready = False

    async with anyio.create_task_group() as tg:
        port = await tg.start(
            lambda task_status: serve_metrics(
                m, port=0, ready=lambda: ready, task_status=task_status
            )
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            scraped = await http.get("/metrics")
            health = await http.get("/healthz")
            not_ready = await http.get("/readyz")
            ready = True
            now_ready = await http.get("/readyz")
            missing = await http.get("/nothing")
            posted = await http.post("/metrics")
        tg.cancel_scope.cancel()

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    got = samples(scraped.text)
    assert (
        got[
            (
                "progressive_rollout_info",
                (
                    ("name", "web"),
                    ("namespace", "default"),
                    ("phase", "Paused"),
                    ("strategy", "blueGreen"),
                ),
            )
        ]
        == 1
    )
    assert got[("progressive_k8s_requests_total", (("code", "200"), ("verb", "patch")))] == 2
    assert got[("progressive_k8s_requests_total", (("code", "409"), ("verb", "patch")))] == 1
    assert got[("progressive_reconcile_duration_seconds_count", (("kind", "Rollout"),))] == 3
    # a Rollout's errors under its name; a run's (names without bound) by namespace
    errors = {k[1]: v for k, v in got.items() if k[0] == "progressive_reconcile_errors_total"}
    assert errors == {
        (("kind", "AnalysisRun"), ("name", ""), ("namespace", "default")): 1,
        (("kind", "Rollout"), ("name", "web"), ("namespace", "default")): 2,
    }
    assert got[("progressive_workqueue_depth", (("name", "rollouts"),))] == 3
    assert (
        got[("progressive_events_total", (("reason", "RolloutAborted"), ("type", "Warning")))] == 1
    )
    assert got[("progressive_leader", ())] == 1
    assert (health.status_code, not_ready.status_code, now_ready.status_code) == (200, 503, 200)
    assert (missing.status_code, posted.status_code) == (404, 405)


async def test_the_secure_endpoint_asks_authorize_and_outlives_bad_clients() -> None:
    """HTTPS with a self-signed certificate; every request's bearer token and path go to
    ``authorize`` (the kube tests use the real TokenReview/SubjectAccessReview); a
    client that speaks plain HTTP, hangs up, or a check that raises ends its own request
    only; the probes endpoint serves nothing else."""
    asked: list[tuple[str | None, str]] = []

    async def authorize(token: str | None, path: str) -> int:
        asked.append((token, path))
        if token == "boom":
            raise RuntimeError("the API server is gone")
        return {None: 401, "good": 200}.get(token, 403)

    async with anyio.create_task_group() as tg:
        port = await tg.start(
            lambda task_status: serve_metrics(
                ControllerMetrics(),
                port=0,
                tls=serving_context(),
                authorize=authorize,
                task_status=task_status,
            )
        )
        probes = await tg.start(
            lambda task_status: serve_metrics(
                ControllerMetrics(),
                port=0,
                endpoints=("/healthz", "/readyz"),
                task_status=task_status,
            )
        )
        base = f"https://127.0.0.1:{port}"
        async with httpx.AsyncClient(verify=False, trust_env=False, timeout=5) as http:

            async def get(token: str | None, path: str = "/metrics") -> int:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return (await http.get(base + path, headers=headers)).status_code

            with pytest.raises(httpx.TransportError):
                await http.get(f"http://127.0.0.1:{port}/metrics")  # not TLS
            stream = await anyio.connect_tcp("127.0.0.1", port)
            await stream.aclose()  # hangs up before the handshake
            codes = [await get(t) for t in (None, "bad", "boom", "good")]
            assert codes == [401, 403, 503, 200]
            assert await get("good", "/healthz") == 200
            plain = f"http://127.0.0.1:{probes}"
            assert (await http.get(f"{plain}/readyz")).status_code == 200
            assert (await http.get(f"{plain}/metrics")).status_code == 404
        tg.cancel_scope.cancel()
    assert asked == [(None, "/metrics"), ("bad", "/metrics"), ("boom", "/metrics")] + [
        ("good", "/metrics"),
        ("good", "/healthz"),
    ]
