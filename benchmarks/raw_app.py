"""The ceiling: a raw ASGI app that speaks just enough Engine.IO v4 for the load generator.

Handshake (OPEN packet), polling GET/POST, websocket frames, PINGs every interval,
and the benchmark conventions (``_conventions``). No validation, no upgrades, no
timeouts, no backpressure: whatever trio_engineio costs above this is the price of
doing the job properly (or of doing it slowly). Serve with
``hypercorn --worker-class trio benchmarks.raw_app:app``.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import trio

from ._conventions import MAX_PAYLOAD, answers, ping_interval_ms, ping_timeout_ms

INTERVAL = ping_interval_ms() / 1000
_TEXT_HEADERS = [
    (b"content-type", b"text/plain; charset=UTF-8"),
    (b"cache-control", b"no-store"),
    (b"access-control-allow-origin", b"*"),
]


def _open_packet(sid: str, upgrades: list[str]) -> str:
    handshake = {
        "sid": sid,
        "upgrades": upgrades,
        "pingInterval": ping_interval_ms(),
        "pingTimeout": ping_timeout_ms(),
        "maxPayload": MAX_PAYLOAD,
    }
    return "0" + json.dumps(handshake, separators=(",", ":"))


class _PollingSession:
    __slots__ = ("closed", "count", "queue", "wakeup")

    def __init__(self) -> None:
        self.queue: list[str] = []
        self.count = 0
        self.wakeup = trio.Event()
        self.closed = False

    def push(self, packet: str) -> None:
        self.queue.append(packet)
        self.wakeup.set()


_sessions: dict[str, _PollingSession] = {}


async def _websocket(receive: Any, send: Any) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": _open_packet(secrets.token_urlsafe(15), [])})
    count = 0
    next_ping = trio.current_time() + INTERVAL
    while True:
        message = None
        with trio.move_on_at(next_ping):
            message = await receive()
        if message is None:
            await send({"type": "websocket.send", "text": "2"})
            next_ping += INTERVAL
            continue
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
            continue
        kind = text[:1]
        if kind == "4":
            count, replies = answers(text[1:], count)
            for reply in replies:
                await send({"type": "websocket.send", "text": "4" + reply})
        elif kind == "1":
            await send({"type": "websocket.close", "code": 1000})
            return


async def _respond(send: Any, body: bytes, status: int = 200) -> None:
    headers = [*_TEXT_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    sid = None
    for part in scope["query_string"].split(b"&"):
        if part.startswith(b"sid="):
            sid = part[4:].decode()
    if scope["method"] == "OPTIONS":
        await _respond(send, b"", 204)
        return
    if sid is None:
        sid = secrets.token_urlsafe(15)
        _sessions[sid] = _PollingSession()
        await _respond(send, _open_packet(sid, []).encode())
        return
    session = _sessions.get(sid)
    if session is None:
        await _respond(send, b'{"code":1,"message":"Session ID unknown"}', 400)
        return
    if scope["method"] == "GET":
        if not session.queue and not session.closed:
            with trio.move_on_after(INTERVAL):
                await session.wakeup.wait()
            if not session.queue and not session.closed:
                session.queue.append("2")
        packets, session.queue = session.queue, []
        session.wakeup = trio.Event()
        if session.closed:
            packets.append("1")
        await _respond(send, "\x1e".join(packets).encode())
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    for packet in b"".join(chunks).decode().split("\x1e"):
        kind = packet[:1]
        if kind == "4":
            session.count, replies = answers(packet[1:], session.count)
            for reply in replies:
                session.push("4" + reply)
        elif kind == "b":
            session.push(packet)  # a binary message, base64 both ways: echo as is
        elif kind == "1":
            session.closed = True
            session.wakeup.set()
            _sessions.pop(sid, None)
    await _respond(send, b"ok")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "websocket":
        await _websocket(receive, send)
    elif kind == "http":
        await _http(scope, receive, send)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
