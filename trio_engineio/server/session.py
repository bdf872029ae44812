"""One live session on the server: the trio driver around the sans-I/O :class:`ServerSession`.

A :class:`Session` owns the session's task (the handler, then the last poll and
``disconnect``), the queue of incoming messages and the send-side backpressure.
Transport requests (a long-poll GET, a POST, a websocket) only *attach* to it:
they read and write through its core and wake each other through
:meth:`Session.notify`; a websocket is shared as its :class:`SocketLease` says.
The heartbeat scheduler books it and calls :meth:`Session.on_deadline`.

The application holds it as a :class:`~trio_engineio.Connection`, the
interface it implements; everything else here is internal to the server
package.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

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
from .connection import Connection, SessionStatistics
from .environ import build_environ
from .host import SessionHost
from .socket_lease import Reader, SocketLease

__all__ = ["LIFECYCLE_EVENTS", "Session", "SessionStatistics"]

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


# ``Reader.HANDING_OVER`` as a global: read for every pull, where Python 3.11 reads
# an enum member about ten times slower.
_HANDING_OVER = Reader.HANDING_OVER

#: Per-session lifecycle events (``Server.on`` and ``Connection.on``).
LIFECYCLE_EVENTS = frozenset({"upgrading", "upgrade", "packet_received", "packet_sent", "flush", "drain"})


class Session(Connection):
    """The server's side of one Engine.IO session (see the module docstring).

    The application sees it as a :class:`Connection`; the other public methods
    here are for the server, the transports and the heartbeat scheduler.
    """

    # Thousands of idle sessions live at once: no per-instance __dict__, and
    # everything a session may never need (environ, data, handlers) made on demand.
    __slots__ = (
        "__weakref__",
        "_closed_at",
        "_data",
        "_environ",
        "_finished",
        "_host",
        "_incoming",
        "_lifecycle_handlers",
        "_on_finished",
        "_post_scope",
        "_probe_reader",
        "_receivers",
        "_sends_without_yield",
        "booked_deadline",
        "booking",
        "changed",
        "close_applied",
        "core",
        "handler_done",
        "handler_scope",
        "last_poll_at",
        "lease",
        "poll_waker",
        "probe_scope",
        "scope",
        "transport_scope",
    )

    def __init__(
        self,
        host: SessionHost,
        core: ServerSession,
        *,
        scope: Mapping[str, Any],
        on_finished: Callable[[Session], Awaitable[None]],
    ) -> None:
        self._host = host
        # Called once when the session is done (the server forgets it, fires disconnect).
        self._on_finished = on_finished
        self.core = core
        #: The ASGI scope of the request that opened the session.
        self.scope = scope
        self._environ: Mapping[str, Any] | None = None
        self._data: dict[str, Any] | None = None
        self.changed = trio.lowlevel.ParkingLot()
        self.close_applied = False
        # Received messages waiting for the handler (made with the first one),
        # and the tasks waiting in receive() (made when the first one waits).
        self._incoming: deque[Message] | None = None
        self._receivers: trio.lowlevel.ParkingLot | None = None
        self.handler_done = False
        self._sends_without_yield = 0
        # Who reads and writes the session's websocket (none until one carries it).
        self.lease: SocketLease | None = None
        self._finished = False
        #: Wakes a long-poll GET waiting on its request channel (see server/polling.py).
        self.poll_waker: Callable[[], None] | None = None
        # The scope of a POST body being read: cancelled when the session leaves polling.
        self._post_scope: trio.CancelScope | None = None
        self.handler_scope = trio.CancelScope()
        self.booked_deadline = math.inf
        self.last_poll_at = -math.inf
        self.booking: int | None = None  # the heartbeat slot this session is booked in
        self.probe_scope: trio.CancelScope | None = None
        # What the probing websocket's task waits on while it waits for a frame (see
        # _probe_reading): False when it is not waiting, True when the channel is unknown.
        self._probe_reader: trio.MemoryReceiveChannel[Any] | bool = False
        self.transport_scope: trio.CancelScope | None = None
        #: ``trio.current_time()`` of the close (``inf`` while open).
        self._closed_at = math.inf
        self._lifecycle_handlers: dict[str, Callable[..., Any]] | None = None

    @property
    def environ(self) -> Mapping[str, Any]:
        if self._environ is None:
            self._environ = build_environ(self.scope)
        return self._environ

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = {}
        return self._data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data = value

    # ------------------------------------------------------------ public API
    @property
    def sid(self) -> str:
        return self.core.sid

    @property
    def transport(self) -> str:
        return self.core.transport

    @property
    def closed(self) -> bool:
        return self.core.closed

    @property
    def close_info(self) -> CloseInfo | None:
        return self.core.close_info

    @property
    def close_reason(self) -> str | None:
        info = self.core.close_info
        return info.reason.value if info is not None else None

    @property
    def remote_address(self) -> tuple[str, int] | None:
        client = self.scope.get("client")
        if client:
            return (str(client[0]), int(client[1]))
        return None

    @property
    def buffered_messages(self) -> int:
        return self.core.buffered_messages

    @property
    def buffered_bytes(self) -> int:
        return self.core.buffered_bytes

    @property
    def created_at(self) -> float:
        return self.core.created_at

    @property
    def last_pong_at(self) -> float | None:
        return self.core.last_pong_at

    async def send(self, data: str | bytes | dict[str, Any] | list[Any]) -> None:
        message = data if type(data) is str else self._host.encode_message(data)
        options = self._host.options
        core = self.core
        if core.closed:
            await trio.lowlevel.checkpoint()
            raise ConnectionClosed(self.close_info_or_default())
        await trio.lowlevel.checkpoint_if_cancelled()
        while (
            core.buffered_messages >= options.max_buffered_messages
            or core.buffered_bytes >= options.max_buffered_bytes
        ) and not core.closed:
            self._sends_without_yield = 0
            await self.wait_changed()
        if core.closed:
            raise ConnectionClosed(self.close_info_or_default())
        lease = self.lease
        if lease is not None and lease.reply_due:
            write_reply = lease.take_reply_slot(queued=core.has_outgoing())
            if write_reply is not None:
                self._sends_without_yield = 0
                await write_reply(message)
                return
        core.send_message(message)
        self.notify()
        self._sends_without_yield += 1
        if self._sends_without_yield >= SEND_YIELD_EVERY:
            self._sends_without_yield = 0
            await trio.lowlevel.cancel_shielded_checkpoint()

    def send_nowait(self, data: str | bytes | dict[str, Any] | list[Any]) -> bool:
        message = data if type(data) is str else self._host.encode_message(data)
        options = self._host.options
        core = self.core
        if (
            core.closed
            or core.buffered_messages >= options.max_buffered_messages
            or core.buffered_bytes >= options.max_buffered_bytes
        ):
            return False
        core.send_message(message)
        self.notify()
        return True

    async def receive(self) -> Message:
        return await self.next_message(iterating=False)

    async def next_message(self, *, iterating: bool) -> Message:
        """:meth:`receive`, and ``async for`` (``iterating``: end with StopAsyncIteration)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while True:
            incoming = self._incoming
            if incoming and not self.handler_done:
                if self.queue_full():
                    self.notify()  # a transport may be waiting for room
                message = incoming.popleft()
                if self.lease is not None:
                    self.lease.reply_due = True
                if not waited:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return message
            if self.close_applied or self.handler_done:
                if not waited:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                if iterating:
                    raise StopAsyncIteration
                raise ConnectionClosed(self.close_info_or_default())
            lease = self.lease
            pull = lease.begin_pull() if lease is not None else None
            if pull is not None:
                assert lease is not None
                # Read the next frame in this task (see socket_lease.py).
                read = False
                try:
                    while lease.reader is _HANDING_OVER:
                        await self.changed.park()  # the backstop read lets go
                    if not (self._incoming or self.close_applied) and lease.attached:
                        read = True
                        await pull()  # the close interrupts it
                finally:
                    # Only a receive() that read the socket itself restarts the hand-over
                    # delay: one that took a queued message leaves the transport reading
                    # behind the queue.
                    handover = lease.end_pull(
                        trio.current_time() if read and not self.close_applied else None
                    )
                    # An earlier booking (the previous hand-over) rebooks this one when it
                    # fires: a busy session books about once per delay, not once per message.
                    if handover is not None and self.booked_deadline > handover:
                        self._host.heartbeats.schedule(self, handover)
                    if self._receivers:
                        self._receivers.unpark_all()  # another receiver may pull now
            else:
                if self._receivers is None:
                    self._receivers = trio.lowlevel.ParkingLot()
                await self._receivers.park()
            self._sends_without_yield = 0
            waited = True

    def _book_handover(self, lease: SocketLease) -> None:
        """A websocket was attached: book the moment the backstop may read if nobody pulls."""
        handover = lease.pulled(trio.current_time())
        if handover is not None and self.booked_deadline > handover:
            self._host.heartbeats.schedule(self, handover)

    def attach_websocket(self, lease: SocketLease) -> None:
        """A websocket now carries the session, shared as ``lease`` says; receivers may read it."""
        self.lease = lease
        # The handler gets the usual delay to come and read before the transport
        # does: one already waiting in receive() never meets a backstop read.
        self._book_handover(lease)
        if self._receivers:
            self._receivers.unpark_all()
        self.notify()

    def detach_websocket(self) -> None:
        """The websocket request is over: wake any task still reading from it."""
        if self.lease is not None:
            self.lease.detach()
        if self._receivers:
            self._receivers.unpark_all()

    def backstop_due(self, now: float | None = None) -> bool:
        """True when the transport should read frames itself: no task has pulled for a while."""
        lease = self.lease
        return lease is not None and lease.backstop_due(
            trio.current_time() if now is None else now,
            queue_full=self.queue_full(),
            handler_done=self.handler_done,
        )

    async def aclose(self) -> None:
        self.close(CloseReason.SERVER_DISCONNECT)
        await trio.lowlevel.checkpoint()

    async def wait_closed(self) -> CloseInfo:
        while not self.close_applied:
            await self.wait_changed()
        return self.close_info_or_default()

    async def wait_drained(self) -> None:
        while self.core.has_outgoing() and not self.core.closed:
            await self.wait_changed()

    def __anext__(self) -> Coroutine[Any, Any, Message]:
        # Not a coroutine function of its own: an idle handler's task keeps one frame less.
        return self.next_message(iterating=True)

    def __repr__(self) -> str:
        return f"<Session sid={self.sid!r} transport={self.transport} closed={self.closed}>"

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
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
        core = self.core
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
    def wants(self, event: str) -> bool:
        own = self._lifecycle_handlers
        return (own is not None and event in own) or event in self._host.lifecycle_handlers

    async def emit(self, event: str, *args: Any) -> None:
        """Fire a lifecycle event: the server's handler (with sid), then this session's."""
        host = self._host
        handler = host.lifecycle_handlers.get(event)
        if handler is not None:
            await host.call_lifecycle(handler, event, self.sid, self.sid, *args)
        own = self._lifecycle_handlers
        handler = own.get(event) if own is not None else None
        if handler is not None:
            await host.call_lifecycle(handler, event, self.sid, *args)

    def _has_lifecycle_handlers(self) -> bool:
        return self._lifecycle_handlers is not None or bool(self._host.lifecycle_handlers)

    async def after_flush(self, packets: list[Packet]) -> None:
        """Fire packet_sent/flush/drain after a batch went to the transport."""
        if not self._has_lifecycle_handlers():
            return
        if self.wants("packet_sent"):
            for packet in packets:
                await self.emit("packet_sent", packet)
        if self.wants("flush"):
            await self.emit("flush", packets)
        if not self.core.has_outgoing() and self.wants("drain"):
            await self.emit("drain")

    async def after_flush_one(self, message: Message) -> None:
        """The same for one message written directly (see :meth:`send`)."""
        if self._has_lifecycle_handlers():
            await self.after_flush([Packet(PacketType.MESSAGE, message)])

    def flush_deadline(self) -> float:
        """Until when a transport may still write: ``TRANSPORT_CLOSE_GRACE`` after the close."""
        return self._closed_at + TRANSPORT_CLOSE_GRACE

    def close_info_or_default(self) -> CloseInfo:
        return self.core.close_info or CloseInfo(CloseReason.SERVER_DISCONNECT)

    def notify(self) -> None:
        """Wake every task waiting for a change of this session (and a backstop read)."""
        if self.changed:
            self.changed.unpark_all()
        if self.lease is not None:
            self.lease.stop_backstop()
        if self.poll_waker is not None:
            self.poll_waker()
        # The websocket notifies once the upgrade is complete: a POST still being
        # read belongs to the polling transport the session has just left.
        if self._post_scope is not None and self.core.left_polling:
            self._post_scope.cancel()

    def reading_post(self, scope: trio.CancelScope | None) -> None:
        """Register the cancel scope of a POST body being read (``None``: the read is over).

        It is cancelled as soon as the session has left polling, at once if it
        already has: the POST is then detached (see ``ServerSession.left_polling``).
        """
        self._post_scope = scope
        if scope is not None and self.core.left_polling:
            scope.cancel()

    def polling_request_failed(self, reason: CloseReason, description: str) -> None:
        """A GET or POST failed: close the session, unless it has left polling (the core decides)."""
        if self.core.polling_request_failed(reason, description) is not None:
            self.after_close()

    async def wait_changed(self) -> None:
        await self.changed.park()

    def close(self, reason: CloseReason, description: str = "") -> None:
        if not self.core.closed:
            self.core.close(reason, description)
        self.after_close()

    def after_close(self) -> None:
        if self.close_applied:
            return
        info = self.close_info_or_default()
        level = logging.INFO if info.reason in _ROUTINE_REASONS else logging.WARNING
        logger.log(level, "session %s closed: %s", self.sid, info)
        if self._receivers:
            self._receivers.unpark_all()
        lease = self.lease
        if lease is not None:
            lease.interrupt()
        if self.probe_scope is not None:
            self.probe_scope.cancel()
        closed_at = self._closed_at = trio.current_time()
        heartbeats = self._host.heartbeats
        if self.handler_done:
            heartbeats.drop(self)
        else:
            # The handler's close grace, served by the heartbeat scheduler (_on_deadline):
            # cheaper than a deadline on its cancel scope, and gone if it returns in time.
            heartbeats.schedule(self, closed_at + HANDLER_CLOSE_GRACE)
        if lease is not None and lease.replying:
            # Its disconnect must not wait for that write: see finish_if_reply_stuck.
            self._host.start_soon(self.finish_if_reply_stuck)
        if self.transport_scope is not None:
            self.transport_scope.deadline = min(self.transport_scope.deadline, self.flush_deadline())
        self.close_applied = True
        self.notify()
        self._host.session_closed(info)

    def handle_events(self, events: list[Event]) -> list[Message]:
        """Apply non-message events; return the messages to deliver, in order."""
        messages: list[Message] = []
        for event in events:
            if isinstance(event, MessageReceived):
                messages.append(event.data)
            elif isinstance(event, SessionClosed):
                pass  # applied after the messages before it were delivered
            elif isinstance(event, PongReceived):
                self.reschedule_heartbeat()
            elif isinstance(event, UpgradeCompleted | UpgradeAborted):
                self.notify()
        return messages

    def queue_full(self) -> bool:
        """True when the handler's queue holds ``max_queued_incoming`` messages."""
        incoming = self._incoming
        return incoming is not None and len(incoming) >= self._host.options.max_queued_incoming

    def queue_received(self, message: Message) -> None:
        """Queue a message read by a pulling task or the transport's backstop (room was checked)."""
        if self.close_applied or self.handler_done:
            return
        incoming = self._incoming
        if incoming is None:
            incoming = self._incoming = deque()
        incoming.append(message)
        if self._receivers:
            self._receivers.unpark_all()

    async def deliver(self, messages: list[Message]) -> None:
        """Hand received messages to the handler, waiting if its queue is full."""
        for message in messages:
            while self.queue_full() and not (self.close_applied or self.handler_done):
                await self.wait_changed()
            if self.close_applied or self.handler_done:
                return
            self.queue_received(message)

    async def receive_events_and_deliver(self, events: list[Event]) -> None:
        messages = self.handle_events(events)
        if messages:
            await self.deliver(messages)
        if self.core.closed:
            self.after_close()

    # ------------------------------------------------------- session lifetime
    async def run(
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
            with self.handler_scope:
                # One frame for all of this: every idle session's task keeps it.
                try:
                    await handler(self)
                except ConnectionClosed:
                    self._host.logger.debug("handler of session %s ended by the close", self.sid)
                except trio.Cancelled:
                    # Only the server nursery's cancellation reaches an open session's handler.
                    if not self.core.closed:
                        self.close(CloseReason.SERVER_SHUTDOWN, "server nursery cancelled")
                    raise
                except Exception:
                    self._host.handler_failed("handler", self.sid)
                finally:
                    self.handler_done = True
                    self._incoming = None
                    if self.close_applied:
                        self._host.heartbeats.drop(self)  # the close grace is not needed
                    self.notify()
                    if not self.core.closed:
                        self.close(CloseReason.SERVER_DISCONNECT, "handler returned")
            if self._awaits_final_poll():
                with trio.move_on_after(POLL_CLOSE_GRACE):
                    while not self.core.final_packets_sent:
                        await self.wait_changed()
        finally:
            if not self.core.closed:
                self.close(CloseReason.SERVER_SHUTDOWN)
            await self.finish()

    async def finish(self) -> None:
        """Leave the registry and fire ``disconnect``: once, from whichever path comes first."""
        if not self._finished:
            self._finished = True
            await self._on_finished(self)

    async def finish_if_reply_stuck(self) -> None:
        """Finish the session although its handler is still inside a direct reply.

        Shielded sends (``hypercorn_adapter.sends_shielded``) mean a reply written to a client
        that stopped reading (full TCP buffers) cannot be cancelled: it returns
        when the connection fails. The session closed anyway; after the
        handler's close grace its ``disconnect`` fires and it leaves the
        registry without waiting for that write.
        """
        with trio.move_on_after(HANDLER_CLOSE_GRACE):
            while self.lease is not None and self.lease.await_reply():
                await self.changed.park()
            return
        logger.warning(
            "session %s: the handler is still writing a reply to a client that stopped reading; "
            "finishing the session without it",
            self.sid,
        )
        await self.finish()

    def _awaits_final_poll(self) -> bool:
        """True when a server-side close should wait for the client's next GET.

        Only a server disconnect or shutdown has something to say (queued
        messages and CLOSE) to a client that is still there; after a timeout or
        an error the session ends at once. At shutdown only clients that are
        still polling (a GET pending or ended within a second) are waited for,
        so vanished clients do not hold the shutdown up.
        """
        core = self.core
        info = core.close_info
        if core.transport != "polling" or core.final_packets_sent or info is None:
            return False
        if info.reason is CloseReason.SERVER_DISCONNECT:
            return True
        return info.reason is CloseReason.SERVER_SHUTDOWN and (
            core.get_pending or trio.current_time() - self.last_poll_at < ACTIVE_POLLER_WINDOW
        )

    def reschedule_heartbeat(self, now: float | None = None) -> None:
        """Book a wake-up at the core's next deadline, or at a pending hand-over if earlier."""
        deadline = self.core.next_deadline()
        if self.lease is not None:
            # One already due was acted on by the caller (or the writer sees it when idle).
            handover = self.lease.pending_handover(trio.current_time() if now is None else now)
            if handover is not None and handover < deadline:
                deadline = handover
        self._host.heartbeats.schedule(self, deadline)

    def probe_reading(self, channel: trio.MemoryReceiveChannel[Any] | None) -> None:
        """The probing websocket's task waits for its next frame (on ``channel``, if known)."""
        self._probe_reader = True if channel is None else channel
        self.notify()

    def probe_read(self) -> None:
        """The probing websocket's task has its frame (or stopped waiting)."""
        self._probe_reader = False

    def probe_caught_up(self) -> bool:
        """Whether the probing websocket has taken in every frame that reached the server.

        True when its task waits for a frame and, with a request channel, is
        still parked in it: a frame handed over but not yet applied means no.
        """
        reader = self._probe_reader
        if isinstance(reader, bool):
            return reader
        return reader.statistics().tasks_waiting_receive > 0

    async def settle_upgrade(self) -> None:
        """Before a polling request is served, let an upgrade apply what already arrived.

        The client sends ``2probe`` and ``5`` on the websocket before its next
        polling request; the reference reads them first, so the request finds
        the session upgraded (400) and ``3probe`` already written. One
        checkpoint lets the websocket's connection task queue what it has read.
        Bounded by the upgrade's deadline.
        """
        if not self.core.upgrading:
            return
        await trio.lowlevel.checkpoint()
        while self.core.upgrading and not self.probe_caught_up():
            await self.wait_changed()

    def apply_overdue(self) -> None:
        """Act now on a deadline that has passed but that the scheduler has not served yet."""
        now = trio.current_time()
        if not self.core.closed and self.core.next_deadline() <= now:
            self.on_deadline(now)

    def on_deadline(self, now: float) -> None:
        """Called by the heartbeat scheduler when a booked deadline has come."""
        core = self.core
        if core.closed:
            if not self.handler_done:
                grace_over = self._closed_at + HANDLER_CLOSE_GRACE
                if now >= grace_over:
                    self.handler_scope.cancel()  # its close grace is over
                else:  # an earlier booking (e.g. a PONG deadline) came first
                    self._host.heartbeats.schedule(self, grace_over)
            return
        had_outgoing = core.has_outgoing()
        events = core.handle_timeout(now)
        if core.closed:
            self.after_close()
            return
        if events or core.has_outgoing() != had_outgoing or self.backstop_due(now):
            self.notify()
        self.reschedule_heartbeat(now)


_ROUTINE_REASONS = frozenset(
    {
        CloseReason.CLIENT_DISCONNECT,
        CloseReason.SERVER_DISCONNECT,
        CloseReason.SERVER_SHUTDOWN,
        CloseReason.TRANSPORT_CLOSE,
        CloseReason.PING_TIMEOUT,
    }
)
