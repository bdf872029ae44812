"""Helpers for testing Engine.IO applications in memory, with no sockets.

Everything here drives the ASGI application directly inside the test's trio
run, so ``autojump_clock`` turns a 25 s long-poll or a ping timeout into zero
wall time::

    async def test_echo(autojump_clock):
        server = trio_engineio.Server(handler=echo)
        app = trio_engineio.ASGIApp(server)
        async with server, open_test_client(app) as http:
            ...

* :func:`open_test_client` — an ``httpx.AsyncClient`` wired to the app through
  ``httpx.ASGITransport`` (polling requests).
* :func:`open_websocket` — an in-memory websocket to the app.
* :class:`MemoryBus` — a bus between servers and emitters in one process, with
  outages and raw messages on demand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from .bus.memory import MemoryBus

__all__ = [
    "MemoryBus",
    "TestWebSocket",
    "WebSocketClosed",
    "WebSocketRejected",
    "open_test_client",
    "open_websocket",
]

ASGIApplication = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


@asynccontextmanager
async def open_test_client(
    app: ASGIApplication,
    *,
    base_url: str = "http://testserver",
    client: tuple[str, int] = ("127.0.0.1", 50000),
    **client_options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` that sends every request straight into ``app``."""
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url=base_url, **client_options) as http:
        yield http


class WebSocketClosed(Exception):
    """The application closed the websocket (``code``, ``reason``)."""

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"websocket closed with code {code} {reason}".strip())


class WebSocketRejected(Exception):
    """The application refused the websocket before accepting it."""

    def __init__(
        self, status: int, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []
        super().__init__(f"websocket rejected with HTTP {status}: {body[:200]!r}")


class TestWebSocket:
    """The client end of an in-memory websocket opened by :func:`open_websocket`."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        to_app: tuple[trio.MemorySendChannel[dict[str, Any]], trio.MemoryReceiveChannel[dict[str, Any]]] = (
            trio.open_memory_channel(1000)
        )
        from_app: tuple[trio.MemorySendChannel[dict[str, Any]], trio.MemoryReceiveChannel[dict[str, Any]]] = (
            trio.open_memory_channel(1000)
        )
        self._to_app_send, self._to_app_receive = to_app
        self._from_app_send, self._from_app_receive = from_app
        #: Headers the application sent with ``websocket.accept``.
        self.accept_headers: list[tuple[bytes, bytes]] = []
        #: The close code once the application closed the socket.
        self.close_code: int | None = None
        self._client_closed = False

    async def send(self, data: str | bytes) -> None:
        """Send one frame (``str``: text, ``bytes``: binary) to the application."""
        if isinstance(data, str):
            await self._to_app_send.send({"type": "websocket.receive", "text": data, "bytes": None})
        else:
            await self._to_app_send.send({"type": "websocket.receive", "bytes": bytes(data), "text": None})

    async def receive(self) -> str | bytes:
        """The next frame from the application; :class:`WebSocketClosed` once it closed.

        An application that returned without closing the socket (its task was
        cancelled, say) is seen as an abnormal closure, code 1006.
        """
        if self.close_code is not None:
            raise WebSocketClosed(self.close_code)
        try:
            message = await self._from_app_receive.receive()
        except trio.EndOfChannel:
            self.close_code = 1006
            raise WebSocketClosed(1006, "the application returned without closing") from None
        if message["type"] == "websocket.close":
            self.close_code = int(message.get("code", 1000))
            # Answer the close handshake, as a real client's websocket library does.
            await self.close(self.close_code)
            raise WebSocketClosed(self.close_code, str(message.get("reason") or ""))
        text = message.get("text")
        return text if text is not None else bytes(message["bytes"])

    async def close(self, code: int = 1000) -> None:
        """Close from the client side (the app sees ``websocket.disconnect``)."""
        if not self._client_closed:
            self._client_closed = True
            await self._to_app_send.send({"type": "websocket.disconnect", "code": code})

    @asynccontextmanager
    async def _run_app(self, app: ASGIApplication, scope: dict[str, Any]) -> AsyncIterator[None]:
        """Run ``app`` on this socket: connect, then accept or raise :class:`WebSocketRejected`."""
        # Like hypercorn's trio worker, hand the app a memory channel's bound receive().
        receive = self._to_app_receive.receive
        from_app_send = self._from_app_send

        async def send(message: dict[str, Any]) -> None:
            await from_app_send.send(message)

        rejection: WebSocketRejected | None = None
        async with trio.open_nursery() as nursery:

            async def run_app() -> None:
                try:
                    await app(scope, receive, send)
                finally:
                    from_app_send.close()

            nursery.start_soon(run_app)
            await self._to_app_send.send({"type": "websocket.connect"})
            try:
                first = await self._from_app_receive.receive()
            except trio.EndOfChannel:
                # It returned before accepting: refused with 403, as ASGI servers do.
                first = {"type": "websocket.close"}
            if first["type"] == "websocket.http.response.start":
                body = b""
                async for message in self._from_app_receive:
                    body += message.get("body", b"")
                    if not message.get("more_body", False):
                        break
                rejection = WebSocketRejected(int(first["status"]), body, list(first.get("headers", [])))
            elif first["type"] == "websocket.close":
                rejection = WebSocketRejected(403)
            if rejection is not None:
                nursery.cancel_scope.cancel()
            else:
                self.accept_headers = list(first.get("headers") or [])
                try:
                    yield
                finally:
                    await self.close()
                    # Drain what the app still sends so it can finish.
                    async for _ in self._from_app_receive:
                        pass
        if rejection is not None:
            raise rejection


@asynccontextmanager
async def open_websocket(
    app: ASGIApplication,
    url: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    client: tuple[str, int] = ("127.0.0.1", 50001),
) -> AsyncIterator[TestWebSocket]:
    """Open an in-memory websocket to ``app`` at ``url`` (path and query).

    Raises :class:`WebSocketRejected` if the app refuses it (with the HTTP
    status where the app used the ``websocket.http.response`` extension, 403
    where it just closed or returned). Leaving the block disconnects the socket and waits
    for the application to return.
    """
    split = urlsplit(url)
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": split.path or "/",
        "raw_path": (split.path or "/").encode(),
        "query_string": split.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": client,
        "server": ("testserver", 80),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    ws = TestWebSocket()
    async with ws._run_app(app, scope):
        yield ws
