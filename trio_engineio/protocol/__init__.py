"""The sans-I/O Engine.IO v4 core shared by the server and the client.

Nothing here performs I/O, imports trio or reads a clock: callers pass bytes
in, get packets or events out, and pass the current time as ``now``.
"""

from __future__ import annotations

from .client_session import ClientSession, ClientState, ClientUpgradeState, frame_size
from .errors import (
    HandshakeError,
    LocalProtocolError,
    ParseError,
    ProtocolError,
    RemoteProtocolError,
    TransportTaken,
)
from .events import (
    Event,
    MessageReceived,
    PingReceived,
    PongReceived,
    ProbeAnswered,
    SessionClosed,
    UpgradeAborted,
    UpgradeCompleted,
)
from .handshake import DEFAULT_MAX_PAYLOAD, Handshake, HandshakeTemplate, seconds_to_ms
from .packets import (
    RECORD_SEPARATOR,
    Packet,
    PacketType,
    decode_frame,
    decode_payload,
    encode_frame,
    encode_message_frame,
    encode_payload,
    encoded_payload_size,
    message_in_frame,
    message_size,
)
from .query import MAX_QUERY_LENGTH, MAX_SID_LENGTH, EngineQuery, ErrorCode, RequestRejected, parse_query
from .reasons import CloseInfo, CloseReason
from .server_session import ServerSession, SessionState, UpgradeState

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "MAX_QUERY_LENGTH",
    "MAX_SID_LENGTH",
    "RECORD_SEPARATOR",
    "ClientSession",
    "ClientState",
    "ClientUpgradeState",
    "CloseInfo",
    "CloseReason",
    "EngineQuery",
    "ErrorCode",
    "Event",
    "Handshake",
    "HandshakeError",
    "HandshakeTemplate",
    "LocalProtocolError",
    "MessageReceived",
    "Packet",
    "PacketType",
    "ParseError",
    "PingReceived",
    "PongReceived",
    "ProbeAnswered",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestRejected",
    "ServerSession",
    "SessionClosed",
    "SessionState",
    "TransportTaken",
    "UpgradeAborted",
    "UpgradeCompleted",
    "UpgradeState",
    "decode_frame",
    "decode_payload",
    "encode_frame",
    "encode_message_frame",
    "encode_payload",
    "encoded_payload_size",
    "frame_size",
    "message_in_frame",
    "message_size",
    "parse_query",
    "seconds_to_ms",
]
