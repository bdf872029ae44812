"""The Engine.IO client: the trio driver around :mod:`trio_engineio.protocol`'s client core.

Modules, each owning one thing:

- ``connection``: :func:`open_client` and :class:`ClientConnection`, the task tree of one connection;
- ``events``: :class:`Client`, the event-style client of python-engineio's shape;
- ``reconnecting``: :func:`open_reconnecting_client`, one connection after another with backoff;
- ``polling`` / ``websocket``: the two transports, moving bytes only;
- ``common``: URLs, TLS settings and transport errors both transports share.

The public names are re-exported by :mod:`trio_engineio`; import them from there.
"""

from __future__ import annotations

from .connection import ClientConnection, ClientStatistics, open_client
from .events import Client
from .reconnecting import ReconnectingClient, open_reconnecting_client

__all__ = [
    "Client",
    "ClientConnection",
    "ClientStatistics",
    "ReconnectingClient",
    "open_client",
    "open_reconnecting_client",
]
