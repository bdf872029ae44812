"""Exceptions of :mod:`trio_engineio.socketio`, with python-socketio's names."""

from __future__ import annotations

import builtins
from typing import Any

__all__ = ["ConnectionRefusedError", "DisconnectedError", "SocketIOError", "TimeoutError"]


class SocketIOError(Exception):
    """Base class of the Socket.IO layer's errors."""


class ConnectionRefusedError(SocketIOError, builtins.ConnectionRefusedError):
    """Raise from a ``connect`` handler to refuse a namespace connection.

    The client gets CONNECT_ERROR ``{"message": message}``, with ``"data"``
    when given (several extra arguments become a list), as in python-socketio.
    On the client side it is raised by ``connect()`` with the server's message.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        message = str(args[0]) if args else "Connection rejected by server"
        self.error_args: dict[str, Any] = {"message": message}
        if len(args) == 2:
            self.error_args["data"] = args[1]
        elif len(args) > 2:
            self.error_args["data"] = list(args[1:])

    @property
    def message(self) -> str:
        """The ``message`` sent in CONNECT_ERROR."""
        return str(self.error_args["message"])


class TimeoutError(SocketIOError, builtins.TimeoutError):
    """``call()`` got no acknowledgement within its timeout."""


class DisconnectedError(SocketIOError):
    """The socket disconnected while a ``call()`` waited for its acknowledgement, or was not connected."""
