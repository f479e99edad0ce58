"""The kubernetes-asyncio ``ApiClient`` the named constructors of
:class:`~progressive._shell.kube.KubeCluster` make: one whose HTTP session does not
read the environment on every request.

kubernetes-asyncio opens its aiohttp session with ``trust_env=True``, so for every
request aiohttp looks up ``~/.netrc`` in a worker thread and the proxy variables in
another (two thread hops per request: a large share of a busy controller's CPU).  Here
the proxy is resolved once, with aiohttp's own rules (``HTTPS_PROXY``/``HTTP_PROXY``
for the API server's scheme, unless ``NO_PROXY`` covers its host; credentials from the
proxy URL or ``~/.netrc``), into ``configuration.proxy``, and the session is replaced by
one with ``trust_env=False`` on the same connector (same pool, TLS context and client
certificate).  A ``proxy-url`` from the kubeconfig wins over the environment, as it
does in kubectl.  The API server's own credentials come from the kubeconfig, never from
``~/.netrc``.

:func:`limit_tls_read_buffer` is for a process of our own (``progressive controller``):
asyncio gives every TLS connection a 256 KiB read buffer (Python 3.11 on), allocated and
touched when the connection opens.  The pool keeps a connection for each request that
was once in flight at the same time (workers, Event writers, watches: about 30 in
bench 3), which made 5 MB of the controller's memory; TLS records are at most 16 KiB,
so a 32 KiB buffer costs only more reads (of memory already received) of a large LIST.
"""

from __future__ import annotations

import asyncio.sslproto
from typing import Final

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from kubernetes_asyncio.client import ApiClient, Configuration
from yarl import URL

__all__ = [
    "TLS_READ_BUFFER",
    "api_client",
    "env_proxy",
    "limit_tls_read_buffer",
    "resolve_proxy",
    "untrust_env",
]

#: The TLS read buffer of each connection ``progressive controller`` opens (bytes):
#: two TLS records of the largest size.
TLS_READ_BUFFER: Final = 32 * 1024

#: kubernetes-asyncio's read buffer (large watch events), used if the session hides it.
_READ_BUFSIZE: Final = 2**21


def env_proxy(host: str) -> str | None:
    """The proxy the environment names for requests to ``host`` (a URL), or None (no
    proxy variable for that scheme, or ``NO_PROXY`` covers the host): what aiohttp with
    ``trust_env=True`` would pick for every request.  Its credentials (from the
    variable or ``~/.netrc``) are in the URL, where aiohttp reads them for
    ``Proxy-Authorization``, for plain HTTP and CONNECT alike."""
    try:
        url = URL(host)
    except (TypeError, ValueError):
        return None
    if not url.scheme or url.host is None:
        return None
    try:
        proxy, auth = get_env_proxy_for_url(url)
    except LookupError:
        return None
    if auth is not None:
        proxy = proxy.with_user(auth.login).with_password(auth.password)
    return str(proxy)


def resolve_proxy(configuration: Configuration) -> None:
    """Set ``configuration.proxy`` from the environment, once, unless a proxy is set
    already (a kubeconfig's ``proxy-url``)."""
    if not configuration.proxy:
        configuration.proxy = env_proxy(str(configuration.host or ""))


def untrust_env(api: ApiClient) -> bool:
    """Give ``api``'s REST client a session with ``trust_env=False`` on the same
    connector; the old session is detached (it leaves the connector open).  False when
    the client is not laid out as expected (then it is left as it was)."""
    rest = getattr(api, "rest_client", None)
    session = getattr(rest, "pool_manager", None)
    if rest is None or not isinstance(session, aiohttp.ClientSession):
        return False
    if not session.trust_env:
        return True
    connector = session.connector
    if connector is None or session.closed:
        return False
    replacement = aiohttp.ClientSession(
        connector=connector,
        connector_owner=session.connector_owner,
        trust_env=False,
        read_bufsize=int(getattr(session, "_read_bufsize", _READ_BUFSIZE)),
        timeout=session.timeout,
        headers=session.headers or None,
        auto_decompress=session.auto_decompress,
    )
    session.detach()
    rest.pool_manager = replacement
    return True


def api_client(configuration: Configuration) -> ApiClient:
    """An ``ApiClient`` for ``configuration`` whose session reads no environment per
    request (the environment's proxy, if any applies, is resolved here, once)."""
    resolve_proxy(configuration)
    api = ApiClient(configuration)
    untrust_env(api)
    return api


def limit_tls_read_buffer(size: int = TLS_READ_BUFFER) -> bool:
    """Give the TLS connections asyncio opens from now on, in this whole process, a
    read buffer of ``size`` bytes (at least one 16 KiB TLS record) instead of 256 KiB.

    Process-wide: for a process of our own, never called on import.  Returns False,
    changing nothing, when asyncio has no such buffer or it is already that small.
    """
    size = max(16 * 1024, int(size))
    protocol = getattr(asyncio.sslproto, "SSLProtocol", None)
    current = getattr(protocol, "max_size", None)
    if protocol is None or not isinstance(current, int) or current <= size:
        return False
    protocol.max_size = size
    return True
