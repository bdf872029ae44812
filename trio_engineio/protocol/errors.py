"""Exceptions raised by the sans-I/O protocol core.

The split follows h11: a :class:`RemoteProtocolError` means the *peer* sent
something that breaks the protocol (the right answer is to reject or close);
a :class:`LocalProtocolError` means *our own* code asked for something the
protocol does not allow in the current state (a bug or a race in the caller).

::

    ProtocolError
    ├── LocalProtocolError
    └── RemoteProtocolError
        ├── ParseError          (undecodable packet or payload)
        ├── HandshakeError      (unusable OPEN packet, client side)
        └── TransportTaken      (a second websocket for a session that has one)
"""

from __future__ import annotations

__all__ = [
    "HandshakeError",
    "LocalProtocolError",
    "ParseError",
    "ProtocolError",
    "RemoteProtocolError",
    "TransportTaken",
]


class ProtocolError(Exception):
    """Base class of every error raised by :mod:`trio_engineio.protocol`."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something the protocol forbids in this state."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something that violates Engine.IO v4."""


class ParseError(RemoteProtocolError):
    """A packet, frame or polling payload could not be decoded."""


class HandshakeError(RemoteProtocolError):
    """The server's OPEN packet is malformed or lacks a required field."""


class TransportTaken(RemoteProtocolError):
    """A websocket arrived for a session that is already on, or moving to, another websocket.

    The reference server accepts such a socket and closes it at once, leaving
    the session alone (a refusal before accepting reads as a handshake error).
    """
