"""``progressive controller`` gives each TLS connection a 32 KiB read buffer, not
asyncio's 256 KiB: about 30 pooled connections made 5 MB of its memory (bench 3)."""

from __future__ import annotations

import asyncio.sslproto
import gc
import json
import subprocess
import sys

import aiohttp
import pytest
from click.testing import CliRunner

from progressive._shell.kube._session import TLS_READ_BUFFER, limit_tls_read_buffer
from progressive.cli import main

from ..http_servers import answer, self_signed, serve

ASYNCIO_DEFAULT = 256 * 1024


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncio's own buffer size again after the test (the setting is process-wide)."""
    monkeypatch.setattr(asyncio.sslproto.SSLProtocol, "max_size", ASYNCIO_DEFAULT)


def read_buffers() -> list[int]:
    """The read buffer of every TLS connection alive in this process."""
    buffers = (
        getattr(p, "_ssl_buffer", None)
        for p in gc.get_objects()
        if isinstance(p, asyncio.sslproto.SSLProtocol)
    )
    return [len(b) for b in buffers if b is not None]


@pytest.mark.usefixtures("restored")
async def test_connections_opened_afterwards_read_large_bodies_through_a_small_buffer() -> None:
    document = {"items": ["x" * 1000] * 2000}  # 2 MB: many reads of the buffer
    async with serve(answer(document), tls=self_signed()) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url, ssl=False) as before:
                assert await before.json() == document
                assert ASYNCIO_DEFAULT in read_buffers()
        assert limit_tls_read_buffer() is True
        assert limit_tls_read_buffer() is False  # already that small
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url, ssl=False) as after:
                body = await after.read()
                assert json.loads(body) == document
                assert set(read_buffers()) == {TLS_READ_BUFFER}  # client and server here


def test_importing_the_library_leaves_it_alone() -> None:
    code = (
        "import asyncio.sslproto, progressive, progressive.cli, progressive._shell.kube;"
        "print(asyncio.sslproto.SSLProtocol.max_size)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout) == ASYNCIO_DEFAULT  # an embedder's process: nothing changes


@pytest.mark.usefixtures("restored")
def test_the_controller_command_sets_it() -> None:
    out = CliRunner().invoke(main, ["controller", "--kubeconfig=/nonexistent/kubeconfig"])
    assert out.exit_code == 1 and "cannot connect" in out.output
    assert asyncio.sslproto.SSLProtocol.max_size == TLS_READ_BUFFER


@pytest.mark.usefixtures("restored")
def test_it_never_goes_below_one_tls_record() -> None:
    assert limit_tls_read_buffer(1) is True
    assert asyncio.sslproto.SSLProtocol.max_size == 16 * 1024
