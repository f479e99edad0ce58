"""A real Prometheus for the tests marked ``prometheus``.

``scripts/test`` installs Debian's prometheus (``scripts/install-prometheus``) before
pytest runs.  Without the binary these tests fail with that hint; set
``PROGRESSIVE_SKIP_PROMETHEUS=1`` to skip them instead.

The ``stack`` fixture (one per module) starts the demo app (:mod:`progressive._demo.app`)
with one service per scenario, so that scenarios never see each other's traffic, and a
Prometheus scraping it every second with Pyrra-style burn-rate recording rules for the
SLO scenarios.  It waits until the rules have produced a value for every SLO before the
first test.  On failure, the tail of Prometheus' log is attached to the report (the
work directory is kept in pytest's tmp dir).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from progressive._demo.app import DemoApp
from progressive._demo.prometheus import INSTALL_HINT, PrometheusServer, find_prometheus
from progressive.core._slo import SLO, pyrra_recording_rules

# The scenarios' canary error ratios; stable traffic errs at 0.1% everywhere.
SERVICES = {
    "healthy": 0.001,
    "bad": 0.20,
    "stopped": 0.001,
    "slo-pass": 0.005,  # 0.5x the 99% SLO's budget
    "slo-fail": 0.20,  # 20x: over the fast-burn factor (14)
    "counters": 0.20,
}


def slo_for(service: str) -> SLO:
    """The canary SLO of a scenario's service (99%, Pyrra's 28 days)."""
    total = f'http_requests_total{{job="app",service="{service}",track="canary"}}'
    errors = total[:-1] + ',code=~"5.."}'
    return SLO(f"{service}-canary", 0.99, total=total, errors=errors)


SLO_SERVICES = ("slo-pass", "slo-fail")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "prometheus: runs against a real Prometheus server (scripts/install-prometheus)"
    )


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    binary = find_prometheus()
    if binary is None:
        if os.environ.get("PROGRESSIVE_SKIP_PROMETHEUS") == "1":
            pytest.skip(INSTALL_HINT)
        pytest.fail(INSTALL_HINT)
    return binary


@attrs.define
class Stack:
    app: DemoApp
    prometheus: PrometheusServer
    binary: str

    @property
    def address(self) -> str:
        return self.prometheus.address


_servers: list[PrometheusServer] = []


@pytest.fixture(scope="module")
def stack(prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    app = DemoApp(max_seconds=600)
    for service, error_rate in SERVICES.items():
        app.set_stream(service, "stable", error_rate=0.001)
        app.set_stream(service, "canary", error_rate=error_rate)
    app.start()
    server = PrometheusServer(
        prometheus_binary,
        tmp_path_factory.mktemp("prometheus"),
        targets=[app.target],
        rule_groups=[pyrra_recording_rules(slo_for(s)) for s in SLO_SERVICES],
    )
    _servers.append(server)
    try:
        server.start()
        for service in SLO_SERVICES:
            server.wait_for(f'http_requests:burnrate5m{{slo="{service}-canary"}}')
        server.wait_for('sum(rate(http_requests_total{service="healthy"}[10s]))')
        yield Stack(app, server, prometheus_binary)
    finally:
        server.close()
        _servers.remove(server)
        app.stop()


@pytest.fixture
def start_prometheus(
    prometheus_binary: str, tmp_path: Path
) -> Iterator[Callable[..., PrometheusServer]]:
    """Start another Prometheus (for a test that stops it); stopped at the end."""
    started: list[PrometheusServer] = []

    def start(**options: object) -> PrometheusServer:
        server = PrometheusServer(prometheus_binary, tmp_path / f"p{len(started)}", **options)  # type: ignore[arg-type]
        started.append(server)
        _servers.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.close()
        _servers.remove(server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for server in list(_servers):
            report.sections.append((f"prometheus log ({server.workdir})", server.log_tail(60)))
