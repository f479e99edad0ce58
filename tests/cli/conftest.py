"""Fixtures of the CLI tests.

* ``snapshot``: compares text with ``tests/cli/snapshots/NAME.txt``.  Regenerate the
  files after an intended change of the output with::

      PROGRESSIVE_UPDATE_SNAPSHOTS=1 python -m pytest tests/cli

  and review the diff.
* ``state``: a fresh ``--memory-state`` file; ``memory``: runs the CLI on it.
* ``control_plane`` (the real local one, from ``tests/conftest.py``), ``crds`` (our CRDs
  installed, once a session), ``kube_namespace`` (a fresh namespace, synchronously:
  the CLI runs its own event loop, so these tests are plain functions).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner, Result

from progressive.cli import main

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("PROGRESSIVE_UPDATE_SNAPSHOTS") == "1"


@pytest.fixture
def snapshot() -> Callable[[str, str], None]:
    def check(name: str, text: str) -> None:
        path = SNAPSHOTS / f"{name}.txt"
        if UPDATE or not path.exists():
            SNAPSHOTS.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not UPDATE:
                pytest.fail(f"{path} did not exist: written; check it and run again")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (
            f"{path.name} differs (PROGRESSIVE_UPDATE_SNAPSHOTS=1 regenerates it):\n{text}"
        )

    return check


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "memory.json"


Run = Callable[..., Result]


@pytest.fixture
def memory(state: Path) -> Run:
    """``memory("get", "rollout", "x")``: the CLI on the in-memory cluster in ``state``."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(
            main, ["--memory-state", str(state), *args], input=input, catch_exceptions=False
        )

    return invoke


# -- the real control plane ----------------------------------------------------------------


def kube_call(kubeconfig: Path, fn: Callable[[Any], Any]) -> Any:
    """Run ``await fn(cluster)`` with a KubeCluster on the control plane."""
    from progressive._shell.kube import KubeCluster

    async def go() -> Any:
        async with await KubeCluster.from_kubeconfig(kubeconfig) as cluster:
            return await fn(cluster)

    return anyio.run(go)


@pytest.fixture(scope="session")
def crds(control_plane: Any) -> Path:
    """The progressive.dev CRDs installed and Established; returns the kubeconfig."""
    from progressive.cli._install import install_objects, manifests

    async def install(cluster: Any) -> None:
        await install_objects(cluster, manifests(crds_only=True))

    kube_call(control_plane.kubeconfig, install)
    return Path(control_plane.kubeconfig)


@pytest.fixture
def kube_namespace(crds: Path) -> Iterator[str]:
    """A fresh namespace, deleted afterwards (without waiting)."""
    from progressive._clusters import Ref

    name = f"c-{secrets.token_hex(4)}"

    async def create(cluster: Any) -> None:
        await cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        deadline = time.monotonic() + 30
        while await cluster.get(Ref("v1", "ServiceAccount", name, "default")) is None:
            assert time.monotonic() < deadline, "no default ServiceAccount"
            await anyio.sleep(0.1)

    kube_call(crds, create)
    try:
        yield name
    finally:

        async def delete(cluster: Any) -> None:
            await cluster.delete(Ref("v1", "Namespace", "", name))

        kube_call(crds, delete)
