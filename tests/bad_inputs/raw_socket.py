"""Raw TCP helpers for the tests that talk to real hypercorn byte by byte.

A websocket upgrade request and client frames written by hand, reads until a
marker, a close frame or EOF, and a close by RST instead of FIN.
"""

from __future__ import annotations

import base64
import os
import socket
import struct

import trio
from bi_harness import RealEngine


def ws_request(eng: RealEngine, query: str = "EIO=4&transport=websocket") -> bytes:
    """A websocket upgrade request for ``query`` on the engine's port."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /engine.io/?{query} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{eng.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


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
