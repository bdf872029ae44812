"""Events the session state machines hand back to the I/O drivers."""

from __future__ import annotations

from dataclasses import dataclass

from .packets import Packet
from .reasons import CloseInfo

__all__ = [
    "Event",
    "MessageReceived",
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
    """The peer answered an outstanding PING (or, client side, a PING arrived)."""

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
Event = MessageReceived | PongReceived | SessionClosed | ProbeAnswered | UpgradeCompleted | UpgradeAborted
