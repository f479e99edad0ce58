"""`progressive demo --prometheus`: the demo's story on a real Prometheus."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import progressive._demo.prometheus as local_prometheus
from progressive.cli import main

pytestmark = pytest.mark.prometheus


def test_the_demo_with_a_real_prometheus(prometheus_binary: str) -> None:
    result = CliRunner().invoke(main, ["demo", "--prometheus", "--plain", "--speed", "0"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Prometheus at http://127.0.0.1:" in out
    assert "✔ Release 1: Healthy" in out
    assert "✖ Release 2: Degraded" in out
    assert 'Metric "storefront-burn-rate-5m-1h" assessed Failed' in " ".join(out.split())


def test_without_the_binary_the_demo_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_prometheus, "find_prometheus", lambda: None)
    result = CliRunner().invoke(main, ["demo", "--prometheus", "--plain"])
    assert result.exit_code == 1
    assert "scripts/install-prometheus" in result.output
