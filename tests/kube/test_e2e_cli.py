"""End to end on the real control plane, as a user runs it: ``progressive controller``
(leader election, metrics endpoint, graceful stop on SIGTERM) and the release example
(examples/release/release.py) following a rollout to its outcome."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from progressive import client
from progressive._cluster import LocalControlPlane
from progressive._cluster._processes import free_ports
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive.cli._install import install_objects, manifests

from ._e2e import (
    as_service_account,
    controller,
    controller_process,
    create_all,
    phase_is,
    progressive_controller,
    rollout,
    running,
    services,
    until,
)

pytestmark = pytest.mark.kube

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_progressive_controller_serves_metrics_and_stops_gracefully(
    kube: KubeCluster, sa_config: dict[str, Any], namespace: str, tmp_path: Path
) -> None:
    """With the rights of a namespaced install: its Lease in the test's namespace."""
    port, health = free_ports(2)
    own = tmp_path / "kubeconfig"
    own.write_text(yaml.safe_dump(sa_config))
    argv = progressive_controller(
        own,
        namespace,
        "--leader-elect",
        f"--lease-namespace={namespace}",
        "--lease-name=progressive-controller",
        "--identity=cli-1",
        "--lease-duration=3",
        "--renew-deadline=2",
        "--retry-period=0.5",
        f"--metrics-address=127.0.0.1:{port}",
        f"--health-address=127.0.0.1:{health}",
    )
    await create_all(kube, *services(namespace), rollout(namespace, steps=[], router=None))
    async with controller_process(argv) as stop:
        await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"), seconds=30)
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            base, probes = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{health}"
            assert (await http.get(f"{probes}/readyz")).status_code == 200
            assert (await http.get(f"{probes}/metrics")).status_code == 404, "probes only"
            assert (await http.get(f"{base}/readyz")).status_code == 404, "metrics only"
            got = samples((await http.get(f"{base}/metrics")).text)
        labels = (("name", "web"), ("namespace", namespace), ("phase", "Healthy"))
        assert got[("progressive_rollout_info", (*labels, ("strategy", "canary")))] == 1
        assert got[("progressive_reconcile_duration_seconds_count", (("kind", "Rollout"),))] >= 1
        assert got[("progressive_k8s_requests_total", (("code", "200"), ("verb", "list")))] >= 1
        assert ("progressive_workqueue_depth", (("name", "rollouts"),)) in got
        assert got[("progressive_leader", ())] == 1
        await stop()
    lease = await kube.get(
        Ref("coordination.k8s.io/v1", "Lease", namespace, "progressive-controller")
    )
    assert lease is not None and not lease["spec"].get("holderIdentity"), "released"


async def test_the_release_example_follows_a_rollout_to_healthy(
    kube: KubeCluster, sa: KubeCluster, namespace: str, control_plane: LocalControlPlane
) -> None:
    steps = [{"setWeight": 30}, {"pause": {"duration": "1s"}}, {"setWeight": 60}]
    await create_all(kube, *services(namespace), rollout(namespace, steps=steps))
    async with running(controller(sa, namespace)):
        await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
        argv = [
            sys.executable,
            str(ROOT / "examples/release/release.py"),
            f"--kubeconfig={control_plane.kubeconfig}",
            f"--namespace={namespace}",
            "--timeout=60",
            "web",
            "app",
            "example.invalid/web:2",
        ]
        done = await anyio.run_process(argv, check=False)
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    lines = out.splitlines()
    assert lines[0] == f"set app=example.invalid/web:2 on Rollout {namespace}/web"
    assert any("weight 30%" in line for line in lines), out
    events = [line for line in lines if line.startswith("  event ")]
    assert "  event  Normal SetWeight: Set canary weight to 30" in events, out
    # Events land a moment after the status they explain (written in the background);
    # the script prints those written within a second after Healthy too
    weights = [line for line in events if "SetWeight" in line]
    assert weights[-1] == "  event  Normal SetWeight: Set canary weight to 0", out
    assert lines[-1].startswith(f"HEALTHY: {namespace}/web: Healthy")
    assert (await phase_is(kube, namespace, "Healthy", image="example.invalid/web:2")) is not None


async def test_the_release_example_reports_a_missing_rollout(
    namespace: str, control_plane: LocalControlPlane
) -> None:
    argv = [
        sys.executable,
        str(ROOT / "examples/release/release.py"),
        f"--kubeconfig={control_plane.kubeconfig}",
        f"--namespace={namespace}",
        "nope",
        "app",
        "x:1",
    ]
    done = await anyio.run_process(argv, check=False)
    assert done.returncode == 1
    assert f'ERROR: rollout "nope" not found in namespace "{namespace}"' in done.stdout.decode()


async def test_the_controller_runs_with_its_service_account_rights(
    kube: KubeCluster, namespace: str, control_plane: LocalControlPlane
) -> None:
    docs = [d for d in manifests() if d["kind"] not in ("Deployment", "Service")]
    await install_objects(kube, docs)  # the RBAC of deploy/, as `progressive install` does
    steps = [{"setWeight": 50}, {"pause": {"duration": "1s"}}]
    await create_all(kube, *services(namespace), rollout(namespace, steps=steps))
    async with as_service_account(kube, control_plane) as sa:
        # every API group the server serves and the ServiceAccount may list
        ctl = controller(sa, namespace, api_groups=None)
        async with running(ctl):
            # argoproj.io is not served here: reconciled should its CRDs be installed
            assert ctl.api_groups == ("argoproj.io/v1alpha1", "progressive.dev/v1alpha1")
            await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"))
            await client.set_image(kube, namespace, "web", "app", "example.invalid/web:2")
            final = await client.wait_for(kube, namespace, "web", timeout=30)
        forbidden = {k: n for k, n in sa.requests.items() if k[1] == "403"}
        assert not forbidden, forbidden
    assert final.stable == final.current
