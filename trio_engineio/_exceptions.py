"""The exceptions trio_engineio raises, in one place.

::

    EngineIOError
    ├── ConnectionClosed          send/receive on a session that has ended (.info)
    └── EngineIOConnectionError   (also a builtin ConnectionError) client could not connect
        ├── ConnectionRejected    the server answered 4xx/5xx (.status_code, .body, .headers)
        └── HandshakeFailed       the server's handshake or first packets were unusable

Protocol-level errors of the sans-I/O core live in :mod:`trio_engineio.protocol`.
"""

from __future__ import annotations

import json
from typing import Any

from .protocol.reasons import CloseInfo

__all__ = [
    "ConnectionClosed",
    "ConnectionRejected",
    "EngineIOConnectionError",
    "EngineIOError",
    "HandshakeFailed",
]


class EngineIOError(Exception):
    """Base class of every trio_engineio exception."""


class ConnectionClosed(EngineIOError):
    """The session is closed; ``info`` holds the reason and a description."""

    def __init__(self, info: CloseInfo) -> None:
        self.info = info
        super().__init__(str(info))

    @property
    def reason(self) -> str:
        """The close reason string, e.g. ``"ping timeout"``."""
        return self.info.reason.value


class EngineIOConnectionError(EngineIOError, ConnectionError):
    """A client could not establish (or lost) its connection to the server."""


class ConnectionRejected(EngineIOConnectionError):
    """The server refused the connection with an HTTP error status.

    ``body`` is the response body as text; :attr:`json` decodes it when it is the
    reference ``{"code": N, "message": "..."}`` object (or any JSON).
    """

    def __init__(self, status_code: int, body: str, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})
        shown = body if len(body) <= 200 else body[:200] + "..."
        super().__init__(f"server rejected the connection with HTTP {status_code}: {shown}")

    @property
    def json(self) -> Any:
        """The body decoded as JSON, or ``None`` if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class HandshakeFailed(EngineIOConnectionError):
    """The server's answer to the handshake was not a usable Engine.IO v4 OPEN."""
