"""A raw Socket.IO peer over an in-memory websocket (``trio_engineio.testing``), for server tests.

It speaks Engine.IO frames by hand (``4`` + Socket.IO packet, binary frames as
attachments) so that tests can send exactly what a hostile client would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from trio_engineio.socketio.protocol import Decoder, Packet, PacketType, encode
from trio_engineio.testing import TestWebSocket, WebSocketClosed, open_websocket

URL = "/socket.io/?EIO=4&transport=websocket"


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
