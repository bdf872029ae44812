"""The Socket.IO v5 server, on top of :class:`trio_engineio.Server`."""

from __future__ import annotations

import inspect
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import trio

from .. import Connection, ConnectionClosed
from .. import Server as EngineServer
from ._handlers import (
    RESERVED_EVENTS,
    HandlerRegistry,
    ack_arguments,
    call_handler,
    check_event_name,
    emit_arguments,
    is_async_handler,
    trim_arguments,
)
from ._relay import RelayCloseRoom, RelayDisconnect, RelayEmit
from ._relay import decode as decode_relay
from ._relay import encode as encode_relay
from ._socket import EngineClient, PendingAck, ServerSocket, acquire, make_room, run_callback
from .exceptions import ConnectionRefusedError, DisconnectedError, TimeoutError
from .protocol import MAX_ACK_ID, Decoder, Packet, PacketType, ProtocolError, encode

__all__ = ["RESERVED_EVENTS", "Namespace", "NamespaceFilter", "Server"]

#: What ``Server(namespaces=[...])`` accepts besides the namespaces with handlers: a name,
#: a regular expression the whole name must match, or a callable ``(namespace, auth)``
#: returning (or awaiting to) true to accept.
NamespaceFilter = str | re.Pattern[str] | Callable[[str, Any], Any]
default_logger = logging.getLogger("trio_engineio.socketio")
#: emit() yields to other tasks at least once per this many calls.
EMIT_YIELD_EVERY = 64


class Server(HandlerRegistry):
    """A Socket.IO v5 server (python-socketio's ``AsyncServer`` names, trio inside).

    Handlers (:meth:`on`, :meth:`event`): ``connect(sid, environ, auth)``
    (``auth`` is ``None`` when the client sent none; refuse with ``False`` or
    :class:`ConnectionRefusedError`), ``disconnecting(sid, reason)`` (the socket
    is still in its rooms), ``disconnect(sid, reason)``, and any event
    ``(sid, *args)`` whose return value is the acknowledgement (a tuple means
    several arguments); ``"*"`` catches events with no handler of their own as
    ``(event, sid, *args)``. Events a client sends under a reserved name
    (``connect``, ``disconnect``...) are ignored.

    Dynamic namespaces: handlers registered with ``namespace=re.compile(...)``
    serve (and accept) every namespace the whole pattern matches, and those
    registered with ``namespace="*"`` every accepted namespace; both get the
    namespace name first: ``connect(namespace, sid, environ, auth)``,
    ``event(namespace, sid, *args)``, ``"*"`` as ``(event, namespace, sid,
    *args)``. ``namespaces`` accepts more (python-socketio's option):
    ``"*"`` accepts any namespace, or a list of :data:`~trio_engineio.socketio.NamespaceFilter` (names,
    patterns, or callables ``(namespace, auth)`` like socket.io's
    ``io.of((name, auth, next) => ...)``). A namespace's own handlers come first,
    then its :class:`Namespace` class, then the first matching pattern's, then
    ``"*"``'s.

    ``always_connect=True`` sends the CONNECT reply before the ``connect``
    handler runs (its emits reach the client at once); refusing then sends a
    DISCONNECT for the namespace.

    Several nodes (``node_id=``, ``bus=``, passed to the engine): :meth:`emit`
    to rooms, to everyone or to a sid that is not here, :meth:`close_room` and
    :meth:`disconnect` of a sid that is not here reach the sockets of every
    node through the bus (at most once; a recipient whose buffer is full
    misses it). Room membership, :meth:`rooms`, :meth:`participants`,
    sessions, :meth:`call` and ``emit(callback=)`` stay per node.

    Keyword arguments it does not know go to the Engine.IO
    :class:`trio_engineio.Server` (``ping_interval``, ``cors_allowed_origins``,
    ``max_http_buffer_size``...), available as :attr:`eio`. Serve it with
    :class:`trio_engineio.socketio.ASGIApp`.

    * ``connect_timeout``: seconds a client has to send its first CONNECT
      before its Engine.IO session is closed (the engine's own connect-handler
      timeout is ``engineio_connect_timeout``); a namespace ``connect`` handler
      still running after ``connect_handler_timeout`` seconds refuses the
      connection (it runs in the connection's reading task, so keep it short).
    * Limits per connection (hostile clients): ``max_namespaces`` namespace
      sockets, ``max_rooms`` rooms per socket (:meth:`enter_room` raises
      ``ValueError`` beyond), ``max_pending_calls`` :meth:`call` waiting per
      socket, ``max_concurrent_events`` event handlers running at once (more
      wait: reading from that client pauses), ``max_attachments`` binary
      attachments per packet, ``max_buffered_packets`` emitted to a socket
      during its connect handler.

    Coroutine event handlers run as tasks of the connection (so one may
    ``await sio.call()`` the same client); a plain function runs in the
    connection's reading task when none of its event tasks is running (it
    cannot wait: no task is needed). Handlers start in the order the packets
    arrived.
    """

    def __init__(
        self,
        *,
        namespaces: str | Sequence[NamespaceFilter] | None = None,
        always_connect: bool = False,
        connect_timeout: float = 45,
        engineio_connect_timeout: float = 10,
        connect_handler_timeout: float = 10,
        max_namespaces: int = 100,
        max_rooms: int = 1000,
        max_pending_calls: int = 1000,
        max_concurrent_events: int = 100,
        max_attachments: int = 10,
        max_buffered_packets: int = 1000,
        logger: bool | logging.Logger = False,
        **engine_options: Any,
    ) -> None:
        if isinstance(logger, logging.Logger):
            self.logger = logger
        else:
            self.logger = default_logger
            if logger and self.logger.level == logging.NOTSET:
                self.logger.setLevel(logging.INFO)
        #: The Engine.IO server underneath.
        self.eio = EngineServer(
            handler=self._serve_connection, connect_timeout=engineio_connect_timeout, **engine_options
        )
        self.connect_timeout = float(connect_timeout)
        self.connect_handler_timeout = float(connect_handler_timeout)
        self.max_namespaces = max_namespaces
        self.max_rooms = max_rooms
        self.max_pending_calls = max_pending_calls
        self.max_concurrent_events = max_concurrent_events
        self.max_attachments = max_attachments
        self.max_buffered_packets = max_buffered_packets
        if isinstance(namespaces, str) and namespaces != "*":
            raise ValueError('namespaces is "*" or a list')
        #: ``"*"`` (every namespace accepted) or the extra namespace filters.
        self.namespaces: str | list[NamespaceFilter] = "*" if namespaces == "*" else list(namespaces or ())
        self.always_connect = always_connect
        self.handlers: dict[str, dict[str, Callable[..., Any]]] = {}
        #: Handlers of dynamic namespaces, by pattern, in registration order.
        self.pattern_handlers: list[tuple[re.Pattern[str], dict[str, Callable[..., Any]]]] = []
        self.namespace_handlers: dict[str, Namespace] = {}
        self._sockets: dict[str, ServerSocket] = {}
        #: namespace -> room -> sids (every socket is in the room named by its sid).
        self._rooms: dict[str, dict[str, set[str]]] = {}
        #: namespace -> sids of the sockets connected (or connecting) to it.
        self._namespace_sids: dict[str, set[str]] = {}
        #: Emits from other nodes that some socket here could not take at once.
        self.relay_drops = 0
        self._emits_without_yield = 0
        if self.eio.bus is not None:
            self.eio.on_node_message(self._from_other_node)

    # ------------------------------------------------------------ handlers
    def _register_handler(
        self, event: str, handler: Callable[..., Any], namespace: str | re.Pattern[str] | None
    ) -> None:
        if isinstance(namespace, re.Pattern):
            for pattern, handlers in self.pattern_handlers:
                if pattern == namespace:
                    handlers[event] = handler
                    return
            self.pattern_handlers.append((namespace, {event: handler}))
            return
        super()._register_handler(event, handler, namespace)

    def register_namespace(self, namespace_handler: Namespace) -> None:
        """Register a class-based :class:`Namespace`."""
        if not isinstance(namespace_handler, Namespace):
            raise TypeError("not a Namespace instance")
        namespace_handler._set_server(self)
        self.namespace_handlers[namespace_handler.namespace] = namespace_handler

    def _handler(self, namespace: str, event: str) -> tuple[Callable[..., Any] | None, tuple[str, ...]]:
        """The handler for ``event`` in ``namespace`` and the arguments it gets before the sid."""
        catchable = event not in RESERVED_EVENTS
        handlers = self.handlers.get(namespace)
        if handlers is not None and event in handlers:
            return handlers[event], ()
        class_based = self.namespace_handlers.get(namespace)
        if class_based is not None:
            method = class_based.handler_for(event)
            if method is not None:
                return method, ()
        if handlers is not None and catchable and "*" in handlers:
            return handlers["*"], (event,)
        for pattern, dynamic in self.pattern_handlers:
            if pattern.fullmatch(namespace):
                if event in dynamic:
                    return dynamic[event], (namespace,)
                if catchable and "*" in dynamic:
                    return dynamic["*"], (event, namespace)
        if "*" in self.handlers:
            anywhere = self.handlers["*"]
            if event in anywhere:
                return anywhere[event], (namespace,)
            if catchable and "*" in anywhere:
                return anywhere["*"], (event, namespace)
        return None, ()

    async def _accepts_namespace(self, namespace: str, auth: Any) -> bool:
        """Whether a CONNECT to ``namespace`` may go on to its ``connect`` handler."""
        if namespace == "/" or namespace in self.handlers or namespace in self.namespace_handlers:
            return True
        if any(pattern.fullmatch(namespace) for pattern, _ in self.pattern_handlers):
            return True
        if self.namespaces == "*":
            return True
        for accepted in self.namespaces:
            if isinstance(accepted, str):
                if accepted == namespace:
                    return True
            elif isinstance(accepted, re.Pattern):
                if accepted.fullmatch(namespace):
                    return True
            else:
                try:
                    if await call_handler(accepted, namespace, auth):
                        return True
                except Exception:
                    self.logger.exception("namespace filter %r failed for %.60r", accepted, namespace)
        await trio.lowlevel.checkpoint()
        return False

    async def _trigger(self, namespace: str, event: str, sid: str, *args: Any) -> Any:
        handler, before = self._handler(namespace, event)
        if handler is None:
            return None
        return await call_handler(handler, *before, sid, *args)

    # ------------------------------------------------------------ lifetime
    async def __aenter__(self) -> Server:
        await self.eio.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self.eio.__aexit__(exc_type, exc, tb)

    async def run(self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled: ``await nursery.start(sio.run)`` (:class:`ASGIApp` runs it itself)."""
        async with self:
            task_status.started(self)
            await trio.sleep_forever()

    # ------------------------------------------------------ one connection
    async def _serve_connection(self, conn: Connection) -> None:
        """The engine handler: decode packets of one Engine.IO session and dispatch them."""
        client = EngineClient(conn)
        decoder = Decoder(max_attachments=self.max_attachments, max_bytes=self.eio.max_http_buffer_size)
        limiter = trio.Semaphore(self.max_concurrent_events)
        try:
            async with trio.open_nursery() as nursery:
                client.nursery = nursery
                deadline = trio.CancelScope()
                nursery.start_soon(self._connect_deadline, client, deadline)
                try:
                    async for message in conn:
                        try:
                            packet = decoder.feed(message)
                            if packet is not None:
                                await self._handle_packet(client, packet, nursery, limiter)
                        except ProtocolError as error:
                            self.logger.warning(
                                "closing session %s: invalid Socket.IO packet: %s", conn.sid, error
                            )
                            await conn.aclose()
                            break
                finally:
                    reason = conn.close_reason or "server disconnect"
                    for socket in list(client.sockets.values()):
                        await self._socket_gone(socket, reason)
                    # Event handlers still running may finish (their emits to this client are
                    # dropped); the engine cancels them after its grace period.
                    deadline.cancel()
        finally:
            client.sockets.clear()

    async def _connect_deadline(self, client: EngineClient, scope: trio.CancelScope) -> None:
        with scope, trio.move_on_after(self.connect_timeout):
            await client.connected_once.wait()
            return
        if scope.cancelled_caught:
            return
        self.logger.info("closing session %s: no CONNECT within %ss", client.conn.sid, self.connect_timeout)
        await client.conn.aclose()

    async def _handle_packet(
        self, client: EngineClient, packet: Packet, nursery: trio.Nursery, limiter: trio.Semaphore
    ) -> None:
        kind = packet.type
        if kind is PacketType.CONNECT:
            client.connected_once.set()
            await self._handle_connect(client, packet)
            return
        socket = client.sockets.get(packet.namespace)
        if kind is PacketType.DISCONNECT:
            if socket is not None:
                await self._socket_gone(socket, "client disconnect")
            else:
                await trio.lowlevel.checkpoint()
            return
        if kind is PacketType.CONNECT_ERROR:
            raise ProtocolError("a client may not send CONNECT_ERROR")
        if socket is None or not socket.connected:
            self.logger.debug("ignored a packet for namespace %.60r not connected", packet.namespace)
            await trio.lowlevel.checkpoint()
            return
        if packet.is_ack:
            assert packet.id is not None
            pending = socket.acks.pop(packet.id, None)
            if pending is None:
                self.logger.info("ignored an ACK for id %s never issued on %s", packet.id, socket.sid)
            elif pending.callback is not None:
                await acquire(limiter)
                nursery.start_soon(run_callback, pending.callback, packet.data, limiter)
                return
            else:
                pending.resolve(packet.data)
            await trio.lowlevel.checkpoint()
            return
        if not nursery.child_tasks and await self._run_plain_event(socket, packet, nursery, limiter):
            return
        await acquire(limiter)
        nursery.start_soon(self._run_event, socket, packet, limiter)

    async def _run_plain_event(
        self, socket: ServerSocket, packet: Packet, nursery: trio.Nursery, limiter: trio.Semaphore
    ) -> bool:
        """Run a plain-function handler in the reading task; ``False``: it needs a task of its own.

        Only when no event task of this connection is running (handlers still start in the
        order their packets arrived). A plain function cannot wait, so running it here
        costs no task; its ack is queued at once unless the outgoing buffer is full (then
        reading from this client waits, as for a full buffer anywhere).
        """
        event = packet.data[0]
        if event in RESERVED_EVENTS:
            return False
        handler, before = self._handler(socket.namespace, event)
        if handler is None or is_async_handler(handler):
            return False
        try:
            result = handler(*trim_arguments(handler, (*before, socket.sid, *packet.data[1:])))
        except Exception:
            self.logger.exception("handler for event %.60r failed (sid %s)", event, socket.sid)
            return True
        if inspect.isawaitable(result):  # a plain function that returned an awaitable
            await acquire(limiter)
            nursery.start_soon(self._finish_event, socket, packet, result, limiter)
            return True
        await self._reply(socket, packet, result)
        return True

    async def _finish_event(
        self, socket: ServerSocket, packet: Packet, pending: Any, limiter: trio.Semaphore
    ) -> None:
        try:
            try:
                result = await pending
            except Exception:
                self.logger.exception("handler for event %.60r failed (sid %s)", packet.data[0], socket.sid)
                return
            await self._reply(socket, packet, result)
        finally:
            limiter.release()

    async def _reply(self, socket: ServerSocket, packet: Packet, result: Any) -> None:
        """Acknowledge ``packet`` with a handler's ``result``, if it asked for an ack."""
        if packet.id is None or socket.disconnected:
            return
        reply = Packet(PacketType.ACK, socket.namespace, ack_arguments(result), packet.id)
        try:
            messages = encode(reply)
        except (TypeError, ValueError):
            self.logger.exception("cannot encode the ack of event %.60r", packet.data[0])
            return
        await socket.send_messages(messages)

    async def _run_event(self, socket: ServerSocket, packet: Packet, limiter: trio.Semaphore) -> None:
        try:
            event, *args = packet.data
            if event in RESERVED_EVENTS:
                self.logger.debug("ignored an event named %r from %s (reserved)", event, socket.sid)
                return
            handler, before = self._handler(socket.namespace, event)
            if handler is None:
                self.logger.debug("no handler for event %.60r in %.60r", event, socket.namespace)
                return
            try:
                result = await call_handler(handler, *before, socket.sid, *args)
            except Exception:
                self.logger.exception("handler for event %.60r failed (sid %s)", event, socket.sid)
                return
            await self._reply(socket, packet, result)
        finally:
            limiter.release()

    async def _handle_connect(self, client: EngineClient, packet: Packet) -> None:
        namespace = packet.namespace
        if namespace in client.sockets:
            self.logger.info("ignored a second CONNECT to %.60r on session %s", namespace, client.conn.sid)
            await trio.lowlevel.checkpoint()
            return
        if len(client.sockets) >= self.max_namespaces:
            raise ProtocolError(f"more than {self.max_namespaces} namespaces on one connection")
        if not await self._accepts_namespace(namespace, packet.data):
            await self._connect_error(client, namespace, {"message": "Invalid namespace"})
            return
        sid = self._new_sid()
        socket = ServerSocket(client, namespace, sid, max_buffered=self.max_buffered_packets)
        client.sockets[namespace] = socket
        self._sockets[sid] = socket
        self._rooms.setdefault(namespace, {})[sid] = {sid}
        self._namespace_sids.setdefault(namespace, set()).add(sid)
        if self.always_connect:
            socket.connected = True
            if not await client.send_messages(encode(Packet(PacketType.CONNECT, namespace, {"sid": sid}))):
                self._forget(socket)
                return
        refusal: dict[str, Any] | None = None
        try:
            verdict: Any = False
            with trio.move_on_after(self.connect_handler_timeout) as timer:
                verdict = await self._trigger(namespace, "connect", sid, client.conn.environ, packet.data)
            if timer.cancelled_caught:
                self.logger.warning("connect handler for %s timed out: refused", sid)
            if verdict is False:
                refusal = {"message": "Connection rejected by server"}
        except ConnectionRefusedError as refused:
            refusal = refused.error_args
        except Exception:
            self.logger.exception("connect handler failed for %s", sid)
            refusal = {"message": "Connection rejected by server"}
        if refusal is not None or socket.disconnected:
            was_connected = socket.connected and not socket.disconnected
            self._forget(socket)
            if refusal is not None and was_connected:  # always_connect: the client was told it is in
                await client.send_messages(encode(Packet(PacketType.DISCONNECT, namespace)))
            elif refusal is not None:
                await self._connect_error(client, namespace, refusal)
            return
        if self.always_connect:
            return
        messages = encode(Packet(PacketType.CONNECT, namespace, {"sid": sid}))
        socket.connected = True
        buffered, socket.buffered = socket.buffered, []
        async with client.send_lock:  # the CONNECT reply, then what the connect handler emitted
            for packet_messages in [messages, *buffered]:
                for message in packet_messages:
                    try:
                        await client.conn.send(message)
                    except ConnectionClosed:
                        return

    async def _connect_error(self, client: EngineClient, namespace: str, error: dict[str, Any]) -> None:
        await client.send_messages(encode(Packet(PacketType.CONNECT_ERROR, namespace, error)))

    def _new_sid(self) -> str:
        while True:
            sid = secrets.token_urlsafe(15)
            if sid not in self._sockets:
                return sid

    def _forget(self, socket: ServerSocket) -> None:
        """Take ``socket`` out of every registry (no handler called)."""
        socket.disconnected = True
        socket.connected = False
        namespace = socket.namespace
        if socket.client.sockets.get(namespace) is socket:
            del socket.client.sockets[namespace]
        self._sockets.pop(socket.sid, None)
        sids = self._namespace_sids.get(namespace)
        if sids is not None:
            sids.discard(socket.sid)
            if not sids:  # dynamic namespaces come and go: keep no empty entries
                del self._namespace_sids[namespace]
        rooms = self._rooms.get(namespace)
        if rooms is not None:
            for room in socket.rooms:
                members = rooms.get(room)
                if members is not None:
                    members.discard(socket.sid)
                    if not members:
                        del rooms[room]
            if not rooms:
                del self._rooms[namespace]
        socket.rooms = set()
        socket.fail_acks()

    async def _socket_gone(self, socket: ServerSocket, reason: str) -> None:
        """Forget a connected socket: ``disconnecting`` (still in its rooms), then ``disconnect``.

        Each handler runs once, shielded and bounded by the engine's ``shutdown_timeout``.
        Nothing more is sent to the socket from the moment it is gone.
        """
        if socket.disconnected:
            return
        was_connected = socket.connected
        socket.disconnected = True
        if was_connected:
            await self._run_shielded(socket, "disconnecting", reason)
        self._forget(socket)
        if was_connected:
            await self._run_shielded(socket, "disconnect", reason)

    async def _run_shielded(self, socket: ServerSocket, event: str, reason: str) -> None:
        with trio.CancelScope(shield=True, deadline=trio.current_time() + self.eio.options.shutdown_timeout):
            try:
                await self._trigger(socket.namespace, event, socket.sid, reason)
            except Exception:
                self.logger.exception("%s handler failed for %s", event, socket.sid)

    # ------------------------------------------------------------ sending
    def _socket(self, sid: str, namespace: str | None) -> ServerSocket:
        """The socket ``sid`` (unique across namespaces); ``namespace``, when given, must be its own."""
        socket = self._sockets.get(sid)
        if socket is None or (namespace is not None and socket.namespace != (namespace or "/")):
            raise KeyError(f"no socket {sid!r} in namespace {namespace or '/'!r}")
        return socket

    def _targets(
        self, namespace: str, to: str | Iterable[str] | None, skip_sid: str | Iterable[str] | None
    ) -> list[ServerSocket]:
        rooms = self._rooms.get(namespace)
        if rooms is None:
            return []
        sids: Iterable[str]
        if to is None:
            sids = self._namespace_sids.get(namespace, ())
        elif isinstance(to, str):
            sids = rooms.get(to, ())
        else:
            names = list(to)
            if len(names) == 1:
                sids = rooms.get(names[0], ())
            else:
                sids = set().union(*(rooms.get(name, ()) for name in names))
        sockets = self._sockets
        if skip_sid is None:
            return [sockets[sid] for sid in list(sids) if sid in sockets]
        skip = {skip_sid} if isinstance(skip_sid, str) else set(skip_sid)
        return [sockets[sid] for sid in list(sids) if sid not in skip and sid in sockets]

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | list[str] | None = None,
        room: str | list[str] | None = None,
        skip_sid: str | list[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        *,
        volatile: bool = False,
    ) -> None:
        """Send ``event`` to a sid, a room, several rooms, or (``to=None``) every socket of the namespace.

        ``data`` is the one argument; a tuple means several, ``None`` none;
        ``bytes`` anywhere inside travel as binary attachments (at most
        :data:`~trio_engineio.socketio.protocol.MAX_ATTACHMENTS`, else
        ``ValueError``). The packet is encoded once for all recipients. Waits
        while a recipient's outgoing buffer is full (backpressure); recipients
        that are gone are skipped. Reserved event names (``connect``,
        ``disconnect``...) raise ``ValueError``.

        ``callback``: each recipient is asked to acknowledge, and
        ``callback(*args)`` (plain or async) runs with each acknowledgement's
        arguments, as a task of that recipient's connection; it never runs for
        a recipient that goes away first. Over ``max_pending_calls``
        unanswered per socket the oldest callbacks are forgotten.

        ``volatile=True``: a recipient whose outgoing buffer is full (or that
        is being written to) does not get the event, instead of making the
        emit wait, like socket.io's ``socket.volatile.emit``.

        It is a cancellation point (cancelled before anything was sent); it
        yields to other tasks when it waits and at least every 64 emits.
        """
        check_event_name(event)
        await trio.lowlevel.checkpoint_if_cancelled()  # cancelled: nothing was sent
        namespace = namespace or "/"
        rooms = to if to is not None else room
        targets = self._targets(namespace, rooms, skip_sid)
        if callback is None:
            messages = encode(Packet(PacketType.EVENT, namespace, [event, *emit_arguments(data)]))
            if self.eio.bus is not None and not (isinstance(rooms, str) and rooms in self._sockets):
                self._publish(RelayEmit(namespace, _names(rooms), _names(skip_sid) or [], messages))
            for socket in targets:
                if volatile:
                    await socket.send_volatile(messages)
                else:
                    await socket.send_messages(messages)
        else:
            arguments = [event, *emit_arguments(data)]
            encode(Packet(PacketType.EVENT, namespace, arguments))  # refuse bad data before sending any
            for socket in targets:
                await self._emit_with_callback(socket, arguments, callback, volatile)
        # A trip through the scheduler only every EMIT_YIELD_EVERY emits (as the engine's
        # send()): an echo costs one fewer task switch.
        self._emits_without_yield += 1
        if self._emits_without_yield >= EMIT_YIELD_EVERY:
            self._emits_without_yield = 0
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def _emit_with_callback(
        self, socket: ServerSocket, arguments: list[Any], callback: Callable[..., Any], volatile: bool
    ) -> None:
        if socket.disconnected or not make_room(socket.acks, self.max_pending_calls):
            return
        ack_id = self._next_ack_id(socket)
        socket.acks[ack_id] = PendingAck(callback)
        messages = encode(Packet(PacketType.EVENT, socket.namespace, arguments, ack_id))
        if volatile:
            sent = await socket.send_volatile(messages)
        else:
            await socket.send_messages(messages)
            sent = not socket.disconnected
        if not sent:
            socket.acks.pop(ack_id, None)

    @staticmethod
    def _next_ack_id(socket: ServerSocket) -> int:
        ack_id = socket.next_ack_id
        socket.next_ack_id = 0 if ack_id >= MAX_ACK_ID else ack_id + 1
        return ack_id

    async def send(
        self,
        data: Any,
        to: str | list[str] | None = None,
        room: str | list[str] | None = None,
        skip_sid: str | list[str] | None = None,
        namespace: str | None = None,
    ) -> None:
        """``emit("message", data, ...)``."""
        await self.emit("message", data, to=to, room=room, skip_sid=skip_sid, namespace=namespace)

    async def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        *,
        timeout: float = 60,  # noqa: ASYNC109 - python-socketio's signature
        namespace: str | None = None,
    ) -> Any:
        """Emit ``event`` to one socket and return its acknowledgement.

        One ack argument is returned as is, several as a tuple, none as
        ``None``. Raises :class:`~trio_engineio.socketio.TimeoutError` after
        ``timeout`` seconds, :class:`~trio_engineio.socketio.DisconnectedError`
        if the socket is or goes away, ``RuntimeError`` over
        ``max_pending_calls``.
        """
        target = to or sid
        if target is None:
            raise ValueError("call() needs to= (one sid)")
        check_event_name(event)
        socket = self._sockets.get(target)
        if socket is None or socket.namespace != (namespace or "/") or socket.disconnected:
            raise DisconnectedError(f"no socket {target!r} in namespace {namespace or '/'!r}")
        if not make_room(socket.acks, self.max_pending_calls):
            raise RuntimeError(f"{self.max_pending_calls} calls already wait on {target}")
        ack_id = self._next_ack_id(socket)
        pending = socket.acks[ack_id] = PendingAck()
        try:
            messages = encode(
                Packet(PacketType.EVENT, socket.namespace, [event, *emit_arguments(data)], ack_id)
            )
            await socket.send_messages(messages)
            with trio.move_on_after(timeout):
                await pending.done.wait()
            if not pending.done.is_set():
                raise TimeoutError(f"no acknowledgement of {event!r} within {timeout}s")
            return pending.result()
        finally:
            if socket.acks.get(ack_id) is pending:
                del socket.acks[ack_id]

    # -------------------------------------------------------------- rooms
    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Add ``sid`` to ``room`` (``ValueError`` past ``max_rooms`` rooms for one socket)."""
        socket = self._socket(sid, namespace)
        if room not in socket.rooms:
            if len(socket.rooms) >= self.max_rooms:
                raise ValueError(f"socket {sid} is already in {self.max_rooms} rooms")
            socket.rooms.add(room)
            self._rooms.setdefault(socket.namespace, {}).setdefault(room, set()).add(sid)
        await trio.lowlevel.checkpoint()

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Remove ``sid`` from ``room`` (nothing if it was not in it)."""
        socket = self._socket(sid, namespace)
        if room in socket.rooms and room != sid:
            socket.rooms.discard(room)
            rooms = self._rooms.get(socket.namespace, {})
            members = rooms.get(room)
            if members is not None:
                members.discard(sid)
                if not members:
                    del rooms[room]
        await trio.lowlevel.checkpoint()

    async def close_room(self, room: str, namespace: str | None = None) -> None:
        """Remove every socket from ``room`` (on every node, with a bus)."""
        self._close_room(room, namespace or "/")
        if self.eio.bus is not None:
            self._publish(RelayCloseRoom(namespace or "/", room))
        await trio.lowlevel.checkpoint()

    def _close_room(self, room: str, namespace: str) -> None:
        rooms = self._rooms.get(namespace, {})
        members = rooms.get(room)
        if members is None:
            return
        for sid in list(members):
            socket = self._sockets.get(sid)
            if sid != room:  # a socket stays in the room named by its own sid
                members.discard(sid)
                if socket is not None:
                    socket.rooms.discard(room)
        if not members:
            del rooms[room]

    def participants(self, room: str, namespace: str | None = None) -> list[str]:
        """The sids in ``room`` of ``namespace`` (``"/"``) on this server."""
        return sorted(self._rooms.get(namespace or "/", {}).get(room, ()))

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """The rooms ``sid`` is in (its own sid first)."""
        socket = self._socket(sid, namespace)
        return [sid, *sorted(room for room in socket.rooms if room != sid)]

    # ------------------------------------------------- sockets and sessions
    async def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """Disconnect one socket from its namespace: DISCONNECT, then its ``disconnect`` handler.

        The Engine.IO session stays open (other namespaces may use it), as in
        the reference server. Unknown sids are ignored.
        """
        socket = self._sockets.get(sid)
        if socket is None and self.eio.bus is not None:
            self._publish(RelayDisconnect(namespace or "/", sid))
        if socket is None or (namespace is not None and socket.namespace != namespace):
            await trio.lowlevel.checkpoint()
            return
        if socket.connected:
            await socket.client.send_messages(encode(Packet(PacketType.DISCONNECT, socket.namespace)))
        await self._socket_gone(socket, "server disconnect")

    # ------------------------------------------------------------- nodes
    def _publish(self, relay: RelayEmit | RelayDisconnect | RelayCloseRoom) -> None:
        """Tell the other nodes (never waits; the bus counts what it drops)."""
        try:
            self.eio.publish_to_nodes(encode_relay(relay))
        except ValueError:
            self.logger.exception("could not publish a %s to the other nodes", type(relay).__name__)

    def _from_other_node(self, payload: bytes) -> None:
        """The engine's ``on_node_message`` receiver: never waits; raises ValueError on bad input."""
        relay = decode_relay(payload)
        if isinstance(relay, RelayEmit):
            options = self.eio.options
            for socket in self._targets(relay.namespace, relay.rooms, relay.skip):
                if not socket.send_nowait(
                    relay.messages, options.max_buffered_messages, options.max_buffered_bytes
                ):
                    self.relay_drops += 1
        elif isinstance(relay, RelayCloseRoom):
            self._close_room(relay.room, relay.namespace)
        elif isinstance(relay, RelayDisconnect):
            target = self._sockets.get(relay.sid)
            if target is not None and target.namespace == relay.namespace and target.client.nursery:
                target.client.nursery.start_soon(self.disconnect, relay.sid, relay.namespace)

    def transport(self, sid: str, namespace: str | None = None) -> str:
        """The Engine.IO transport the socket uses now (``"polling"`` or ``"websocket"``)."""
        return self._socket(sid, namespace).client.conn.transport

    def engine_connection(self, sid: str, namespace: str | None = None) -> Connection:
        """The Engine.IO :class:`~trio_engineio.Connection` a socket travels on."""
        return self._socket(sid, namespace).client.conn

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        """The per-socket session dict (``KeyError`` for an unknown sid)."""
        await trio.lowlevel.checkpoint()
        return self._socket(sid, namespace).session

    async def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        """Replace the per-socket session dict."""
        await trio.lowlevel.checkpoint()
        self._socket(sid, namespace).session = session

    @asynccontextmanager
    async def session(self, sid: str, namespace: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """``async with sio.session(sid) as session:`` edits the per-socket session dict."""
        data = await self.get_session(sid, namespace)
        yield data
        await self.save_session(sid, data, namespace)


def _names(value: str | Iterable[str] | None) -> list[str] | None:
    """A room or sid argument as a list (``None`` stays ``None``)."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


class Namespace:
    """Handlers of one namespace, as methods: ``on_connect(sid, environ, auth)``, ``on_<event>(sid, *args)``.

    ``on_disconnecting(sid, reason)`` and ``on_disconnect(sid, reason)`` too.

    Register it with :meth:`Server.register_namespace`. The helpers (:meth:`emit`,
    :meth:`call`, :meth:`enter_room`...) are the server's, defaulting to this
    namespace. An event with no ``on_<event>`` method is ignored.
    """

    def __init__(self, namespace: str | None = None) -> None:
        #: The namespace this class handles (``"/"`` by default).
        self.namespace = namespace or "/"
        self._server: Server | None = None

    def _set_server(self, server: Server) -> None:
        self._server = server

    @property
    def server(self) -> Server:
        """The server this namespace is registered with."""
        if self._server is None:
            raise RuntimeError("namespace not registered with a server")
        return self._server

    def handler_for(self, event: str) -> Callable[..., Any] | None:
        """The ``on_<event>`` method for ``event``, or ``None``."""
        handler = getattr(self, "on_" + event, None)
        return handler if callable(handler) else None

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Call the ``on_<event>`` method with ``args``; ``None`` if there is none."""
        handler = self.handler_for(event)
        if handler is None:
            return None
        return await call_handler(handler, *args)

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | list[str] | None = None,
        room: str | list[str] | None = None,
        skip_sid: str | list[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        *,
        volatile: bool = False,
    ) -> None:
        """:meth:`Server.emit` in this namespace."""
        await self.server.emit(
            event,
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
            volatile=volatile,
        )

    async def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        *,
        timeout: float = 60,  # noqa: ASYNC109 - python-socketio's signature
        namespace: str | None = None,
    ) -> Any:
        """:meth:`Server.call` in this namespace."""
        return await self.server.call(
            event, data, to=to, timeout=timeout, namespace=namespace or self.namespace
        )

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """:meth:`Server.enter_room` in this namespace."""
        await self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """:meth:`Server.leave_room` in this namespace."""
        await self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """:meth:`Server.rooms` in this namespace."""
        return self.server.rooms(sid, namespace=namespace or self.namespace)

    async def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """:meth:`Server.disconnect` in this namespace."""
        await self.server.disconnect(sid, namespace=namespace or self.namespace)

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        """:meth:`Server.get_session` in this namespace."""
        return await self.server.get_session(sid, namespace=namespace or self.namespace)

    async def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        """:meth:`Server.save_session` in this namespace."""
        await self.server.save_session(sid, session, namespace=namespace or self.namespace)

    @asynccontextmanager
    async def session(self, sid: str, namespace: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """:meth:`Server.session` in this namespace."""
        async with self.server.session(sid, namespace=namespace or self.namespace) as data:
            yield data
