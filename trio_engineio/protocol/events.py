"""Events the session state machines hand back to the I/O drivers."""

from __future__ import annotations

from dataclasses import dataclass

from .packets import Packet
from .reasons import CloseInfo

__all__ = [
    "Event",
    "MessageReceived",
    "PingReceived",
    "PongReceived",
    "ProbeAnswered",
    "SessionClosed",
    "UpgradeAborted",
    "UpgradeCompleted",
]


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """The peer sent an application message (``str`` or ``bytes``)."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    """Server side: the client answered the outstanding PING (the heartbeat restarts)."""

    at: float


@dataclass(frozen=True, slots=True)
class PingReceived:
    """Client side: the server's PING arrived (a PONG is queued, the watchdog restarts)."""

    at: float


@dataclass(frozen=True, slots=True)
class SessionClosed:
    """The session is over; ``info`` says why."""

    info: CloseInfo


@dataclass(frozen=True, slots=True)
class ProbeAnswered:
    """Send ``reply`` on the probing websocket: the peer's ``2probe`` was accepted."""

    reply: Packet


@dataclass(frozen=True, slots=True)
class UpgradeCompleted:
    """The session now runs on the websocket; polling is over for it."""


@dataclass(frozen=True, slots=True)
class UpgradeAborted:
    """The upgrade attempt failed; the session stays on polling."""

    description: str


#: Any event a session state machine returns.
Event = (
    MessageReceived
    | PingReceived
    | PongReceived
    | SessionClosed
    | ProbeAnswered
    | UpgradeCompleted
    | UpgradeAborted
)
