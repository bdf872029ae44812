"""A scripted, misbehaving Engine.IO server (an ASGI app) used as a test peer for the client.

It speaks just enough Engine.IO v4 to drive the client into the faults of notes section H,
and records what the client sent (requests, headers, payload sizes, concurrency). Run it
in memory through ``httpx.ASGITransport`` (polling only; autojump_clock friendly) or on a
real socket with :func:`serve_fake` (hypercorn's trio worker; polling and websocket).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qs

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from trio_engineio.protocol import (
    Packet,
    PacketType,
    decode_frame,
    decode_payload,
    encode_frame,
    encode_payload,
)

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
            status, body = self.reject
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": json.dumps(body).encode()})
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
            body = b'{"code":3,"message":"Bad request"}'
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
            return
        if "sid" not in query and self.reject is not None:
            status, reject_body = self.reject
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": json.dumps(reject_body).encode()})
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
