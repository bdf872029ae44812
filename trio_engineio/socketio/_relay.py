"""What Socket.IO servers on several nodes tell each other through the engine's bus.

A payload travels as an opaque :class:`~trio_engineio.bus.BusRelay` (the engine's
``Server.publish_to_nodes`` / ``on_node_message``): ``b"sio1"`` then a JSON object.

* ``{"op": "emit", "ns", "to": [rooms] | null, "skip": [sids], "text", "bins": [base64]}``:
  an encoded EVENT packet (its text message and binary attachments), for the sockets of
  the namespace in any of the rooms (all of them for ``null``) but the skipped ones;
* ``{"op": "disconnect", "ns", "sid"}``: disconnect that socket if it is here;
* ``{"op": "close_room", "ns", "room"}``: every socket here leaves the room.

Payloads come from other processes: :func:`decode` checks every field (and that the
packet is a valid EVENT of that namespace with no ack id), raising ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from .protocol import Decoder, ProtocolError

__all__ = ["MAGIC", "RelayCloseRoom", "RelayDisconnect", "RelayEmit", "decode", "encode"]

#: The first bytes of every payload of this format (version 1).
MAGIC = b"sio1"


@dataclass(frozen=True, slots=True)
class RelayEmit:
    """An encoded EVENT packet for the sockets of ``namespace`` in ``rooms`` (all for ``None``)."""

    namespace: str
    rooms: list[str] | None
    skip: list[str]
    messages: list[str | bytes]


@dataclass(frozen=True, slots=True)
class RelayDisconnect:
    """Disconnect socket ``sid`` of ``namespace``."""

    namespace: str
    sid: str


@dataclass(frozen=True, slots=True)
class RelayCloseRoom:
    """Every socket of ``namespace`` leaves ``room``."""

    namespace: str
    room: str


Relay = RelayEmit | RelayDisconnect | RelayCloseRoom


def encode(relay: Relay) -> bytes:
    """The payload for ``relay``."""
    body: dict[str, Any]
    if isinstance(relay, RelayEmit):
        text, *bins = relay.messages
        body = {
            "op": "emit",
            "ns": relay.namespace,
            "to": relay.rooms,
            "skip": relay.skip,
            "text": text,
            "bins": [base64.b64encode(b).decode("ascii") for b in bins if isinstance(b, bytes)],
        }
    elif isinstance(relay, RelayDisconnect):
        body = {"op": "disconnect", "ns": relay.namespace, "sid": relay.sid}
    else:
        body = {"op": "close_room", "ns": relay.namespace, "room": relay.room}
    return MAGIC + json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise ValueError(f"relay field {key!r} is not a string")
    return value


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"relay field {what!r} is not a list of strings")
    return value


def decode(payload: bytes) -> Relay | None:
    """The relay in ``payload``; ``None`` when it is not of this format (another layer's)."""
    if not payload.startswith(MAGIC):
        return None
    try:
        body = json.loads(payload[len(MAGIC) :])
    except (ValueError, RecursionError):
        raise ValueError("relay payload is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("relay payload is not an object")
    op = body.get("op")
    namespace = _str(body, "ns")
    if op == "disconnect":
        return RelayDisconnect(namespace, _str(body, "sid"))
    if op == "close_room":
        return RelayCloseRoom(namespace, _str(body, "room"))
    if op != "emit":
        raise ValueError(f"unknown relay op {str(op)[:40]!r}")
    rooms = None if body.get("to") is None else _strings(body["to"], "to")
    skip = _strings(body.get("skip"), "skip")
    text = _str(body, "text")
    try:
        bins = [base64.b64decode(item, validate=True) for item in _strings(body.get("bins"), "bins")]
    except binascii.Error:
        raise ValueError("relay attachment is not base64") from None
    decoder = Decoder()
    try:
        packet = decoder.feed(text)
        for attachment in bins:
            packet = decoder.feed(attachment)
    except ProtocolError as error:
        raise ValueError(f"relayed packet is invalid: {error}") from None
    if packet is None or not packet.is_event or packet.namespace != namespace or packet.id is not None:
        raise ValueError("relayed packet is not a complete EVENT of its namespace without an ack id")
    return RelayEmit(namespace, rooms, skip, [text, *bins])
