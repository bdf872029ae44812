"""What sessions and transports share with their server: :class:`SessionHost`.

A :class:`~trio_engineio.Server` keeps one host. Sessions and transport
requests read the options from it, book deadlines with its heartbeat
scheduler, fire lifecycle handlers through it and count what they refused or
what failed in it; the server reads the counters back for its statistics.
Holding these here, rather than on the server, lets sessions and transports
work without touching the server's own fields, and keeps the server's public
surface the application's.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .._callables import call_maybe_async
from .._json import to_message
from ..protocol.handshake import HandshakeTemplate
from ..protocol.reasons import CloseInfo
from ..protocol.server_session import ServerSession
from .heartbeats import HeartbeatScheduler
from .options import ServerOptions

__all__ = ["SessionHost"]


class SessionHost:
    """The state a server shares with its sessions and transports (see the module docstring)."""

    __slots__ = (
        "_handshake_templates",
        "closed_reasons",
        "handler_errors",
        "heartbeats",
        "lifecycle_handlers",
        "logger",
        "nursery",
        "options",
        "rejected",
    )

    def __init__(self, options: ServerOptions, logger: logging.Logger) -> None:
        self.options = options
        self.logger = logger
        #: The scheduler of every session's deadlines (a new one for each run of the server).
        self.heartbeats = HeartbeatScheduler()
        #: The server-wide nursery while the server runs.
        self.nursery: trio.Nursery | None = None
        #: Server-wide lifecycle handlers (``upgrade``, ``packet_sent``, ...), by event.
        self.lifecycle_handlers: dict[str, Callable[..., Any]] = {}
        #: Sessions closed, by close reason.
        self.closed_reasons: Counter[str] = Counter()
        #: Handler calls that raised.
        self.handler_errors = 0
        #: Requests refused before reaching a session.
        self.rejected = 0
        self._handshake_templates: dict[tuple[str, ...], HandshakeTemplate] = {}

    def encode_message(self, data: Any) -> str | bytes:
        """An application value as a message, with the server's JSON module."""
        return to_message(data, self.options.json)

    def open_packet_data(self, core: ServerSession) -> str:
        """The OPEN packet's data for a new session: every session here announces the same but its sid."""
        template = self._handshake_templates.get(core.upgrades)
        if template is None:
            template = self._handshake_templates[core.upgrades] = HandshakeTemplate(core.handshake)
        return template.encode(core.sid)

    def handler_failed(self, what: str, sid: str) -> None:
        """A handler raised: log it with its traceback (call from the ``except``) and count it."""
        self.handler_errors += 1
        self.logger.exception("%s failed for session %s", what, sid)

    async def call_lifecycle(self, handler: Callable[..., Any], event: str, sid: str, *args: Any) -> None:
        """Call one lifecycle handler, containing its exceptions."""
        try:
            await call_maybe_async(handler, *args)
        except Exception:
            self.handler_failed(f"{event} handler", sid)

    def session_closed(self, info: CloseInfo) -> None:
        """Count a session's close, once, by its reason."""
        self.closed_reasons[info.reason.value] += 1

    def start_soon(self, task: Callable[[], Awaitable[None]]) -> None:
        """Run ``task`` in the server-wide nursery (nothing happens once the server has stopped)."""
        if self.nursery is not None:
            self.nursery.start_soon(task)
