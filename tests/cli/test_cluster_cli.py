"""``progressive cluster up`` / ``down`` as real processes: ``up`` prints the export
line and leaves the control plane running after it exits; ``down`` stops exactly
those processes.

The test command builds the binaries first (``progressive cluster build``); a run
without them fails here rather than skipping, so a green suite always ran this."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from progressive._cluster import (
    KUBERNETES_VERSION,
    ControlPlaneState,
    cached_binaries,
    is_running,
    router_crds,
)

pytestmark = pytest.mark.kube


@pytest.fixture(autouse=True)
def _binaries_built() -> None:
    assert cached_binaries() is not None, (
        "the control plane is not built: run `progressive cluster build` "
        "(minutes when cold, from Go modules)"
    )


def _progressive(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "progressive", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_cluster_up_prints_the_export_line_and_down_stops_every_process(tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    up = _progressive("cluster", "up", "--dir", str(directory), "--nodes", "1", timeout=300)
    state = ControlPlaneState.load(directory)
    try:
        assert up.returncode == 0, up.stderr
        kubeconfig = directory / "kubeconfig"
        assert up.stdout.splitlines() == [f"export KUBECONFIG={kubeconfig}"]
        names = [str(doc["metadata"]["name"]) for doc in router_crds()]
        assert f"installed {len(names)} CRDs: {', '.join(names)}" in up.stderr
        assert state is not None
        # the command has exited; what it started runs on, detached
        assert [p.name for p in state.processes if is_running(p)] == [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        ]
        binaries = cached_binaries()
        assert binaries is not None
        kubectl = [str(binaries.path("kubectl")), f"--kubeconfig={kubeconfig}"]
        version = subprocess.run(
            [*kubectl, "version", "-o", "json"], capture_output=True, text=True, timeout=60
        )
        assert version.returncode == 0, version.stderr
        assert json.loads(version.stdout)["serverVersion"]["gitVersion"] == KUBERNETES_VERSION
        nodes = subprocess.run(
            [*kubectl, "get", "nodes", "-o", "name"], capture_output=True, text=True, timeout=60
        )
        assert nodes.stdout.split() == ["node/kwok-node-0"], nodes.stderr
    finally:
        down = _progressive("cluster", "down", "--dir", str(directory), timeout=120)
    assert down.returncode == 0, down.stderr
    assert "stopped: etcd" in down.stderr
    for process in state.processes:
        assert not is_running(process), process  # gone (or a zombie its new parent reaps)
    after = ControlPlaneState.load(directory)
    assert after is not None and after.processes == ()
    again = _progressive("cluster", "down", "--dir", str(directory), timeout=60)
    assert again.returncode == 0 and "nothing was running" in again.stderr


def test_cluster_down_without_state_says_so(tmp_path: Path) -> None:
    result = _progressive("cluster", "down", "--dir", str(tmp_path / "none"), timeout=60)
    assert result.returncode == 0
    assert "no cluster state" in result.stderr
