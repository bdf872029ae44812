"""Socket.IO v5 packets, sans I/O: :func:`encode` and the incremental :class:`Decoder`.

The codec lives in :mod:`trio_engineio.socketio.protocol.codec`; everything
public is re-exported here.
"""

from __future__ import annotations

from .codec import (
    MAX_ACK_ID,
    MAX_ATTACHMENTS,
    AttachmentError,
    Decoder,
    InvalidAckId,
    InvalidJSON,
    InvalidNamespace,
    InvalidPayload,
    LimitExceeded,
    Packet,
    PacketType,
    ProtocolError,
    UnknownPacketType,
    encode,
)

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
