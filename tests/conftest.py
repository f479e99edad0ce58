"""A real control plane shared by every test that asks for it (tests/kube, tests/cli):
built from Go modules (once per machine, cached by version), brought up once per
session on 127.0.0.1 with the routers' CRDs, torn down at the end.  A failing test's
report carries the tail of every component's log, of each plane up then
(:func:`logs_in_reports`)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from progressive._cluster import LocalControlPlane, install_crds

from .installed import flagd, site  # noqa: F401  (fixtures: distributions installed by hand)
from .trio_backend import backend, run_under_trio

#: The control planes up now, by the title of their logs' section in a failure's report.
_PLANES = pytest.StashKey[dict[str, "LogSource"]]()


class LogSource(Protocol):
    def log_tails(self, lines: int = 30) -> str: ...


@contextlib.contextmanager
def logs_in_reports(config: pytest.Config, title: str, plane: LogSource) -> Iterator[None]:
    """While the block runs, a failing test's report carries ``plane``'s log tails in a
    section ``title``: the session's plane, and any other a module starts (the
    argoproj.io plane of tests/kube/test_e2e_groups.py)."""
    planes = config.stash.setdefault(_PLANES, {})
    planes[title] = plane
    try:
        yield
    finally:
        planes.pop(title, None)


@pytest.fixture(scope="session")
def control_plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalControlPlane]:
    """The session's control plane (kubeconfig: ``control_plane.kubeconfig``), with the
    routers' CRDs (``router_crds``) installed and Established."""
    plane = LocalControlPlane(tmp_path_factory.mktemp("control-plane"), startup_timeout=120.0)
    try:
        with logs_in_reports(request.config, "control plane logs", plane):
            plane.up()  # builds first when the binaries are not cached
            install_crds(plane.kubeconfig, timeout=60.0)
            yield plane
    finally:
        plane.down()


def pytest_configure(config: pytest.Config) -> None:
    if backend() == "trio" and config.getini("asyncio_mode") != "strict":
        # strict: pytest-asyncio leaves unmarked ``async def`` tests to the hook below
        raise pytest.UsageError("PROGRESSIVE_TEST_BACKEND=trio needs -o asyncio_mode=strict")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """``async def`` tests under trio when PROGRESSIVE_TEST_BACKEND=trio
    (tests/trio_backend.py); pytest-asyncio runs them otherwise."""
    if backend() == "trio" and run_under_trio(pyfuncitem):
        return True
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.failed:
        for title, plane in item.config.stash.get(_PLANES, {}).items():
            report.sections.append((title, plane.log_tails(30)))
    return report


@pytest.fixture
async def kube_api(control_plane: LocalControlPlane) -> AsyncIterator[ApiClient]:
    """A kubernetes_asyncio ApiClient for the session's cluster, closed afterwards."""
    api = await config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
async def namespace(kube_api: ApiClient) -> AsyncIterator[str]:
    """A fresh namespace (its ``default`` ServiceAccount made, so Pods can be created
    at once), deleted afterwards without waiting for its finalization."""
    core = client.CoreV1Api(kube_api)
    name = f"t-{secrets.token_hex(4)}"
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    deadline = time.monotonic() + 30.0
    while True:
        try:
            await core.read_namespaced_service_account("default", name)
            break
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    try:
        yield name
    finally:
        await core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary, built from its Go module by scripts/install-helm (cached)."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "install-helm"
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
