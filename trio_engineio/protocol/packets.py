"""Engine.IO v4 packets, websocket frames and long-polling payloads.

A websocket carries one packet per frame: a text frame is ``<type digit><data>``
and a binary frame is a binary MESSAGE as is. A long-polling body joins packets
with the record separator ``\\x1e``; binary messages travel as ``b`` followed by
their base64 encoding. Message data is opaque: ``str`` or ``bytes``, never parsed.
"""

from __future__ import annotations

import binascii
import enum
from base64 import b64decode, b64encode
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import ParseError

__all__ = [
    "RECORD_SEPARATOR",
    "Packet",
    "PacketType",
    "decode_frame",
    "decode_payload",
    "encode_frame",
    "encode_message_frame",
    "encode_payload",
    "encoded_payload_size",
    "message_in_frame",
    "message_size",
]

#: Separates packets inside a long-polling payload.
RECORD_SEPARATOR = "\x1e"


class PacketType(enum.IntEnum):
    """The seven Engine.IO packet types."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_TYPE_BY_CHAR = {str(int(t)): t for t in PacketType}
_CHAR_BY_TYPE = {t: str(int(t)) for t in PacketType}


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet.

    ``data`` is ``str`` for every packet type except a binary MESSAGE, whose
    data is ``bytes``. Only MESSAGE may carry bytes.
    """

    type: PacketType
    data: str | bytes = ""

    def __post_init__(self) -> None:
        if isinstance(self.data, bytes | bytearray | memoryview):
            if self.type is not PacketType.MESSAGE:
                raise ValueError("only MESSAGE packets may carry binary data")
            if not isinstance(self.data, bytes):
                object.__setattr__(self, "data", bytes(self.data))
        elif not isinstance(self.data, str):
            raise TypeError(f"packet data must be str or bytes, not {type(self.data).__name__}")

    @property
    def is_binary(self) -> bool:
        """True for a MESSAGE whose data is bytes."""
        return isinstance(self.data, bytes)


def encode_frame(packet: Packet) -> str | bytes:
    """Encode ``packet`` as one websocket frame (``bytes`` means a binary frame)."""
    data = packet.data
    if isinstance(data, bytes):
        return data
    return _CHAR_BY_TYPE[packet.type] + data


def message_size(data: str | bytes) -> int:
    """What a queued message counts in ``buffered_bytes`` (both cores): its data's UTF-8 size."""
    if isinstance(data, bytes):
        return len(data)
    return len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))


def encode_message_frame(data: str | bytes) -> str | bytes:
    """The websocket frame of a MESSAGE with ``data``: ``encode_frame`` without the packet object."""
    if type(data) is str:
        return "4" + data
    return data


def message_in_frame(frame: str | bytes) -> str | bytes | None:
    """The data of a MESSAGE frame, ``None`` for any other frame (decode those with :func:`decode_frame`).

    The fast path for the frame a session receives most: no packet object is made.
    """
    if isinstance(frame, str):
        return frame[1:] if frame[:1] == "4" else None
    return frame


def decode_frame(frame: str | bytes) -> Packet:
    """Decode one websocket frame; raise :class:`ParseError` if it is not a packet."""
    if isinstance(frame, bytes | bytearray | memoryview):
        return Packet(PacketType.MESSAGE, bytes(frame))
    return _decode_text_packet(frame)


def _decode_text_packet(text: str) -> Packet:
    if not text:
        raise ParseError("empty packet")
    packet_type = _TYPE_BY_CHAR.get(text[0])
    if packet_type is None:
        raise ParseError(f"unknown packet type {text[:1]!r}")
    return Packet(packet_type, text[1:])


def _encode_payload_packet(packet: Packet) -> str:
    data = packet.data
    if isinstance(data, bytes):
        return "b" + b64encode(data).decode("ascii")
    return _CHAR_BY_TYPE[packet.type] + data


def encode_payload(packets: Iterable[Packet]) -> bytes:
    """Encode packets as one long-polling body (UTF-8 bytes)."""
    return RECORD_SEPARATOR.join(map(_encode_payload_packet, packets)).encode("utf-8")


def encoded_payload_size(packet: Packet) -> int:
    """Exact number of body bytes ``packet`` takes in a polling payload.

    Does not count the separator; add one byte per packet after the first.
    """
    data = packet.data
    if isinstance(data, bytes):
        return 1 + 4 * ((len(data) + 2) // 3)
    if data.isascii():
        return 1 + len(data)
    return 1 + len(data.encode("utf-8"))


def decode_payload(body: bytes | str) -> list[Packet]:
    """Decode a long-polling body into its packets.

    The whole body is validated before anything is returned, so a payload with
    one bad packet yields nothing: :class:`ParseError` is raised instead.
    Binary packets must be ``b`` + strict base64; anything else is a parse error.
    """
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError("payload is not valid UTF-8") from exc
    else:
        text = body
    if not text:
        raise ParseError("empty payload")
    packets: list[Packet] = []
    append = packets.append
    for index, part in enumerate(text.split(RECORD_SEPARATOR)):
        if part[:1] == "b":
            try:
                data = b64decode(part[1:], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ParseError(f"packet {index}: invalid base64 in binary packet") from exc
            # validate=True still lets excess padding ("0000=") and non-zero pad bits ("QR==")
            # through; strict means canonical, which is what every real client sends.
            if b64encode(data).decode("ascii") != part[1:]:
                raise ParseError(f"packet {index}: non-canonical base64 in binary packet")
            append(Packet(PacketType.MESSAGE, data))
        else:
            try:
                append(_decode_text_packet(part))
            except ParseError as exc:
                raise ParseError(f"packet {index}: {exc}") from None
    return packets
