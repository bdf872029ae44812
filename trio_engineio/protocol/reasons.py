"""Why a session closed: the reason strings used by the reference servers."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CloseInfo", "CloseReason"]


class CloseReason(str, enum.Enum):
    """The closed set of reasons a session can end with.

    The values are the strings python-engineio and the JavaScript ``engine.io``
    server report, so handlers ported from either keep working.
    """

    #: The application closed the session (``disconnect(sid)``, ``conn.aclose()``).
    SERVER_DISCONNECT = "server disconnect"
    #: The server is shutting down (lifespan shutdown, cancellation).
    SERVER_SHUTDOWN = "server shutdown"
    #: The peer sent a CLOSE packet.
    CLIENT_DISCONNECT = "client disconnect"
    #: No PONG (server side) or no PING (client side) arrived in time.
    PING_TIMEOUT = "ping timeout"
    #: The underlying connection went away (socket closed, long-poll aborted).
    TRANSPORT_CLOSE = "transport close"
    #: The peer broke a transport rule (oversized input, concurrent polls, ...).
    TRANSPORT_ERROR = "transport error"
    #: The peer sent a packet or payload that could not be decoded.
    PARSE_ERROR = "parse error"
    #: The peer sent a body, payload or websocket message above the receiving side's limit.
    PAYLOAD_TOO_LARGE = "payload too large"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class CloseInfo:
    """A close reason plus a human description of what exactly happened."""

    reason: CloseReason
    description: str = ""

    def __str__(self) -> str:
        if self.description:
            return f"{self.reason.value}: {self.description}"
        return self.reason.value
