"""The one place that knows hypercorn: its quirks the transports rely on, and containments of its bugs.

**Quirks** (Q1-Q5): upstream behaviour or private detail of hypercorn's trio
worker that the transports either use or must work around. Each is stated
once, in the docstring of the name the transports call, with the hypercorn
versions it was checked on (:data:`QUIRKS`); each has a test over real
hypercorn (``tests/hypercorn/test_hypercorn_quirks.py``) that asserts the upstream
behaviour is still there and so fails once hypercorn changes it. Behind any
other ASGI server the same calls fall back to plain ASGI:

* Q1 :func:`request_channel`: ``receive`` is a trio memory channel's bound
  ``receive`` (peek without waiting, wait on a clone); ``None`` elsewhere.
* Q2 :data:`SEND_RACE`, :func:`send_or_drain`, :func:`close_websocket`:
  hypercorn closes a connection with ``send_eof()`` outside its send lock, so
  a send of ours at that moment raises ``trio.BusyResourceError``.
* Q3 :func:`sends_shielded`: hypercorn writes shielded from cancellation.
* Q4 :func:`accept_websocket`: bytes behind an upgrade request, before the
  app's accept: hypercorn answers 400 itself, then the app hears nothing more.
* Q5 :func:`after_body_read`: an answer sent at once after the body's last
  event can meet hypercorn closing the connection under it.

**Containments** (I1, I2, I5/I6): each replaces one name that hypercorn looks
up when it runs (a module global) with a subclass of what was there, so
hypercorn's own classes stay untouched and everything not named here keeps its
upstream behaviour. :func:`install` applies them once per process;
:class:`~trio_engineio.ASGIApp` and :func:`~trio_engineio.serve` call it, so
both ``serve()`` and ``hypercorn --worker-class trio module:app`` run
contained. A containment is applied only when the installed hypercorn (and,
for the websocket ones, wsproto) is a version listed in :data:`CHECKED`;
otherwise it is skipped and one warning says so. The bug reports, with
reproductions, are in ``docs/hypercorn.rst``.

* I1 (hypercorn 0.18.0, pgjones/hypercorn#329): DATA arriving for an HTTP/2
  stream that hypercorn has already answered and closed raises ``KeyError``
  in ``H2Protocol._handle_events``; under the trio worker any exception from
  one connection goes up through ``trio.serve_listeners`` and stops the
  whole server (so did h11's ``LocalProtocolError`` when bytes right behind
  a websocket upgrade request reach hypercorn before the app's accept, Q4).
  :class:`ContainedH2Protocol` finds a closed stream that ignores the data;
  :class:`ContainedTCPServer` ends, logs and counts any error of one
  connection instead of letting it stop the server.
* I2 (hypercorn 0.18.0 with wsproto 1.3.2): hypercorn offers
  permessage-deflate and wsproto inflates each frame with no size limit.
  :class:`BoundedDeflate` stops inflating past the message limit and closes
  with 1009.
* I5/I6 (hypercorn 0.18.0 with wsproto 1.3.2): wsproto reports a frame it
  cannot accept (invalid UTF-8, a malformed close frame, a 1009 from an
  extension) as a ``CloseConnection`` event in state ``OPEN``; hypercorn only
  answers a ``CloseConnection`` in state ``REMOTE_CLOSING`` and so drops the
  TCP connection without a close frame. :class:`FailingConnection` moves
  such an event to ``REMOTE_CLOSING``, so hypercorn sends the close frame
  with wsproto's code (1007, 1002, 1009) before it drops the connection.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import Any

import hypercorn.protocol
import hypercorn.protocol.ws_stream
import hypercorn.trio.run
import trio
from hypercorn.config import Config
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.trio.tcp_server import TCPServer
from wsproto.connection import Connection, ConnectionState
from wsproto.events import CloseConnection, Event
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

from .http import ASGIReceive, ASGISend, Headers
from .server import Server

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "CHECKED",
    "CONTAINMENTS",
    "QUIRKS",
    "QUIRKS_CHECKED",
    "SEND_RACE",
    "Quirk",
    "accept_websocket",
    "after_body_read",
    "close_websocket",
    "install",
    "request_channel",
    "send_or_drain",
    "sends_shielded",
]

logger = logging.getLogger("trio_engineio.hypercorn")

#: Versions whose internals the containments were checked against: the same code
#: at every patched point, and the containment tests pass with hypercorn 0.18.0 and
#: wsproto 1.3.2 and with hypercorn 0.17.3 and wsproto 1.2.0.
CHECKED: dict[str, tuple[str, ...]] = {
    "hypercorn": ("0.17.3", "0.18.0"),
    "wsproto": ("1.2.0", "1.3.2"),
}

#: How many bytes one compressed websocket message may inflate to on the
#: connection being served; set per connection by :class:`ContainedTCPServer`.
_inflate_limit: ContextVar[int] = ContextVar("inflate_limit", default=Config.websocket_max_message_size)


# ======================================================================================= quirks
#: hypercorn versions the quirks were checked on: 0.18.0 by ``tests/hypercorn/test_hypercorn_quirks.py``,
#: 0.17.3 by reading its code, which is the same at every point named below.
QUIRKS_CHECKED: tuple[str, ...] = ("0.17.3", "0.18.0")


@dataclass(frozen=True)
class Quirk:
    """One behaviour of hypercorn's trio worker that the transports rely on or work around."""

    #: Q1 ... Q5, as in this module's docstring and ``docs/hypercorn.rst``.
    row: str
    #: What hypercorn does, in a few words.
    summary: str
    #: The adapter names that state it (their docstrings say why and where).
    names: tuple[str, ...]
    #: The test in ``tests/hypercorn/test_hypercorn_quirks.py`` that fails once hypercorn changes it.
    test: str
    #: hypercorn versions it was checked on.
    checked: tuple[str, ...] = QUIRKS_CHECKED


#: Every quirk, with the names that state it and the test that flips when hypercorn changes it.
QUIRKS = (
    Quirk(
        "Q1",
        "receive is the bound receive of the request's trio memory channel",
        ("request_channel",),
        "test_q1_receive_is_a_memory_channels_bound_receive",
    ),
    Quirk(
        "Q2",
        "send_eof() outside the send lock: a send meeting it raises trio.BusyResourceError",
        ("SEND_RACE", "send_or_drain", "close_websocket"),
        "test_q2_close_sends_eof_outside_the_send_lock_and_a_send_meeting_it_raises",
    ),
    Quirk(
        "Q3",
        "socket writes are shielded from cancellation",
        ("sends_shielded",),
        "test_q3_a_send_to_a_client_that_does_not_read_outlives_its_cancel_scope",
    ),
    Quirk(
        "Q4",
        "bytes behind an upgrade request before the accept: hypercorn's own 400, then silence",
        ("accept_websocket",),
        "test_q4_bytes_behind_an_upgrade_request_get_hypercorns_400_and_the_app_hears_nothing",
    ),
    Quirk(
        "Q5",
        "an answer right after the body's last event can meet the connection closing under it",
        ("after_body_read",),
        "test_q5_an_answer_at_once_after_the_body_can_lose_the_connection_under_it",
    ),
)


def request_channel(receive: ASGIReceive) -> trio.MemoryReceiveChannel[Any] | None:
    """Q1: the request's memory channel when ``receive`` is its bound ``receive``, else ``None``.

    hypercorn's trio worker (``TaskGroup.spawn_app`` in ``hypercorn/trio/task_group.py``,
    0.17.3 and 0.18.0) opens a ``trio`` memory channel per request and hands
    the app ``app_receive_channel.receive``; no one else reads that channel.
    The transports then look at queued events without waiting
    (``receive_nowait``: a long-poll's disconnect, the rest of a POST body,
    every websocket frame already there) and wait on a ``clone()`` that they
    close to wake the waiting task, with no watcher task and no cancel scope
    per wait. This is hypercorn's implementation, not ASGI: with any other
    ``receive`` (``None`` here) the transports call ``receive()`` only.
    """
    channel = getattr(receive, "__self__", None)
    return channel if isinstance(channel, trio.MemoryReceiveChannel) else None


def sends_shielded(receive: ASGIReceive) -> bool:
    """Q3: True when this request's ``send`` writes to the socket shielded from cancellation.

    hypercorn's trio worker (``TCPServer.protocol_send`` in
    ``hypercorn/trio/tcp_server.py``, 0.17.3 and 0.18.0) takes its send lock,
    then calls ``send_all`` inside a ``CancelScope`` with ``shield = True``. So:

    * a cancel scope around a send cannot bound it: a send to a client that
      stopped reading waits until the TCP connection fails (``serve()`` sets
      ``tcp_user_timeout`` so the kernel fails it);
    * a ``trio.Cancelled`` out of a send comes from waiting for the lock:
      nothing of that message was written.

    The worker is recognised by its ``receive`` (:func:`request_channel`), not
    by ``send``, which middleware may wrap. False for any other server, and
    under a hypercorn version not in :data:`QUIRKS_CHECKED`: sends are then
    taken to be cancellable at any point, and bounding them with a cancel
    scope is right either way.
    """
    return request_channel(receive) is not None and _quirks_checked()


@functools.cache
def _quirks_checked() -> bool:
    """True when the installed hypercorn is a version the quirks were checked on."""
    return _version("hypercorn") in QUIRKS_CHECKED


#: Q2: what a send raises when hypercorn is closing the connection under it (``except SEND_RACE:``).
#:
#: hypercorn's trio worker (``TCPServer._close`` in ``hypercorn/trio/tcp_server.py``,
#: 0.17.3 and 0.18.0) calls ``stream.send_eof()`` without taking the send lock that
#: every write holds, and ``TCPServer.protocol_send`` turns only
#: ``BrokenResourceError``/``ClosedResourceError`` into a closed connection. A send
#: of the app that meets ``send_eof()`` in trio's conflict detector therefore raises
#: ``trio.BusyResourceError`` out of ``send()``, with nothing of it written. It
#: happens when hypercorn closes the connection itself while the app writes: a
#: client's close frame answered as the app sends, a client closing a half-sent
#: request after its refusal, bytes behind a body (Q5). The client is going away;
#: the error means "gone", not a failure of the app. Never raised by other servers.
SEND_RACE: tuple[type[Exception], ...] = (trio.BusyResourceError,)


async def send_or_drain(
    answer: Callable[[], Awaitable[None]], receive: ASGIReceive, *, drain_for: float
) -> bool:
    """Q2: run ``answer`` (sends an HTTP response); False if the connection closed under it.

    On a send race (:data:`SEND_RACE`) the response is left unfinished, and the
    ASGI call must not return yet: hypercorn answers 500 on the app's behalf
    for a request whose response was not started when the app returns, and
    that write races the close as well. So this waits, up to ``drain_for``
    seconds, for ``http.disconnect``, which hypercorn sends once it has
    closed the request. True when the answer was sent whole.
    """
    try:
        await answer()
    except SEND_RACE:
        with trio.move_on_after(drain_for):
            while (await receive())["type"] != "http.disconnect":
                pass
        return False
    return True


async def close_websocket(
    send: ASGISend, receive: ASGIReceive, message: MutableMapping[str, Any], *, wait_for: float
) -> None:
    """Q2: send ``websocket.close``, then wait (shielded, ``wait_for`` seconds) for ``websocket.disconnect``.

    Returning from the ASGI call while hypercorn's read task is still answering
    the client's close frame lets the worker run ``TCPServer._close()`` (its
    ``send_eof()`` outside the send lock) concurrently with that answer; the
    read task then gets ``trio.BusyResourceError`` out of its own write, which
    (without containment I1) stopped the whole server. hypercorn sends
    ``websocket.disconnect`` once its side is done, which closes that window.
    A send race on our close frame (the connection is already closing) is
    dropped. With any other server this is the plain close handshake.
    """
    with trio.CancelScope(deadline=trio.current_time() + wait_for, shield=True):
        try:
            await send(message)
        except SEND_RACE:
            pass
        while (await receive())["type"] != "websocket.disconnect":
            pass


async def accept_websocket(send: ASGISend, headers: Headers) -> Exception | None:
    """Q4: send ``websocket.accept``; the error if the server could not accept (the request is over).

    hypercorn 0.17.3 and 0.18.0: bytes that follow an upgrade request and
    reach ``WSStream.handle`` before the app's accept are answered by
    hypercorn itself with ``400`` and ``Connection: close``, and h11 then
    raises ``LocalProtocolError("Can't send data when our state is ERROR")``
    in hypercorn's read task (containment I1 ends that connection only). The
    app hears nothing more: no ``websocket.disconnect``; its accept raises an
    h11 ``LocalProtocolError`` ("Received server _SWITCH_UPGRADE event without
    a pending proposal") when it comes before the connection is torn down,
    or the request task is cancelled with it. So an error here ends the
    request, never the server, and whatever the transport sends after it
    reaches no one under hypercorn (an HTTP refusal may still reach the client
    behind another server).
    """
    try:
        await send({"type": "websocket.accept", "headers": headers})
    except Exception as exc:
        return exc
    return None


async def after_body_read() -> None:
    """Q5: let the ASGI server take in what follows the body, before answering with ``Connection: close``.

    hypercorn 0.17.3 and 0.18.0 (``H11Protocol._handle_events``): the read
    task hands the body's last event to the app, then asks h11 for the next
    event; with a pipelined request behind the body h11 pauses it
    (``PAUSED``) until the answer is complete. An answer that turns
    keep-alive off before the read task got there puts h11 in
    ``MUST_CLOSE``, and h11 raises ``RemoteProtocolError("Got data when
    expecting EOF")`` for those bytes: hypercorn closes the connection under
    the answer (the client gets none or part of it, and the app's send meets
    :data:`SEND_RACE`), or sends its own 400 if the answer has not started.
    One checkpoint lets the read task reach its pause. Harmless elsewhere.
    """
    await trio.lowlevel.checkpoint()


# ================================================================================== containments
# ------------------------------------------------------------------- I1: one connection, one failure
class ContainedTCPServer(TCPServer):
    """hypercorn's trio connection handler; an exception ends only its own connection.

    hypercorn 0.18.0 runs each connection as ``TCPServer.run`` under
    ``trio.serve_listeners``, whose handler nursery is the server's own: an
    exception that escapes one connection cancels every other one and leaves
    ``trio.run``. Here it is logged once (to the Engine.IO server's logger when
    one is behind the app), counted in ``ServerStatistics.connection_errors``,
    and goes no further; hypercorn's own ``finally`` has closed the socket by
    then. Cancellation and other ``BaseException`` s pass through untouched.
    """

    async def run(self) -> None:
        """Serve the connection (hypercorn's ``run``) with its errors contained."""
        server = _engineio_server(self.app)
        limit = self.config.websocket_max_message_size
        if server is not None:
            limit = min(limit, server.options.max_http_buffer_size)
        token = _inflate_limit.set(limit)
        try:
            await super().run()
        except BaseException as exc:
            errors, rest = _split_errors(exc)
            if errors is not None:
                _connection_failed(server, errors)
            if rest is not None:
                raise rest from None
        finally:
            _inflate_limit.reset(token)


def _split_errors(exc: BaseException) -> tuple[BaseException | None, BaseException | None]:
    """``(Exception part, the rest)`` of what a connection raised (trio groups its errors)."""
    if isinstance(exc, BaseExceptionGroup):
        errors, rest = exc.split(Exception)
        return errors, rest
    if isinstance(exc, Exception):
        return exc, None
    return None, exc


def _connection_failed(server: Server | None, error: BaseException) -> None:
    leaves = []
    pending = [error]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(repr(exc))
    log = logger if server is None else server.logger
    log.error("hypercorn failed on one connection, closed it: %.200s", ", ".join(leaves), exc_info=error)
    if server is not None:
        server._connection_errors += 1


def _engineio_server(app: object) -> Server | None:
    """The Engine.IO server behind hypercorn's app wrapper, through wrappers that keep ``.app``."""
    for _ in range(8):
        server = getattr(app, "server", None)
        if isinstance(server, Server):
            return server
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


class _ClosedStream:
    """What an HTTP/2 stream that hypercorn has already closed handles events with: nothing."""

    idle = True

    async def handle(self, event: object) -> None:
        """Drop the event: the stream's response is complete."""


_CLOSED_STREAM = _ClosedStream()


class _Streams(dict[int, Any]):
    """``H2Protocol.streams``; a stream id it no longer holds finds :data:`_CLOSED_STREAM`."""

    def __missing__(self, stream_id: int) -> _ClosedStream:
        return _CLOSED_STREAM


class ContainedH2Protocol(H2Protocol):
    """hypercorn's HTTP/2 protocol; request body for a stream already answered is dropped.

    hypercorn 0.18.0 removes a stream from ``self.streams`` once the app's
    response is sent, but the client may still be sending the request body
    (an early 413, 400 or 404). ``_handle_events`` then looks the stream up
    with ``self.streams[event.stream_id]`` and raises ``KeyError``. Here that
    lookup finds a stream that ignores the data; hypercorn goes on to
    acknowledge it for flow control, as for any other stream.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.streams = _Streams()


# ----------------------------------------------------------- I2: inflate up to the message limit
class MessageTooBig(Exception):
    """A compressed message inflated past the limit (caught inside :class:`BoundedDeflate`)."""


class _BoundedInflater:
    """wsproto's decompressor, giving out at most what the message may still grow by."""

    def __init__(self, inflater: Any, owner: BoundedDeflate) -> None:
        self.inflater = inflater
        self.owner = owner

    def decompress(self, data: bytes) -> bytes:
        """Inflate ``data``; :class:`MessageTooBig` once the message passes the limit."""
        room = self.owner.max_message_size - self.owner.inflated
        return self.owner.count(self.inflater.decompress(data, room + 1))

    def flush(self) -> bytes:
        """The end of the frame (the window's worth zlib still holds at most)."""
        return self.owner.count(self.inflater.flush())


class BoundedDeflate(PerMessageDeflate):
    """permessage-deflate that inflates a message only up to the message limit.

    wsproto 1.3.2 inflates each piece of a frame with no ``max_length``: a
    few hundred kilobytes of compressed zeros become hundreds of megabytes
    before hypercorn's ``websocket_max_message_size`` check sees them. Here
    the decompressor is asked for at most one byte past what the message may
    still grow by; reaching it closes the connection with 1009. The limit is
    hypercorn's ``websocket_max_message_size``, or the Engine.IO server's
    ``max_http_buffer_size`` when one is behind the app and that is smaller
    (the Engine.IO layer refuses any larger message anyway).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Bytes one message may inflate to.
        self.max_message_size = _inflate_limit.get()
        #: Bytes the current message has inflated to so far.
        self.inflated = 0

    def count(self, data: bytes) -> bytes:
        """Add ``data`` to the current message; :class:`MessageTooBig` past the limit."""
        self.inflated += len(data)
        if self.inflated > self.max_message_size:
            raise MessageTooBig
        return data

    def frame_inbound_header(
        self, proto: FrameDecoder | FrameProtocol, opcode: Opcode, rsv: RsvBits, payload_length: int
    ) -> CloseReason | RsvBits:
        """wsproto's header check; a new message starts a new count."""
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            self.inflated = 0
        result = super().frame_inbound_header(proto, opcode, rsv, payload_length)
        inflater = self._decompressor
        if inflater is not None and not isinstance(inflater, _BoundedInflater):
            self._decompressor = _BoundedInflater(inflater, self)  # type: ignore[assignment]
        return result

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        """wsproto's inflate, bounded."""
        try:
            return super().frame_inbound_payload_data(proto, data)
        except MessageTooBig:
            return CloseReason.MESSAGE_TOO_BIG

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        """wsproto's end of frame, bounded."""
        try:
            return super().frame_inbound_complete(proto, fin)
        except MessageTooBig:
            return CloseReason.MESSAGE_TOO_BIG


# ------------------------------------------------------- I5/I6: a close frame for a frame refused
class FailingConnection(Connection):
    """wsproto's connection; a frame it refuses leaves it waiting to send its close frame.

    wsproto turns ``ParseFailed`` (invalid UTF-8: 1007, a malformed frame or
    close frame: 1002, an extension's refusal: 1009) into a
    ``CloseConnection`` event without changing state. hypercorn 0.18.0's
    ``WSStream._handle_events`` sends a close frame for that event only in
    state ``REMOTE_CLOSING``, so the connection was dropped without one.
    ``OPEN`` is the only state in which wsproto yields such an event for a
    failure (a peer's close frame changes the state first); in it the event
    now moves the connection to ``REMOTE_CLOSING``, and hypercorn answers
    with the event's code, then closes the connection as before.
    """

    def events(self) -> Generator[Event, None, None]:
        """wsproto's events; a refused frame's ``CloseConnection`` leaves a close frame to send."""
        for event in super().events():
            if isinstance(event, CloseConnection) and self.state is ConnectionState.OPEN:
                self._state = ConnectionState.REMOTE_CLOSING
            yield event


# ---------------------------------------------------------------------------------- installation
@dataclass(frozen=True)
class Containment:
    """One name in a hypercorn module replaced by a subclass of what it held."""

    #: Row of docs/bad-inputs.md.
    row: str
    module: ModuleType
    name: str
    original: type
    replacement: type
    #: Packages whose versions must be in :data:`CHECKED`.
    requires: tuple[str, ...] = ("hypercorn",)


#: Every containment, in the order :func:`install` applies them.
CONTAINMENTS = (
    Containment("I1", hypercorn.trio.run, "TCPServer", TCPServer, ContainedTCPServer),
    Containment("I1", hypercorn.protocol, "H2Protocol", H2Protocol, ContainedH2Protocol),
    Containment(
        "I2",
        hypercorn.protocol.ws_stream,
        "PerMessageDeflate",
        PerMessageDeflate,
        BoundedDeflate,
        ("hypercorn", "wsproto"),
    ),
    Containment(
        "I5, I6",
        hypercorn.protocol.ws_stream,
        "Connection",
        Connection,
        FailingConnection,
        ("hypercorn", "wsproto"),
    ),
)

_installed = False


def install() -> None:
    """Apply every containment whose packages are checked versions; once per process.

    A containment for an unchecked version is not applied (hypercorn then
    behaves as upstream) and one warning names it. So is one whose name no
    longer holds the class it was written against (someone else patched it).
    """
    global _installed
    if _installed:
        return
    _installed = True
    versions = {package: _version(package) for package in CHECKED}
    skipped = []
    for containment in CONTAINMENTS:
        unchecked = [f"{p} {versions[p]}" for p in containment.requires if versions[p] not in CHECKED[p]]
        current = getattr(containment.module, containment.name)
        if current is containment.replacement:
            continue
        if unchecked or current is not containment.original:
            reason = ", ".join(unchecked) or f"{containment.name} already replaced"
            skipped.append(f"{containment.row} {containment.module.__name__}.{containment.name} ({reason})")
            continue
        setattr(containment.module, containment.name, containment.replacement)
    if skipped:
        logger.warning("hypercorn containments not applied: %s; see docs/hypercorn.rst", "; ".join(skipped))


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
