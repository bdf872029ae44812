"""The trio-style client: ``async with open_client(url) as conn``.

Task tree of one connection::

    open_client(...)                      the caller's task: handshake, then the user's block
    └── connection nursery
        ├── pumps                         one nursery, cancelled as a whole at close
        │   ├── watchdog                  sleeps until the session's next deadline
        │   ├── poll reader / poll writer one GET and one POST in flight at most
        │   ├── upgrade                   probe websocket, 2probe/3probe/5
        │   └── ws reader / ws writer     after the upgrade, or for a websocket-only session
        ├── websocket owner(s)            trio-websocket's reader, one task per socket
        └── teardown                      after a close the server (or a timeout) caused

Leaving the block (normally, by an exception or by cancellation) closes the
session: queued messages and a CLOSE packet are flushed within a shielded
``close_timeout``, websockets are closed with a close frame, and the nursery
is cancelled, so nothing outlives the block. All protocol decisions are made
by :class:`~trio_engineio.protocol.ClientSession`.

The pumps and each connected websocket's owner task run under shielded cancel
scopes that only this module cancels: a cancellation of the caller's block
does not cut the writer off mid-CLOSE nor kill trio-websocket's reader, so the
close is the same (and as prompt) as a normal exit. ``_shutdown`` cancels
those scopes in a ``finally``, whatever happened, before cancelling the
connection nursery.
"""

from __future__ import annotations

import json
import math
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from ssl import SSLContext as _SSLContext
from typing import Any

import httpx
import trio

from .._exceptions import ConnectionClosed, EngineIOConnectionError, HandshakeFailed
from .._json import to_message
from .._starting import started_then_shield
from ..protocol.client_session import ClientSession
from ..protocol.errors import HandshakeError, LocalProtocolError
from ..protocol.events import Event, MessageReceived, SessionClosed, UpgradeAborted
from ..protocol.handshake import Handshake
from ..protocol.packets import encode_payload
from ..protocol.reasons import CloseInfo, CloseReason
from .common import (
    EngineURL,
    Notifier,
    SSLOption,
    TransportFailed,
    single_exception,
    websocket_ssl_context,
)
from .polling import PollingTransport
from .proxy import Proxy, ProxyOption, select_proxy
from .websocket import WebSocketTransport

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["ClientConnection", "ClientStatistics", "open_client"]

#: httpx's own TLS context factory (public since httpx 0.28): without it, https polling stays on httpx.
_create_ssl_context: Callable[..., _SSLContext] | None = getattr(httpx, "create_ssl_context", None)

_TRANSPORTS = ("polling", "websocket")
#: Scheduler rounds the polling writer waits at most for a burst of sends to join a POST.
_COALESCE_ROUNDS = 32
#: Request headers trio-websocket must not receive from the httpx request.
_WS_DROP_HEADERS = frozenset(
    {"host", "connection", "upgrade", "accept-encoding", "content-length", "transfer-encoding"}
)


@dataclass(frozen=True)
class ClientStatistics:
    """A snapshot of one client session (see :meth:`ClientConnection.statistics`)."""

    #: ``"polling"`` or ``"websocket"`` (``None`` before the handshake).
    transport: str | None
    #: Messages queued by :meth:`ClientConnection.send` since the session opened.
    messages_sent: int
    #: Messages handed to the application by :meth:`ClientConnection.receive`.
    messages_received: int
    #: Messages received from the server that the application has not read yet.
    queued_incoming: int
    #: Messages and bytes queued for the server, not yet written to a transport.
    buffered_messages: int
    buffered_bytes: int
    #: HTTP requests the polling transport has sent (handshake, GETs and POSTs).
    http_requests: int
    #: Progress of the websocket upgrade: ``"none"``, ``"probing"``, ``"probed"``,
    #: ``"done"`` or ``"failed"``.
    upgrade_state: str


class ClientConnection:
    """One Engine.IO session, from the client side. Made by :func:`open_client`.

    Send with :meth:`send`, receive with :meth:`receive` or ``async for``.
    After the session ends, :attr:`close_info` says why; :meth:`receive` first
    returns every message that arrived before the end, then raises
    :class:`~trio_engineio.ConnectionClosed`.
    """

    def __init__(
        self,
        url: EngineURL,
        *,
        nursery: trio.Nursery,
        transports: tuple[str, ...],
        headers: Mapping[str, str],
        http_client: httpx.AsyncClient,
        ssl: SSLOption,
        connect_timeout: float,
        upgrade_timeout: float,
        max_packets_per_post: int | None,
        close_timeout: float,
        max_response_size: int,
        max_message_size: int,
        receive_queue_size: int,
        send_buffer_size: int,
        direct_http_ssl: _SSLContext | None = None,
        direct_http: bool = False,
        proxy: Proxy | None = None,
    ) -> None:
        self._url = url
        self._proxy = proxy
        self._nursery = nursery
        self._transports = transports
        self._headers = dict(headers)
        self._http = http_client
        self._ssl = ssl
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._max_message_size = max_message_size
        self._receive_queue_size = receive_queue_size
        self._send_buffer_size = send_buffer_size
        self._session = ClientSession(
            upgrade_timeout=upgrade_timeout, max_packets_per_post=max_packets_per_post
        )
        self._polling = PollingTransport(
            http_client,
            url,
            headers=self._headers,
            max_response_size=max_response_size,
            connect_timeout=connect_timeout,
            direct=direct_http,
            ssl_context=direct_http_ssl,
            proxy=proxy,
        )
        self._ws: WebSocketTransport | None = None
        self._probe_ws: WebSocketTransport | None = None
        self._websockets: list[WebSocketTransport] = []
        self._ws_sending = False
        self._incoming: deque[str | bytes] = deque()
        self._notifier = Notifier()
        #: Wakes the watchdog when the session's next deadline moves earlier.
        self._deadline_notifier = Notifier()
        self._watch_deadline = math.inf
        # Shielded once started (see _run_pumps): the caller's cancellation must not stop
        # the pumps before the close is sent.
        self._pumps_scope = trio.CancelScope()
        self._pumps_nursery: trio.Nursery | None = None
        self._pumps_done = trio.Event()
        self._teardown_started = False
        self._teardown_done = trio.Event()
        self._closed_seen = False
        self._messages_sent = 0
        self._messages_received = 0

    # ------------------------------------------------------------ public state
    @property
    def sid(self) -> str | None:
        """The session id the server assigned (``None`` before the handshake)."""
        return self._session.sid

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"``: what carries the session now."""
        return self._session.transport

    @property
    def handshake(self) -> Handshake | None:
        """The server's OPEN packet (intervals, maxPayload, upgrades)."""
        return self._session.handshake

    @property
    def closed(self) -> bool:
        """True once the session has ended (queued messages may still be received)."""
        return self._session.closed

    @property
    def close_info(self) -> CloseInfo | None:
        """Why the session ended (reason and description), or ``None`` while open."""
        return self._session.close_info

    @property
    def close_reason(self) -> str | None:
        """The close reason string (e.g. ``"ping timeout"``), or ``None`` while open."""
        info = self._session.close_info
        return info.reason.value if info is not None else None

    def statistics(self) -> ClientStatistics:
        """A snapshot of this session: transport, messages, buffers, HTTP requests, upgrade."""
        return ClientStatistics(
            transport=self.transport,
            messages_sent=self._messages_sent,
            messages_received=self._messages_received,
            queued_incoming=len(self._incoming),
            buffered_messages=self._session.buffered_messages,
            buffered_bytes=self._session.buffered_bytes,
            http_requests=self._polling.requests_sent,
            upgrade_state=self._session.upgrade_state.value,
        )

    # ------------------------------------------------------------- public I/O
    async def send(self, data: str | bytes | bytearray | memoryview | dict[str, Any] | list[Any]) -> None:
        """Queue a message: ``str`` (text), bytes-like (binary), or a dict/list sent as JSON text.

        Waits while the send buffer is full. Raises
        :class:`~trio_engineio.ConnectionClosed` if the session has ended and
        :class:`ValueError` if the message alone exceeds the server's maxPayload.
        """
        message = to_message(data, json)
        session = self._session
        await self._notifier.wait_until(
            lambda: session.closed or session.buffered_bytes < self._send_buffer_size
        )
        try:
            session.send_message(message)
        except LocalProtocolError:
            raise ConnectionClosed(self._close_info_or_unknown()) from None
        self._messages_sent += 1
        self._notifier.notify()

    async def receive(self) -> str | bytes:
        """The next message from the server, as sent (``str`` or ``bytes``).

        Raises :class:`~trio_engineio.ConnectionClosed` once the session has
        ended and every earlier message was received.
        """
        incoming = self._incoming
        await self._notifier.wait_until(lambda: bool(incoming) or self._session.closed)
        if incoming:
            was_full = len(incoming) >= self._receive_queue_size
            message = incoming.popleft()
            self._messages_received += 1
            if was_full:
                self._notifier.notify()  # a reader paused for room may go on
            return message
        raise ConnectionClosed(self._close_info_or_unknown())

    def __aiter__(self) -> ClientConnection:
        """``async for message in conn``: ends quietly when the session closes."""
        return self

    async def __anext__(self) -> str | bytes:
        """The next message; :class:`StopAsyncIteration` once the session has ended."""
        try:
            return await self.receive()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Close the session: flush what was sent, send CLOSE, close the transport.

        Bounded by ``close_timeout`` and shielded from cancellation; idempotent.
        """
        if not self._session.closed:
            self._dispatch([self._session.close(CloseReason.CLIENT_DISCONNECT)])
        await self._teardown()

    def _close_info_or_unknown(self) -> CloseInfo:
        return self._session.close_info or CloseInfo(CloseReason.TRANSPORT_CLOSE, "not connected")

    # ----------------------------------------------------------------- connect
    async def _connect(self) -> None:
        """The handshake, then start the pumps. Raises an EngineIOConnectionError subclass."""
        session = self._session
        try:
            with trio.fail_after(self._connect_timeout):
                if "polling" in self._transports:
                    body = await self._polling.handshake()
                    events = session.receive_handshake_payload(body, now=trio.current_time())
                else:
                    ws = await self._open_websocket(sid=None)
                    self._ws = ws
                    try:
                        frame = await ws.receive()
                    except TransportFailed as exc:
                        raise HandshakeFailed(f"no handshake on the websocket: {exc}") from None
                    events = session.receive_handshake_frame(frame, now=trio.current_time())
        except trio.TooSlowError:
            raise EngineIOConnectionError(
                f"no handshake from {self._url.http()} within {self._connect_timeout:g} s"
            ) from None
        except HandshakeError as exc:
            raise HandshakeFailed(str(exc)) from None
        self._polling.set_heartbeat(session.heartbeat_timeout)
        self._dispatch(events)
        await self._nursery.start(self._run_pumps)

    async def _open_websocket(self, sid: str | None) -> WebSocketTransport:
        ws = await WebSocketTransport.open(
            self._nursery,
            self._url.websocket(sid=sid),
            headers=self._websocket_headers(sid),
            ssl_context=websocket_ssl_context(self._url, self._ssl),
            max_message_size=self._max_message_size,
            proxy=self._proxy,
        )
        self._websockets.append(ws)
        return ws

    def _websocket_headers(self, sid: str | None) -> list[tuple[bytes, bytes]]:
        """The polling requests' headers (defaults, extra headers, cookies) for the websocket."""
        request = self._http.build_request("GET", self._url.http(sid=sid), headers=self._headers)
        return [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in request.headers.items()
            if name.lower() not in _WS_DROP_HEADERS
        ]

    # ------------------------------------------------------------------- pumps
    async def _run_pumps(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with self._pumps_scope:
                async with trio.open_nursery() as nursery:
                    self._pumps_nursery = nursery
                    nursery.start_soon(self._watchdog)
                    if self._session.transport == "polling":
                        nursery.start_soon(self._poll_reader)
                        nursery.start_soon(self._poll_writer)
                        if "websocket" in self._transports and self._session.can_upgrade:
                            nursery.start_soon(self._upgrade)
                    else:
                        assert self._ws is not None
                        nursery.start_soon(self._ws_reader, self._ws)
                        nursery.start_soon(self._ws_writer, self._ws)
                    started_then_shield(task_status, None, self._pumps_scope)
        finally:
            self._pumps_done.set()
            self._notifier.notify()

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, MessageReceived):
                self._incoming.append(event.data)
            elif isinstance(event, SessionClosed) and not self._closed_seen:
                self._closed_seen = True
                if event.info.reason is not CloseReason.CLIENT_DISCONNECT:
                    # The server, a timeout or an error ended it: release the transports now.
                    self._nursery.start_soon(self._teardown)
        self._notifier.notify()
        if self._session.next_deadline() < self._watch_deadline:
            self._deadline_notifier.notify()

    def _fail(self, info: CloseInfo) -> None:
        self._dispatch([self._session.close(info.reason, info.description)])

    def _room_for_incoming(self) -> bool:
        return len(self._incoming) < self._receive_queue_size

    async def _watchdog(self) -> None:
        # Woken only when a deadline moves earlier (a PING moves it later: waking at the
        # old deadline then finds nothing due), not on every message.
        session = self._session
        while not session.closed:
            self._watch_deadline = session.next_deadline()
            with trio.move_on_at(self._watch_deadline):
                await self._deadline_notifier.wait_changed()
                continue
            self._watch_deadline = math.inf
            self._dispatch(session.handle_timeout(trio.current_time()))

    async def _poll_reader(self) -> None:
        session = self._session
        sid = session.sid
        assert sid is not None
        while True:
            await self._notifier.wait_until(
                lambda: (
                    session.closed
                    or session.transport != "polling"
                    or (session.may_poll() and self._room_for_incoming())
                )
            )
            if session.closed or session.transport != "polling":
                return
            session.begin_get()
            failure: CloseInfo | None = None
            try:
                body = await self._polling.get(sid)
                # One decode for the whole body, however many packets it carries.
                self._dispatch(session.receive_payload(body, trio.current_time()))
            except TransportFailed as exc:
                failure = exc.info
            finally:
                # Releases a POST failure held for this GET (unless the GET carried CLOSE).
                self._dispatch(session.end_get())
            if failure is not None:
                self._fail(failure)
                return

    async def _poll_writer(self) -> None:
        session = self._session
        sid = session.sid
        assert sid is not None
        while True:
            await self._notifier.wait_until(
                lambda: session.transport != "polling" or session.close_sent or session.may_post()
            )
            if session.transport != "polling" or (session.close_sent and not session.may_post()):
                return  # upgraded, or closed with nothing more to send
            await self._coalesce()
            batch = session.next_post_batch()
            if not batch:
                continue
            try:
                await self._polling.post(sid, encode_payload(batch))
            except TransportFailed as exc:
                # Held while a GET is in flight: it may bring the server's CLOSE (the real reason).
                self._dispatch(session.post_failed(exc.info, trio.current_time()))
                return
            finally:
                session.post_done()
                self._notifier.notify()

    async def _coalesce(self) -> None:
        """Let tasks that are sending right now add to the queue before a POST takes it.

        A few scheduler rounds (no wall-clock wait): while the queue keeps growing, or
        while the application still has received messages to read (it is likely to
        answer them: a request/response loop checkpoints twice per message), yield
        again, so a burst of ``send()`` calls goes out in one POST.
        """
        session = self._session
        incoming = self._incoming
        for _ in range(_COALESCE_ROUNDS):
            before = session.buffered_messages
            await trio.lowlevel.checkpoint()
            if session.buffered_messages == before and not incoming:
                return

    async def _ws_reader(self, ws: WebSocketTransport) -> None:
        session = self._session
        while not session.closed:
            try:
                frame = await ws.receive()
            except TransportFailed as exc:
                self._fail(exc.info)
                return
            self._dispatch(session.receive_frame(frame, trio.current_time()))
            await self._notifier.wait_until(lambda: session.closed or self._room_for_incoming())

    async def _ws_writer(self, ws: WebSocketTransport) -> None:
        session = self._session
        while True:
            await self._notifier.wait_until(lambda: session.close_sent or session.has_outgoing())
            packets = session.take_websocket_packets()
            if not packets:
                if session.close_sent:
                    return  # closed and nothing left to send
                continue
            self._ws_sending = True
            try:
                for packet in packets:
                    await ws.send_packet(packet)
            except TransportFailed as exc:
                self._fail(exc.info)
                return
            finally:
                self._ws_sending = False
                self._notifier.notify()

    async def _upgrade(self) -> None:
        session = self._session
        sid = session.sid
        assert sid is not None
        assert self._pumps_nursery is not None
        probe = session.start_upgrade(trio.current_time())
        self._dispatch([])  # the watchdog learns the upgrade deadline
        failure = "upgrade timed out"
        with trio.move_on_at(session.upgrade_deadline):
            try:
                ws = await self._open_websocket(sid=sid)
                self._probe_ws = ws
                await ws.send_packet(probe)
                frame = await ws.receive()
                if not session.upgrading or session.closed:
                    failure = "upgrade abandoned"
                else:
                    event = session.receive_probe_frame(frame, trio.current_time())
                    if isinstance(event, UpgradeAborted):
                        failure = event.description
                    else:
                        self._notifier.notify()  # pollers stop starting requests
                        await self._notifier.wait_until(
                            lambda: session.polling_paused or not session.upgrading or session.closed
                        )
                        if session.polling_paused and not session.closed:
                            self._ws = ws
                            self._probe_ws = None
                            session.finish_upgrade()
                            self._pumps_nursery.start_soon(self._ws_reader, ws)
                            self._pumps_nursery.start_soon(self._ws_writer, ws)
                            self._notifier.notify()
                            return
                        failure = "upgrade abandoned"
            except (TransportFailed, EngineIOConnectionError) as exc:
                failure = f"websocket upgrade failed: {exc}"
        session.abort_upgrade(failure)
        self._notifier.notify()
        probe_ws, self._probe_ws = self._probe_ws, None
        if probe_ws is not None:
            with trio.move_on_after(self._close_timeout):
                await probe_ws.aclose()

    # ------------------------------------------------------------------- close
    async def _teardown(self) -> None:
        """Stop the pumps, send what a close still owes, close the websockets. Runs once."""
        if self._teardown_started:
            await self._teardown_done.wait()
            return
        self._teardown_started = True
        session = self._session
        try:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + self._close_timeout):
                # 1. Let the running writer flush the queue and the CLOSE packet.
                with trio.move_on_after(self._close_timeout / 2):
                    await self._notifier.wait_until(
                        lambda: (
                            self._pumps_done.is_set()
                            or (session.close_sent and not session.post_pending and not self._ws_sending)
                        )
                    )
                # 2. Stop every pump.
                self._pumps_scope.cancel()
                if self._pumps_nursery is not None:
                    await self._pumps_done.wait()
                # 3. Whatever the pumps could not send (they may have been cancelled).
                await self._flush_final_packets()
                # 4. Close the websockets with a close frame (each is cancelled even if
                #    the deadline strikes during an earlier one).
                try:
                    for ws in (self._probe_ws, self._ws):
                        if ws is not None:
                            await ws.aclose()
                finally:
                    for ws in self._websockets:
                        ws.cancel()
        finally:
            self._teardown_done.set()
            self._notifier.notify()

    async def _flush_final_packets(self) -> None:
        session = self._session
        if session.close_sent or session.handshake is None:
            return
        sid = session.sid
        assert sid is not None
        try:
            if session.transport == "websocket":
                if self._ws is not None:
                    for packet in session.take_final_packets():
                        await self._ws.send_packet(packet)
            else:
                while batch := session.next_post_batch():
                    try:
                        await self._polling.post(sid, encode_payload(batch))
                    finally:
                        session.post_done()
        except TransportFailed:
            pass  # the server is unreachable: nothing more can be told

    async def _shutdown(self) -> None:
        """Leaving ``open_client``'s block: close (bounded, shielded), then cancel everything."""
        try:
            with trio.CancelScope(shield=True):
                await self.aclose()
        finally:
            # The shielded scopes first: the nursery's own cancel does not reach into them.
            self._pumps_scope.cancel()
            for ws in self._websockets:
                ws.cancel()
            self._polling.close()
            self._nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_client(
    url: str,
    *,
    transports: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    engineio_path: str = "engine.io",
    http_client: httpx.AsyncClient | None = None,
    ssl: SSLOption = None,
    connect_timeout: float = 20.0,
    upgrade_timeout: float = 10.0,
    close_timeout: float = 2.0,
    max_packets_per_post: int | None = None,
    max_response_size: int = 64 * 1024 * 1024,
    max_message_size: int = 16 * 1024 * 1024,
    receive_queue_size: int = 1024,
    send_buffer_size: int = 4 * 1024 * 1024,
    proxy: ProxyOption = None,
) -> AsyncIterator[ClientConnection]:
    """Connect to an Engine.IO v4 server; the connection lives for the ``async with`` block.

    ``url`` is the server's base URL, ``http(s)://`` or ``ws(s)://`` (its path
    is a prefix, its query is kept and sent on every request);
    ``engineio_path`` is appended (default ``/engine.io/``).

    ``transports``: ``["polling"]``, ``["websocket"]`` or both (the default:
    start on polling, then upgrade to websocket). ``headers`` are sent on every
    HTTP request and on the websocket handshake, as are cookies the server
    sets. ``http_client`` is an ``httpx.AsyncClient`` to use (it is not
    closed); otherwise one is made and closed here. ``ssl``: ``None`` (verify
    with the system CAs), an :class:`ssl.SSLContext`, or ``False`` to turn
    verification off explicitly; with your own ``http_client`` its own
    ``verify`` applies to HTTP and ``ssl`` only to the websocket.

    ``proxy``: ``None`` (the default) takes the proxy from the environment as httpx
    does (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, lower-case
    too); a URL (``"http://user:pw@host:3128"``, ``"https://..."``,
    ``"socks5://..."``, ``"socks5h://..."``) is used for every request and
    websocket; ``False`` means no proxy. The websocket goes through the proxy's
    ``CONNECT`` tunnel or SOCKS5, then TLS for wss. With your own
    ``http_client`` its own proxy settings apply to HTTP, and ``proxy`` (or the
    environment, if the client's ``trust_env``) only to the websocket.

    Limits: ``connect_timeout`` bounds the handshake, ``upgrade_timeout`` an
    upgrade attempt, ``close_timeout`` the close; ``max_response_size`` bounds
    one polling response body and ``max_message_size`` one websocket message
    (beyond them the session closes with "payload too large");
    ``receive_queue_size`` messages are buffered before reading pauses;
    ``send()`` waits once ``send_buffer_size`` bytes are queued.
    ``max_packets_per_post`` caps the packets per POST for servers that refuse
    long payloads (python-engineio accepts at most 16); POSTs are always split
    by bytes so none exceeds the server's maxPayload.

    Raises :class:`~trio_engineio.ConnectionRejected` (HTTP status and body),
    :class:`~trio_engineio.HandshakeFailed`, or another
    :class:`~trio_engineio.EngineIOConnectionError` if no session could be opened.
    """
    check_client_options(
        {
            "headers": headers,
            "engineio_path": engineio_path,
            "http_client": http_client,
            "ssl": ssl,
            "connect_timeout": connect_timeout,
            "upgrade_timeout": upgrade_timeout,
            "close_timeout": close_timeout,
            "max_packets_per_post": max_packets_per_post,
            "max_response_size": max_response_size,
            "max_message_size": max_message_size,
            "receive_queue_size": receive_queue_size,
            "send_buffer_size": send_buffer_size,
            "proxy": proxy,
        }
    )
    chosen = _check_transports(transports)
    engine_url = EngineURL.parse(url, engineio_path)
    owns_http = http_client is None
    trust_env = http_client.trust_env if http_client is not None else proxy is not False
    selected = select_proxy(engine_url.http(), proxy, trust_env=trust_env)
    http_ssl: _SSLContext | None = None
    if http_client is None:
        verify: Any = ssl if isinstance(ssl, _SSLContext) else ssl is not False
        if engine_url.secure and _create_ssl_context is not None:
            # Made here so that the direct polling path uses exactly httpx's TLS settings.
            verify = http_ssl = _create_ssl_context(verify=verify)
        http_client = httpx.AsyncClient(
            verify=verify,
            timeout=connect_timeout,
            # The same proxy as the direct path and the websocket (httpx would pick it too).
            proxy=selected.url_with_auth if selected is not None else None,
            trust_env=trust_env,
        )
    try:
        try:
            async with trio.open_nursery() as nursery:
                conn = ClientConnection(
                    engine_url,
                    nursery=nursery,
                    transports=chosen,
                    headers=headers or {},
                    http_client=http_client,
                    ssl=ssl,
                    connect_timeout=connect_timeout,
                    upgrade_timeout=upgrade_timeout,
                    max_packets_per_post=max_packets_per_post,
                    close_timeout=close_timeout,
                    max_response_size=max_response_size,
                    max_message_size=max_message_size,
                    receive_queue_size=receive_queue_size,
                    send_buffer_size=send_buffer_size,
                    direct_http=owns_http,
                    direct_http_ssl=http_ssl,
                    proxy=selected,
                )
                try:
                    await conn._connect()
                    yield conn
                finally:
                    await conn._shutdown()
        except BaseExceptionGroup as group:
            # The pumps never raise (errors become close reasons), so a group holds
            # the one exception of the block or of the handshake: re-raise it as is.
            single = single_exception(group)
            if single is None:
                raise
            raise single from None
    finally:
        if owns_http:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + close_timeout):
                await http_client.aclose()


def _check_transports(transports: Sequence[str] | None) -> tuple[str, ...]:
    if transports is None:
        return _TRANSPORTS
    if isinstance(transports, str):
        transports = [transports]
    if not isinstance(transports, Sequence) or not all(isinstance(t, str) for t in transports):
        raise TypeError(f"transports must be a sequence of str, not {transports!r}")
    chosen = tuple(dict.fromkeys(transports))
    unknown = [t for t in chosen if t not in _TRANSPORTS]
    if unknown or not chosen:
        raise ValueError(f"transports must be 'polling' and/or 'websocket', not {list(transports)!r}")
    return chosen


def _positive_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not value > 0 or value == math.inf:  # also refuses NaN
        raise ValueError(f"{name} must be a positive, finite number of seconds, not {value!r}")


def _positive_int(name: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value!r}")


def _check_headers(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of header names to values, not {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(f"{name}: header names and values must be str, not {key!r}: {item!r}")
        if any(c in key + item for c in "\r\n\0"):
            raise ValueError(f"{name}: header {key!r} contains CR, LF or NUL")


def _check_transports_option(name: str, value: Any) -> None:
    _check_transports(value)


def _check_engineio_path(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")


def _check_http_client(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, httpx.AsyncClient):
        raise TypeError(f"{name} must be an httpx.AsyncClient, not {type(value).__name__}")


def _check_ssl(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool | _SSLContext):
        raise TypeError(f"{name} must be None, True, False or an ssl.SSLContext, not {type(value).__name__}")


def _check_proxy(name: str, value: Any) -> None:
    if value is None or value is False:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a proxy URL, None or False, not {value!r}")
    Proxy.parse(value)  # ValueError for a bad URL


_OPTION_CHECKS: dict[str, Any] = {
    "transports": _check_transports_option,
    "headers": _check_headers,
    "engineio_path": _check_engineio_path,
    "http_client": _check_http_client,
    "ssl": _check_ssl,
    "connect_timeout": _positive_number,
    "upgrade_timeout": _positive_number,
    "close_timeout": _positive_number,
    "max_packets_per_post": lambda name, value: _positive_int(name, value, optional=True),
    "max_response_size": _positive_int,
    "max_message_size": _positive_int,
    "receive_queue_size": _positive_int,
    "send_buffer_size": _positive_int,
    "proxy": _check_proxy,
}


def check_client_options(options: Mapping[str, Any], *, caller: str = "open_client()") -> None:
    """Validate :func:`open_client` keyword options (all but ``url``).

    Raises :class:`TypeError` for an unknown name or a value of the wrong type
    and :class:`ValueError` for a value out of range, naming the option.
    """
    for name, value in options.items():
        check = _OPTION_CHECKS.get(name)
        if check is None:
            known = ", ".join(sorted(_OPTION_CHECKS))
            raise TypeError(f"{caller} got an unexpected keyword argument {name!r} (known: {known})")
        check(name, value)
