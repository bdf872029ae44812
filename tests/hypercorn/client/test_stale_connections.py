"""No session lost to a stale kept-alive connection (issue 17 item 2).

The rules are in ``trio_engineio/client/polling.py``'s docstring and in
docs/howto/proxies.rst: a request that met a connection the peer had
closed is sent again, once, on a fresh connection when that is safe (nothing was
sent, or it is a GET); a POST the server may have taken is never sent twice.

A scripted HTTP server reproduces the race deterministically: it reads the next
request on a kept-alive connection, then closes without answering, as a server
or proxy does when it closes a connection the moment the request arrives.
tinyproxy, which closes after every answer without saying so, is the real case
(tests/peers/proxies/test_proxies.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
import pytest
import trio
from client_helpers import open_client

from trio_engineio import ConnectionClosed

OPEN = (
    b"0"
    + json.dumps(
        {"sid": "abc", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 100000}
    ).encode()
)


def answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


class ClosingServer:
    """Answers the first request on each connection; reads the second of ``drop`` methods and closes.

    GETs are answered from ``answers`` in order (then wait until ``hang_up`` is set);
    POSTs with ``ok``. Every request seen is recorded with its connection's number.
    """

    def __init__(self, answers: list[bytes], drop: set[bytes]) -> None:
        self.answers = answers
        self.drop = drop
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection, method, body)
        self.dropped: list[bytes] = []
        self.connections = 0
        self.hang_up = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        number = self.connections
        buffer = b""
        served = 0
        async with stream:
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
                request_line = head.split(b"\r\n", 1)[0]
                method = request_line.split(b" ", 1)[0]
                self.requests.append((number, method, body))
                if b"sid=" not in request_line:
                    await stream.send_all(answer(OPEN))
                    continue
                if served and method in self.drop:
                    self.dropped.append(method)
                    if method == b"POST":
                        self.hang_up.set()
                    return  # closed under a request that arrived: no answer at all
                served += 1
                if method == b"POST":
                    await stream.send_all(answer(b"ok"))
                    continue
                if not self.answers:
                    await self.hang_up.wait()
                    return
                await stream.send_all(answer(self.answers.pop(0)))

    def bodies(self, method: bytes) -> list[bytes]:
        return [body for _, m, body in self.requests if m == method]


@asynccontextmanager
async def closing_server(answers: list[bytes], drop: set[bytes]) -> AsyncIterator[tuple[ClosingServer, str]]:
    server = ClosingServer(answers, drop)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield server, f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


async def test_a_get_on_a_connection_closed_under_it_is_sent_again() -> None:
    async with closing_server([b"4one", b"4two", b"4three"], drop={b"GET"}) as (server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"]) as conn:
                got = [await conn.receive() for _ in range(3)]
                assert not conn.closed
                retries = conn._polling.retries
    assert got == ["one", "two", "three"]
    assert server.dropped == [b"GET"]  # the reused GET connection was closed under it
    assert retries == 1  # ... and the GET went again, once, on a fresh connection
    # Closed right after an answer: the client took the peer for one that always does so,
    # and gave every later request a connection of its own (none was dropped again).
    gets = [number for number, method, _ in server.requests if method == b"GET"]
    assert len(gets[2:]) == len(set(gets[2:]))


async def test_a_users_httpx_client_gets_the_get_retry_too() -> None:
    async with (
        closing_server([b"4one", b"4two"], drop={b"GET"}) as (server, url),
        httpx.AsyncClient() as http,
    ):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"], http_client=http) as conn:
                got = [await conn.receive() for _ in range(2)]
                assert not conn.closed
    assert got == ["one", "two"]
    assert b"GET" in server.dropped


async def test_a_post_the_server_may_have_taken_is_not_sent_twice() -> None:
    async with closing_server([b"4one", b"4two"], drop={b"POST"}) as (server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"]) as conn:
                # The second GET is answered on the first one's connection: the peer keeps
                # connections open, so POSTs reuse theirs from now on.
                assert [await conn.receive(), await conn.receive()] == ["one", "two"]
                await conn.send("first")
                while not server.bodies(b"POST"):
                    await trio.sleep(0.01)
                await conn.send("second")
                with pytest.raises(ConnectionClosed):
                    await conn.receive()
    posts = server.bodies(b"POST")
    assert server.dropped == [b"POST"]
    assert sum(body.count(b"second") for body in posts) == 1  # never duplicated
    assert conn.close_info is not None
    assert conn.close_info.reason.value == "transport close"


async def test_posts_reuse_no_connection_before_the_peer_kept_one_open() -> None:
    # One GET answered, the next one still waiting: nothing shows yet that the server keeps
    # connections open, so each POST (never resent once written) gets a fresh connection.
    async with closing_server([b"4one"], drop=set()) as (server, url):
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"]) as conn:
                assert await conn.receive() == "one"
                for i in range(3):
                    await conn.send(f"post {i}")
                    while len(server.bodies(b"POST")) < i + 1:
                        await trio.sleep(0.01)
    post_connections = [number for number, method, _ in server.requests if method == b"POST"]
    assert len(post_connections) >= 3
    assert len(set(post_connections)) == len(post_connections)
