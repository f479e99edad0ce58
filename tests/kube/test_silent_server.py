"""An API server that accepts connections and never answers: every request gives up
after the request timeout (an option of the CLI, the controller and KubeCluster), and
the error names the server and the request.  No control plane: a socket on 127.0.0.1
that accepts and then says nothing."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import yaml
from click.testing import CliRunner

from progressive._retry import KUBE_RETRY
from progressive._shell.kube import KubeCluster
from progressive.cli import main
from progressive.errors import Unavailable

from .test_kube_client_session import dead_port, kubeconfig

TIMEOUT = 0.2  # seconds: short, so that the tests are fast
DISCOVER = "discover /apis/argoproj.io/v1alpha1"  # what every command asks first


@pytest.fixture
def silent_server() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that accepts every connection and never
    reads or writes a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(10)
        for connection in accepted:
            connection.close()


@pytest.fixture
def silent_kubeconfig(silent_server: str, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig(silent_server)))
    return path


def no_answer(server: str, what: str) -> str:
    return f"{what}: the API server {server} did not answer within {TIMEOUT:g} s"


async def test_a_request_names_the_server_that_did_not_answer(silent_server: str) -> None:
    async with await KubeCluster.from_kubeconfig_dict(
        kubeconfig(silent_server),
        qps=0,
        retry=attrs.evolve(KUBE_RETRY, attempts=2),
        request_timeout=TIMEOUT,
    ) as cluster:
        with pytest.raises(Unavailable) as caught:
            await cluster.resource("argoproj.io/v1alpha1", "Rollout")
        assert caught.value.message == no_answer(silent_server, DISCOVER)
        assert cluster.requests == {("get", "error"): 2}  # retried: it is transient


async def test_a_refused_connection_names_the_server_too() -> None:
    server = f"http://127.0.0.1:{dead_port()}"
    async with await KubeCluster.from_kubeconfig_dict(
        kubeconfig(server),
        qps=0,
        retry=attrs.evolve(KUBE_RETRY, attempts=1),
        request_timeout=TIMEOUT,
    ) as cluster:
        with pytest.raises(Unavailable) as caught:
            await cluster.request("get", "GET", "/version")
    assert caught.value.message.startswith(
        f"GET /version: cannot reach the API server {server}: ClientConnectorError: "
    )


def test_the_cli_takes_a_request_timeout_and_names_the_server(
    silent_server: str, silent_kubeconfig: Path
) -> None:
    runner = CliRunner()
    for args in (
        ["--request-timeout", str(TIMEOUT), "get", "rollout", "web"],
        ["list", "rollouts", "--request-timeout", f"{TIMEOUT * 1000:g}ms"],
    ):
        result = runner.invoke(main, ["--kubeconfig", str(silent_kubeconfig), *args])
        assert result.exit_code == 1, result.output
        assert result.stderr.splitlines() == ["error: " + no_answer(silent_server, DISCOVER)]


def test_install_takes_a_request_timeout_and_names_the_server(
    silent_server: str, silent_kubeconfig: Path
) -> None:
    """``install`` connects as every command does: the same options, before or after its
    name, and the same one-line error."""
    runner = CliRunner()
    crds = "discover /apis/apiextensions.k8s.io/v1"  # what install asks first
    for args in (
        ["install", "--kubeconfig", str(silent_kubeconfig), "--request-timeout", str(TIMEOUT)],
        ["--kubeconfig", str(silent_kubeconfig), f"--request-timeout={TIMEOUT}", "install"],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 1, result.output
        assert result.stderr.splitlines() == ["error: " + no_answer(silent_server, crds)]
    result = runner.invoke(main, ["install", "--request-timeout", "0"])
    assert result.exit_code == 2 and "Invalid value for '--request-timeout'" in result.stderr
    result = runner.invoke(main, ["--memory", "install", "--kubeconfig", str(silent_kubeconfig)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: install writes to a real cluster, not the in-memory")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_a_request_timeout_must_be_a_positive_duration(value: str) -> None:
    result = CliRunner().invoke(main, ["--request-timeout", value, "list", "rollouts"])
    assert result.exit_code == 2
    assert "Invalid value for '--request-timeout'" in result.stderr


def test_the_controller_takes_a_request_timeout_and_names_the_server(
    silent_server: str, silent_kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "controller",
            f"--kubeconfig={silent_kubeconfig}",
            f"--request-timeout={TIMEOUT}",
            "--metrics-address=0",
        ],
    )
    assert result.exit_code == 1, result.output
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert logged == [f"Unavailable: {no_answer(silent_server, DISCOVER)}"]
