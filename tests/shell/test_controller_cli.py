"""``progressive controller``: the flags deploy/controller.yaml passes and docs/kubernetes.md
documents exist, and bad values are refused before connecting."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from progressive.cli import main
from progressive.cli._controller import _address, _configure_logging, controller
from progressive.cli._install import install
from progressive.metrics._secrets import redacting, remember

ROOT = Path(__file__).resolve().parents[2]


def options() -> set[str]:
    return {opt for param in controller.params for opt in (*param.opts, *param.secondary_opts)}


def test_the_deployment_passes_flags_the_command_has() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "controller.yaml").read_text()))
    (deployment,) = [d for d in docs if d and d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[0] == "controller"
    flags = {a.split("=", 1)[0] for a in args[1:]}
    assert flags <= options()
    context = controller.make_context("controller", list(args[1:]))
    assert context.params["leader_elect"] is True
    assert context.params["metrics_address"] == "127.0.0.1:8090"
    assert context.params["health_address"] == "0.0.0.0:8081"
    assert context.params["notifications"] is False  # install's default: no such rights


def test_the_documented_flags_exist() -> None:
    text = (ROOT / "docs" / "kubernetes.md").read_text()
    documented = set(re.findall(r"`(--[a-z-]+)`", text))
    installs = {opt for param in install.params for opt in param.opts + param.secondary_opts}
    missing = documented - options() - installs - {"--memory", "--stop-at-pause"}
    assert not missing


def test_the_metrics_address() -> None:
    assert _address("127.0.0.1:8090") == ("127.0.0.1", 8090)
    assert _address(":9000") == ("0.0.0.0", 9000)
    assert _address("[::1]:9000") == ("::1", 9000)
    assert _address("0") is None
    with pytest.raises(Exception, match="HOST:PORT"):
        _address("nope")


def test_bad_lease_timings_and_groups_are_refused() -> None:
    runner = CliRunner()
    out = runner.invoke(
        main, ["controller", "--leader-elect", "--lease-duration=5", "--renew-deadline=10"]
    )
    assert out.exit_code == 2 and "--lease-duration > --renew-deadline" in out.output
    out = runner.invoke(main, ["controller", "--kubeconfig=/nonexistent/kubeconfig"])
    assert out.exit_code == 1 and "cannot connect" in out.output


@pytest.mark.parametrize(
    "flag",
    [
        "--analysis-workers",
        "--analysis-workers-per-namespace",
        "--max-response-bytes",
        "--max-series",
        "--max-samples",
    ],
)
def test_the_bounds_must_be_positive(flag: str) -> None:
    out = CliRunner().invoke(main, ["controller", f"{flag}=0"])
    assert out.exit_code == 2 and flag in out.output and "x>=1" in out.output


def test_the_log_masks_the_secrets_of_the_measurement_under_way() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        _configure_logging("info")
        log = logging.getLogger("progressive.controller")
        with redacting():
            remember("s3cret-token")
            log.error("calling http://checks/?token=%s", "s3cret-token")
        log.error("outside a measurement: %s", "s3cret-token")  # nothing to mask with
    finally:
        root.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "calling http://checks/?token=***",
        "outside a measurement: s3cret-token",
    ]
