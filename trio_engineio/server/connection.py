"""One live session on the server: the trio driver around :class:`ServerSession`.

A :class:`Connection` is what a trio-style handler receives. It owns the
session's nursery (heartbeat and handler tasks, opened inside the server-wide
nursery) and the queue of incoming messages. Transport requests (a long-poll
GET, a POST, a websocket) only *attach* to it: they read and write through the
core and wake each other through :meth:`Connection._notify`.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from .._exceptions import ConnectionClosed
from ..protocol.events import (
    Event,
    MessageReceived,
    PongReceived,
    SessionClosed,
    UpgradeAborted,
    UpgradeCompleted,
)
from ..protocol.packets import Packet, PacketType
from ..protocol.reasons import CloseInfo, CloseReason
from ..protocol.server_session import ServerSession
from .environ import build_environ
from .socket_lease import SocketLease

if TYPE_CHECKING:
    from .server import Server

__all__ = ["Connection", "SessionStatistics"]

logger = logging.getLogger("trio_engineio.server")

#: How long a handler may keep running after its session closed before it is cancelled.
HANDLER_CLOSE_GRACE = 5.0
#: How long a transport may take to flush its last packets after the session closed
#: (a peer that stopped reading would otherwise hold the request task forever).
TRANSPORT_CLOSE_GRACE = 2.0
#: A polling client that polled this recently is expected back soon (shutdown waits for it).
ACTIVE_POLLER_WINDOW = 1.0
#: How long a server-closed polling session waits for a GET to collect its CLOSE packet.
POLL_CLOSE_GRACE = 2.0
#: ``send()`` yields to other tasks at least once per this many messages.
SEND_YIELD_EVERY = 64
#: How long after the last ``receive()`` returned the transport starts reading frames
#: itself (a busy or push-only handler must not hold up PONGs and the client's CLOSE).
PULL_HANDOVER_DELAY = 0.05

Message = str | bytes


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


class Connection:
    """One Engine.IO session, from the application's side.

    Iterate it to receive messages (``async for message in conn``), call
    :meth:`send` to send, :meth:`aclose` to end the session. Once it has ended,
    :attr:`close_info` says why. Connections are created by the server; the
    application never constructs one.
    """

    # Thousands of idle sessions live at once: no per-instance __dict__, and
    # everything a session may never need (environ, data, handlers) made on demand.
    __slots__ = (
        "__weakref__",
        "_booked_deadline",
        "_booking",
        "_changed",
        "_closed",
        "_closed_at",
        "_core",
        "_data",
        "_environ",
        "_finished",
        "_handler_done",
        "_handler_scope",
        "_incoming",
        "_last_poll_at",
        "_lease",
        "_lifecycle_handlers",
        "_poll_waker",
        "_post_scope",
        "_probe_reader",
        "_probe_scope",
        "_receivers",
        "_sends_without_yield",
        "_server",
        "_transport_scope",
        "scope",
    )

    def __init__(self, server: Server, core: ServerSession, *, scope: Mapping[str, Any]) -> None:
        self._server = server
        self._core = core
        #: The ASGI scope of the request that opened the session.
        self.scope = scope
        self._environ: Mapping[str, Any] | None = None
        self._data: dict[str, Any] | None = None
        self._changed = trio.lowlevel.ParkingLot()
        self._closed = False
        # Received messages waiting for the handler (made with the first one),
        # and the tasks waiting in receive() (made when the first one waits).
        self._incoming: deque[Message] | None = None
        self._receivers: trio.lowlevel.ParkingLot | None = None
        self._handler_done = False
        self._sends_without_yield = 0
        # Who reads and writes the session's websocket (none until one carries it).
        self._lease: SocketLease | None = None
        self._finished = False
        #: Wakes a long-poll GET waiting on hypercorn's request channel (see server/polling.py).
        self._poll_waker: Callable[[], None] | None = None
        # The scope of a POST body being read: cancelled when the session leaves polling.
        self._post_scope: trio.CancelScope | None = None
        self._handler_scope = trio.CancelScope()
        self._booked_deadline = math.inf
        self._last_poll_at = -math.inf
        self._booking: int | None = None  # the heartbeat slot this session is booked in
        self._probe_scope: trio.CancelScope | None = None
        # What the probing websocket's task waits on while it waits for a frame (see
        # _probe_reading): False when it is not waiting, True when the channel is unknown.
        self._probe_reader: trio.MemoryReceiveChannel[Any] | bool = False
        self._transport_scope: trio.CancelScope | None = None
        #: ``trio.current_time()`` of the close (``inf`` while open).
        self._closed_at = math.inf
        self._lifecycle_handlers: dict[str, Callable[..., Any]] | None = None

    @property
    def environ(self) -> Mapping[str, Any]:
        """A WSGI-style mapping of the opening request (python-engineio's ``environ``)."""
        if self._environ is None:
            self._environ = build_environ(self.scope)
        return self._environ

    @property
    def data(self) -> dict[str, Any]:
        """Free-form per-session storage (what ``server.session(sid)`` yields)."""
        if self._data is None:
            self._data = {}
        return self._data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data = value

    # ------------------------------------------------------------ public API
    @property
    def sid(self) -> str:
        """The session id."""
        return self._core.sid

    @property
    def transport(self) -> str:
        """The current transport: ``"polling"`` or ``"websocket"``."""
        return self._core.transport

    @property
    def closed(self) -> bool:
        """True once the session has ended."""
        return self._core.closed

    @property
    def close_info(self) -> CloseInfo | None:
        """Why the session ended (``None`` while it is open)."""
        return self._core.close_info

    @property
    def close_reason(self) -> str | None:
        """The close reason string (e.g. ``"ping timeout"``), ``None`` while open."""
        info = self._core.close_info
        return info.reason.value if info is not None else None

    @property
    def remote_address(self) -> tuple[str, int] | None:
        """The client's address as the ASGI server saw it."""
        client = self.scope.get("client")
        if client:
            return (str(client[0]), int(client[1]))
        return None

    @property
    def buffered_messages(self) -> int:
        """Messages queued for the client and not yet handed to a transport."""
        return self._core.buffered_messages

    @property
    def buffered_bytes(self) -> int:
        """Bytes of message data queued for the client."""
        return self._core.buffered_bytes

    @property
    def created_at(self) -> float:
        """``trio.current_time()`` when the session was created."""
        return self._core.created_at

    @property
    def last_pong_at(self) -> float | None:
        """``trio.current_time()`` of the last PONG, ``None`` before the first."""
        return self._core.last_pong_at

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
        message = data if type(data) is str else self._server._encode_message(data)
        options = self._server._options
        core = self._core
        if core.closed:
            await trio.lowlevel.checkpoint()
            raise ConnectionClosed(self._close_info_or_default())
        await trio.lowlevel.checkpoint_if_cancelled()
        while (
            core.buffered_messages >= options.max_buffered_messages
            or core.buffered_bytes >= options.max_buffered_bytes
        ) and not core.closed:
            self._sends_without_yield = 0
            await self._wait_changed()
        if core.closed:
            raise ConnectionClosed(self._close_info_or_default())
        lease = self._lease
        if lease is not None and lease.take_reply_slot(queued=core.has_outgoing()):
            self._sends_without_yield = 0
            await lease.write_reply(message)
            return
        core.send_message(message)
        self._notify()
        self._sends_without_yield += 1
        if self._sends_without_yield >= SEND_YIELD_EVERY:
            self._sends_without_yield = 0
            await trio.lowlevel.cancel_shielded_checkpoint()

    def send_nowait(self, data: str | bytes | dict[str, Any] | list[Any]) -> bool:
        """Queue a message for the client without waiting; ``False`` if it was not queued.

        It is not queued when the session has ended or its outgoing buffer is over
        its limits (where :meth:`send` would wait): for senders that must never
        block, such as :meth:`Server.broadcast` and messages from the bus.
        ``ValueError`` for text containing ``"\\x1e"`` while the session is on
        long-polling, as :meth:`send`.
        """
        message = data if type(data) is str else self._server._encode_message(data)
        options = self._server._options
        core = self._core
        if (
            core.closed
            or core.buffered_messages >= options.max_buffered_messages
            or core.buffered_bytes >= options.max_buffered_bytes
        ):
            return False
        core.send_message(message)
        self._notify()
        return True

    async def receive(self) -> Message:
        """Wait for the next message; raise :class:`ConnectionClosed` once the session ended.

        Messages that arrived before the close are still returned first.
        """
        return await self._next_message(iterating=False)

    async def _next_message(self, *, iterating: bool) -> Message:
        """:meth:`receive`, and ``async for`` (``iterating``: end with StopAsyncIteration)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        waited = pulled = False
        try:
            while True:
                incoming = self._incoming
                if incoming and not self._handler_done:
                    if self._queue_full():
                        self._notify()  # a transport may be waiting for room
                    message = incoming.popleft()
                    if self._lease is not None:
                        self._lease.message_taken()
                    if not waited:
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    return message
                if self._closed or self._handler_done:
                    if not waited:
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    if iterating:
                        raise StopAsyncIteration
                    raise ConnectionClosed(self._close_info_or_default())
                lease = self._lease
                if lease is not None and lease.begin_pull():
                    # Read the next frame in this task (see socket_lease.py).
                    try:
                        while lease.handing_over:
                            await self._changed.park()  # the backstop read lets go
                        if not (self._incoming or self._closed) and lease.can_pull:
                            pulled = True
                            await lease.pull()  # the close interrupts it
                    finally:
                        lease.end_pull()
                        if self._receivers:
                            self._receivers.unpark_all()  # another receiver may pull now
                else:
                    if self._receivers is None:
                        self._receivers = trio.lowlevel.ParkingLot()
                    await self._receivers.park()
                self._sends_without_yield = 0
                waited = True
        finally:
            # Only a receive() that read the socket itself restarts the hand-over delay: one
            # that took a queued message leaves the transport reading behind the queue.
            if pulled and self._lease is not None and not self._closed:
                self._book_handover(self._lease)

    def _book_handover(self, lease: SocketLease) -> None:
        """receive() read the socket: book the moment the backstop may read in its place."""
        handover = lease.pulled(trio.current_time())
        # An earlier booking (the previous hand-over) rebooks this one when it fires:
        # a busy session books about once per delay, not once per message.
        if handover is not None and self._booked_deadline > handover:
            self._server._heartbeats.schedule(self, handover)

    def _attach_websocket(self, lease: SocketLease) -> None:
        """A websocket now carries the session, shared as ``lease`` says; receivers may read it."""
        self._lease = lease
        # The handler gets the usual delay to come and read before the transport
        # does: one already waiting in receive() never meets a backstop read.
        self._book_handover(lease)
        if self._receivers:
            self._receivers.unpark_all()
        self._notify()

    def _detach_websocket(self) -> None:
        """The websocket request is over: wake any task still reading from it."""
        if self._lease is not None:
            self._lease.detach()
        if self._receivers:
            self._receivers.unpark_all()

    def _backstop_due(self, now: float | None = None) -> bool:
        """True when the transport should read frames itself: no task has pulled for a while."""
        lease = self._lease
        return lease is not None and lease.backstop_due(
            trio.current_time() if now is None else now,
            queue_full=self._queue_full(),
            handler_done=self._handler_done,
        )

    def __aiter__(self) -> Connection:
        return self

    def __anext__(self) -> Coroutine[Any, Any, Message]:
        # Not a coroutine function of its own: an idle handler's task keeps one frame less.
        return self._next_message(iterating=True)

    async def aclose(self) -> None:
        """End the session ("server disconnect"): queued messages and a CLOSE go out first."""
        self.close(CloseReason.SERVER_DISCONNECT)
        await trio.lowlevel.checkpoint()

    async def wait_closed(self) -> CloseInfo:
        """Wait until the session has ended and return why."""
        while not self._closed:
            await self._wait_changed()
        return self._close_info_or_default()

    async def wait_drained(self) -> None:
        """Wait until every queued message was handed to a transport (or the session ended)."""
        while self._core.has_outgoing() and not self._core.closed:
            await self._wait_changed()

    def __repr__(self) -> str:
        return f"<Connection sid={self.sid!r} transport={self.transport} closed={self.closed}>"

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Register a lifecycle handler for this session only (decorator or call).

        Same events as :meth:`Server.on` (``upgrading``, ``upgrade``,
        ``packet_received``, ``packet_sent``, ``flush``, ``drain``), called
        without the sid.
        """
        from .server import LIFECYCLE_EVENTS

        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown event {event!r}; expected one of {sorted(LIFECYCLE_EVENTS)}")

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            if self._lifecycle_handlers is None:
                self._lifecycle_handlers = {}
            self._lifecycle_handlers[event] = function
            return function

        if handler is None:
            return register
        return register(handler)

    def statistics(self) -> SessionStatistics:
        """A snapshot of this session: transport, peer, age, buffer, heartbeat."""
        core = self._core
        return SessionStatistics(
            sid=core.sid,
            transport=core.transport,
            state="closed" if core.closed else ("upgrading" if core.upgrading else "open"),
            remote_address=self.remote_address,
            age=trio.current_time() - core.created_at,
            buffered_messages=core.buffered_messages,
            buffered_bytes=core.buffered_bytes,
            last_pong_at=core.last_pong_at,
        )

    # ------------------------------------------------------------- internals
    def _wants(self, event: str) -> bool:
        own = self._lifecycle_handlers
        return (own is not None and event in own) or event in self._server._lifecycle_handlers

    async def _emit(self, event: str, *args: Any) -> None:
        """Fire a lifecycle event: the server's handler (with sid), then this session's."""
        server = self._server
        handler = server._lifecycle_handlers.get(event)
        if handler is not None:
            await server._call_lifecycle(handler, event, self.sid, self.sid, *args)
        own = self._lifecycle_handlers
        handler = own.get(event) if own is not None else None
        if handler is not None:
            await server._call_lifecycle(handler, event, self.sid, *args)

    def _has_lifecycle_handlers(self) -> bool:
        return self._lifecycle_handlers is not None or bool(self._server._lifecycle_handlers)

    async def _after_flush(self, packets: list[Packet]) -> None:
        """Fire packet_sent/flush/drain after a batch went to the transport."""
        if not self._has_lifecycle_handlers():
            return
        if self._wants("packet_sent"):
            for packet in packets:
                await self._emit("packet_sent", packet)
        if self._wants("flush"):
            await self._emit("flush", packets)
        if not self._core.has_outgoing() and self._wants("drain"):
            await self._emit("drain")

    async def _after_flush_one(self, message: Message) -> None:
        """The same for one message written directly (see :meth:`send`)."""
        if self._has_lifecycle_handlers():
            await self._after_flush([Packet(PacketType.MESSAGE, message)])

    def _flush_deadline(self) -> float:
        """Until when a transport may still write: ``TRANSPORT_CLOSE_GRACE`` after the close."""
        return self._closed_at + TRANSPORT_CLOSE_GRACE

    def _close_info_or_default(self) -> CloseInfo:
        return self._core.close_info or CloseInfo(CloseReason.SERVER_DISCONNECT)

    def _notify(self) -> None:
        """Wake every task waiting for a change of this session (and a backstop read)."""
        if self._changed:
            self._changed.unpark_all()
        if self._lease is not None:
            self._lease.stop_backstop()
        if self._poll_waker is not None:
            self._poll_waker()
        # The websocket notifies once the upgrade is complete: a POST still being
        # read belongs to the polling transport the session has just left.
        if self._post_scope is not None and self._core.left_polling:
            self._post_scope.cancel()

    def _reading_post(self, scope: trio.CancelScope | None) -> None:
        """Register the cancel scope of a POST body being read (``None``: the read is over).

        It is cancelled as soon as the session has left polling, at once if it
        already has: the POST is then detached (see ``ServerSession.left_polling``).
        """
        self._post_scope = scope
        if scope is not None and self._core.left_polling:
            scope.cancel()

    def _polling_request_failed(self, reason: CloseReason, description: str) -> None:
        """A GET or POST failed: close the session, unless it has left polling (the core decides)."""
        if self._core.polling_request_failed(reason, description) is not None:
            self._after_close()

    async def _wait_changed(self) -> None:
        await self._changed.park()

    def close(self, reason: CloseReason, description: str = "") -> None:
        """Close the session now (idempotent; the first reason wins)."""
        if not self._core.closed:
            self._core.close(reason, description)
        self._after_close()

    def _after_close(self) -> None:
        if self._closed:
            return
        info = self._close_info_or_default()
        level = logging.INFO if info.reason in _ROUTINE_REASONS else logging.WARNING
        logger.log(level, "session %s closed: %s", self.sid, info)
        if self._receivers:
            self._receivers.unpark_all()
        lease = self._lease
        if lease is not None:
            lease.interrupt()
        if self._probe_scope is not None:
            self._probe_scope.cancel()
        closed_at = self._closed_at = trio.current_time()
        heartbeats = self._server._heartbeats
        if self._handler_done:
            heartbeats.drop(self)
        else:
            # The handler's close grace, served by the heartbeat scheduler (_on_deadline):
            # cheaper than a deadline on its cancel scope, and gone if it returns in time.
            heartbeats.schedule(self, closed_at + HANDLER_CLOSE_GRACE)
        if lease is not None and lease.replying:
            self._server._watch_stuck_reply(self)
        if self._transport_scope is not None:
            self._transport_scope.deadline = min(self._transport_scope.deadline, self._flush_deadline())
        self._closed = True
        self._notify()
        self._server._session_closed(self, info)

    def _handle_events(self, events: list[Event]) -> list[Message]:
        """Apply non-message events; return the messages to deliver, in order."""
        messages: list[Message] = []
        for event in events:
            if isinstance(event, MessageReceived):
                messages.append(event.data)
            elif isinstance(event, SessionClosed):
                pass  # applied after the messages before it were delivered
            elif isinstance(event, PongReceived):
                self._reschedule_heartbeat()
            elif isinstance(event, UpgradeCompleted | UpgradeAborted):
                self._notify()
        return messages

    def _queue_full(self) -> bool:
        """True when the handler's queue holds ``max_queued_incoming`` messages."""
        incoming = self._incoming
        return incoming is not None and len(incoming) >= self._server._options.max_queued_incoming

    def _queue_received(self, message: Message) -> None:
        """Queue a message read by a pulling task or the transport's backstop (room was checked)."""
        if self._closed or self._handler_done:
            return
        incoming = self._incoming
        if incoming is None:
            incoming = self._incoming = deque()
        incoming.append(message)
        if self._receivers:
            self._receivers.unpark_all()

    async def _deliver(self, messages: list[Message]) -> None:
        """Hand received messages to the handler, waiting if its queue is full."""
        for message in messages:
            while self._queue_full() and not (self._closed or self._handler_done):
                await self._wait_changed()
            if self._closed or self._handler_done:
                return
            self._queue_received(message)

    async def _receive_packets_and_deliver(self, events: list[Event]) -> None:
        messages = self._handle_events(events)
        if messages:
            await self._deliver(messages)
        if self._core.closed:
            self._after_close()

    # ------------------------------------------------------- session lifetime
    async def _run(
        self,
        handler: Callable[[Connection], Awaitable[None]],
    ) -> None:
        """The session's one task, in the server nursery: run the handler, then finish.

        The handler gets ``HANDLER_CLOSE_GRACE`` seconds after the close to
        return before it is cancelled; a server-closed polling session then
        waits (briefly) for the client to collect its CLOSE; last, the
        ``disconnect`` handler runs once.
        """
        try:
            with self._handler_scope:
                # One frame for all of this: every idle session's task keeps it.
                try:
                    await handler(self)
                except ConnectionClosed:
                    self._server.logger.debug("handler of session %s ended by the close", self.sid)
                except trio.Cancelled:
                    # Only the server nursery's cancellation reaches an open session's handler.
                    if not self._core.closed:
                        self.close(CloseReason.SERVER_SHUTDOWN, "server nursery cancelled")
                    raise
                except Exception:
                    self._server._handler_errors += 1
                    self._server.logger.exception("handler failed for session %s", self.sid)
                finally:
                    self._handler_done = True
                    self._incoming = None
                    if self._closed:
                        self._server._heartbeats.drop(self)  # the close grace is not needed
                    self._notify()
                    if not self._core.closed:
                        self.close(CloseReason.SERVER_DISCONNECT, "handler returned")
            if self._awaits_final_poll():
                with trio.move_on_after(POLL_CLOSE_GRACE):
                    while not self._core.final_packets_sent:
                        await self._wait_changed()
        finally:
            if not self._core.closed:
                self.close(CloseReason.SERVER_SHUTDOWN)
            await self._finish()

    async def _finish(self) -> None:
        """Leave the registry and fire ``disconnect``: once, from whichever path comes first."""
        if not self._finished:
            self._finished = True
            await self._server._session_finished(self)

    async def _finish_if_reply_stuck(self) -> None:
        """Finish the session although its handler is still inside a direct reply.

        hypercorn shields its socket writes, so a reply written to a client
        that stopped reading (full TCP buffers) cannot be cancelled: it returns
        when the connection fails. The session closed anyway; after the
        handler's close grace its ``disconnect`` fires and it leaves the
        registry without waiting for that write.
        """
        with trio.move_on_after(HANDLER_CLOSE_GRACE):
            while self._lease is not None and self._lease.await_reply():
                await self._changed.park()
            return
        logger.warning(
            "session %s: the handler is still writing a reply to a client that stopped reading; "
            "finishing the session without it",
            self.sid,
        )
        await self._finish()

    def _awaits_final_poll(self) -> bool:
        """True when a server-side close should wait for the client's next GET.

        Only a server disconnect or shutdown has something to say (queued
        messages and CLOSE) to a client that is still there; after a timeout or
        an error the session ends at once. At shutdown only clients that are
        still polling (a GET pending or ended within a second) are waited for,
        so vanished clients do not hold the shutdown up.
        """
        core = self._core
        info = core.close_info
        if core.transport != "polling" or core.final_packets_sent or info is None:
            return False
        if info.reason is CloseReason.SERVER_DISCONNECT:
            return True
        return info.reason is CloseReason.SERVER_SHUTDOWN and (
            core.get_pending or trio.current_time() - self._last_poll_at < ACTIVE_POLLER_WINDOW
        )

    def _reschedule_heartbeat(self, now: float | None = None) -> None:
        """Book a wake-up at the core's next deadline, or at a pending hand-over if earlier."""
        deadline = self._core.next_deadline()
        if self._lease is not None:
            # One already due was acted on by the caller (or the writer sees it when idle).
            handover = self._lease.pending_handover(trio.current_time() if now is None else now)
            if handover is not None and handover < deadline:
                deadline = handover
        self._server._heartbeats.schedule(self, deadline)

    def _probe_reading(self, channel: trio.MemoryReceiveChannel[Any] | None) -> None:
        """The probing websocket's task waits for its next frame (on ``channel``, if known)."""
        self._probe_reader = True if channel is None else channel
        self._notify()

    def _probe_read(self) -> None:
        """The probing websocket's task has its frame (or stopped waiting)."""
        self._probe_reader = False

    def _probe_caught_up(self) -> bool:
        """Whether the probing websocket has taken in every frame that reached the server.

        True when its task waits for a frame and, with hypercorn's channel, is
        still parked in it: a frame handed over but not yet applied means no.
        """
        reader = self._probe_reader
        if isinstance(reader, bool):
            return reader
        return reader.statistics().tasks_waiting_receive > 0

    async def _settle_upgrade(self) -> None:
        """Before a polling request is served, let an upgrade apply what already arrived.

        The client sends ``2probe`` and ``5`` on the websocket before its next
        polling request; the reference reads them first, so the request finds
        the session upgraded (400) and ``3probe`` already written. One
        checkpoint lets the websocket's connection task queue what it has read.
        Bounded by the upgrade's deadline.
        """
        if not self._core.upgrading:
            return
        await trio.lowlevel.checkpoint()
        while self._core.upgrading and not self._probe_caught_up():
            await self._wait_changed()

    def _apply_overdue(self) -> None:
        """Act now on a deadline that has passed but that the scheduler has not served yet."""
        now = trio.current_time()
        if not self._core.closed and self._core.next_deadline() <= now:
            self._on_deadline(now)

    def _on_deadline(self, now: float) -> None:
        """Called by the heartbeat scheduler when a booked deadline has come."""
        core = self._core
        if core.closed:
            if not self._handler_done:
                grace_over = self._closed_at + HANDLER_CLOSE_GRACE
                if now >= grace_over:
                    self._handler_scope.cancel()  # its close grace is over
                else:  # an earlier booking (e.g. a PONG deadline) came first
                    self._server._heartbeats.schedule(self, grace_over)
            return
        had_outgoing = core.has_outgoing()
        events = core.handle_timeout(now)
        if core.closed:
            self._after_close()
            return
        if events or core.has_outgoing() != had_outgoing or self._backstop_due(now):
            self._notify()
        self._reschedule_heartbeat(now)


_ROUTINE_REASONS = frozenset(
    {
        CloseReason.CLIENT_DISCONNECT,
        CloseReason.SERVER_DISCONNECT,
        CloseReason.SERVER_SHUTDOWN,
        CloseReason.TRANSPORT_CLOSE,
        CloseReason.PING_TIMEOUT,
    }
)
