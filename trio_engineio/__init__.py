"""trio_engineio: a trio-native Engine.IO v4 server and client.

Server: :class:`Server` (sessions, handlers, ``send``/``disconnect``) served by
:class:`ASGIApp` under ``hypercorn --worker-class trio`` or :func:`serve`.
The sans-I/O core is public as :mod:`trio_engineio.protocol`.
"""

from __future__ import annotations

from ._asgi import ASGIApp
from ._exceptions import (
    ConnectionClosed,
    ConnectionRejected,
    EngineIOConnectionError,
    EngineIOError,
    HandshakeFailed,
)
from ._serve import serve
from ._server import ConnectionRefusedError, DisconnectReason, Server, ServerStatistics
from ._session import Connection, SessionStatistics
from ._version import __version__
from .protocol.reasons import CloseInfo, CloseReason

__all__ = [
    "ASGIApp",
    "CloseInfo",
    "CloseReason",
    "Connection",
    "ConnectionClosed",
    "ConnectionRefusedError",
    "ConnectionRejected",
    "DisconnectReason",
    "EngineIOConnectionError",
    "EngineIOError",
    "HandshakeFailed",
    "Server",
    "ServerStatistics",
    "SessionStatistics",
    "__version__",
    "serve",
]
