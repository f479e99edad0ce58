"""The HTTP session of KubeCluster's own ApiClient: it does not read the environment on
every request (``trust_env=False``: no thread hops for ``~/.netrc`` and the proxy
variables), yet a proxy from the environment is still used, resolved once, unless
``NO_PROXY`` covers the API server.  No control plane: fake servers on localhost."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from progressive._retry import KUBE_RETRY
from progressive._shell.kube import KubeCluster
from progressive._shell.kube._session import env_proxy, untrust_env
from progressive.errors import Unavailable

_PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "request_method")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No proxy variables but those a test sets, and an empty ``.netrc``."""
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    (tmp_path / "netrc").write_text("")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    yield


def kubeconfig(server: str, **cluster: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": {"token": "t0k"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


def session_of(cluster: KubeCluster) -> aiohttp.ClientSession:
    session = cluster.api.rest_client.pool_manager
    assert isinstance(session, aiohttp.ClientSession)
    return session


async def test_the_session_does_not_trust_the_environment() -> None:
    cluster = await KubeCluster.from_kubeconfig_dict(kubeconfig("https://api.example.test:6443"))
    session = session_of(cluster)
    connector = session.connector
    assert session.trust_env is False
    assert connector is not None and not connector.closed
    assert cluster.api.configuration.proxy is None and cluster.api.rest_client.proxy is None
    # kubernetes-asyncio's settings are kept: its connector (TLS, pool size), its buffer.
    assert isinstance(connector, aiohttp.TCPConnector)
    assert connector.limit == cluster.api.configuration.connection_pool_maxsize
    assert getattr(session, "_read_bufsize", 2**21) == 2**21
    await cluster.close()
    assert session.closed and connector.closed


@pytest.mark.parametrize(
    ("server", "variable"),
    [
        ("https://api.example.test:6443", "HTTPS_PROXY"),
        ("https://api.example.test:6443", "https_proxy"),
        ("http://api.example.test:8080", "HTTP_PROXY"),
    ],
)
async def test_a_proxy_from_the_environment_is_resolved_once(
    monkeypatch: pytest.MonkeyPatch, server: str, variable: str
) -> None:
    monkeypatch.setenv(variable, "http://proxy.example.test:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.svc,10.0.0.1")
    async with await KubeCluster.from_kubeconfig_dict(kubeconfig(server)) as cluster:
        assert session_of(cluster).trust_env is False
        assert cluster.api.configuration.proxy == "http://proxy.example.test:3128"
        assert cluster.api.rest_client.proxy == "http://proxy.example.test:3128"


async def test_only_the_servers_scheme_picks_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example.test:3128")
    async with await KubeCluster.from_kubeconfig_dict(
        kubeconfig("https://api.example.test:6443")
    ) as cluster:
        assert cluster.api.configuration.proxy is None


@pytest.mark.parametrize(
    "no_proxy",
    ["api.example.test", ".example.test", "example.test", "localhost, example.test", "*"],
)
async def test_no_proxy_covering_the_server_means_no_proxy(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    async with await KubeCluster.from_kubeconfig_dict(
        kubeconfig("https://api.example.test:6443")
    ) as cluster:
        assert session_of(cluster).trust_env is False
        assert cluster.api.configuration.proxy is None
        assert cluster.api.rest_client.proxy is None


async def test_the_kubeconfigs_proxy_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    config = kubeconfig("https://api.example.test:6443", **{"proxy-url": "http://other:8888"})
    async with await KubeCluster.from_kubeconfig_dict(config) as cluster:
        assert cluster.api.configuration.proxy == "http://other:8888"


def test_proxy_credentials_stay_in_the_proxy_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:s3cret@proxy.example.test:3128")
    assert env_proxy("https://api.example.test:6443") == (
        "http://user:s3cret@proxy.example.test:3128"
    )
    assert env_proxy("not a url") is None
    assert env_proxy("") is None


def test_an_unexpected_client_is_left_alone() -> None:
    assert untrust_env(object()) is False  # type: ignore[arg-type]


# -- requests through fake servers -------------------------------------------------------


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A local HTTP server answering every request with a ConfigMap (as the API server
    or as an HTTP proxy would), and the requests it saw."""
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_requests_go_through_the_environments_proxy(
    monkeypatch: pytest.MonkeyPatch, recorder: tuple[str, list[web.Request]]
) -> None:
    url, seen = recorder
    monkeypatch.setenv("HTTP_PROXY", url.replace("http://", "http://user:pw@"))
    # The API server's name does not resolve: only the proxy can answer.
    config = kubeconfig("http://api.example.invalid:8080")
    async with await KubeCluster.from_kubeconfig_dict(config, qps=0) as cluster:
        got = await cluster.request("get", "GET", "/api/v1/namespaces/d/configmaps/x")
    assert got["data"] == {"a": "b"}
    [request] = seen
    assert request.url.host == "api.example.invalid"
    assert request.path == "/api/v1/namespaces/d/configmaps/x"
    credentials = base64.b64encode(b"user:pw").decode()
    assert request.headers["Proxy-Authorization"] == f"Basic {credentials}"
    assert request.headers["Authorization"] == "Bearer t0k"


async def test_no_proxy_sends_requests_straight_to_the_server(
    monkeypatch: pytest.MonkeyPatch, recorder: tuple[str, list[web.Request]]
) -> None:
    url, seen = recorder
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with await KubeCluster.from_kubeconfig_dict(kubeconfig(url), qps=0) as cluster:
        got = await cluster.request("get", "GET", "/api/v1/namespaces/d/configmaps/x")
        assert got["kind"] == "ConfigMap" and len(seen) == 1
    # Without NO_PROXY the (dead) proxy is used: the request fails.
    monkeypatch.delenv("NO_PROXY")
    async with await KubeCluster.from_kubeconfig_dict(
        kubeconfig(url), qps=0, retry=attrs.evolve(KUBE_RETRY, attempts=1)
    ) as cluster:
        with pytest.raises(Unavailable):
            await cluster.request("get", "GET", "/api/v1/namespaces/d/configmaps/x")
    assert len(seen) == 1
