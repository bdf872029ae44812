"""Engine.IO v4 spoken by hand: the one wire harness of the tests, both roles.

As a client nothing here uses trio_engineio's own client or codec: payloads are built
and split by hand, requests go out through ``httpx`` with explicit URLs, bodies and
headers, as hand-made ASGI calls, or as raw TCP bytes, and websockets through
``trio_websocket`` or :mod:`trio_engineio.testing` with hand-written frames.

* the format: :data:`RS`, payloads, base64 binaries, the OPEN packet, rejection bodies;
* URLs: :func:`polling_url` / :func:`websocket_url` (relative, in memory) and
  :class:`Endpoint` (a server on loopback);
* requests over httpx and trio-websocket: :func:`handshake`, :func:`poll`, :func:`post`,
  :func:`pending_get` (a long-poll held open), :func:`open_ws`, ``ws_*``; over a
  :class:`~trio_engineio.testing.TestWebSocket`: :func:`ws_receive`, :func:`ws_close_code`;
* ASGI calls made by hand (:func:`asgi_http`, :func:`asgi_websocket`) and raw TCP
  (:func:`raw_http`, :func:`ws_request`, :func:`frame`, ``read_*``, :func:`rst`);
* :class:`Recorder`: python-engineio-style handlers that record what they saw and echo;
  :class:`Running`: such a server on loopback (the ``start_server`` fixture);
* the server role: :class:`FakeEngineIO`, a scripted, misbehaving Engine.IO server (an
  ASGI app) that the client tests talk to, in memory or on loopback with :func:`serve_fake`.
  It speaks just enough Engine.IO v4 to drive the client into the faults of section H
  of ``docs/bad-inputs.md``, and records what the client sent (requests, headers, payload
  sizes, concurrency); it builds its packets with :mod:`trio_engineio.protocol`.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import trio
import trio_websocket
from hypercorn.config import Config
from hypercorn.trio import serve

import trio_engineio
from trio_engineio.protocol import (
    Packet,
    PacketType,
    decode_frame,
    decode_payload,
    encode_frame,
    encode_payload,
)
from trio_engineio.testing import TestWebSocket, WebSocketClosed

# --------------------------------------------------------------------------- the format


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


def parse_open(packet: str | bytes) -> dict[str, Any]:
    """The JSON of an OPEN packet (``0{...}``): a text frame or a polling packet."""
    assert isinstance(packet, str), packet
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


# --------------------------------------------------------------------------------- URLs


def polling_url(sid: str | None = None) -> str:
    """The polling URL of the default path, relative (for in-memory clients); ``sid`` as is."""
    return "/engine.io/?EIO=4&transport=polling" + (f"&sid={sid}" if sid else "")


def websocket_url(sid: str | None = None) -> str:
    """The websocket URL of the default path, relative (for in-memory clients); ``sid`` as is."""
    return "/engine.io/?EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")


class Endpoint:
    """URLs of one running server (``base`` is ``http://127.0.0.1:PORT``)."""

    def __init__(self, base: str, path: str = "/engine.io/") -> None:
        self.base = base
        self.path = path

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        port = urlsplit(self.base).port
        assert port is not None
        return port

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


# ----------------------------------------------- a client over httpx and trio-websocket


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


@dataclass
class PendingGet:
    """A long-poll GET held open by :func:`pending_get`."""

    answered: trio.Event = field(default_factory=trio.Event)
    response: httpx.Response | None = None
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    def packets(self) -> list[str]:
        """The packets of its answer (asserting 200)."""
        assert self.response is not None, "no answer yet"
        assert self.response.status_code == 200, (self.response.status_code, self.response.text)
        return split_payload(self.response.text)

    def abort(self) -> None:
        """Drop the request: httpx closes its connection."""
        self.scope.cancel()


@asynccontextmanager
async def pending_get(
    http: httpx.AsyncClient, endpoint: Endpoint, rec: Recorder, sid: str
) -> AsyncIterator[PendingGet]:
    """A long-poll GET of ``sid``, attached to its session when the block starts.

    Leaving the block waits for the GET's answer (or its :meth:`~PendingGet.abort`).
    """
    get = PendingGet()

    async def run() -> None:
        with get.scope:
            get.response = await http.get(endpoint.polling(sid))
            get.answered.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await rec.wait_get_pending(sid)
        yield get


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


async def ws_receive(ws: TestWebSocket) -> str | bytes:
    """The next non-PING frame (PINGs are answered)."""
    while True:
        frame = await ws.receive()
        if frame == "2":
            await ws.send("3")
            continue
        return frame


async def ws_close_code(ws: TestWebSocket) -> tuple[int, list[str | bytes]]:
    """Read until the app closes the socket; return the code and the frames seen."""
    frames: list[str | bytes] = []
    try:
        while True:
            frames.append(await ws.receive())
    except WebSocketClosed as closed:
        return closed.code, frames


# ------------------------------------------------------------------- ASGI calls by hand


@dataclass
class RawResponse:
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    #: How many body chunks the app pulled with ``receive()``.
    chunks_read: int = 0

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def http_scope(
    method: str = "GET",
    path: str = "/engine.io/",
    query: bytes | str = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    scheme: str = "http",
    root_path: str = "",
    http_version: str = "1.1",
    host: bytes | None = b"testserver",
) -> dict[str, Any]:
    if isinstance(query, str):
        query = query.encode("latin-1")
    all_headers = [(b"host", host)] if host is not None else []
    all_headers += [(k.lower(), v) for k, v in headers]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": http_version,
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode("latin-1", "replace"),
        "query_string": query,
        "root_path": root_path,
        "headers": all_headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }


async def asgi_http(
    app: Any,
    method: str = "GET",
    path: str = "/engine.io/",
    query: bytes | str = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes | list[bytes] = b"",
    *,
    stall: bool = False,
    disconnect: trio.Event | None = None,
    **scope_options: Any,
) -> RawResponse:
    """One HTTP request straight into ``app``, as an ASGI server would make it.

    ``body`` is one chunk or a list of chunks. ``stall=True`` never completes the
    body (like a client that sent less than its Content-Length). Setting
    ``disconnect`` makes the next ``receive()`` return ``http.disconnect`` (a
    client that went away); after the response, ``receive()`` answers
    ``http.disconnect`` as hypercorn does.
    """
    scope = http_scope(method, path, query, headers, **scope_options)
    chunks = body if isinstance(body, list) else [body]
    response = RawResponse()
    done = trio.Event()
    gone = disconnect if disconnect is not None else trio.Event()
    index = 0

    async def receive() -> dict[str, Any]:
        nonlocal index
        if gone.is_set():
            return {"type": "http.disconnect"}
        if index < len(chunks):
            chunk = chunks[index]
            index += 1
            response.chunks_read = index
            more = index < len(chunks) or stall
            return {"type": "http.request", "body": chunk, "more_body": more}
        async with trio.open_nursery() as nursery:

            async def wait(event: trio.Event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(wait, gone)
            nursery.start_soon(wait, done)
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert response.status is None, "response started twice"
            response.status = int(message["status"])
            response.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            assert response.status is not None
            response.body += message.get("body", b"")
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    return response


def ws_scope(
    path: str = "/engine.io/",
    query: bytes | str = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    scheme: str = "ws",
    host: bytes | None = b"testserver",
) -> dict[str, Any]:
    scope = http_scope("GET", path, query, headers, scheme=scheme, host=host)
    del scope["method"]
    scope["type"] = "websocket"
    scope["subprotocols"] = []
    scope["extensions"] = {"websocket.http.response": {}}
    return scope


async def asgi_websocket(
    app: Any, scope: dict[str, Any], events: list[dict[str, Any]], *, max_frames: int = 100
) -> list[dict[str, Any]]:
    """Feed ``events`` to a websocket ASGI call; return what the app sent.

    After the scripted events the client disconnects. The app must return.
    """
    sent: list[dict[str, Any]] = []
    queue = list(events)
    closed = trio.Event()

    async def receive() -> dict[str, Any]:
        if queue:
            await trio.lowlevel.checkpoint()
            return queue.pop(0)
        await closed.wait()
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] in ("websocket.close", "websocket.http.response.body") or len(sent) > max_frames:
            closed.set()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:

            async def run() -> None:
                await app(scope, receive, send)
                nursery.cancel_scope.cancel()

            nursery.start_soon(run)
            # nothing more to say: once the script is out, let the peer go
            while queue:
                await trio.sleep(0.001)
            await trio.sleep(1)
            closed.set()
    return sent


# ------------------------------------------------------------------------------ raw TCP


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


class _OnLoopback(Protocol):
    """A server on loopback: an :class:`Endpoint`, or an engine that is one."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


def ws_request(target: _OnLoopback, query: str = "EIO=4&transport=websocket") -> bytes:
    """A websocket upgrade request for ``query`` on the port of ``target`` (an engine, an endpoint)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /engine.io/?{query} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{target.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def raw_websocket_session(eng: _OnLoopback) -> tuple[trio.SocketStream, str]:
    """A websocket-only session over a raw TCP socket; returns the stream and the sid."""
    stream = await trio.open_tcp_stream(eng.host, eng.port)
    await stream.send_all(ws_request(eng))
    received = await read_until(stream, b"\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 101"), received
    received = await read_until(stream, b"}", received.split(b"\r\n\r\n", 1)[1])
    sid = parse_open(received[2:].decode())["sid"]
    return stream, sid


def frame(payload: bytes, *, opcode: int = 1, rsv: int = 0, masked: bool = True) -> bytes:
    """One client frame (masked text by default), any payload length."""
    head = bytes([0x80 | (rsv << 4) | opcode])
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_until(stream: trio.SocketStream, marker: bytes, received: bytes = b"") -> bytes:
    """Read until ``marker`` has arrived (or EOF); return everything read."""
    while marker not in received:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        received += chunk
    return received


async def read_to_eof(stream: trio.SocketStream) -> bytes:
    """Read until the server closes (FIN or RST); return everything read."""
    received = b""
    try:
        while chunk := await stream.receive_some(65536):
            received += chunk
    except trio.BrokenResourceError:
        pass
    return received


async def read_until_close_frame(stream: trio.SocketStream, received: bytes = b"") -> bytes:
    """Read server frames until a close frame (or EOF); return what came."""
    while True:
        data = received
        while len(data) >= 2:  # walk the (unmasked) server frames
            length = data[1] & 0x7F
            offset = 2
            if length == 126:
                length, offset = struct.unpack("!H", data[2:4])[0], 4
            elif length == 127:
                length, offset = struct.unpack("!Q", data[2:10])[0], 10
            if len(data) < offset + length:
                break
            if data[0] & 0x0F == 8:
                return received
            data = data[offset + length :]
        try:
            chunk = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            return received
        if not chunk:
            return received
        received += chunk


def rst(stream: trio.SocketStream) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


# --------------------------------------------------------------------- recorded servers


class Recorder:
    """What the python-engineio-style handlers saw (``echo`` sends every message back).

    ``on_connect(sid, environ)`` (sync or async) gives the connect handler's verdict;
    without it every session is accepted. ``connected`` lists every connect call.
    """

    def __init__(
        self,
        server: trio_engineio.Server,
        *,
        echo: bool = True,
        on_connect: Callable[[str, Any], Any] | None = None,
    ) -> None:
        self.server = server
        self.connected: list[str] = []
        self.messages: list[tuple[str, Any]] = []
        self.disconnects: list[tuple[str, Any]] = []
        self._changed = trio.Event()
        self.echo = echo
        #: Sessions that are always echoed (the bystanders), whatever ``echo`` says.
        self.bystanders: list[str] = []

        if on_connect is None:

            @server.on("connect")
            def connect(sid: str, environ: Any) -> None:
                self.connected.append(sid)
                self.changed()

        else:

            @server.on("connect")
            async def connect_with_verdict(sid: str, environ: Any) -> Any:
                self.connected.append(sid)
                self.changed()
                verdict = on_connect(sid, environ)
                return await verdict if inspect.isawaitable(verdict) else verdict

        @server.on("message")
        async def message(sid: str, data: Any) -> None:
            self.messages.append((sid, data))
            self.changed()
            if self.echo or sid in self.bystanders:
                await server.send(sid, data)

        @server.on("disconnect")
        def disconnect(sid: str, reason: Any) -> None:
            self.disconnects.append((sid, reason))
            self.changed()

    def changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def of(self, sid: str) -> list[Any]:
        """Messages the handler got from ``sid``."""
        return [data for s, data in self.messages if s == sid]

    def reasons(self, sid: str) -> list[Any]:
        """Every reason the disconnect handler was called with for ``sid``."""
        return [reason for s, reason in self.disconnects if s == sid]

    async def wait_disconnect(self, sid: str, limit: float = 60) -> Any:
        """The ``DisconnectReason`` of ``sid`` (a ``str`` with ``.description``)."""
        with trio.fail_after(limit):
            while not self.reasons(sid):
                await self._changed.wait()
        return self.reasons(sid)[0]

    async def wait_messages(self, sid: str, count: int, limit: float = 60) -> list[Any]:
        """Wait until the message handler has seen ``count`` messages from ``sid``; return them."""
        with trio.fail_after(limit):
            while len(self.of(sid)) < count:
                await self._changed.wait()
        return self.of(sid)

    async def wait_get_pending(self, sid: str, limit: float = 5) -> None:
        """Wait until a long-poll GET of ``sid`` is attached to its session.

        The wire offers no way to see that a request has reached the server, so
        this looks at the session core (``get_pending``) every few milliseconds.
        """
        with trio.fail_after(limit):
            while not self.server.connection(sid).core.get_pending:
                await trio.sleep(0.005)

    def check_disconnects(self) -> None:
        """The disconnect handler ran at most once per session, and once per accepted session."""
        sids = [sid for sid, _ in self.disconnects]
        assert len(sids) == len(set(sids)), f"disconnect ran twice: {self.disconnects!r}"
        stats = self.server.statistics()
        assert len(sids) == stats.sessions_opened, (self.disconnects, stats)

    def check_once(self) -> None:
        """:meth:`check_disconnects`, and every connect call was an accepted session."""
        self.check_disconnects()
        sids = sorted(sid for sid, _ in self.disconnects)
        assert sids == sorted(set(self.connected)), (self.connected, self.disconnects)


StartServer = Callable[..., Awaitable["Running"]]


class Running(Recorder):
    """One echo server on loopback (from the ``start_server`` fixture) and what its handlers saw."""

    def __init__(
        self, server: trio_engineio.Server, app: trio_engineio.ASGIApp, endpoint: Endpoint, **recorder: Any
    ) -> None:
        super().__init__(server, **recorder)
        self.app = app
        self.endpoint = endpoint
        self.stop = trio.Event()
        self.stopped = trio.Event()

    async def shutdown(self) -> None:
        """Fire the shutdown trigger and wait for ``serve()`` to return."""
        self.stop.set()
        await self.stopped.wait()


# ----------------------------------------------------- the server role: a scripted fake


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Request:
    """One request as the fake server saw it."""

    kind: str  # "GET", "POST" or "WS"
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeEngineIO:
    """The script (fields set before the test) and the recording (filled during it)."""

    ping_interval_ms: int = 25_000
    ping_timeout_ms: int = 20_000
    max_payload: int = 1_000_000
    upgrades: tuple[str, ...] = ("websocket",)
    sid: str = "fake-sid"
    #: Extra response headers of the handshake (e.g. Set-Cookie).
    handshake_headers: list[tuple[str, str]] = field(default_factory=list)
    #: (status, JSON body) to refuse the handshake with.
    reject: tuple[int, dict[str, Any]] | None = None
    #: Raw handshake body / first websocket frame, replacing the real OPEN packet.
    handshake_body: bytes | None = None
    #: Never answer the handshake.
    stall_handshake: bool = False
    #: Never answer the first POST (later ones are answered).
    stall_first_post: bool = False
    #: Echo received messages back to the client.
    echo: bool = True
    #: What the upgrade websocket does: "ok", "silent" (no 3probe), "garbage", "close", "reject".
    probe: str = "ok"
    #: Raw bodies the next GETs answer with (before any queued packets).
    scripted_gets: list[bytes] = field(default_factory=list)
    #: If set, scripted GETs after the first wait for this event before answering.
    scripted_gets_gate: trio.Event | None = None
    #: Status POSTs are answered with once read (200: normal; else a JSON error body).
    post_status: int = 200
    #: Answer GETs with an endless chunked body (no Content-Length) after the handshake.
    endless_get: bool = False
    #: Bytes of the endless body sent so far.
    endless_sent: int = 0

    requests: list[Request] = field(default_factory=list)
    post_sizes: list[int] = field(default_factory=list)
    messages: list[str | bytes] = field(default_factory=list)
    close_packets: int = 0
    http_disconnects: int = 0
    max_gets_in_flight: int = 0
    max_posts_in_flight: int = 0
    websocket_closed: int = 0
    upgraded: bool = False
    probed: bool = False
    outgoing: list[Packet] = field(default_factory=list)

    _gets: int = 0
    _scripted_answered: int = 0
    _posts: int = 0
    _changed: trio.Event = field(default_factory=trio.Event)
    events: dict[str, trio.Event] = field(default_factory=dict)

    # ---------------------------------------------------------------- helpers
    def event(self, name: str) -> trio.Event:
        """A named event the server sets when something happens ("handshake", "get", "post", "probe")."""
        return self.events.setdefault(name, trio.Event())

    def changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    def queue(self, *packets: Packet) -> None:
        """Queue packets for the client (next GET, or the websocket after the upgrade)."""
        self.outgoing.extend(packets)
        self.changed()

    def open_packet(self, upgrades: tuple[str, ...] | None = None) -> Packet:
        body = {
            "sid": self.sid,
            "upgrades": list(self.upgrades if upgrades is None else upgrades),
            "pingInterval": self.ping_interval_ms,
            "pingTimeout": self.ping_timeout_ms,
            "maxPayload": self.max_payload,
        }
        return Packet(PacketType.OPEN, json.dumps(body))

    def _receive_packets(self, packets: list[Packet]) -> None:
        for packet in packets:
            if packet.type is PacketType.MESSAGE:
                self.messages.append(packet.data)
                if self.echo:
                    self.outgoing.append(packet)
            elif packet.type is PacketType.CLOSE:
                self.close_packets += 1
        self.changed()

    # -------------------------------------------------------------------- ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["type"] == "websocket":
            self.requests.append(Request("WS", query, headers))
            self.changed()
            await self._websocket(query, receive, send)
            return
        self.requests.append(Request(scope["method"], query, headers))
        self.changed()
        if "sid" not in query:
            await self._handshake(receive, send)
        elif scope["method"] == "POST":
            await self._post(receive, send)
        else:
            await self._get(receive, send)

    async def _respond(
        self, send: Send, status: int, body: bytes, headers: list[tuple[str, str]] | None = None
    ) -> None:
        raw = [(b"content-type", b"text/plain; charset=UTF-8"), (b"content-length", str(len(body)).encode())]
        raw += [(k.encode(), v.encode()) for k, v in headers or []]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _refuse(
        self, send: Send, status: int, body: dict[str, Any], *, websocket: bool = False
    ) -> None:
        """Answer ``status`` with a JSON body (for a websocket: before accepting it)."""
        prefix = "websocket.http" if websocket else "http"
        head = [(b"content-type", b"application/json")]
        await send({"type": f"{prefix}.response.start", "status": status, "headers": head})
        await send({"type": f"{prefix}.response.body", "body": json.dumps(body).encode()})

    async def _until_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.http_disconnects += 1
        self.changed()

    async def _handshake(self, receive: Receive, send: Send) -> None:
        self.event("handshake").set()
        if self.stall_handshake:
            await self._until_disconnect(receive)
            return
        if self.reject is not None:
            await self._refuse(send, *self.reject)
            return
        body = (
            self.handshake_body if self.handshake_body is not None else encode_payload([self.open_packet()])
        )
        await self._respond(send, 200, body, self.handshake_headers)

    async def _post(self, receive: Receive, send: Send) -> None:
        self._posts += 1
        self.max_posts_in_flight = max(self.max_posts_in_flight, self._posts)
        try:
            body = b""
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self.http_disconnects += 1
                    return
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.post_sizes.append(len(body))
            first = not self.event("post").is_set()
            self.event("post").set()
            if first and self.stall_first_post:
                await self._until_disconnect(receive)
                return
            if len(body) > self.max_payload:
                await self._respond(send, 413, b"payload too large")
                return
            if self.post_status != 200:
                await self._respond(send, self.post_status, b'{"code":1,"message":"Session ID unknown"}')
                return
            self._receive_packets(decode_payload(body))
            await self._respond(send, 200, b"ok")
        finally:
            self._posts -= 1

    async def _get(self, receive: Receive, send: Send) -> None:
        self._gets += 1
        self.max_gets_in_flight = max(self.max_gets_in_flight, self._gets)
        self.event("get").set()
        self.changed()
        try:
            if self.scripted_gets:
                body = self.scripted_gets.pop(0)
                if self.scripted_gets_gate is not None and self._scripted_answered > 0:
                    await self.scripted_gets_gate.wait()
                self._scripted_answered += 1
                await self._respond(send, 200, body)
                return
            if self.endless_get:
                head = [(b"content-type", b"text/plain; charset=UTF-8")]
                await send({"type": "http.response.start", "status": 200, "headers": head})
                async with trio.open_nursery() as nursery:

                    async def stream() -> None:
                        chunk = b"4" + b"x" * 65535
                        while True:  # until the client goes away
                            await send({"type": "http.response.body", "body": chunk, "more_body": True})
                            self.endless_sent += len(chunk)
                            chunk = b"x" * 65536

                    nursery.start_soon(stream)
                    await self._until_disconnect(receive)
                    nursery.cancel_scope.cancel()
                return
            if self.upgraded:
                await self._respond(send, 400, b'{"code":3,"message":"Bad request"}')
                return
            async with trio.open_nursery() as nursery:

                async def watch() -> None:
                    await self._until_disconnect(receive)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(watch)
                await self.wait_for(lambda: bool(self.outgoing) or self.upgraded or self.probed)
                if self.upgraded or self.probed:
                    packets = [Packet(PacketType.NOOP)]  # release the poll; the queue waits for the websocket
                else:
                    packets = self.outgoing[:]
                    self.outgoing.clear()
                await self._respond(send, 200, encode_payload(packets))
                nursery.cancel_scope.cancel()
        finally:
            self._gets -= 1
            self.changed()

    async def _websocket(self, query: dict[str, str], receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        if "sid" in query and self.probe == "reject":
            await self._refuse(send, 400, {"code": 3, "message": "Bad request"}, websocket=True)
            return
        if "sid" not in query and self.reject is not None:
            await self._refuse(send, *self.reject, websocket=True)
            return
        await send({"type": "websocket.accept"})
        try:
            if "sid" not in query and self.stall_handshake:
                self.event("handshake").set()
                await self._until_ws_closed(receive)  # accepted, but no OPEN frame ever
            if "sid" not in query:
                first = (
                    self.handshake_body.decode()
                    if self.handshake_body is not None
                    else encode_frame(self.open_packet(upgrades=()))
                )
                await send({"type": "websocket.send", "text": first})
            else:
                frame = await self._ws_receive(receive)
                self.event("probe").set()
                if frame != "2probe" or self.probe == "silent":
                    await self._until_ws_closed(receive)
                    return
                if self.probe == "close":
                    await send({"type": "websocket.close", "code": 1000})
                    return
                if self.probe == "garbage":
                    await send({"type": "websocket.send", "text": "3garbage"})
                    await self._until_ws_closed(receive)
                    return
                self.probed = True
                self.changed()
                await send({"type": "websocket.send", "text": "3probe"})
                try:
                    if await self._ws_receive(receive) != "5":
                        await self._until_ws_closed(receive)
                        return
                finally:
                    self.probed = False
                self.upgraded = True
                self.changed()
            await self._websocket_session(receive, send)
        except _WebSocketGone:
            pass
        finally:
            self.websocket_closed += 1
            self.changed()

    async def _ws_receive(self, receive: Receive) -> str | bytes:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            raise _WebSocketGone
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    async def _until_ws_closed(self, receive: Receive) -> None:
        while True:
            await self._ws_receive(receive)

    async def _websocket_session(self, receive: Receive, send: Send) -> None:
        async with trio.open_nursery() as nursery:

            async def writer() -> None:
                while True:
                    await self.wait_for(lambda: bool(self.outgoing))
                    packets, self.outgoing[:] = self.outgoing[:], []
                    for packet in packets:
                        frame = encode_frame(packet)
                        key = "bytes" if isinstance(frame, bytes) else "text"
                        await send({"type": "websocket.send", key: frame})

            nursery.start_soon(writer)
            try:
                while True:
                    frame = await self._ws_receive(receive)
                    self._receive_packets([decode_frame(frame)])
                    if self.close_packets:
                        await send({"type": "websocket.close", "code": 1000})
                        return
            finally:
                nursery.cancel_scope.cancel()


class _WebSocketGone(Exception):
    pass


@asynccontextmanager
async def serve_fake(fake: FakeEngineIO, **config: Any) -> AsyncIterator[str]:
    """Serve ``fake`` with hypercorn (trio worker) on 127.0.0.1:0; yield its base URL."""
    cfg = Config()
    cfg.bind = ["127.0.0.1:0"]
    cfg.graceful_timeout = 0.5
    cfg.accesslog = None
    cfg.errorlog = None
    for key, value in config.items():
        setattr(cfg, key, value)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(partial(serve, fake, cfg, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
        try:
            yield urls[0]
        finally:
            stop.set()
