"""``serve()``: run an ASGI app on hypercorn's trio worker with Engine.IO-friendly settings."""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio import serve as hypercorn_serve

from .asgi import ASGIApp
from .hypercorn_adapter import install as install_hypercorn_containments

__all__ = ["EngineIOConfig", "serve"]

logger = logging.getLogger("trio_engineio.serve")


class EngineIOConfig(Config):
    """hypercorn's ``Config`` plus ``tcp_user_timeout`` (seconds, Linux only).

    With ``tcp_user_timeout`` set, the kernel drops a connection whose sent data
    stays unacknowledged (or whose peer keeps its receive window shut) for that
    long. That is what ends a send to a client that stopped reading: hypercorn
    shields its socket writes from cancellation (quirk Q3,
    ``hypercorn_adapter.sends_shielded``), so nothing else can.
    ``None`` (or a platform without ``TCP_USER_TIMEOUT``) leaves sockets alone.
    """

    tcp_user_timeout: float | None = None

    def create_sockets(self) -> Sockets:
        """hypercorn's listening sockets, with ``TCP_USER_TIMEOUT`` applied (accepted sockets inherit it)."""
        sockets = super().create_sockets()
        option = getattr(socket, "TCP_USER_TIMEOUT", None)
        if option is not None and self.tcp_user_timeout:
            milliseconds = max(1, int(self.tcp_user_timeout * 1000))
            for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    sock.setsockopt(socket.IPPROTO_TCP, option, milliseconds)
        return sockets


def build_config(app: Any, host: str, port: int, *, access_log: bool = False, **overrides: Any) -> Config:
    """A hypercorn ``Config`` suited to Engine.IO.

    No read timeout (it would cut long-polls), websocket frames allowed up to at
    least the server's maxPayload so oversized frames are answered by the
    Engine.IO layer with close code 1009, and quiet access logs by default.
    For an :class:`ASGIApp`, ``tcp_user_timeout`` defaults to the heartbeat's
    limit (ping interval + grace + ping timeout): a client that reads nothing
    for that long has lost its session anyway, and its connection is dropped
    instead of holding a request task in a blocked send.
    """
    config = EngineIOConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.read_timeout = None
    if isinstance(app, ASGIApp):
        options = app.server.options
        config.websocket_max_message_size = max(
            config.websocket_max_message_size, 2 * options.max_http_buffer_size
        )
        config.tcp_user_timeout = options.ping_interval + options.ping_grace + options.ping_timeout
    if access_log:
        config.accesslog = "-"
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise TypeError(f"unknown hypercorn setting {key!r}")
        setattr(config, key, value)
    return config


async def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
    config: Config | None = None,
    access_log: bool = False,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    **hypercorn_settings: Any,
) -> None:
    """Serve ``app`` (usually an :class:`ASGIApp`) on hypercorn's trio worker.

    ``await nursery.start(serve, app, "127.0.0.1", 0)`` returns the bound URLs
    once the socket listens. When ``shutdown_trigger`` returns, the Engine.IO
    sessions are closed first (so websocket and polling clients get a CLOSE
    packet while their requests are still open), then hypercorn stops
    gracefully. Cancelling ``serve()`` is a hard stop: sessions are still closed
    and their ``disconnect`` handlers run, but clients may not get a CLOSE.
    Extra keyword arguments set hypercorn ``Config`` attributes
    (e.g. ``graceful_timeout=1``); ``config`` replaces the defaults entirely.
    """
    if config is None:
        config = build_config(app, host, port, access_log=access_log, **hypercorn_settings)
    elif hypercorn_settings:
        raise TypeError("pass hypercorn settings either in config or as keywords, not both")

    install_hypercorn_containments()  # for apps that are not an ASGIApp too
    trigger: Callable[[], Awaitable[Any]] | None = None
    if shutdown_trigger is not None:
        user_trigger = shutdown_trigger

        async def trigger() -> None:
            await user_trigger()
            if isinstance(app, ASGIApp) and app.server.is_running:
                logger.info("shutting down: closing Engine.IO sessions")
                await app.server.shutdown()

    await hypercorn_serve(app, config, shutdown_trigger=trigger, task_status=task_status)
