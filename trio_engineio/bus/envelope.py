"""The wire format of bus messages: a small, versioned, binary envelope.

Every envelope starts with three bytes, *version*, *kind* and *flags*, then the
*origin* (the publishing node's id, empty for an emitter) as one length byte and
ASCII. What follows depends on the kind::

    send        sid_len:u8 sid  payload
    disconnect  sid_len:u8 sid
    broadcast   count:u32 (sid_len:u8 sid) * count  payload
    relay       payload (always binary: opaque bytes for the layer above the engine)

Integers are big-endian; the payload runs to the end of the envelope, so it is
exactly what was sent: UTF-8 text, or binary (flag ``0x01``) taken as is. Nothing in
it is ever evaluated: :func:`decode` checks every field and raises
:class:`InvalidEnvelope` for anything it does not expect, so a node can count and
drop it. A receiver that gets a newer ``version`` drops it as invalid too: bump the
version only with a rollout plan (old nodes will drop the new messages).
"""

from __future__ import annotations

import struct

from ..protocol.query import MAX_SID_LENGTH, SID_CHARS
from .messages import (
    MAX_NODE_ID_LENGTH,
    BusBroadcast,
    BusDisconnect,
    BusMessage,
    BusRelay,
    BusSend,
    check_node_id,
)

__all__ = ["VERSION", "InvalidEnvelope", "decode", "encode"]

#: The envelope version this library writes and reads.
VERSION = 1

_SEND, _DISCONNECT, _BROADCAST, _RELAY = 1, 2, 3, 4
_BINARY = 0x01
_HEADER = struct.Struct("!BBB")
_COUNT = struct.Struct("!I")


class InvalidEnvelope(ValueError):
    """Bytes received from the bus that are not a valid envelope (the message says why)."""


def _check_sid(sid: object) -> bytes:
    if not isinstance(sid, str):
        raise TypeError(f"session id must be a str, not {type(sid).__name__}")
    if not sid or len(sid) > MAX_SID_LENGTH or not SID_CHARS.issuperset(sid):
        raise ValueError(f"not a session id: {sid[:60]!r}")
    return sid.encode("ascii")


def _payload(data: object) -> tuple[int, bytes]:
    if isinstance(data, str):
        return 0, data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return _BINARY, bytes(data)
    raise TypeError(f"bus message data must be str or bytes, not {type(data).__name__}")


def encode(message: BusMessage, origin: str = "") -> bytes:
    """The envelope of ``message`` published by node ``origin`` (``""``: no node).

    ``TypeError``/``ValueError`` for what cannot be encoded (a session id outside the
    session id character set, text that is not encodable as UTF-8, data that is neither
    ``str`` nor ``bytes``).
    """
    origin_bytes = check_node_id(origin).encode("ascii") if origin else b""
    if isinstance(message, BusSend):
        flags, payload = _payload(message.data)
        sid = _check_sid(message.sid)
        body = [_HEADER.pack(VERSION, _SEND, flags), bytes([len(sid)]), sid, payload]
    elif isinstance(message, BusDisconnect):
        sid = _check_sid(message.sid)
        body = [_HEADER.pack(VERSION, _DISCONNECT, 0), bytes([len(sid)]), sid]
    elif isinstance(message, BusBroadcast):
        flags, payload = _payload(message.data)
        body = [_HEADER.pack(VERSION, _BROADCAST, flags), _COUNT.pack(len(message.exclude))]
        for excluded in message.exclude:
            sid = _check_sid(excluded)
            body += (bytes([len(sid)]), sid)
        body.append(payload)
    elif isinstance(message, BusRelay):
        if not isinstance(message.payload, bytes):
            raise TypeError(f"relay payload must be bytes, not {type(message.payload).__name__}")
        body = [_HEADER.pack(VERSION, _RELAY, _BINARY), message.payload]
    else:
        raise TypeError(f"not a bus message: {type(message).__name__}")
    body.insert(1, bytes([len(origin_bytes)]) + origin_bytes)
    return b"".join(body)


class _Reader:
    """Reads the fields of one envelope, raising :class:`InvalidEnvelope` when one is cut short."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.at = 0

    def take(self, size: int, what: str) -> bytes:
        end = self.at + size
        if end > len(self.raw):
            raise InvalidEnvelope(f"truncated {what}")
        chunk = self.raw[self.at : end]
        self.at = end
        return chunk

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def sid(self) -> str:
        size = self.byte("session id length")
        raw = self.take(size, "session id")
        try:
            sid = raw.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidEnvelope("session id is not ASCII") from None
        if not sid or len(sid) > MAX_SID_LENGTH or not SID_CHARS.issuperset(sid):
            raise InvalidEnvelope(f"bad session id {sid[:60]!r}")
        return sid

    def rest(self) -> bytes:
        chunk = self.raw[self.at :]
        self.at = len(self.raw)
        return chunk


def _data(flags: int, payload: bytes) -> str | bytes:
    if flags & _BINARY:
        return payload
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEnvelope("text payload is not valid UTF-8") from None


def decode(raw: bytes, max_size: int) -> tuple[BusMessage, str]:
    """The message in envelope ``raw`` and the id of the node that published it (``""``: none).

    ``raw`` is untrusted: anything but a well-formed envelope of at most ``max_size``
    bytes raises :class:`InvalidEnvelope`, and nothing else.
    """
    if not isinstance(raw, bytes):
        raise InvalidEnvelope(f"expected bytes, got {type(raw).__name__}")
    if len(raw) > max_size:
        raise InvalidEnvelope(f"{len(raw)} bytes, over the limit of {max_size}")
    if len(raw) < _HEADER.size + 1:
        raise InvalidEnvelope("truncated header")
    version, kind, flags = _HEADER.unpack_from(raw)
    if version != VERSION:
        raise InvalidEnvelope(f"unsupported envelope version {version} (this node reads {VERSION})")
    reader = _Reader(raw)
    reader.at = _HEADER.size
    origin_size = reader.byte("origin length")
    if origin_size > MAX_NODE_ID_LENGTH:
        raise InvalidEnvelope("origin too long")
    try:
        origin = reader.take(origin_size, "origin").decode("ascii")
        if origin:
            check_node_id(origin)
    except (UnicodeDecodeError, ValueError):
        raise InvalidEnvelope("bad origin node id") from None
    message: BusMessage
    if kind == _SEND:
        if flags & ~_BINARY:
            raise InvalidEnvelope(f"unknown flags {flags:#x}")
        sid = reader.sid()
        message = BusSend(sid, _data(flags, reader.rest()))
    elif kind == _DISCONNECT:
        if flags:
            raise InvalidEnvelope(f"unknown flags {flags:#x}")
        message = BusDisconnect(reader.sid())
        if reader.at != len(raw):
            raise InvalidEnvelope("trailing bytes after a disconnect")
    elif kind == _BROADCAST:
        if flags & ~_BINARY:
            raise InvalidEnvelope(f"unknown flags {flags:#x}")
        (count,) = _COUNT.unpack(reader.take(_COUNT.size, "exclusion count"))
        # Each excluded id takes at least two bytes: refuse a count the envelope cannot hold
        # before looping over it.
        if count * 2 > len(raw) - reader.at:
            raise InvalidEnvelope(f"exclusion count {count} does not fit the envelope")
        exclude = frozenset(reader.sid() for _ in range(count))
        message = BusBroadcast(_data(flags, reader.rest()), exclude)
    elif kind == _RELAY:
        if flags != _BINARY:
            raise InvalidEnvelope(f"unexpected flags {flags:#x} for a relay")
        message = BusRelay(reader.rest())
    else:
        raise InvalidEnvelope(f"unknown message kind {kind}")
    return message, origin
