"""The Socket.IO v5 server, on top of :class:`trio_engineio.Server`."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar, overload

import trio

from .. import Connection, ConnectionClosed
from .. import Server as EngineServer
from ._handlers import ack_arguments, call_handler, emit_arguments
from ._socket import EngineClient, PendingAck, ServerSocket
from .exceptions import ConnectionRefusedError, DisconnectedError, TimeoutError
from .namespace import Namespace
from .protocol import MAX_ACK_ID, Decoder, Packet, PacketType, ProtocolError, encode

__all__ = ["RESERVED_EVENTS", "Server"]

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])

#: Event names applications cannot emit (they mean something to the clients).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
default_logger = logging.getLogger("trio_engineio.socketio")


class Server:
    """A Socket.IO v5 server (python-socketio's ``AsyncServer`` names, trio inside).

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

    Event handlers run as tasks of the connection (so one may ``await
    sio.call()`` the same client); they start in the order the packets arrived.
    """

    def __init__(
        self,
        *,
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
        self.handlers: dict[str, dict[str, Callable[..., Any]]] = {}
        self.namespace_handlers: dict[str, Namespace] = {}
        self._sockets: dict[str, ServerSocket] = {}
        #: namespace -> room -> sids (every socket is in the room named by its sid).
        self._rooms: dict[str, dict[str, set[str]]] = {}
        #: namespace -> sids of the sockets connected (or connecting) to it.
        self._namespace_sids: dict[str, set[str]] = {}

    # ------------------------------------------------------------ handlers
    @overload
    def on(
        self, event: str, handler: None = None, namespace: str | None = None
    ) -> Callable[[HandlerT], HandlerT]: ...
    @overload
    def on(self, event: str, handler: HandlerT, namespace: str | None = None) -> HandlerT: ...
    def on(self, event: str, handler: HandlerT | None = None, namespace: str | None = None) -> Any:
        """Register a handler for ``event`` in ``namespace`` (``"/"``); a decorator or a call.

        ``connect(sid, environ, auth)`` (``auth`` is ``None`` when the client
        sent none; refuse with ``False`` or :class:`ConnectionRefusedError`),
        ``disconnect(sid, reason)``, and any event ``(sid, *args)`` whose return
        value is the acknowledgement (a tuple means several arguments). ``"*"``
        catches events with no handler of their own as ``(event, sid, *args)``.
        Handlers may be plain or coroutine functions and may take fewer
        trailing arguments.
        """
        namespace = namespace or "/"

        def register(function: HandlerT) -> HandlerT:
            self.handlers.setdefault(namespace, {})[event] = function
            return function

        return register if handler is None else register(handler)

    @overload
    def event(self, handler: None = None, namespace: str | None = None) -> Callable[[HandlerT], HandlerT]: ...
    @overload
    def event(self, handler: HandlerT, namespace: str | None = None) -> HandlerT: ...
    def event(self, handler: Any = None, namespace: str | None = None) -> Any:
        """``@sio.event`` registers a function under its own name; ``@sio.event(namespace="/x")`` too."""
        if handler is not None and callable(handler):
            return self.on(handler.__name__, handler, namespace=namespace)

        def register(function: HandlerT) -> HandlerT:
            return self.on(function.__name__, function, namespace=namespace)

        return register

    def register_namespace(self, namespace_handler: Namespace) -> None:
        """Register a class-based :class:`Namespace`."""
        if not isinstance(namespace_handler, Namespace):
            raise TypeError("not a Namespace instance")
        namespace_handler._set_server(self)
        self.namespace_handlers[namespace_handler.namespace] = namespace_handler

    def _handler(self, namespace: str, event: str) -> tuple[Callable[..., Any] | None, bool]:
        """The handler for ``event`` and whether it is the catch-all (gets the event name first)."""
        handlers = self.handlers.get(namespace)
        if handlers is not None and event in handlers:
            return handlers[event], False
        class_based = self.namespace_handlers.get(namespace)
        if class_based is not None:
            method = class_based.handler_for(event)
            if method is not None:
                return method, False
        if handlers is not None and "*" in handlers and event not in ("connect", "disconnect"):
            return handlers["*"], True
        return None, False

    def _known_namespace(self, namespace: str) -> bool:
        return namespace == "/" or namespace in self.handlers or namespace in self.namespace_handlers

    async def _trigger(self, namespace: str, event: str, *args: Any) -> Any:
        handler, catch_all = self._handler(namespace, event)
        if handler is None:
            return None
        if catch_all:
            return await call_handler(handler, event, *args)
        return await call_handler(handler, *args)

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
            else:
                pending.resolve(packet.data)
            await trio.lowlevel.checkpoint()
            return
        await limiter.acquire()
        nursery.start_soon(self._run_event, socket, packet, limiter)

    async def _run_event(self, socket: ServerSocket, packet: Packet, limiter: trio.Semaphore) -> None:
        try:
            event, *args = packet.data
            handler, catch_all = self._handler(socket.namespace, event)
            if handler is None:
                self.logger.debug("no handler for event %.60r in %.60r", event, socket.namespace)
                return
            try:
                if catch_all:
                    result = await call_handler(handler, event, socket.sid, *args)
                else:
                    result = await call_handler(handler, socket.sid, *args)
            except Exception:
                self.logger.exception("handler for event %.60r failed (sid %s)", event, socket.sid)
                return
            if packet.id is not None and not socket.disconnected:
                reply = Packet(PacketType.ACK, socket.namespace, ack_arguments(result), packet.id)
                try:
                    messages = encode(reply)
                except (TypeError, ValueError):
                    self.logger.exception("cannot encode the ack of event %.60r", event)
                    return
                await socket.send_messages(messages)
        finally:
            limiter.release()

    async def _handle_connect(self, client: EngineClient, packet: Packet) -> None:
        namespace = packet.namespace
        if not self._known_namespace(namespace):
            await self._connect_error(client, namespace, {"message": "Invalid namespace"})
            return
        if namespace in client.sockets:
            self.logger.info("ignored a second CONNECT to %.60r on session %s", namespace, client.conn.sid)
            await trio.lowlevel.checkpoint()
            return
        if len(client.sockets) >= self.max_namespaces:
            raise ProtocolError(f"more than {self.max_namespaces} namespaces on one connection")
        sid = self._new_sid()
        socket = ServerSocket(client, namespace, sid, max_buffered=self.max_buffered_packets)
        client.sockets[namespace] = socket
        self._sockets[sid] = socket
        self._rooms.setdefault(namespace, {})[sid] = {sid}
        self._namespace_sids.setdefault(namespace, set()).add(sid)
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
            self._forget(socket)
            if refusal is not None:
                await self._connect_error(client, namespace, refusal)
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
        if socket.client.sockets.get(socket.namespace) is socket:
            del socket.client.sockets[socket.namespace]
        self._sockets.pop(socket.sid, None)
        self._namespace_sids.get(socket.namespace, set()).discard(socket.sid)
        rooms = self._rooms.get(socket.namespace, {})
        for room in socket.rooms:
            members = rooms.get(room)
            if members is not None:
                members.discard(socket.sid)
                if not members:
                    del rooms[room]
        socket.rooms = set()
        socket.fail_acks()

    async def _socket_gone(self, socket: ServerSocket, reason: str) -> None:
        """Forget a connected socket and run its ``disconnect`` handler once (shielded, bounded)."""
        if socket.disconnected:
            return
        was_connected = socket.connected
        self._forget(socket)
        if not was_connected:
            return
        with trio.CancelScope(shield=True, deadline=trio.current_time() + self.eio.options.shutdown_timeout):
            try:
                await self._trigger(socket.namespace, "disconnect", socket.sid, reason)
            except Exception:
                self.logger.exception("disconnect handler failed for %s", socket.sid)

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
        rooms = self._rooms.get(namespace, {})
        if to is None:
            sids: Iterable[str] = self._namespace_sids.get(namespace, ())
        else:
            names = [to] if isinstance(to, str) else list(to)
            if len(names) == 1:
                sids = rooms.get(names[0], ())
            else:
                sids = set().union(*(rooms.get(name, ()) for name in names))
        skip = {skip_sid} if isinstance(skip_sid, str) else set(skip_sid or ())
        return [self._sockets[sid] for sid in list(sids) if sid not in skip and sid in self._sockets]

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | list[str] | None = None,
        room: str | list[str] | None = None,
        skip_sid: str | list[str] | None = None,
        namespace: str | None = None,
    ) -> None:
        """Send ``event`` to a sid, a room, several rooms, or (``to=None``) every socket of the namespace.

        ``data`` is the one argument; a tuple means several, ``None`` none;
        ``bytes`` anywhere inside travel as binary attachments. The packet is
        encoded once for all recipients. Waits while a recipient's outgoing
        buffer is full (backpressure); recipients that are gone are skipped.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        namespace = namespace or "/"
        messages = encode(Packet(PacketType.EVENT, namespace, [event, *emit_arguments(data)]))
        targets = self._targets(namespace, to if to is not None else room, skip_sid)
        for socket in targets:
            await socket.send_messages(messages)
        if not targets:
            await trio.lowlevel.checkpoint()

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
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        socket = self._sockets.get(target)
        if socket is None or socket.namespace != (namespace or "/") or socket.disconnected:
            raise DisconnectedError(f"no socket {target!r} in namespace {namespace or '/'!r}")
        if len(socket.acks) >= self.max_pending_calls:
            raise RuntimeError(f"{self.max_pending_calls} calls already wait on {target}")
        ack_id = socket.next_ack_id
        socket.next_ack_id = 0 if ack_id >= MAX_ACK_ID else ack_id + 1
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
        """Remove every socket from ``room``."""
        for sid in list(self._rooms.get(namespace or "/", {}).get(room, ())):
            await self.leave_room(sid, room, namespace)
        await trio.lowlevel.checkpoint()

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
        if socket is None or (namespace is not None and socket.namespace != namespace):
            await trio.lowlevel.checkpoint()
            return
        if socket.connected:
            await socket.client.send_messages(encode(Packet(PacketType.DISCONNECT, socket.namespace)))
        await self._socket_gone(socket, "server disconnect")

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
