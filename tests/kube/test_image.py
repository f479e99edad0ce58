"""The controller image (scripts/build-image: an OCI archive built with mmdebstrap and
umoci, cached by content) runs: its root file system unpacked from the archive, its
entrypoint and command run as its user under unshare + chroot, with the rights of a
namespaced install, against the local control plane on 127.0.0.1, reconciles a Rollout
to Healthy and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive import _deploy
from progressive._cluster._processes import free_ports
from progressive._shell.kube import KubeCluster

from ._e2e import controller_process, create_all, phase_is, rollout, services, until

pytestmark = pytest.mark.kube

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image, built (or found cached) and unpacked: ``rootfs/`` and ``config.json``."""
    assert os.geteuid() == 0, "unpacking and chroot need root (CI runs as root)"
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-image")],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert built.returncode == 0, built.stderr
    archive = Path(built.stdout.strip())
    assert archive.name == f"progressive-{_deploy.image().rsplit(':', 1)[1]}.oci.tar"
    where = tmp_path_factory.mktemp("image")
    with tarfile.open(archive) as tar:
        tar.extractall(where / "oci", filter="tar")
    (tag,) = [
        m["annotations"]["org.opencontainers.image.ref.name"]
        for m in json.loads((where / "oci" / "index.json").read_text())["manifests"]
    ]
    assert f":{tag}" in _deploy.image(), "the tag is the version deploy/ names"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{where / 'oci'}:{tag}", str(where / "bundle")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return where / "bundle"


async def test_the_image_entrypoint_reconciles_a_rollout(
    bundle: Path, kube: KubeCluster, sa_config: dict[str, Any], namespace: str
) -> None:
    process_config = json.loads((bundle / "config.json").read_text())["process"]
    user = process_config["user"]
    assert (user["uid"], user["gid"]) == (65532, 65532), "not root"
    argv = process_config["args"]
    assert argv == ["/opt/progressive/bin/progressive", "controller"]
    rootfs = bundle / "rootfs"
    # what the Pod mounts: a writable /tmp (emptyDir), here holding the kubeconfig
    kubeconfig = rootfs / "tmp" / f"kubeconfig-{namespace}"
    kubeconfig.write_text(yaml.safe_dump(sa_config))
    os.chown(kubeconfig, user["uid"], user["gid"])
    (health,) = free_ports(1)
    command = [
        # a mount and UTS namespace of its own, the host's network (the plane is on
        # 127.0.0.1); unshare, chroot and env exec each other, so SIGTERM reaches it
        "unshare",
        "--mount",
        "--uts",
        "chroot",
        f"--userspec={user['uid']}:{user['gid']}",
        str(rootfs),
        "/usr/bin/env",
        "-i",
        f"--chdir={process_config.get('cwd') or '/'}",
        *process_config["env"],
        *argv,
        f"--kubeconfig=/tmp/{kubeconfig.name}",
        f"--namespace={namespace}",
        "--api-groups=progressive.dev",
        "--leader-elect",
        f"--lease-namespace={namespace}",
        "--identity=image",
        "--metrics-address=0",
        f"--health-address=127.0.0.1:{health}",
        "--shutdown-grace=5",
    ]
    await create_all(kube, *services(namespace), rollout(namespace, steps=[], router=None))
    try:
        async with controller_process(command) as stop:
            await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"), seconds=60)
            await stop()
    finally:
        kubeconfig.unlink()


def test_the_dockerfile_builds_the_same_layout(bundle: Path) -> None:
    """The Dockerfile (for users with Docker; it cannot run here) and scripts/build-image
    agree on the user, the entrypoint, the command and the working directory."""
    config = json.loads((bundle / "config.json").read_text())["process"]
    lines = (ROOT / "Dockerfile").read_text().splitlines()

    def directive(name: str) -> str:  # the last one: the final stage's
        return [line.split(" ", 1)[1] for line in lines if line.startswith(f"{name} ")][-1]

    assert directive("USER") == f"{config['user']['uid']}:{config['user']['gid']}"
    assert json.loads(directive("ENTRYPOINT")) + json.loads(directive("CMD")) == config["args"]
    assert directive("WORKDIR") == config["cwd"]
    assert (bundle / "rootfs" / "opt" / "progressive" / "bin" / "progressive").is_file()
