"""``serve()``: run an ASGI app on hypercorn's trio worker with Engine.IO-friendly settings."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from ._asgi import ASGIApp

__all__ = ["serve"]

logger = logging.getLogger("trio_engineio.serve")


def build_config(app: Any, host: str, port: int, *, access_log: bool = False, **overrides: Any) -> Config:
    """A hypercorn ``Config`` suited to Engine.IO.

    No read timeout (it would cut long-polls), websocket frames allowed up to at
    least the server's maxPayload so oversized frames are answered by the
    Engine.IO layer with close code 1009, and quiet access logs by default.
    """
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.read_timeout = None
    if isinstance(app, ASGIApp):
        config.websocket_max_message_size = max(
            config.websocket_max_message_size, 2 * app.server.options.max_http_buffer_size
        )
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

    trigger: Callable[[], Awaitable[Any]] | None = None
    if shutdown_trigger is not None:
        user_trigger = shutdown_trigger

        async def trigger() -> None:
            await user_trigger()
            if isinstance(app, ASGIApp) and app.server.is_running:
                logger.info("shutting down: closing Engine.IO sessions")
                await app.server.shutdown()

    await hypercorn_serve(app, config, shutdown_trigger=trigger, task_status=task_status)
