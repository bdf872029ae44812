"""trio_engineio: a trio-native Engine.IO v4 server and client.

Server: :class:`Server` (sessions, handlers, ``send``/``disconnect``) served by
:class:`ASGIApp` under ``hypercorn --worker-class trio`` or :func:`serve`.
Client: ``async with open_client(url) as conn`` (:class:`ClientConnection`), or
the event-style :class:`Client`.
Several server processes: :class:`RedisBus` between them, :func:`open_emitter` to send
from a process with no server.
The sans-I/O core is public as :mod:`trio_engineio.protocol`.
"""

from __future__ import annotations

from ._exceptions import (
    ConnectionClosed,
    ConnectionRejected,
    EngineIOConnectionError,
    EngineIOError,
    HandshakeFailed,
)
from ._version import __version__
from .bus import Bus, BusStatistics, Emitter, RedisBus, open_emitter
from .client.connection import ClientConnection, ClientStatistics, open_client
from .client.events import Client
from .client.reconnecting import ReconnectingClient, open_reconnecting_client
from .protocol.reasons import CloseInfo, CloseReason
from .server.asgi import ASGIApp
from .server.connection import Connection, SessionStatistics
from .server.serve import EngineIOConfig, serve
from .server.server import ConnectionRefusedError, DisconnectReason, Server, ServerStatistics

__all__ = [
    "ASGIApp",
    "Bus",
    "BusStatistics",
    "Client",
    "ClientConnection",
    "ClientStatistics",
    "CloseInfo",
    "CloseReason",
    "Connection",
    "ConnectionClosed",
    "ConnectionRefusedError",
    "ConnectionRejected",
    "DisconnectReason",
    "Emitter",
    "EngineIOConfig",
    "EngineIOConnectionError",
    "EngineIOError",
    "HandshakeFailed",
    "ReconnectingClient",
    "RedisBus",
    "Server",
    "ServerStatistics",
    "SessionStatistics",
    "__version__",
    "open_client",
    "open_emitter",
    "open_reconnecting_client",
    "serve",
]
