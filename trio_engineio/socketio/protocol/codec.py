"""Socket.IO v5 packets, sans I/O: :func:`encode` and the incremental :class:`Decoder`.

A Socket.IO packet travels as one Engine.IO message
``<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]``; binary
values inside the payload are replaced by ``{"_placeholder":true,"num":N}`` and
follow as separate binary Engine.IO messages, in order.

Everything a peer sends is untrusted: the decoder checks the shape of every
packet and enforces hard limits (attachments per packet, nesting depth of the
payload, bytes per packet, namespace length, ack id size), raising a
:class:`ProtocolError` subclass that names what was wrong.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_ACK_ID",
    "MAX_ATTACHMENTS",
    "AttachmentError",
    "Decoder",
    "InvalidAckId",
    "InvalidJSON",
    "InvalidNamespace",
    "InvalidPayload",
    "LimitExceeded",
    "Packet",
    "PacketType",
    "ProtocolError",
    "UnknownPacketType",
    "encode",
]

#: The largest ack id accepted (JavaScript's ``Number.MAX_SAFE_INTEGER``).
MAX_ACK_ID = 2**53 - 1
_MAX_ACK_DIGITS = len(str(MAX_ACK_ID))
#: Binary attachments per packet that :class:`Decoder` accepts and :func:`encode` produces
#: by default (socket.io-parser's limit).
MAX_ATTACHMENTS = 10
_DIGITS = frozenset("0123456789")


class PacketType(enum.IntEnum):
    """The seven Socket.IO v5 packet types."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


_BINARY_TYPES = frozenset({PacketType.BINARY_EVENT, PacketType.BINARY_ACK})


class ProtocolError(ValueError):
    """A peer sent something that is not a valid Socket.IO packet (base class)."""


class UnknownPacketType(ProtocolError):
    """The packet type is not one of the seven (or the message is empty)."""


class InvalidJSON(ProtocolError):
    """The payload is not valid JSON (or too deeply nested for the JSON parser)."""


class InvalidPayload(ProtocolError):
    """The payload has the wrong shape for its packet type (an EVENT that is not a non-empty array...)."""


class InvalidAckId(ProtocolError):
    """The ack id is missing where required, or larger than :data:`MAX_ACK_ID`."""


class InvalidNamespace(ProtocolError):
    """The namespace is malformed or too long."""


class AttachmentError(ProtocolError):
    """Binary attachments do not match the packet: count, order or placeholders."""


class LimitExceeded(ProtocolError):
    """The packet is over one of the decoder's hard limits (attachments, depth, bytes)."""


@dataclass(frozen=True, slots=True)
class Packet:
    """One Socket.IO packet.

    ``data`` is the decoded JSON payload (``None`` when absent) with binary
    attachments put back in place as ``bytes``. For EVENT it is
    ``[name, *args]``, for ACK the list of arguments.
    """

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None

    @property
    def is_event(self) -> bool:
        """True for EVENT and BINARY_EVENT."""
        return self.type is PacketType.EVENT or self.type is PacketType.BINARY_EVENT

    @property
    def is_ack(self) -> bool:
        """True for ACK and BINARY_ACK."""
        return self.type is PacketType.ACK or self.type is PacketType.BINARY_ACK


def _dumps_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _extract_binary(value: Any, attachments: list[bytes], depth: int, max_depth: int) -> Any:
    """``value`` with every bytes-like replaced by a placeholder (appending it to ``attachments``)."""
    if depth > max_depth:
        raise ValueError(f"payload nested deeper than {max_depth} levels")
    if isinstance(value, bytes | bytearray | memoryview):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, list | tuple):
        return [_extract_binary(item, attachments, depth + 1, max_depth) for item in value]
    if isinstance(value, dict):
        return {key: _extract_binary(item, attachments, depth + 1, max_depth) for key, item in value.items()}
    return value


def encode(
    packet: Packet,
    *,
    dumps: Callable[[Any], str] = _dumps_compact,
    max_depth: int = 100,
    max_attachments: int | None = MAX_ATTACHMENTS,
) -> list[str | bytes]:
    """The Engine.IO messages carrying ``packet``: one text message, then its attachments.

    An EVENT or ACK whose data holds ``bytes`` (at any depth, in lists, tuples
    or dicts) is sent as BINARY_EVENT / BINARY_ACK with placeholders. Raises
    ``ValueError`` for an EVENT without a string name, an ack id out of range,
    a payload nested deeper than ``max_depth``, or more than ``max_attachments``
    binary values (:data:`MAX_ATTACHMENTS`, what a peer's decoder accepts;
    ``None``: no limit), so that a packet the peer would refuse is never sent.
    """
    kind = packet.type
    data = packet.data
    attachments: list[bytes] = []
    text: str | None = None
    if kind in (PacketType.EVENT, PacketType.ACK, PacketType.BINARY_EVENT, PacketType.BINARY_ACK):
        if not isinstance(data, list | tuple):
            raise ValueError(f"{kind.name} data must be a list")
        if packet.is_event and (not data or not isinstance(data[0], str)):
            raise ValueError("EVENT data must start with the event name (a str)")
        if dumps is _dumps_compact:
            # Most payloads hold no bytes: one pass in C. TypeError: bytes (or a value JSON
            # cannot take) somewhere, so look for attachments in Python.
            try:
                text = dumps(data)
            except TypeError:
                pass
            except RecursionError:
                raise ValueError("payload nested too deeply for JSON") from None
        if text is None:
            data = _extract_binary(data, attachments, 0, max_depth)
        if max_attachments is not None and len(attachments) > max_attachments:
            raise ValueError(
                f"{len(attachments)} binary values in one packet; a Socket.IO decoder accepts at most"
                f" {max_attachments} (send them in several events, or join them into one bytes value)"
            )
        if attachments:
            kind = PacketType.BINARY_EVENT if packet.is_event else PacketType.BINARY_ACK
        elif kind in _BINARY_TYPES:
            kind = PacketType.EVENT if kind is PacketType.BINARY_EVENT else PacketType.ACK
    parts = [str(int(kind))]
    if kind in _BINARY_TYPES:
        parts.append(f"{len(attachments)}-")
    namespace = packet.namespace
    if namespace != "/":
        if not namespace.startswith("/") or "," in namespace:
            raise ValueError(f"invalid namespace {namespace!r}")
        parts.append(namespace + ",")
    if packet.id is not None:
        if not 0 <= packet.id <= MAX_ACK_ID:
            raise ValueError(f"ack id {packet.id} out of range")
        parts.append(str(packet.id))
    if text is not None:
        parts.append(text)
    elif data is not None:
        parts.append(dumps(data))
    return ["".join(parts), *attachments]


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidJSON("payload nested too deeply for the JSON parser") from None
    except ValueError as error:
        raise InvalidJSON(f"bad JSON payload: {error}") from None


class Decoder:
    """Turn Engine.IO messages back into :class:`Packet` objects, one message at a time.

    :meth:`feed` returns the packet once it is complete, ``None`` while a
    binary packet waits for its attachments. Any :class:`ProtocolError` leaves
    the decoder unusable for the rest of the connection (close it).

    Limits: ``max_attachments`` binary attachments per packet (socket.io-parser
    uses 10), ``max_depth`` levels of nesting of a binary packet's payload (text
    payloads are bounded by the JSON parser), ``max_bytes`` bytes per packet
    counting text and attachments (``None``: no limit of its own; the engine's
    ``max_http_buffer_size`` still bounds each message), namespaces of at most
    ``max_namespace_length`` characters.
    """

    def __init__(
        self,
        *,
        max_attachments: int = MAX_ATTACHMENTS,
        max_depth: int = 32,
        max_bytes: int | None = None,
        max_namespace_length: int = 256,
        loads: Callable[[str], Any] = _loads,
    ) -> None:
        self.max_attachments = max_attachments
        self.max_depth = max_depth
        self.max_bytes = max_bytes
        self.max_namespace_length = max_namespace_length
        self._loads = loads
        self._pending: Packet | None = None
        self._expected = 0
        self._attachments: list[bytes] = []
        self._pending_bytes = 0

    @property
    def waiting_for_attachments(self) -> int:
        """How many binary attachments the packet being assembled still needs (0: none pending)."""
        return self._expected - len(self._attachments) if self._pending is not None else 0

    def feed(self, message: str | bytes) -> Packet | None:
        """Feed one Engine.IO message; return the completed packet, if any."""
        if isinstance(message, str):
            if self._pending is not None:
                raise AttachmentError(
                    f"text message while {self.waiting_for_attachments} binary attachment(s) were expected"
                )
            return self._feed_text(message)
        if self._pending is None:
            raise AttachmentError("binary message with no binary packet pending")
        self._pending_bytes += len(message)
        self._check_size(self._pending_bytes)
        self._attachments.append(bytes(message))
        if len(self._attachments) < self._expected:
            return None
        return self._complete()

    def _check_size(self, size: int) -> None:
        if self.max_bytes is not None and size > self.max_bytes:
            raise LimitExceeded(f"packet larger than {self.max_bytes} bytes")

    def _feed_text(self, text: str) -> Packet | None:
        self._check_size(len(text))
        if not text or text[0] not in "0123456":
            raise UnknownPacketType(f"unknown packet type {text[:1]!r}")
        kind = PacketType(int(text[0]))
        index = 1
        length = len(text)
        expected = 0
        if kind in _BINARY_TYPES:
            while index < length and text[index] in _DIGITS and index <= 12:
                index += 1
            if index == 1 or index >= length or text[index] != "-":
                raise AttachmentError("binary packet without a valid attachment count")
            expected = int(text[1:index])
            if expected > self.max_attachments:
                raise LimitExceeded(f"{expected} attachments claimed; at most {self.max_attachments}")
            index += 1
        namespace = "/"
        if index < length and text[index] == "/":
            comma = text.find(",", index, index + self.max_namespace_length + 1)
            if comma < 0:
                if length - index > self.max_namespace_length or "," in text[index:]:
                    raise InvalidNamespace(f"namespace longer than {self.max_namespace_length} characters")
                comma = length
            namespace = text[index:comma]
            index = comma + 1
        start = index
        while index < length and text[index] in _DIGITS:
            index += 1
            if index - start > _MAX_ACK_DIGITS:
                raise InvalidAckId("ack id too large")
        ack_id = int(text[start:index]) if index > start else None
        if ack_id is not None and ack_id > MAX_ACK_ID:
            raise InvalidAckId("ack id too large")
        data = self._loads(text[index:]) if index < length else None
        _check_shape(kind, data, ack_id)
        packet = Packet(kind, namespace, data, ack_id)
        if kind not in _BINARY_TYPES:
            return packet
        self._pending = packet
        self._expected = expected
        self._attachments = []
        self._pending_bytes = len(text)
        if expected == 0:
            return self._complete()
        return None

    def _complete(self) -> Packet:
        packet = self._pending
        assert packet is not None
        attachments = self._attachments
        self._pending = None
        self._attachments = []
        self._expected = 0
        self._pending_bytes = 0
        data = _reconstruct(packet.data, attachments, 0, self.max_depth)
        return Packet(packet.type, packet.namespace, data, packet.id)


def _check_shape(kind: PacketType, data: Any, ack_id: int | None) -> None:
    if kind is PacketType.CONNECT:
        if data is not None and not isinstance(data, dict):
            raise InvalidPayload("CONNECT payload must be an object")
    elif kind is PacketType.DISCONNECT:
        if data is not None:
            raise InvalidPayload("DISCONNECT carries no payload")
    elif kind is PacketType.EVENT or kind is PacketType.BINARY_EVENT:
        if not isinstance(data, list) or not data:
            raise InvalidPayload("EVENT payload must be a non-empty array")
        if not isinstance(data[0], str):
            raise InvalidPayload("EVENT name must be a string")
    elif kind is PacketType.ACK or kind is PacketType.BINARY_ACK:
        if not isinstance(data, list):
            raise InvalidPayload("ACK payload must be an array")
        if ack_id is None:
            raise InvalidAckId("ACK without an ack id")
    elif not isinstance(data, dict | str):  # CONNECT_ERROR
        raise InvalidPayload("CONNECT_ERROR payload must be an object or a string")


def _reconstruct(value: Any, attachments: list[bytes], depth: int, max_depth: int) -> Any:
    if depth > max_depth:
        raise LimitExceeded(f"binary payload nested deeper than {max_depth} levels")
    if isinstance(value, list):
        return [_reconstruct(item, attachments, depth + 1, max_depth) for item in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True:
            num = value.get("num")
            if type(num) is not int or not 0 <= num < len(attachments):
                raise AttachmentError(f"placeholder {num!r} out of range (0..{len(attachments) - 1})")
            return attachments[num]
        return {key: _reconstruct(item, attachments, depth + 1, max_depth) for key, item in value.items()}
    return value
