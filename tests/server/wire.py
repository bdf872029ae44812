"""Raw Engine.IO v4 wire helpers for the server conformance tests.

Nothing here uses trio_engineio's own client or codec: payloads are built and
split by hand, HTTP goes through ``httpx`` with explicit URLs and bodies, and
websockets through ``trio_websocket`` with hand-written text frames.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import trio
import trio_websocket

import trio_engineio

RS = "\x1e"

#: The reference server's error messages, by code.
ERROR_MESSAGES = {
    0: "Transport unknown",
    1: "Session ID unknown",
    2: "Bad handshake method",
    3: "Bad request",
    4: "Forbidden",
    5: "Unsupported protocol version",
}

OPEN_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


def split_payload(body: str) -> list[str]:
    """Split a polling payload into its packets (text form: type digit + data)."""
    return body.split(RS)


def join_payload(*packets: str) -> str:
    """Join packets (already encoded, e.g. ``"4hi"``) into one polling payload."""
    return RS.join(packets)


def b64(data: bytes) -> str:
    """A binary message as it travels in a polling payload."""
    return "b" + base64.b64encode(data).decode("ascii")


def unb64(packet: str) -> bytes:
    """Decode a ``b<base64>`` polling packet."""
    assert packet.startswith("b"), packet
    return base64.b64decode(packet[1:], validate=True)


def parse_open(packet: str) -> dict[str, Any]:
    """The JSON of an OPEN packet (``0{...}``)."""
    assert packet.startswith("0"), packet
    decoded = json.loads(packet[1:])
    assert isinstance(decoded, dict), packet
    return decoded


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a rejection, checked to be ``{"code", "message"}``."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    decoded = json.loads(response.content)
    assert isinstance(decoded, dict)
    return decoded


def ws_base(http_base: str) -> str:
    """``http://host:port`` -> ``ws://host:port``."""
    assert http_base.startswith("http://")
    return "ws://" + http_base[len("http://") :]


class Endpoint:
    """URLs of one running server (``base`` is ``http://127.0.0.1:PORT``)."""

    def __init__(self, base: str, path: str = "/engine.io/") -> None:
        self.base = base
        self.path = path

    def url(self, query: str | dict[str, str] | None = None, *, path: str | None = None) -> str:
        """An explicit URL; ``query`` is a raw string or a dict (encoded in order)."""
        if isinstance(query, dict):
            query = urlencode(query)
        url = self.base + (self.path if path is None else path)
        return f"{url}?{query}" if query else url

    def polling(self, sid: str | None = None, *, path: str | None = None) -> str:
        query = {"EIO": "4", "transport": "polling"}
        if sid is not None:
            query["sid"] = sid
        return self.url(query, path=path)

    def websocket(self, sid: str | None = None, *, path: str | None = None) -> str:
        query = {"EIO": "4", "transport": "websocket"}
        if sid is not None:
            query["sid"] = sid
        return ws_base(self.base) + (self.path if path is None else path) + "?" + urlencode(query)


async def handshake(http: httpx.AsyncClient, endpoint: Endpoint, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """Open a polling session; return ``(sid, open packet JSON)``."""
    response = await http.get(endpoint.polling(), **kwargs)
    assert response.status_code == 200, (response.status_code, response.text)
    packets = split_payload(response.text)
    assert len(packets) == 1, packets
    info = parse_open(packets[0])
    return info["sid"], info


async def poll(http: httpx.AsyncClient, endpoint: Endpoint, sid: str, **kwargs: Any) -> list[str]:
    """One long-poll GET; return its packets (asserting 200)."""
    response = await http.get(endpoint.polling(sid), **kwargs)
    assert response.status_code == 200, (response.status_code, response.text)
    return split_payload(response.text)


async def post(http: httpx.AsyncClient, endpoint: Endpoint, sid: str, *packets: str) -> httpx.Response:
    """POST packets joined with the record separator; return the response as is."""
    return await http.post(
        endpoint.polling(sid),
        content=join_payload(*packets).encode("utf-8"),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )


async def poll_messages(
    http: httpx.AsyncClient, endpoint: Endpoint, sid: str, count: int, *, answer_pings: bool = True
) -> list[str]:
    """GET until ``count`` MESSAGE packets arrived (answering PINGs); return them in order."""
    messages: list[str] = []
    while len(messages) < count:
        for packet in await poll(http, endpoint, sid):
            if packet == "2" and answer_pings:
                response = await post(http, endpoint, sid, "3")
                assert response.status_code == 200
            elif packet.startswith(("4", "b")):
                messages.append(packet)
            else:
                raise AssertionError(f"unexpected packet {packet!r} while waiting for messages")
    assert len(messages) == count, messages
    return messages


@asynccontextmanager
async def open_ws(url: str, **kwargs: Any) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A trio-websocket client with short timeouts (tests wrap it in ``fail_after``)."""
    kwargs.setdefault("connect_timeout", 3)
    kwargs.setdefault("disconnect_timeout", 1)
    kwargs.setdefault("max_message_size", 16 * 1024 * 1024)
    async with trio_websocket.open_websocket_url(url, **kwargs) as ws:
        yield ws


async def ws_messages(ws: trio_websocket.WebSocketConnection, count: int) -> list[str | bytes]:
    """Receive frames until ``count`` messages (``4...`` text or binary) arrived; PINGs answered."""
    messages: list[str | bytes] = []
    while len(messages) < count:
        frame = await ws.get_message()
        if frame == "2":
            await ws.send_message("3")
        elif isinstance(frame, bytes) or frame.startswith("4"):
            messages.append(frame)
        else:
            raise AssertionError(f"unexpected frame {frame!r} while waiting for messages")
    return messages


async def ws_rejected(url: str, **kwargs: Any) -> trio_websocket.ConnectionRejected:
    """Open a websocket that the server must refuse before accepting it; return the rejection."""
    try:
        async with open_ws(url, **kwargs) as ws:
            frame = await ws.get_message()
    except trio_websocket.ConnectionRejected as rejected:
        return rejected
    raise AssertionError(f"websocket {url} was accepted (first frame {frame!r})")


async def ws_closed_code(ws: trio_websocket.WebSocketConnection) -> tuple[int | None, list[str | bytes]]:
    """Read until the server closes the socket; return the close code and the frames seen."""
    frames: list[str | bytes] = []
    try:
        while True:
            frames.append(await ws.get_message())
    except trio_websocket.ConnectionClosed as closed:
        return closed.reason.code, frames


async def raw_http(
    host: str, port: int, head: bytes, body_part: bytes = b"", *, read_until: bytes = b"\r\n\r\n"
) -> tuple[bytes, trio.SocketStream]:
    """Send a hand-written request head plus part of a body over TCP; return the response head.

    The stream is returned open, so the caller decides whether to send the rest.
    """
    stream = await trio.open_tcp_stream(host, port)
    await stream.send_all(head + body_part)
    received = b""
    while read_until not in received:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        received += chunk
    return received, stream


async def ws_refused(url: str, **kwargs: Any) -> str:
    """Try to use a websocket the server must not let through; say how it was refused.

    ``"rejected <status>"`` when the handshake was refused, ``"closed"`` when it was
    accepted but closed without answering ``2probe``. Anything else fails.
    """
    try:
        async with open_ws(url, **kwargs) as ws:
            try:
                await ws.send_message("2probe")
            except trio_websocket.ConnectionClosed:
                return "closed"
            _, frames = await ws_closed_code(ws)
    except trio_websocket.ConnectionRejected as rejected:
        return f"rejected {rejected.status_code}"
    assert "3probe" not in frames, frames
    return "closed"


StartServer = Callable[..., Awaitable["Running"]]


@dataclass
class Running:
    """One served Engine.IO server and what its handlers saw."""

    server: trio_engineio.Server
    app: trio_engineio.ASGIApp
    endpoint: Endpoint
    stop: trio.Event
    stopped: trio.Event
    connects: list[str] = field(default_factory=list)
    messages: list[tuple[str, str | bytes]] = field(default_factory=list)
    disconnects: list[tuple[str, str]] = field(default_factory=list)
    _changed: trio.Event = field(default_factory=trio.Event)

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint.base).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        port = urlsplit(self.endpoint.base).port
        assert port is not None
        return port

    def changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def reasons(self, sid: str) -> list[str]:
        """Every reason the disconnect handler was called with for ``sid``."""
        return [reason for s, reason in self.disconnects if s == sid]

    async def wait_disconnect(self, sid: str) -> str:
        """Wait for the disconnect handler of ``sid``; return its reason."""
        while not self.reasons(sid):
            await self._changed.wait()
        return self.reasons(sid)[0]

    async def wait_messages(self, count: int) -> list[tuple[str, str | bytes]]:
        """Wait until the message handler has seen ``count`` messages."""
        while len(self.messages) < count:
            await self._changed.wait()
        return self.messages

    async def wait_get_pending(self, sid: str) -> None:
        """Wait until a long-poll GET of ``sid`` is attached to its session.

        The wire offers no way to see that a request has reached the server, so
        this looks at the session core (``get_pending``) every few milliseconds.
        """
        while not self.server.connection(sid)._core.get_pending:
            await trio.sleep(0.005)

    async def shutdown(self) -> None:
        """Fire the shutdown trigger and wait for ``serve()`` to return."""
        self.stop.set()
        await self.stopped.wait()
