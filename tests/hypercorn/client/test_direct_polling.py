"""The polling transport's direct HTTP/1.1 path (h11), against a scripted raw HTTP server.

With its own httpx client (no ``http_client`` given) the client sends long-poll
GETs and POSTs over keep-alive h11 connections of its own instead of through
httpx. These tests drive the response shapes a server or a proxy may produce:
compression, chunked bodies, ``Connection: close``, HTTP/1.0, 1xx, cookies,
oversized and malformed answers.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
import pytest
import trio
from client_helpers import open_client, open_socket_count

from trio_engineio import ConnectionClosed
from trio_engineio.client.common import EngineURL
from trio_engineio.client.polling import PollingTransport

OPEN = (
    b"0"
    + json.dumps(
        {"sid": "abc", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 100000}
    ).encode()
)


def answer(body: bytes, *headers: str, status: str = "200 OK", version: str = "HTTP/1.1") -> bytes:
    """A raw response with ``Content-Length`` (unless a header sets the framing itself)."""
    lines = [f"{version} {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(*chunks: bytes) -> bytes:
    parts = [f"{len(c):x};ext=1\r\n".encode() + c + b"\r\n" for c in chunks]
    return b"".join(parts) + b"0\r\nX-Trailer: yes\r\n\r\n"


class ScriptedServer:
    """Answers the handshake and POSTs itself; GETs get ``answers`` in order, then wait forever."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.heads: list[bytes] = []
        self.posts: list[bytes] = []
        self.connections = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = await stream.receive_some(65536)
                if not data:
                    return
                buffer += data
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                buffer += await stream.receive_some(65536)
            body, buffer = buffer[:length], buffer[length:]
            self.heads.append(head)
            request_line = head.split(b"\r\n", 1)[0]
            if b"sid=" not in request_line:
                response = answer(OPEN)
            elif request_line.startswith(b"POST"):
                self.posts.append(body)
                response = answer(b"ok")
            else:
                if not self.answers:
                    await trio.sleep_forever()
                response = self.answers.pop(0)
            await stream.send_all(response)
            lowered = response.lower()
            if (
                b"connection: close" in lowered
                or b"x-then-close" in lowered
                or response.startswith(b"HTTP/1.0")
            ):
                await stream.aclose()
                return


@asynccontextmanager
async def scripted(answers: list[bytes]) -> AsyncIterator[tuple[ScriptedServer, str]]:
    server = ScriptedServer(answers)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield server, f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


def get_heads(server: ScriptedServer) -> list[bytes]:
    return [h for h in server.heads if h.startswith(b"GET ") and b"sid=" in h.split(b"\r\n", 1)[0]]


async def test_direct_path_reads_every_response_shape() -> None:
    deflated = zlib.compress(b"4deflate")
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflated = raw_deflate.compress(b"4raw deflate") + raw_deflate.flush()
    answers = [
        answer(b"4plain"),
        answer(gzip.compress(b"4gzip\x1e4second"), "Content-Encoding: gzip"),
        answer(deflated, "Content-Encoding: deflate"),
        answer(raw_deflated, "Content-Encoding: deflate"),
        answer(chunked(b"4chu", b"nked"), "Transfer-Encoding: chunked"),
        answer(
            chunked(gzip.compress(b"4gzip chunked")), "Transfer-Encoding: chunked", "Content-Encoding: gzip"
        ),
        b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"4after 100"),
        answer(b"4closing", "Connection: close"),
        answer(b"4folded", "X-Long: one", "  two"),
        answer(b"4http/1.0", version="HTTP/1.0"),
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n4to eof",
        answer(b"4last"),
    ]
    expected = [
        "plain", "gzip", "second", "deflate", "raw deflate", "chunked", "gzip chunked",
        "after 100", "closing", "folded", "http/1.0", "to eof", "last",
    ]  # fmt: skip
    async with scripted(answers) as (server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"]) as conn:
                got = [await conn.receive() for _ in expected]
                assert conn._polling.direct
                await conn.send("bye")
    assert got == expected
    assert any(b"4bye" in post for post in server.posts)
    # Keep-alive: a new GET connection only after each answer that ended its connection.
    assert server.connections <= 2 + 4 + 1  # handshake (httpx), GETs, POST


async def test_direct_path_keeps_connections_alive() -> None:
    async with scripted([answer(b"4m%d" % i) for i in range(20)]) as (server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"]) as conn:
                for i in range(20):
                    assert await conn.receive() == f"m{i}"
                    await conn.send(f"echo {i}")
                while len(server.posts) < 1:
                    await trio.sleep(0.01)
    assert len(get_heads(server)) >= 20
    assert server.connections <= 3  # the handshake's, one for GETs, one for POSTs


async def test_direct_path_reconnects_after_an_idle_close() -> None:
    # The server drops a keep-alive connection silently after each answer (as an idle
    # timeout would): the client notices before reusing it and opens a new one.
    answers = [answer(b"4m%d" % i, "X-Then-Close: 1") for i in range(5)]
    async with scripted(answers) as (server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"]) as conn:
                for i in range(5):
                    assert await conn.receive() == f"m{i}"
                    await trio.sleep(0.05)  # the FIN arrives before the next GET
                assert not conn.closed
    assert server.connections >= 6


async def test_direct_path_sends_headers_and_cookies_like_httpx() -> None:
    answers = [
        answer(b"4one", "Set-Cookie: lb=node-7; Path=/"),
        answer(b"4two"),
    ]
    async with scripted(answers) as (server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"], headers={"X-Token": "t1"}) as conn:
                assert await conn.receive() == "one"
                assert await conn.receive() == "two"
                await conn.send("x")
                while not server.posts:
                    await trio.sleep(0.01)
    gets = get_heads(server)
    assert len(gets) >= 3
    for head in server.heads:
        assert b"\r\nX-Token: t1" in head
        assert b"\r\nUser-Agent: python-httpx/" in head
        assert b"\r\nHost: 127.0.0.1:" in head
    assert b"Cookie: lb=node-7" not in gets[0]
    assert b"\r\nCookie: lb=node-7" in gets[1]
    post = next(h for h in server.heads if h.startswith(b"POST"))
    assert b"\r\nCookie: lb=node-7" in post
    assert b"\r\nContent-Type: text/plain;charset=UTF-8" in post


async def test_direct_path_user_cookie_header_wins_over_the_jar() -> None:
    answers = [answer(b"4one", "Set-Cookie: lb=node-7; Path=/"), answer(b"4two")]
    async with scripted(answers) as (server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"], headers={"Cookie": "mine=1"}) as conn:
                assert await conn.receive() == "one"
                assert await conn.receive() == "two"
    for head in get_heads(server):
        assert head.count(b"ookie:") == 1
        assert b"\r\nCookie: mine=1" in head


@pytest.mark.parametrize(
    "response",
    [
        answer(b"4" + b"x" * 5000),
        answer(gzip.compress(b"4" + b"x" * 5000_000), "Content-Encoding: gzip"),
        answer(chunked(b"4" + b"x" * 3000, b"x" * 3000), "Transfer-Encoding: chunked"),
    ],
    ids=["content-length", "gzip-bomb", "chunked"],
)
async def test_direct_path_bounds_response_size(response: bytes) -> None:
    async with scripted([response]) as (_server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"], max_response_size=4096) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
    assert info.value.reason == "payload too large"


@pytest.mark.parametrize(
    "response",
    [
        b"garbage\r\n\r\n",
        answer(b"4x", "Transfer-Encoding: gzip"),
        answer(b"4x", "Content-Encoding: br"),
        answer(b"not gzip", "Content-Encoding: gzip"),
        answer(b"4x", "Content-Length: 2, 3"),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n4short",
    ],
    ids=["status-line", "transfer-encoding", "content-encoding", "bad-gzip", "length", "chunk", "short"],
)
async def test_direct_path_bad_response_closes_the_session(response: bytes) -> None:
    before = open_socket_count()
    async with scripted([response]) as (_server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"]) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
    assert info.value.reason == "transport close"
    assert "poll GET failed" in (conn.close_info.description if conn.close_info else "")
    assert open_socket_count() == before


async def test_direct_path_error_status_is_a_transport_error() -> None:
    async with scripted([answer(b'{"code":1}', status="400 Bad Request")]) as (_server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"]) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
    assert info.value.reason == "transport error"
    assert conn.close_info is not None
    assert "HTTP 400" in conn.close_info.description


def transport_for(http: httpx.AsyncClient, *, direct: bool) -> PollingTransport:
    return PollingTransport(
        http,
        EngineURL.parse("http://127.0.0.1:9"),
        headers={},
        max_response_size=1000,
        connect_timeout=1.0,
        direct=direct,
    )


async def test_direct_path_not_used_with_a_users_client_or_their_accept_encoding() -> None:
    # A user's own client keeps its transport, proxies and hooks; a user's Accept-Encoding
    # keeps httpx decoding. (Through a proxy the direct path is used: tests/peers/proxies/test_proxies.py.)
    async with httpx.AsyncClient() as plain:
        assert transport_for(plain, direct=False)._direct_for("sid") is None
        chosen = PollingTransport(
            plain,
            EngineURL.parse("http://127.0.0.1:9"),
            headers={"Accept-Encoding": "br"},
            max_response_size=1000,
            connect_timeout=1.0,
            direct=True,
        )
        assert chosen._direct_for("sid") is None
        direct = transport_for(plain, direct=True)
        assert direct._direct_for("sid") is not None
        direct.close()
