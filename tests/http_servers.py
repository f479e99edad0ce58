"""Real HTTP servers on 127.0.0.1 that misbehave on purpose, for the metric providers'
tests: a body that trickles, an endless chunked body, a huge one, a server that echoes
the request.  One request per connection (``Connection: close``); every server stops
on its own after a bound, so a test of code that does not defend itself fails instead
of hanging or eating the machine's memory."""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs

from progressive._shell.metrics_auth import _self_signed

CHUNK = 64 * 1024


@attrs.define
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        lines = [f"{self.method} {self.target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        return "\r\n".join(lines) + "\r\n\r\n" + self.body.decode(errors="replace")


@attrs.define
class Served:
    """What a server saw and did."""

    url: str
    requests: list[Request] = attrs.Factory(list)
    sent: int = 0  # body bytes written, in all
    finished: int = 0  # responses written to the end
    broken: int = 0  # responses the client stopped reading


Handler = Callable[[Request, "Reply"], Awaitable[None]]


class Reply:
    def __init__(self, writer: asyncio.StreamWriter, served: Served) -> None:
        self.writer = writer
        self.served = served

    async def head(self, status: int, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} X", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def body(self, data: bytes) -> None:
        self.writer.write(data)
        self.served.sent += len(data)
        await self.writer.drain()

    async def whole(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        await self.head(status, {"Content-Type": content_type, "Content-Length": str(len(body))})
        await self.body(body)


def self_signed() -> ssl.SSLContext:
    """A server TLS context for 127.0.0.1 with a certificate no CA signed (the
    controller's own, :mod:`progressive._shell.metrics_auth`), which a client that
    verifies certificates refuses."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        context.load_cert_chain(*_self_signed(Path(folder), ("127.0.0.1",)))
    return context


@asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[Served]:
    """Serve ``handler`` on a free port of 127.0.0.1 until the block ends (HTTPS with
    ``tls``)."""
    served = Served("")
    tasks: set[asyncio.Task[None]] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *fields = head.decode().split("\r\n")
            method, target, _ = line.split(" ", 2)
            headers = {}
            for field in fields:
                if ":" in field:
                    name, value = field.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            request = Request(method, target, headers, body)
            served.requests.append(request)
            await handler(request, Reply(writer, served))
            served.finished += 1
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            served.broken += 1
        except asyncio.CancelledError:
            pass  # the server is stopping: this connection ends here
        finally:
            writer.close()
            tasks.discard(asyncio.current_task())  # type: ignore[arg-type]

    server = await asyncio.start_server(connection, "127.0.0.1", 0, ssl=tls)
    scheme = "https" if tls is not None else "http"
    served.url = f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield served
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


# -- handlers ------------------------------------------------------------------------------


def answer(document: Any, status: int = 200) -> Handler:
    """A JSON answer, at once."""

    async def handle(request: Request, reply: Reply) -> None:
        await reply.whole(status, json.dumps(document).encode())

    return handle


def trickle(interval: float = 0.05, seconds: float = 30.0) -> Handler:
    """Headers at once, then a byte of a never-ending body every ``interval``: each read
    is quick, the whole never comes (the server gives up after ``seconds``)."""

    async def handle(request: Request, reply: Reply) -> None:
        await reply.head(200, {"Content-Type": "application/json", "Content-Length": "1000000"})
        await reply.body(b"[")
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            await asyncio.sleep(interval)
            await reply.body(b" ")

    return handle


def endless(limit: int = 256 * 1024 * 1024) -> Handler:
    """A chunked JSON body that never ends (the server stops after ``limit`` bytes)."""

    async def handle(request: Request, reply: Reply) -> None:
        await reply.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        chunk = b"1," * (CHUNK // 2)
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        await reply.body(b"1\r\n[\r\n")
        while reply.served.sent < limit:
            await reply.body(frame)

    return handle


def huge(length: int = 2 * 1024**3, limit: int = 64 * 1024 * 1024) -> Handler:
    """A ``Content-Length`` of ``length`` (2 GiB), of which ``limit`` bytes are sent."""

    async def handle(request: Request, reply: Reply) -> None:
        await reply.head(200, {"Content-Type": "application/json", "Content-Length": str(length)})
        chunk = b" " * CHUNK
        while reply.served.sent < limit:
            await reply.body(chunk)

    return handle


def echo(status: int = 200, *, as_json: bool = False) -> Handler:
    """The request itself as the answer: its line, headers and body (as text, or as a
    JSON object ``{method, target, headers, body}``)."""

    async def handle(request: Request, reply: Reply) -> None:
        if as_json:
            document = {
                "method": request.method,
                "target": request.target,
                "headers": request.headers,
                "body": request.body.decode(errors="replace"),
            }
            await reply.whole(status, json.dumps(document).encode())
        else:
            await reply.whole(status, request.text().encode(), "text/plain")

    return handle
