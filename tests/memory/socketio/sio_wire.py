"""A raw Socket.IO peer over an in-memory websocket (``trio_engineio.testing``), for server tests.

It speaks Engine.IO frames by hand (``4`` + Socket.IO packet, binary frames as
attachments) so that tests can send exactly what a hostile client would. Also
the in-memory server harness: :func:`quiet_server`, :func:`running` (for raw
peers) and :func:`served` (for our client over httpx's ASGI transport).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from trio_engineio import socketio
from trio_engineio.socketio.protocol import Decoder, Packet, PacketType, encode
from trio_engineio.testing import TestWebSocket, WebSocketClosed, open_test_client, open_websocket

URL = "/socket.io/?EIO=4&transport=websocket"
#: What :class:`socketio.Client` connects to with :func:`served`'s options.
CLIENT_URL = "http://testserver"


class EngineClosed(Exception):
    """The server sent the Engine.IO CLOSE packet."""


class WirePeer:
    """One in-memory websocket session speaking Socket.IO."""

    def __init__(self, ws: TestWebSocket, open_packet: dict[str, Any]) -> None:
        self.ws = ws
        self.engine_sid: str = open_packet["sid"]
        self.decoder = Decoder()

    async def send_raw(self, data: str | bytes) -> None:
        """Send one Engine.IO message (text gets the MESSAGE prefix)."""
        await self.ws.send("4" + data if isinstance(data, str) else data)

    async def send(self, packet: Packet) -> None:
        for message in encode(packet):
            await self.send_raw(message)

    async def connect(self, namespace: str = "/", auth: Any = None) -> Packet:
        await self.send(Packet(PacketType.CONNECT, namespace, auth))
        return await self.receive()

    async def receive(self) -> Packet:
        """The next Socket.IO packet (answers PINGs on the way)."""
        while True:
            frame = await self.ws.receive()
            if isinstance(frame, bytes):
                packet = self.decoder.feed(frame)
            elif frame == "2":
                await self.ws.send("3")
                continue
            elif frame == "1":
                raise EngineClosed
            elif frame.startswith("4"):
                packet = self.decoder.feed(frame[1:])
            else:
                raise AssertionError(f"unexpected engine frame {frame!r}")
            if packet is not None:
                return packet

    async def closed(self) -> str:
        """Wait for the server to end the engine session; the frames seen before it (engine CLOSE '1')."""
        seen = []
        try:
            while True:
                seen.append(await self.ws.receive())
        except WebSocketClosed:
            return "".join(str(frame) for frame in seen)


@asynccontextmanager
async def open_peer(app: Any) -> AsyncIterator[WirePeer]:
    async with open_websocket(app, URL) as ws:
        frame = await ws.receive()
        assert isinstance(frame, str)
        assert frame.startswith("0"), frame
        yield WirePeer(ws, json.loads(frame[1:]))


async def nothing_for(peer: WirePeer, seconds: float = 1) -> None:
    with trio.move_on_after(seconds):
        packet = await peer.receive()
        raise AssertionError(f"unexpected {packet}")


def quiet_server(**options: Any) -> socketio.Server:
    """A server whose heartbeats stay out of the way (100 s) unless ``options`` say otherwise."""
    options.setdefault("ping_interval", 100)
    options.setdefault("ping_timeout", 100)
    return socketio.Server(**options)


def echo_server() -> socketio.Server:
    """:func:`quiet_server` whose ``echo`` event acks its arguments back."""
    sio = quiet_server()
    sio.on("echo", lambda sid, *args: args)
    return sio


@asynccontextmanager
async def running(sio: socketio.Server) -> AsyncIterator[socketio.ASGIApp]:
    """The server running; yields its ASGI app for :func:`open_peer`."""
    app = socketio.ASGIApp(sio)
    async with sio:
        yield app


@asynccontextmanager
async def served(sio: socketio.Server) -> AsyncIterator[dict[str, Any]]:
    """The server running, and the :class:`socketio.Client` options that reach it in memory."""
    async with running(sio) as app, open_test_client(app) as http:
        yield {"http_client": http}
