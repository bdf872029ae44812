"""The Engine.IO server: options, handlers, the session registry and its nursery."""

from __future__ import annotations

import builtins
import logging
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import trio

from .._callables import call_maybe_async, positional_arity
from .._exceptions import ConnectionClosed
from .._json import JSONModule
from ..bus import Bus, BusStatistics
from ..bus.link import BusLink, RateLimit
from ..bus.messages import BusBroadcast, BusDisconnect, BusMessage, BusRelay, BusSend, node_of
from ..protocol.query import MAX_SID_LENGTH, ErrorCode, RequestRejected
from ..protocol.reasons import CloseInfo, CloseReason
from ..protocol.server_session import ServerSession
from .connection import Connection
from .heartbeats import HeartbeatScheduler
from .hooks import AllowRequestHook, GenerateIdHook, HeadersHook, ServerHooks
from .host import SessionHost
from .options import OriginPolicy, ServerOptions
from .session import LIFECYCLE_EVENTS, Session

__all__ = ["ConnectionRefusedError", "DisconnectReason", "Server", "ServerStatistics"]

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
ConnectionHandler = Callable[[Connection], Awaitable[None]]

#: Events of the python-engineio style API.
_EVENTS = frozenset({"connect", "message", "disconnect"})
#: Lifecycle events (Node engine.io's, with Python names); handlers get ``(sid, *args)``.
default_logger = logging.getLogger("trio_engineio.server")


class ConnectionRefusedError(builtins.ConnectionRefusedError):
    """Raise from a ``connect`` handler to refuse the session with HTTP 401.

    The arguments become the ``message`` of the JSON body: one argument as is,
    several as a list, none as ``"Unauthorized"``.
    """

    @property
    def error_message(self) -> Any:
        """The value sent as ``message`` in the 401 body."""
        if not self.args:
            return "Unauthorized"
        return self.args[0] if len(self.args) == 1 else list(self.args)


def _not_running() -> RequestRejected:
    return RequestRejected(
        ErrorCode.BAD_REQUEST, "server not running", message="Server not running", status=503
    )


class DisconnectReason(str):
    """The ``reason`` a ``disconnect`` handler receives.

    It compares equal to the plain reason string (``"transport error"``), as in
    python-engineio, and carries the detail in :attr:`description`
    (``"payload too large"``) and the :class:`CloseReason` in :attr:`reason`.
    """

    description: str
    reason: CloseReason

    @classmethod
    def from_info(cls, info: CloseInfo) -> DisconnectReason:
        """Build one from a session's :class:`CloseInfo`."""
        value = cls(info.reason.value)
        value.description = info.description
        value.reason = info.reason
        return value


@dataclass(frozen=True)
class ServerStatistics:
    """A snapshot of what the server is doing (see :meth:`Server.statistics`)."""

    #: Open sessions.
    sessions: int
    #: Open sessions by transport.
    sessions_by_transport: dict[str, int]
    #: Sessions with a websocket upgrade under way.
    upgrades_in_progress: int
    #: Messages and bytes queued for clients across all sessions.
    buffered_messages: int
    buffered_bytes: int
    #: Session tasks still running (a closed session's handler may still be finishing).
    running_sessions: int
    #: Sessions opened since the server started.
    sessions_opened: int
    #: Sessions closed since the server started, by close reason.
    sessions_closed: dict[str, int] = field(default_factory=dict)
    #: Exceptions raised by application handlers.
    handler_errors: int = 0
    #: Requests refused before they reached a session.
    requests_rejected: int = 0
    #: Connections ended because hypercorn raised on them (logged; no other connection is affected).
    connection_errors: int = 0
    #: Requests refused because their session id names another node: the load balancer
    #: sent them to the wrong server (also counted in ``requests_rejected``).
    misrouted_requests: int = 0
    #: Messages from the bus or from :meth:`Server.broadcast` that could not be queued
    #: for a session: it was gone or closed, its outgoing buffer was over its limits, or
    #: it is on long-polling and the text contains ``"\x1e"``. They are dropped.
    undeliverable: int = 0
    #: The bus link's counters (``None`` without a bus).
    bus: BusStatistics | None = None


class Server:
    """An Engine.IO v4 server.

    Write the application in either style (both run on the same machinery):

    * trio style: ``Server(handler=handler)`` where ``async def handler(conn)``
      runs as the session's one task (in the server-wide nursery) and talks through the
      :class:`Connection` (``async for message in conn``, ``await conn.send()``).
      The session ends when the handler returns.
    * python-engineio style: ``@server.on("connect")`` ``(sid, environ)``,
      ``@server.on("message")`` ``(sid, data)``, ``@server.on("disconnect")``
      ``(sid, reason)``, and ``await server.send(sid, data)``.

    Messages of one session reach the handler one at a time, in the order the
    client sent them. Serve it with :class:`~trio_engineio.ASGIApp` under
    ``hypercorn --worker-class trio`` or with :func:`~trio_engineio.serve`.
    The keyword options keep python-engineio's names and defaults; unknown
    keywords raise ``TypeError``.

    Several server processes (see the "Scale out" how-to): ``node_id="a"`` makes
    every session id this server issues start with ``"a."`` (also the ids a
    ``generate_id`` hook returns: the prefix is added to them), so a load balancer
    can route each request by its ``sid`` alone; a request whose ``sid`` names
    another node is refused with 400, logged and counted as misrouted. With
    ``bus=`` (a :class:`~trio_engineio.Bus`, which needs a ``node_id``),
    :meth:`send`, :meth:`disconnect` and :meth:`broadcast` reach sessions on every
    node.
    """

    def __init__(
        self,
        *,
        handler: ConnectionHandler | None = None,
        ping_interval: float | tuple[float, float] = 25,
        ping_timeout: float = 20,
        max_http_buffer_size: int = 1_000_000,
        allow_upgrades: bool = True,
        http_compression: bool = True,
        compression_threshold: int = 1024,
        cookie: str | dict[str, Any] | None = None,
        cors_allowed_origins: OriginPolicy = None,
        cors_credentials: bool = True,
        transports: str | list[str] | tuple[str, ...] | None = None,
        logger: bool | logging.Logger = False,
        json: JSONModule | None = None,
        upgrade_timeout: float = 10,
        max_buffered_messages: int = 1000,
        max_buffered_bytes: int = 4 * 1024 * 1024,
        max_queued_incoming: int = 256,
        direct_replies: bool = True,
        max_concurrent_handlers: int = 1000,
        connect_timeout: float = 10,
        shutdown_timeout: float = 5,
        trust_forwarded_headers: bool = False,
        allow_request: AllowRequestHook | None = None,
        allow_request_timeout: float = 5,
        initial_headers: HeadersHook | None = None,
        headers: HeadersHook | None = None,
        generate_id: GenerateIdHook | None = None,
        node_id: str | None = None,
        bus: Bus | None = None,
    ) -> None:
        self._options = ServerOptions.build(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_http_buffer_size=max_http_buffer_size,
            allow_upgrades=allow_upgrades,
            http_compression=http_compression,
            compression_threshold=compression_threshold,
            cookie=cookie,
            cors_allowed_origins=cors_allowed_origins,
            cors_credentials=cors_credentials,
            transports=transports,
            json=json,
            upgrade_timeout=upgrade_timeout,
            max_buffered_messages=max_buffered_messages,
            max_buffered_bytes=max_buffered_bytes,
            max_queued_incoming=max_queued_incoming,
            direct_replies=direct_replies,
            max_concurrent_handlers=max_concurrent_handlers,
            connect_timeout=connect_timeout,
            shutdown_timeout=shutdown_timeout,
            trust_forwarded_headers=trust_forwarded_headers,
            node_id=node_id,
        )
        if bus is not None and not isinstance(bus, Bus):
            raise TypeError(f"bus must be a trio_engineio.Bus, not {type(bus).__name__}")
        if bus is not None and self._options.node_id is None:
            raise ValueError("a server on a bus needs a node_id (its session ids name it)")
        self._bus = bus
        #: Receives BusRelay payloads from other nodes (see on_node_message).
        self._node_message: Callable[[bytes], None] | None = None
        self._link: BusLink | None = None
        self._sid_prefix = "" if self._options.node_id is None else self._options.node_id + "."
        self._misrouted = 0
        self._misrouted_log = RateLimit()
        self._undeliverable = 0
        if isinstance(logger, logging.Logger):
            self.logger = logger
        else:
            self.logger = default_logger
            if logger and self.logger.level == logging.NOTSET:
                self.logger.setLevel(logging.INFO)
                if not self.logger.handlers:
                    self.logger.addHandler(logging.StreamHandler())
        self._host = SessionHost(self._options, self.logger)
        self._handler = handler
        self.hooks = ServerHooks(
            logger=self.logger,
            allow_request=allow_request,
            allow_request_timeout=float(allow_request_timeout),
            initial_headers=initial_headers,
            headers=headers,
            generate_id=generate_id,
        )
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._sessions: dict[str, Session] = {}
        self._running: set[Session] = set()
        self._limiter = trio.CapacityLimiter(self._options.max_concurrent_handlers)
        self._opened = 0
        self._connection_errors = 0
        self._all_finished = trio.Event()
        self._all_finished.set()
        self._stopping = False
        self._heartbeat_scope = trio.CancelScope()

    # --------------------------------------------------------------- options
    @property
    def options(self) -> ServerOptions:
        """The validated options this server runs with."""
        return self._options

    @property
    def ping_interval(self) -> float:
        """Seconds between PINGs."""
        return self._options.ping_interval

    @property
    def ping_timeout(self) -> float:
        """Seconds a client has to answer a PING."""
        return self._options.ping_timeout

    @property
    def max_http_buffer_size(self) -> int:
        """The maxPayload announced to clients, in bytes."""
        return self._options.max_http_buffer_size

    @property
    def transports(self) -> tuple[str, ...]:
        """Transports clients may use."""
        return self._options.transports

    @property
    def node_id(self) -> str | None:
        """This server's node id (its session ids start ``<node_id>.``), or ``None``."""
        return self._options.node_id

    @property
    def bus(self) -> Bus | None:
        """The bus this server is on, or ``None``."""
        return self._bus

    # ------------------------------------------------------------- handlers
    def on(self, event: str, handler: HandlerT | None = None) -> Any:
        """Register an event handler; use as ``@server.on("message")`` or call directly.

        Events: ``connect`` ``(sid, environ)`` (return ``False`` or raise
        :class:`ConnectionRefusedError` to refuse with 401), ``message``
        ``(sid, data)``, ``disconnect`` ``(sid, reason)`` (``reason`` is a
        :class:`DisconnectReason`: a ``str`` with a ``.description``).

        Lifecycle events, called in the transport's task in the order they
        happen (keep them short): ``upgrading`` / ``upgrade`` ``(sid,
        transport)``, ``packet_received`` / ``packet_sent`` ``(sid, packet)``
        (only computed when a handler is registered), ``flush`` ``(sid,
        packets)`` after a batch was handed to the transport, ``drain``
        ``(sid)`` when the outgoing buffer became empty.
        Handlers may be plain functions or coroutine functions.
        """
        if event not in _EVENTS and event not in LIFECYCLE_EVENTS:
            known = sorted(_EVENTS | LIFECYCLE_EVENTS)
            raise ValueError(f"unknown event {event!r}; expected one of {known}")

        def register(function: HandlerT) -> HandlerT:
            if event in LIFECYCLE_EVENTS:
                self._host.lifecycle_handlers[event] = function
            elif event == "disconnect" and positional_arity(function) == 1:
                # python-engineio < 4.11 style: disconnect(sid), no reason.
                self._handlers[event] = lambda sid, reason: function(sid)
            else:
                self._handlers[event] = function
            return function

        if handler is None:
            return register
        return register(handler)

    async def _trigger(self, event: str, *args: Any, fail_closed: bool = False) -> Any:
        """Call a python-engineio-style handler, containing its exceptions.

        With ``fail_closed`` (the connect handler) a handler that raises
        refuses the session instead of letting it in.
        """
        handler = self._handlers.get(event)
        if handler is None:
            return None
        async with self._limiter:
            try:
                return await call_maybe_async(handler, *args)
            except ConnectionRefusedError:
                raise
            except Exception:
                self._host.handler_failed(f"{event} handler", args[0] if args else "?")
                return "Unauthorized" if fail_closed else None

    async def _dispatch_messages(self, conn: Connection) -> None:
        """The default per-session handler: feed messages to ``@on("message")``."""
        async for message in conn:
            await self._trigger("message", conn.sid, message)

    # --------------------------------------------------------------- lifetime
    async def __aenter__(self) -> Server:
        self._nursery_manager = trio.open_nursery()
        nursery = await self._nursery_manager.__aenter__()
        self._host.nursery = nursery
        self._stopping = False
        self._host.heartbeats = HeartbeatScheduler()
        self._heartbeat_scope = trio.CancelScope()
        nursery.start_soon(self._run_heartbeats)
        if self._bus is not None:
            try:
                self._link = BusLink(self._bus, node_id=self._options.node_id, deliver=self._from_bus)
                # Returns once connected, or after the bus's connect_timeout (it keeps trying).
                await nursery.start(self._link.run)
            except BaseException as exc:
                self._heartbeat_scope.cancel()
                self._host.nursery = None
                await self._nursery_manager.__aexit__(type(exc), exc, exc.__traceback__)
                raise
        return self

    async def _run_heartbeats(self) -> None:
        with self._heartbeat_scope:
            await self._host.heartbeats.run()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            with trio.CancelScope(shield=True):
                await self.shutdown()
        finally:
            self._heartbeat_scope.cancel()
            self._host.nursery = None
            result = await self._nursery_manager.__aexit__(exc_type, exc, tb)
        return result

    async def run(self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the server's nursery until cancelled, then shut down gracefully.

        For applications that compose ASGI apps themselves:
        ``await nursery.start(server.run)``. :class:`ASGIApp` does this in the
        ASGI lifespan for you.
        """
        async with self:
            task_status.started(self)
            await trio.sleep_forever()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Server]:
        """``async with server.running():`` — the same as ``async with server:``."""
        async with self:
            yield self

    @property
    def is_running(self) -> bool:
        """True while the server nursery is open and not shutting down."""
        return self._host.nursery is not None and not self._stopping

    async def shutdown(self) -> None:
        """Close every session ("server shutdown") and wait for their tasks.

        Sessions get their CLOSE packet where the transport still allows it and
        their ``disconnect`` handlers run once. Whatever is still running after
        ``shutdown_timeout`` seconds is cancelled.
        """
        self._stopping = True
        for conn in list(self._sessions.values()):
            conn.close(CloseReason.SERVER_SHUTDOWN)
        with trio.move_on_after(self._options.shutdown_timeout):
            await self._all_finished.wait()
        for conn in list(self._running):
            conn.handler_scope.cancel()
        with trio.move_on_after(self._options.shutdown_timeout):
            await self._all_finished.wait()
        if self._link is not None:
            # After the handlers: what they published on the way out is flushed too.
            await self._link.aclose()

    # ------------------------------------------------------------- sessions
    def _new_sid(self) -> str:
        while True:
            sid = self._sid_prefix + secrets.token_urlsafe(15)
            if sid not in self._sessions:
                return sid

    async def _hook_sid(self, scope: Mapping[str, Any]) -> str | None:
        """The ``generate_id`` hook's session id with this node's prefix, or ``None`` (no hook)."""
        sid = await self.hooks.new_sid(scope, self._sessions)
        if sid is None or not self._sid_prefix:
            return sid
        sid = self._sid_prefix + sid
        if len(sid) > MAX_SID_LENGTH or sid in self._sessions:
            self.logger.error(
                "generate_id returned a session id too long or in use with its node prefix: %.60s", sid
            )
            raise RequestRejected(ErrorCode.BAD_REQUEST, "generate_id returned an unusable id")
        return sid

    async def _create_session(self, *, transport: str, scope: Mapping[str, Any]) -> Session:
        options = self._options
        hooks = self.hooks
        sid = (hooks.generate_id is not None and await self._hook_sid(scope)) or self._new_sid()
        core = ServerSession(
            sid,
            transport=transport,
            now=trio.current_time(),
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            ping_grace=options.ping_grace,
            max_payload=options.max_http_buffer_size,
            upgrade_timeout=options.upgrade_timeout,
            upgrades=options.upgrades,
        )
        return Session(self._host, core, scope=scope, on_finished=self._session_finished)

    async def _open_session(self, conn: Session) -> Any:
        """Run the connect handler; start the session unless it refused.

        Returns ``None`` when accepted, otherwise the JSON-able rejection message.
        """
        if self._host.nursery is None or self._stopping:
            raise _not_running()
        self._sessions[conn.sid] = conn
        try:
            result = await self._run_connect_handler(conn) if "connect" in self._handlers else None
            if result is not None and result is not True:
                self.logger.info("connect handler refused session %s", conn.sid)
                self._sessions.pop(conn.sid, None)
                return "Unauthorized" if result is False else result
            if self._host.nursery is None or self._stopping:
                self._sessions.pop(conn.sid, None)
                raise _not_running()
            self._opened += 1
            if self._all_finished.is_set():  # the first running session: a new "all finished"
                self._all_finished = trio.Event()
            self._running.add(conn)
            handler = self._handler or self._dispatch_messages
            self._host.nursery.start_soon(conn.run, handler)
            conn.reschedule_heartbeat()
            self.logger.info("session %s opened (%s)", conn.sid, conn.transport)
            return None
        except BaseException:
            if conn not in self._running:
                self._sessions.pop(conn.sid, None)
            raise

    async def _run_connect_handler(self, conn: Session) -> Any:
        """The connect handler's verdict: ``None``/``True`` accepts, anything else refuses."""
        result: Any = "Unauthorized"
        with trio.move_on_after(self._options.connect_timeout) as timeout:
            try:
                result = await self._trigger("connect", conn.sid, conn.environ, fail_closed=True)
            except ConnectionRefusedError as refused:
                result = refused.error_message
                if result is True or result is None:
                    result = "Unauthorized"
        if timeout.cancelled_caught:
            self.logger.warning("connect handler for session %s timed out", conn.sid)
        return result

    async def _session_finished(self, conn: Session) -> None:
        """Called once by a session's task when it is done; fires ``disconnect``."""
        if self._sessions.get(conn.sid) is conn:
            del self._sessions[conn.sid]
        if "disconnect" in self._handlers:
            info = conn.close_info or CloseInfo(CloseReason.SERVER_SHUTDOWN)
            await self._finish_disconnect(conn, DisconnectReason.from_info(info))
        else:
            self._forget(conn)

    async def _finish_disconnect(self, conn: Session, reason: str) -> None:
        # Shielded (and bounded): the disconnect handler runs once even when the
        # server nursery is being cancelled.
        try:
            deadline = trio.current_time() + self._options.shutdown_timeout
            with trio.CancelScope(deadline=deadline, shield=True):
                await self._trigger("disconnect", conn.sid, reason)
        finally:
            self._forget(conn)

    def _forget(self, conn: Session) -> None:
        self._running.discard(conn)
        if not self._running:
            self._all_finished.set()

    # -------------------------------------------------- python-engineio API
    def connection(self, sid: str) -> Connection:
        """The :class:`Connection` of an open session; ``KeyError`` if unknown."""
        return self._sessions[sid]

    def connections(self) -> list[Connection]:
        """Every open session."""
        return list(self._sessions.values())

    async def send(self, sid: str, data: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Send a message to one session (logged and ignored if it is gone).

        Waits while the session's outgoing buffer is full (see
        :meth:`Connection.send`); ``ValueError`` for text containing ``"\\x1e"``
        on a long-polling session.

        On a bus, a session id of another node is published to that node, which
        queues it without waiting (see :meth:`Connection.send_nowait`): this never
        waits, delivery is at most once, and what is lost is counted in
        :meth:`statistics` (``bus``, and ``undeliverable`` on the receiving node).
        ``ValueError`` for a message over the bus's ``max_message_size``.
        """
        conn = self._sessions.get(sid)
        if conn is None:
            if self._remote(sid):
                assert self._link is not None
                self._link.publish(BusSend(sid, self._host.encode_message(data)))
            else:
                self.logger.warning("cannot send to session %.40r: unknown session", sid)
            await trio.lowlevel.checkpoint()
            return
        try:
            await conn.send(data)
        except ConnectionClosed as closed:
            self.logger.warning("cannot send to session %s: closed (%s)", sid, closed.info)

    async def disconnect(self, sid: str | None = None) -> None:
        """Close one session, or all of this server's when ``sid`` is ``None`` ("server disconnect").

        On a bus, a session id of another node is published to that node, which
        closes the session (at most once, never waiting; see :meth:`send`).
        """
        if sid is None:
            targets = list(self._sessions.values())
        else:
            conn = self._sessions.get(sid)
            targets = [conn] if conn is not None else []
            if conn is None and self._remote(sid):
                assert self._link is not None
                self._link.publish(BusDisconnect(sid))
        for conn in targets:
            conn.close(CloseReason.SERVER_DISCONNECT)
        await trio.lowlevel.checkpoint()

    async def broadcast(
        self,
        data: str | bytes | dict[str, Any] | list[Any],
        exclude: str | Iterable[str] | None = None,
    ) -> None:
        """Send a message to every session, except those in ``exclude`` (a sid or several).

        This server's sessions get it directly; on a bus, every other node gets it
        through the bus and queues it for its own sessions. It never waits: a session
        whose outgoing buffer is over its limits (or that is on long-polling when the
        text contains ``"\\x1e"``) misses it, counted as ``undeliverable`` in
        :meth:`statistics`; across nodes, delivery is at most once (see
        :class:`~trio_engineio.Bus`). ``ValueError`` for a message over the bus's
        ``max_message_size``.
        """
        message = self._host.encode_message(data)
        excluded = frozenset([exclude] if isinstance(exclude, str) else exclude or ())
        if self._link is not None:
            self._link.publish(BusBroadcast(message, excluded))
        self._broadcast_local(message, excluded)
        await trio.lowlevel.checkpoint()

    def publish_to_nodes(self, payload: bytes) -> bool:
        """Publish an opaque ``payload`` to every other node on the bus, for a layer above the engine.

        The other nodes' :meth:`on_node_message` receivers get it, this node's does not. It
        never waits: ``False`` without a bus or when the link dropped it (delivery is at most
        once, as for :meth:`broadcast`). ``ValueError`` over the bus's ``max_message_size``.
        """
        if self._link is None:
            return False
        return self._link.publish(BusRelay(bytes(payload)))

    def on_node_message(self, receiver: Callable[[bytes], None] | None) -> None:
        """Set who receives :meth:`publish_to_nodes` payloads from other nodes (``None``: drop them).

        ``receiver(payload)`` is called synchronously by the bus link and must not block;
        what it raises is logged by the link. The payload is untrusted bytes. Socket.IO
        (:mod:`trio_engineio.socketio`) carries room and broadcast emits across nodes with it.
        """
        self._node_message = receiver

    def _broadcast_local(self, message: str | bytes, exclude: frozenset[str]) -> None:
        for sid, conn in list(self._sessions.items()):
            if sid not in exclude:
                self._queue_for(conn, message)

    def _queue_for(self, conn: Session | None, message: str | bytes) -> None:
        """Queue ``message`` for ``conn`` without waiting; count it if it cannot be."""
        try:
            queued = conn is not None and conn.send_nowait(message)
        except ValueError:  # "\x1e" in text on long-polling
            queued = False
        if not queued:
            self._undeliverable += 1

    def _remote(self, sid: str) -> bool:
        """Whether ``sid`` belongs to another node this server can reach through its bus."""
        if self._link is None or not isinstance(sid, str):
            return False
        node = node_of(sid)
        return node is not None and node != self._options.node_id

    def _from_bus(self, message: BusMessage) -> None:
        """The bus link's ``deliver``: never waits (the link checked the envelope)."""
        if isinstance(message, BusBroadcast):
            self._broadcast_local(message.data, message.exclude)
        elif isinstance(message, BusSend):
            self._queue_for(self._sessions.get(message.sid), message.data)
        elif isinstance(message, BusRelay):
            if self._node_message is not None:
                self._node_message(message.payload)
        else:
            conn = self._sessions.get(message.sid)
            if conn is None:
                self._undeliverable += 1
            else:
                conn.close(CloseReason.SERVER_DISCONNECT)

    def _session_for_request(self, sid: str) -> Session:
        """The session a request names, with any deadline that has passed applied first.

        Raises a 400 :class:`RequestRejected` (code 1) for an unknown sid. The
        heartbeat scheduler serves deadlines up to one slot late; a request must
        not find alive a session the reference server would already have closed.
        """
        conn = self._sessions.get(sid)
        if conn is None:
            raise RequestRejected(ErrorCode.UNKNOWN_SID, f"sid {sid!r}")
        conn.apply_overdue()
        return conn

    def _refuse_misrouted(self, sid: str) -> None:
        """Raise a 400 :class:`RequestRejected` (logged, counted) if ``sid`` names another node.

        Such a request reached the wrong server: the load balancer is not routing by
        session id (or routes a node's ids to another node).
        """
        node = self._options.node_id
        if node is None:
            return
        owner = node_of(sid)
        if owner is None or owner == node:
            return
        self._misrouted += 1
        if (skipped := self._misrouted_log.allow()) is not None:
            self.logger.warning(
                "misrouted request: session id %.60s belongs to node %s but reached node %s; "
                "the load balancer must route by sid (%d more since the last report)",
                sid,
                owner,
                node,
                skipped,
            )
        raise RequestRejected(ErrorCode.UNKNOWN_SID, f"sid of node {owner} reached node {node} (misrouted)")

    def transport(self, sid: str) -> str:
        """The transport a session uses now (``KeyError`` if unknown)."""
        return self._sessions[sid].transport

    async def get_session(self, sid: str) -> dict[str, Any]:
        """The user session dict of ``sid`` (``KeyError`` if unknown)."""
        await trio.lowlevel.checkpoint()
        return self._sessions[sid].data

    async def save_session(self, sid: str, session: dict[str, Any]) -> None:
        """Replace the user session dict of ``sid``."""
        await trio.lowlevel.checkpoint()
        self._sessions[sid].data = session

    @asynccontextmanager
    async def session(self, sid: str) -> AsyncIterator[dict[str, Any]]:
        """``async with server.session(sid) as session:`` — edit the user session dict."""
        data = await self.get_session(sid)
        yield data
        await self.save_session(sid, data)

    # ----------------------------------------------------------- statistics
    def statistics(self) -> ServerStatistics:
        """Counters describing the server right now (cheap: one pass over sessions)."""
        by_transport: Counter[str] = Counter()
        upgrading = buffered_messages = buffered_bytes = 0
        open_sessions = 0
        for conn in self._sessions.values():
            core = conn.core
            if core.closed:
                continue
            open_sessions += 1
            by_transport[core.transport] += 1
            upgrading += core.upgrading
            buffered_messages += core.buffered_messages
            buffered_bytes += core.buffered_bytes
        return ServerStatistics(
            sessions=open_sessions,
            sessions_by_transport=dict(by_transport),
            upgrades_in_progress=upgrading,
            buffered_messages=buffered_messages,
            buffered_bytes=buffered_bytes,
            running_sessions=len(self._running),
            sessions_opened=self._opened,
            sessions_closed=dict(self._host.closed_reasons),
            handler_errors=self._host.handler_errors,
            requests_rejected=self._host.rejected,
            connection_errors=self._connection_errors,
            misrouted_requests=self._misrouted,
            undeliverable=self._undeliverable,
            bus=None if self._link is None else self._link.statistics(),
        )
