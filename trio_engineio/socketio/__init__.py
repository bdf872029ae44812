"""Socket.IO v5 on trio_engineio's Engine.IO, with python-socketio's names.

Server: :class:`Server` (``@sio.event``, ``emit``, ``call``, rooms, sessions),
class-based :class:`Namespace`, served by :class:`ASGIApp` at ``/socket.io/``.
Client: ``async with Client() as sio`` (namespaces, acks, reconnection).
The sans-I/O packet codec is :mod:`trio_engineio.socketio.protocol`.
"""

from __future__ import annotations

from .asgi import ASGIApp
from .client import Client
from .exceptions import ConnectionRefusedError, DisconnectedError, SocketIOError, TimeoutError
from .server import Namespace, NamespaceFilter, Server

__all__ = [
    "ASGIApp",
    "Client",
    "ConnectionRefusedError",
    "DisconnectedError",
    "Namespace",
    "NamespaceFilter",
    "Server",
    "SocketIOError",
    "TimeoutError",
]
