"""Serving a Socket.IO :class:`~trio_engineio.socketio.Server` as an ASGI application."""

from __future__ import annotations

from ..server.asgi import ASGIApp as EngineASGIApp
from ..server.asgi import ASGIApplication, Hook, StaticFiles
from .server import Server

__all__ = ["ASGIApp"]


class ASGIApp(EngineASGIApp):
    """The ASGI application of a Socket.IO server, at ``/socket.io/`` by default.

    Everything else is :class:`trio_engineio.ASGIApp`'s (``other_asgi_app``,
    ``static_files``, ``on_startup``/``on_shutdown``, the lifespan running the
    server): run it with ``hypercorn --worker-class trio module:app`` or
    :func:`trio_engineio.serve`.
    """

    def __init__(
        self,
        socketio_server: Server,
        other_asgi_app: ASGIApplication | None = None,
        static_files: StaticFiles | None = None,
        socketio_path: str | None = "socket.io",
        on_startup: Hook = None,
        on_shutdown: Hook = None,
    ) -> None:
        #: The Socket.IO server this application serves.
        self.socketio_server = socketio_server
        super().__init__(
            socketio_server.eio,
            other_asgi_app=other_asgi_app,
            static_files=static_files,
            engineio_path=socketio_path,
            on_startup=on_startup,
            on_shutdown=on_shutdown,
        )
