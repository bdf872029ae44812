"""The Socket.IO v5 client: namespaces over one Engine.IO session, acks, reconnection.

::

    async with socketio.Client() as sio:
        @sio.on("news")
        async def news(data):
            print(data)

        await sio.connect("http://127.0.0.1:8000", auth={"token": "..."})
        print(await sio.call("echo", "hi", timeout=5))

It runs on :func:`trio_engineio.open_client`. The connection task lives in the
nursery ``async with Client()`` opens; event handlers run as tasks of the
current Engine.IO connection (so one may ``await sio.call()``). Emits made
while the client reconnects wait in a bounded buffer and go out once their
namespace is connected again.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import trio

from .. import ClientConnection, ConnectionClosed, EngineIOConnectionError, open_client
from .._backoff import backoff_delay
from ._handlers import (
    RESERVED_EVENTS,
    HandlerRegistry,
    ack_arguments,
    call_handler,
    check_event_name,
    emit_arguments,
)
from ._socket import PendingAck, acquire, make_room, run_callback
from .exceptions import ConnectionRefusedError, DisconnectedError, TimeoutError
from .protocol import MAX_ACK_ID, Decoder, Packet, PacketType, ProtocolError, encode

__all__ = ["Client"]

logger = logging.getLogger("trio_engineio.socketio.client")
_Auth = dict[str, Any] | Callable[[], Any] | None
#: Events kept per namespace when they arrive before its CONNECT reply.
MAX_EARLY_EVENTS = 100
#: open_client's default ``send_buffer_size``: a volatile emit is dropped beyond it.
_DEFAULT_SEND_BUFFER = inspect.signature(open_client).parameters["send_buffer_size"].default


class _Namespace:
    """Client-side state of one namespace."""

    __slots__ = ("acks", "buffer", "connected", "early", "next_ack_id", "outcome", "sid")

    def __init__(self) -> None:
        self.sid: str | None = None
        self.connected = False
        #: Set once the first CONNECT got its answer (CONNECT or CONNECT_ERROR) on a connection.
        self.outcome = trio.Event()
        self.acks: dict[int, PendingAck] = {}
        self.next_ack_id = 0
        #: Encoded packets waiting for the namespace to be connected, with their ack id.
        self.buffer: deque[tuple[list[str | bytes], int | None]] = deque()
        #: Events that arrived before the CONNECT reply (python-socketio sends a connect
        #: handler's emits first); delivered once connected, as socket.io-client does.
        self.early: list[Packet] = []


class Client(HandlerRegistry):
    """A Socket.IO v5 client (python-socketio's ``AsyncClient`` names), used as ``async with``.

    Handlers (:meth:`on`, :meth:`event`): ``connect()``, ``connect_error(data)``,
    ``disconnect(reason)``, and any event with the event's arguments, whose
    return value answers the server's ack (a tuple means several arguments);
    ``"*"`` catches events with no handler of their own as ``(event, *args)``.

    Reconnection (after the Engine.IO session was lost, not after
    :meth:`disconnect` or a server-side DISCONNECT): ``reconnection_attempts``
    tries (0: unlimited), waiting ``reconnection_delay`` seconds doubled each
    time up to ``reconnection_delay_max``, randomized by ±``randomization_factor``.
    ``max_buffered_emits`` packets may wait while disconnected (beyond,
    :meth:`emit` raises :class:`DisconnectedError`). ``max_pending_calls``
    acknowledgements may be awaited per namespace: beyond, the oldest
    ``emit(callback=)`` is forgotten, or :meth:`call` raises ``RuntimeError``
    when only calls wait. Other keyword options (``headers``, ``ssl``,
    ``http_client``, ``connect_timeout``...) go to :func:`trio_engineio.open_client`.
    """

    def __init__(
        self,
        *,
        reconnection: bool = True,
        reconnection_attempts: int = 0,
        reconnection_delay: float = 1,
        reconnection_delay_max: float = 5,
        randomization_factor: float = 0.5,
        max_buffered_emits: int = 1000,
        max_concurrent_events: int = 100,
        max_pending_calls: int = 1000,
        **engine_options: Any,
    ) -> None:
        self.reconnection = reconnection
        self.reconnection_attempts = reconnection_attempts
        self.reconnection_delay = reconnection_delay
        self.reconnection_delay_max = reconnection_delay_max
        self.randomization_factor = randomization_factor
        self.max_buffered_emits = max_buffered_emits
        self.max_concurrent_events = max_concurrent_events
        self.max_pending_calls = max_pending_calls
        self.engine_options = engine_options
        self.handlers: dict[str, dict[str, Callable[..., Any]]] = {}
        self._namespaces: dict[str, _Namespace] = {}
        self._buffered = 0
        self._conn: ClientConnection | None = None
        self._nursery: trio.Nursery | None = None
        self._nursery_manager: Any = None
        self._run_scope: trio.CancelScope | None = None
        self._finished = trio.Event()
        self._finished.set()
        self._stopping = False
        self._send_lock = trio.Lock()
        self._refused: dict[str, Any] = {}

    # ------------------------------------------------------------ handlers
    async def _trigger(self, namespace: str, event: str, *args: Any) -> Any:
        handlers = self.handlers.get(namespace, {})
        handler = handlers.get(event)
        if handler is not None:
            return await call_handler(handler, *args)
        if "*" in handlers and event not in RESERVED_EVENTS:
            return await call_handler(handlers["*"], event, *args)
        return None

    async def _trigger_safely(self, namespace: str, event: str, *args: Any) -> None:
        try:
            await self._trigger(namespace, event, *args)
        except Exception:
            logger.exception("%s handler failed (namespace %s)", event, namespace)

    # ------------------------------------------------------------ lifetime
    async def __aenter__(self) -> Client:
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            with trio.CancelScope(shield=True):
                await self.disconnect()
        finally:
            self._nursery = None
            result: bool | None = await self._nursery_manager.__aexit__(exc_type, exc, tb)
        return result

    @property
    def connected(self) -> bool:
        """True while at least one namespace is connected."""
        return any(state.connected for state in self._namespaces.values())

    @property
    def namespaces(self) -> list[str]:
        """The namespaces connected right now."""
        return [name for name, state in self._namespaces.items() if state.connected]

    def get_sid(self, namespace: str | None = None) -> str | None:
        """The Socket.IO sid of ``namespace`` (``"/"``), ``None`` when not connected."""
        state = self._namespaces.get(namespace or "/")
        return state.sid if state is not None and state.connected else None

    @property
    def sid(self) -> str | None:
        """The sid of the ``"/"`` namespace."""
        return self.get_sid("/")

    def transport(self) -> str | None:
        """The Engine.IO transport in use (``"polling"``/``"websocket"``), ``None`` when disconnected."""
        return self._conn.transport if self._conn is not None else None

    # ------------------------------------------------------------ connect
    async def connect(
        self,
        url: str,
        *,
        auth: _Auth = None,
        transports: Sequence[str] | None = None,
        namespaces: Sequence[str] | None = None,
        socketio_path: str = "socket.io",
        headers: dict[str, str] | None = None,
        wait_timeout: float = 10,
    ) -> None:
        """Connect to ``url`` and to every namespace; return once each one answered.

        Raises :class:`~trio_engineio.socketio.TimeoutError` when the namespaces
        have not all answered within ``wait_timeout`` seconds.

        ``namespaces`` defaults to those with handlers (``["/"]`` if none).
        ``auth`` is a dict sent with every CONNECT, or a (sync or async)
        callable returning it, called at each (re)connection. Raises
        :class:`ConnectionRefusedError` (the server's message and data) when a
        namespace was refused, and the Engine.IO errors
        (:class:`~trio_engineio.EngineIOConnectionError`) when no session
        could be opened. Reconnection starts only after a first success.
        """
        if self._nursery is None:
            raise RuntimeError("use the client as `async with socketio.Client() as sio:`")
        if not self._finished.is_set():
            raise RuntimeError("already connected")
        if namespaces is None:
            namespaces = [name for name in self.handlers if name != "*"] or ["/"]
        self._namespaces = {name: _Namespace() for name in namespaces}
        self._buffered = 0
        self._stopping = False
        options = dict(self.engine_options)
        if headers is not None:
            options["headers"] = headers
        self._finished = trio.Event()
        try:
            with trio.move_on_after(wait_timeout) as waited:
                await self._nursery.start(self._run, url, auth, transports, socketio_path, options)
        except BaseException:
            self._finished.set()
            raise
        if waited.cancelled_caught:
            self._finished.set()
            raise TimeoutError(f"the namespaces did not all answer within {wait_timeout}s")

    async def _run(
        self,
        url: str,
        auth: _Auth,
        transports: Sequence[str] | None,
        path: str,
        options: dict[str, Any],
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            with trio.CancelScope() as scope:
                self._run_scope = scope
                attempt = 0
                first = True
                while True:
                    try:
                        async with open_client(
                            url, transports=transports, engineio_path=path, **options
                        ) as conn:
                            attempt = 0
                            self._conn = conn
                            try:
                                await self._serve(conn, auth, task_status if first else None)
                            finally:
                                self._conn = None
                                self._connection_lost(conn)
                    except (EngineIOConnectionError, ConnectionClosed) as error:
                        if first:
                            raise
                        logger.info("connection lost or reconnection failed: %s", error)
                    first = False
                    if self._stopping or not self.reconnection or not self._namespaces:
                        return
                    attempt += 1
                    if self.reconnection_attempts and attempt > self.reconnection_attempts:
                        logger.info("giving up after %d reconnection attempts", attempt - 1)
                        return
                    await trio.sleep(self._delay(attempt))
        finally:
            self._run_scope = None
            for state in self._namespaces.values():
                self._fail_acks(state, include_buffered=True)
            self._finished.set()

    def _delay(self, attempt: int) -> float:
        return backoff_delay(
            attempt, self.reconnection_delay, self.reconnection_delay_max, self.randomization_factor
        )

    async def _auth_payload(self, auth: _Auth) -> Any:
        if callable(auth):
            return await call_handler(auth)
        return auth

    async def _serve(
        self, conn: ClientConnection, auth: _Auth, task_status: trio.TaskStatus[None] | None
    ) -> None:
        """One Engine.IO connection: CONNECT every namespace, then dispatch until it ends.

        On the first connection (``task_status`` given) it reports to
        :meth:`connect` once every namespace answered, or raises why not.
        """
        decoder = Decoder()
        limiter = trio.Semaphore(self.max_concurrent_events)
        self._refused = {}
        refused: ConnectionRefusedError | None = None
        async with trio.open_nursery() as events:
            payload = await self._auth_payload(auth)
            for name, state in self._namespaces.items():
                state.outcome = trio.Event()
                state.early = []
                await self._send(conn, encode(Packet(PacketType.CONNECT, name, payload)))
            try:
                async for message in conn:
                    packet = decoder.feed(message)
                    if packet is None:
                        continue
                    await self._handle(conn, packet, events, limiter)
                    if task_status is not None and all(s.outcome.is_set() for s in self._namespaces.values()):
                        refused = self._first_refusal()
                        if refused is not None:
                            break
                        task_status.started()
                        task_status = None
            except ProtocolError as error:
                logger.warning("closing: invalid Socket.IO packet from the server: %s", error)
            finally:
                events.cancel_scope.cancel()
                if refused is not None or task_status is not None:
                    await conn.aclose()
        if refused is not None:
            raise refused
        if task_status is not None:
            raise DisconnectedError(
                f"the connection closed before every namespace connected ({conn.close_reason})"
            )

    def _first_refusal(self) -> ConnectionRefusedError | None:
        for name in self._namespaces:
            if name in self._refused:
                data = self._refused[name]
                if isinstance(data, dict):
                    args = [data.get("message", "Connection refused")]
                    if "data" in data:
                        args.append(data["data"])
                    return ConnectionRefusedError(*args)
                return ConnectionRefusedError(str(data))
        return None

    async def _send(self, conn: ClientConnection, messages: list[str | bytes]) -> None:
        async with self._send_lock:
            for message in messages:
                await conn.send(message)

    async def _handle(
        self, conn: ClientConnection, packet: Packet, events: trio.Nursery, limiter: trio.Semaphore
    ) -> None:
        state = self._namespaces.get(packet.namespace)
        if state is None:
            logger.debug("ignored a packet for namespace %.60r", packet.namespace)
            return
        kind = packet.type
        if kind is PacketType.CONNECT:
            data = packet.data if isinstance(packet.data, dict) else {}
            state.sid = str(data.get("sid", ""))
            state.connected = True
            state.outcome.set()
            events.start_soon(self._trigger_safely, packet.namespace, "connect")  # it may call()
            early, state.early = state.early, []
            for event in early:
                await acquire(limiter)
                events.start_soon(self._run_event, conn, event, limiter)
            while state.buffer and state.connected:
                messages, _ = state.buffer.popleft()
                self._buffered -= 1
                await self._send(conn, messages)
        elif kind is PacketType.CONNECT_ERROR:
            data = packet.data
            state.connected = False
            self._refused[packet.namespace] = data
            state.outcome.set()
            await self._trigger_safely(packet.namespace, "connect_error", data)
        elif kind is PacketType.DISCONNECT:
            was_connected = state.connected
            del self._namespaces[packet.namespace]
            self._buffered -= len(state.buffer)
            self._fail_acks(state, include_buffered=True)
            if was_connected:
                await self._trigger_safely(packet.namespace, "disconnect", "io server disconnect")
            if not self._namespaces:
                await conn.aclose()
        elif packet.is_ack:
            assert packet.id is not None
            pending = state.acks.pop(packet.id, None)
            if pending is None:
                logger.info("ignored an ACK for id %s never issued", packet.id)
            elif pending.callback is not None:
                await acquire(limiter)
                events.start_soon(run_callback, pending.callback, packet.data, limiter)
            else:
                pending.resolve(packet.data)
        elif state.connected:
            await acquire(limiter)
            events.start_soon(self._run_event, conn, packet, limiter)
        elif not state.outcome.is_set() and len(state.early) < MAX_EARLY_EVENTS:
            state.early.append(packet)
        else:
            logger.warning("dropped an event for namespace %.60r: not connected", packet.namespace)

    async def _run_event(self, conn: ClientConnection, packet: Packet, limiter: trio.Semaphore) -> None:
        try:
            event, *args = packet.data
            if event in RESERVED_EVENTS:
                logger.debug("ignored an event named %r from the server (reserved)", event)
                return
            try:
                result = await self._trigger(packet.namespace, event, *args)
            except Exception:
                logger.exception("handler for event %.60r failed", event)
                return
            if packet.id is not None:
                reply = Packet(PacketType.ACK, packet.namespace, ack_arguments(result), packet.id)
                try:
                    await self._send(conn, encode(reply))
                except ConnectionClosed:
                    pass
                except (TypeError, ValueError):
                    logger.exception("cannot encode the ack of event %.60r", event)
        finally:
            limiter.release()

    def _connection_lost(self, conn: ClientConnection) -> None:
        reason = conn.close_reason or "transport close"
        for name, state in self._namespaces.items():
            self._fail_acks(state, include_buffered=False)
            if state.connected:
                state.connected = False
                self._nursery_soon(self._trigger_safely, name, "disconnect", reason)

    def _nursery_soon(self, function: Callable[..., Any], *args: Any) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(function, *args)

    @staticmethod
    def _fail_acks(state: _Namespace, *, include_buffered: bool) -> None:
        buffered = set() if include_buffered else {ack_id for _, ack_id in state.buffer if ack_id is not None}
        for ack_id in [ack_id for ack_id in state.acks if ack_id not in buffered]:
            state.acks.pop(ack_id).fail(DisconnectedError("disconnected before the acknowledgement"))

    # ------------------------------------------------------------ sending
    async def _emit_packet(self, namespace: str, event: str, data: Any, ack: PendingAck | None) -> int | None:
        check_event_name(event)
        state = self._namespaces.get(namespace)
        if state is None or self._finished.is_set():
            raise DisconnectedError(f"namespace {namespace!r} is not connected")
        if ack is not None and not make_room(state.acks, self.max_pending_calls):
            raise RuntimeError(f"{self.max_pending_calls} calls already wait in {namespace}")
        ack_id: int | None = None
        if ack is not None:
            ack_id = state.next_ack_id
            state.next_ack_id = 0 if ack_id >= MAX_ACK_ID else ack_id + 1
        messages = encode(Packet(PacketType.EVENT, namespace, [event, *emit_arguments(data)], ack_id))
        conn = self._conn
        if state.connected and conn is not None and not state.buffer:
            if ack is not None and ack_id is not None:
                state.acks[ack_id] = ack
            try:
                await self._send(conn, messages)
                return ack_id
            except ConnectionClosed:
                pass  # lost meanwhile: buffer it for the reconnection
        if self._buffered >= self.max_buffered_emits:
            raise DisconnectedError(f"not connected and {self.max_buffered_emits} emits already wait")
        if ack is not None and ack_id is not None:
            state.acks[ack_id] = ack
        state.buffer.append((messages, ack_id))
        self._buffered += 1
        await trio.lowlevel.checkpoint()
        return ack_id

    async def _emit_volatile(self, namespace: str, event: str, data: Any, ack: PendingAck | None) -> bool:
        check_event_name(event)
        state = self._namespaces.get(namespace)
        conn = self._conn
        limit = self.engine_options.get("send_buffer_size", _DEFAULT_SEND_BUFFER)
        if (
            state is None
            or not state.connected
            or state.buffer
            or conn is None
            or self._send_lock.locked()
            or conn.statistics().buffered_bytes >= limit
            or (ack is not None and not make_room(state.acks, self.max_pending_calls))
        ):
            await trio.lowlevel.checkpoint()
            return False
        ack_id: int | None = None
        if ack is not None:
            ack_id = state.next_ack_id
            state.next_ack_id = 0 if ack_id >= MAX_ACK_ID else ack_id + 1
        messages = encode(Packet(PacketType.EVENT, namespace, [event, *emit_arguments(data)], ack_id))
        if ack is not None and ack_id is not None:
            state.acks[ack_id] = ack
        try:
            await self._send(conn, messages)
        except ConnectionClosed:
            if ack_id is not None:
                state.acks.pop(ack_id, None)
            return False
        return True

    async def emit(
        self,
        event: str,
        data: Any = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        *,
        volatile: bool = False,
    ) -> None:
        """Send ``event`` (``data``: one argument, a tuple for several, ``None`` for none).

        While the client is reconnecting the packet waits in the buffer.
        Raises :class:`DisconnectedError` when the namespace is not (being)
        connected or the buffer is full, ``ValueError`` for a reserved event
        name (``connect``, ``disconnect``...) or more binary values than
        :data:`~trio_engineio.socketio.protocol.MAX_ATTACHMENTS`.

        ``callback``: the server is asked to acknowledge and ``callback(*args)``
        (plain or async) runs with the acknowledgement's arguments; it never
        runs if the connection is lost first. ``volatile=True``: the event is
        dropped, instead of buffered or waited for, when the namespace is not
        connected or the connection's send buffer is full (socket.io-client's
        ``socket.volatile.emit``).
        """
        ack = PendingAck(callback) if callback is not None else None
        if volatile:
            await self._emit_volatile(namespace or "/", event, data, ack)
        else:
            await self._emit_packet(namespace or "/", event, data, ack)

    async def send(self, data: Any, namespace: str | None = None) -> None:
        """``emit("message", data)``."""
        await self.emit("message", data, namespace=namespace)

    async def call(
        self,
        event: str,
        data: Any = None,
        namespace: str | None = None,
        timeout: float = 60,  # noqa: ASYNC109 - python-socketio's signature
    ) -> Any:
        """Emit ``event`` and return the server's acknowledgement (several arguments as a tuple).

        Raises :class:`~trio_engineio.socketio.TimeoutError` after ``timeout``
        seconds and :class:`DisconnectedError` if the connection is lost first.
        """
        namespace = namespace or "/"
        pending = PendingAck()
        ack_id = await self._emit_packet(namespace, event, data, pending)
        try:
            with trio.move_on_after(timeout):
                await pending.done.wait()
            if not pending.done.is_set():
                raise TimeoutError(f"no acknowledgement of {event!r} within {timeout}s")
            return pending.result()
        finally:
            state = self._namespaces.get(namespace)
            if state is not None and ack_id is not None and state.acks.get(ack_id) is pending:
                del state.acks[ack_id]

    async def disconnect(self) -> None:
        """Leave every namespace and close the Engine.IO session; no reconnection. Idempotent."""
        self._stopping = True
        conn = self._conn
        if conn is not None:
            with trio.move_on_after(2):
                for name, state in list(self._namespaces.items()):
                    if state.connected:
                        try:
                            await self._send(conn, encode(Packet(PacketType.DISCONNECT, name)))
                        except ConnectionClosed:
                            break
            await conn.aclose()
        if self._run_scope is not None and conn is None:
            self._run_scope.cancel()  # waiting to reconnect
        await self._finished.wait()

    async def wait(self) -> None:
        """Wait until the client is disconnected for good (no reconnection left)."""
        await self._finished.wait()
