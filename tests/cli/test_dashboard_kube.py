"""``progressive dashboard`` on the local control plane, in a real browser, with the
controller running as its own process: the page follows the cluster's watches, and its
buttons (the client's commands on the API server) change the phase."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from selenium.webdriver.remote.webdriver import WebDriver

from progressive.cli import main
from tests.browser import chromium, dashboard, press, status_is, text_of, texts_of, wait_for

pytestmark = pytest.mark.kube

ROLLOUT = """
apiVersion: progressive.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example.invalid/web:1}]
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {}}]
"""


@pytest.fixture
def controller(crds: Path, kube_namespace: str) -> Iterator[None]:
    """``progressive controller`` on the namespace, stopped (SIGTERM) afterwards."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "progressive",
            "controller",
            f"--kubeconfig={crds}",
            f"--namespace={kube_namespace}",
            "--api-groups=progressive.dev",
            "--shutdown-grace=2",
            "--metrics-address=0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def cli(kubeconfig: Path, namespace: str, *args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(
        main, ["--kubeconfig", str(kubeconfig), "-n", namespace, *args], input=input
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_buttons_on_a_real_cluster(crds: Path, kube_namespace: str, controller: None) -> None:
    cli(crds, kube_namespace, "create", "-f", "-", input=ROLLOUT)
    with dashboard(f"--kubeconfig={crds}", "-n", kube_namespace) as url, chromium() as browser:
        browser.get(url)
        row = f'tr[data-rollout="{kube_namespace}/web"] td'
        wait_for(browser, "web Healthy in the list", lambda d: "✔ Healthy" in texts_of(d, row))
        # a change made elsewhere reaches the open page through the watches
        cli(crds, kube_namespace, "set", "image", "web", "web=example.invalid/web:2")
        wait_for(browser, "web Paused in the list", lambda d: "‖ Paused" in texts_of(d, row))
        assert texts_of(browser, row)[4:7] == ["1/2", "50", "50"], "one pod of two"

        browser.get(f"{url}rollouts/{kube_namespace}/web")
        wait_for(browser, "the page Paused", lambda d: status_is(d, "Paused"))
        press_and_see(browser, "abort", "Degraded")
        press_and_see(browser, "retry", "Paused")
        press_and_see(browser, "promote", "Healthy")
        assert text_of(browser, 'dd[data-fact="Image"]') == "example.invalid/web:2 (stable)"


def press_and_see(browser: WebDriver, action: str, phase: str) -> None:
    press(browser, action)
    wait_for(browser, f"{phase} after {action}", lambda d: status_is(d, phase))
