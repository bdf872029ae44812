"""What a handler holds: :class:`Connection`, the application's side of one session.

The server hands every handler a :class:`Connection` (``async for message in
conn``, ``await conn.send(...)``). This module states that interface and
documents it; the server's implementation, :class:`~trio_engineio.server.session.Session`,
also carries what the transports and the heartbeat scheduler need, none of
which is part of it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from ..protocol.reasons import CloseInfo, CloseReason

__all__ = ["Connection", "SessionStatistics"]


@dataclass(frozen=True)
class SessionStatistics:
    """A snapshot of one session (see :meth:`Connection.statistics`)."""

    sid: str
    #: ``"polling"`` or ``"websocket"``.
    transport: str
    #: ``"open"``, ``"upgrading"`` or ``"closed"``.
    state: str
    remote_address: tuple[str, int] | None
    #: Seconds since the session was created.
    age: float
    buffered_messages: int
    buffered_bytes: int
    #: ``trio.current_time()`` of the last PONG (``None`` before the first).
    last_pong_at: float | None


class Connection(abc.ABC):
    """One Engine.IO session, from the application's side.

    Iterate it to receive messages (``async for message in conn``), call
    :meth:`send` to send, :meth:`aclose` to end the session. Once it has ended,
    :attr:`close_info` says why. Connections are created by the server; the
    application never constructs one. This class is the interface (its members are
    abstract here); the object a handler gets is the server's implementation of it.
    """

    __slots__ = ()

    #: The ASGI scope of the request that opened the session.
    scope: Mapping[str, Any]

    @property
    @abc.abstractmethod
    def environ(self) -> Mapping[str, Any]:
        """A WSGI-style mapping of the opening request (python-engineio's ``environ``)."""

    @property
    @abc.abstractmethod
    def data(self) -> dict[str, Any]:
        """Free-form per-session storage (what ``server.session(sid)`` yields)."""

    @data.setter
    @abc.abstractmethod
    def data(self, value: dict[str, Any]) -> None: ...

    @property
    @abc.abstractmethod
    def sid(self) -> str:
        """The session id."""

    @property
    @abc.abstractmethod
    def transport(self) -> str:
        """The current transport: ``"polling"`` or ``"websocket"``."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """True once the session has ended."""

    @property
    @abc.abstractmethod
    def close_info(self) -> CloseInfo | None:
        """Why the session ended (``None`` while it is open)."""

    @property
    @abc.abstractmethod
    def close_reason(self) -> str | None:
        """The close reason string (e.g. ``"ping timeout"``), ``None`` while open."""

    @property
    @abc.abstractmethod
    def remote_address(self) -> tuple[str, int] | None:
        """The client's address as the ASGI server saw it."""

    @property
    @abc.abstractmethod
    def buffered_messages(self) -> int:
        """Messages queued for the client and not yet handed to a transport."""

    @property
    @abc.abstractmethod
    def buffered_bytes(self) -> int:
        """Bytes of message data queued for the client."""

    @property
    @abc.abstractmethod
    def created_at(self) -> float:
        """``trio.current_time()`` when the session was created."""

    @property
    @abc.abstractmethod
    def last_pong_at(self) -> float | None:
        """``trio.current_time()`` of the last PONG, ``None`` before the first."""

    @abc.abstractmethod
    async def send(self, data: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Queue a message for the client.

        ``dict``/``list`` are sent as JSON text. When the session's outgoing
        buffer is over its limits (``max_buffered_messages``/``max_buffered_bytes``)
        this waits until the client has taken enough: that is the backpressure.
        It is always a cancellation point; it yields to other tasks when it
        waits, when the session has closed, and at least every
        ``SEND_YIELD_EVERY`` messages (so queueing one message costs no trip
        through the scheduler, and a sending loop cannot starve other tasks).

        On a websocket under hypercorn's trio worker, the first ``send()`` after
        :meth:`receive` returned a message (a reply) is written to the socket by
        the calling task itself, when nothing else is queued: no hand-off to the
        transport's task (``Server(direct_replies=False)`` turns this off). Such
        a send yields, and if it is cancelled before the frame was written the
        message is still sent (by the transport) and ``Cancelled`` is raised.
        Raises :class:`ConnectionClosed` if the session has ended, and
        ``ValueError`` for text containing ``"\\x1e"`` while the session is on
        long-polling (the polling payload format cannot carry it).
        """

    @abc.abstractmethod
    def send_nowait(self, data: str | bytes | dict[str, Any] | list[Any]) -> bool:
        """Queue a message for the client without waiting; ``False`` if it was not queued.

        It is not queued when the session has ended or its outgoing buffer is over
        its limits (where :meth:`send` would wait): for senders that must never
        block, such as :meth:`Server.broadcast` and messages from the bus.
        ``ValueError`` for text containing ``"\\x1e"`` while the session is on
        long-polling, as :meth:`send`.
        """

    @abc.abstractmethod
    async def receive(self) -> str | bytes:
        """Wait for the next message; raise :class:`ConnectionClosed` once the session ended.

        Messages that arrived before the close are still returned first.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """End the session ("server disconnect"): queued messages and a CLOSE go out first."""

    @abc.abstractmethod
    async def wait_closed(self) -> CloseInfo:
        """Wait until the session has ended and return why."""

    @abc.abstractmethod
    async def wait_drained(self) -> None:
        """Wait until every queued message was handed to a transport (or the session ended)."""

    @abc.abstractmethod
    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Register a lifecycle handler for this session only (decorator or call).

        Same events as :meth:`Server.on` (``upgrading``, ``upgrade``,
        ``packet_received``, ``packet_sent``, ``flush``, ``drain``), called
        without the sid.
        """

    @abc.abstractmethod
    def statistics(self) -> SessionStatistics:
        """A snapshot of this session: transport, peer, age, buffer, heartbeat."""

    @abc.abstractmethod
    def close(self, reason: CloseReason, description: str = "") -> None:
        """Close the session now (idempotent; the first reason wins)."""

    def __aiter__(self) -> Connection:
        return self

    @abc.abstractmethod
    def __anext__(self) -> Coroutine[Any, Any, str | bytes]: ...
