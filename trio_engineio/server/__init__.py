"""The Engine.IO server: the trio driver around :mod:`trio_engineio.protocol`'s server core.

Modules, each owning one thing:

- ``server``: :class:`Server`, the session registry, handlers and the scale-out link;
- ``connection``: :class:`Connection`, one live session and the queues it drives;
- ``socket_lease``: who may read and write a session's websocket at each moment;
- ``heartbeats``: one task keeping every session's PING/PONG deadlines;
- ``asgi``: :class:`ASGIApp`, routing, lifespan, CORS and static files;
- ``polling`` / ``websocket``: the two transports over ASGI;
- ``hypercorn_adapter``: everything that depends on hypercorn's internals or bugs;
- ``serve``: :func:`serve`, hypercorn's trio worker with Engine.IO settings;
- ``options``, ``hooks``, ``cors``, ``http``, ``compression``, ``environ``: small helpers.

The public names are re-exported by :mod:`trio_engineio`; import them from there.
"""

from __future__ import annotations

from .asgi import ASGIApp
from .connection import Connection, SessionStatistics
from .serve import EngineIOConfig, serve
from .server import ConnectionRefusedError, DisconnectReason, Server, ServerStatistics

__all__ = [
    "ASGIApp",
    "Connection",
    "ConnectionRefusedError",
    "DisconnectReason",
    "EngineIOConfig",
    "Server",
    "ServerStatistics",
    "SessionStatistics",
    "serve",
]
