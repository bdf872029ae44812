"""Long-polling over ASGI HTTP: the handshake GET, long-poll GETs and POSTs.

A request only attaches to its session: a GET waits until the session has
packets (or closes), a POST feeds packets in. Session rules live in the core.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from ..protocol.errors import ParseError, RemoteProtocolError
from ..protocol.packets import Packet, PacketType, decode_payload, encode_payload
from ..protocol.query import ErrorCode, RequestRejected
from ..protocol.reasons import CloseReason
from .compression import choose_encoding, compress
from .http import ASGIReceive, ASGISend, Headers, header_value, send_response
from .hypercorn_adapter import request_channel, send_or_drain
from .options import cookie_value_ok

if TYPE_CHECKING:
    from .host import SessionHost
    from .server import Server
    from .session import Session

__all__ = ["PollingHandler", "refuse_http"]

POLLING_HEADERS: Headers = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]
_OCTET_STREAM = b"application/octet-stream"


class PayloadTooLarge(Exception):
    """A POST body went over maxPayload."""


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


class PollingHandler:
    """Answers the polling requests of one server."""

    def __init__(self, server: Server, host: SessionHost) -> None:
        self.server = server
        self.host = host

    # ---------------------------------------------------------------- handshake
    async def handshake(
        self,
        scope: MutableMapping[str, Any],
        send: ASGISend,
        extra_headers: Headers,
    ) -> None:
        """Answer a sid-less polling GET: create the session and send OPEN."""
        server = self.server
        if scope["method"] != "GET":
            raise RequestRejected(ErrorCode.BAD_HANDSHAKE_METHOD, f"handshake by {scope['method']}")
        conn = await server._create_session(transport="polling", scope=scope)
        refusal = await server._open_session(conn)
        if refusal is not None:
            await _send_unauthorized(server, send, refusal, extra_headers)
            return
        open_packet = Packet(PacketType.OPEN, self.host.open_packet_data(conn.core))
        headers = list(extra_headers)
        headers.extend(cookie_header(server, conn.sid))
        await self._send_payload(scope, send, encode_payload([open_packet]), headers)

    # ---------------------------------------------------------------- long-poll
    async def get(
        self,
        conn: Session,
        scope: MutableMapping[str, Any],
        receive: ASGIReceive,
        send: ASGISend,
        extra_headers: Headers,
    ) -> None:
        """Hold a GET until the session has packets for it, then answer with them."""
        core = conn.core
        _attach(conn, core.begin_get)
        try:
            while True:
                aborted = not core.poll_ready() and await _wait_ready_or_disconnect(conn, receive)
                # The packets are taken only if the ASGI server has not already reported
                # the client gone: answering a dead request would lose them (C2).
                if aborted or await _disconnect_reported(receive):
                    conn.polling_request_failed(
                        CloseReason.TRANSPORT_CLOSE, "long-poll request aborted by the client"
                    )
                    return
                if core.poll_ready():  # still (an upgrade may have been abandoned meanwhile)
                    break
            packets = core.take_poll_payload()
        finally:
            core.end_get()
            conn.last_poll_at = trio.current_time()
        conn.notify()
        await self._send_payload(scope, send, encode_payload(packets), extra_headers)
        await conn.after_flush(packets)

    # --------------------------------------------------------------------- POST
    async def post(
        self,
        conn: Session,
        scope: MutableMapping[str, Any],
        receive: ASGIReceive,
        send: ASGISend,
        extra_headers: Headers,
    ) -> None:
        """Read a POST body (bounded by maxPayload) and feed its packets to the session.

        A POST whose body is not read in full when the session leaves polling (the
        upgrade completes) is detached: its body is dropped and it is answered 400
        at once; what happens to it afterwards does not concern the session.
        """
        core = conn.core
        _attach(conn, core.begin_post)
        try:
            body = await self._read_post_body(conn, scope, receive)
            if body is None:
                return  # the client went away (the session is closed unless it left polling)
            try:
                packets = decode_payload(body)
            except ParseError as exc:
                conn.polling_request_failed(CloseReason.PARSE_ERROR, str(exc))
                raise RequestRejected(ErrorCode.BAD_REQUEST, f"parse error: {exc}") from None
            if conn.wants("packet_received"):
                for packet in packets:
                    await conn.emit("packet_received", packet)
            events = core.receive_packets(packets, trio.current_time())
            await conn.receive_events_and_deliver(events)
        finally:
            core.end_post()
        await send_response(send, 200, b"ok", [*POLLING_HEADERS, *extra_headers])

    async def _read_post_body(
        self, conn: Session, scope: MutableMapping[str, Any], receive: ASGIReceive
    ) -> bytes | None:
        """The body, or ``None`` if the client went away; refusals close the session first.

        Failures close the session only while it is on polling
        (``Session._polling_request_failed``).
        """
        content_type = header_value(scope, b"content-type") or b""
        if content_type.split(b";")[0].strip().lower() == _OCTET_STREAM:
            conn.polling_request_failed(
                CloseReason.TRANSPORT_ERROR, "binary POST bodies are not Engine.IO v4"
            )
            raise RequestRejected(ErrorCode.BAD_REQUEST, "application/octet-stream body")
        options = self.server.options
        limit = options.max_http_buffer_size
        try:
            taken = _already_received(receive)
            if taken and _body_complete(taken[-1]):
                return await _read_body(scope, receive, limit, taken)  # nothing left to wait for
            with trio.CancelScope(deadline=trio.current_time() + options.ping_timeout) as reading:
                conn.reading_post(reading)
                try:
                    return await _read_body(scope, receive, limit, taken)
                finally:
                    conn.reading_post(None)
        except ClientGone:
            conn.polling_request_failed(CloseReason.TRANSPORT_CLOSE, "POST request aborted by the client")
            return None
        except PayloadTooLarge:
            conn.polling_request_failed(CloseReason.TRANSPORT_ERROR, "payload too large")
            raise RequestRejected(
                ErrorCode.BAD_REQUEST, "payload too large", message="Payload too large", status=413
            ) from None
        # The read was cancelled: the session left polling, or the body took too long.
        if conn.core.left_polling:
            raise RequestRejected(ErrorCode.BAD_REQUEST, "POST detached: the session left polling")
        conn.polling_request_failed(CloseReason.TRANSPORT_ERROR, "POST body not received in time")
        raise RequestRejected(
            ErrorCode.BAD_REQUEST, "POST body timed out", message="Request timeout", status=408
        )

    async def _send_payload(
        self, scope: MutableMapping[str, Any], send: ASGISend, body: bytes, headers: Headers
    ) -> None:
        options = self.server.options
        all_headers = [*POLLING_HEADERS, *headers]
        if options.http_compression and len(body) >= options.compression_threshold:
            encoding = choose_encoding(header_value(scope, b"accept-encoding"))
            if encoding is not None:
                body = compress(body, encoding)
                all_headers.append((b"content-encoding", encoding.encode()))
        await send_response(send, 200, body, all_headers)


def _attach(conn: Session, begin: Callable[[], None]) -> None:
    """Attach a GET or POST to its session, or refuse it with 400 (the core may close the session)."""
    try:
        begin()
    except RemoteProtocolError as exc:
        if conn.core.closed:
            conn.after_close()
        raise RequestRejected(ErrorCode.BAD_REQUEST, str(exc)) from None


async def _wait_ready_or_disconnect(conn: Session, receive: ASGIReceive) -> bool:
    """Wait until the session can answer the GET; True if the client went away first."""
    channel = request_channel(receive)
    if channel is not None:
        return await _wait_on_request_channel(conn, channel)
    core = conn.core
    aborted = False
    async with trio.open_nursery() as nursery:

        async def watch_disconnect() -> None:
            nonlocal aborted
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    aborted = True
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(watch_disconnect)
        while not core.poll_ready():
            await conn.wait_changed()
        nursery.cancel_scope.cancel()
    # A disconnect already handed to the watcher is seen here (the nursery waits for it);
    # one not yet handed over stays with the ASGI server for _disconnect_reported().
    return aborted


async def _wait_on_request_channel(conn: Session, channel: trio.MemoryReceiveChannel[Any]) -> bool:
    """The same wait in this task alone, on the request's channel (``hypercorn_adapter.request_channel``).

    The GET waits for its next ASGI event on a clone of the request's channel;
    any change of the session closes the clone (``Session._notify``), which
    wakes the GET to look again. No watcher task per waiting GET.
    """
    core = conn.core
    while not core.poll_ready():
        clone = channel.clone()
        conn.poll_waker = clone.close
        try:
            message = await clone.receive()
        except trio.ClosedResourceError:
            continue  # the session changed
        finally:
            conn.poll_waker = None
            clone.close()
        if message["type"] == "http.disconnect":
            return True
    return False


async def _disconnect_reported(receive: ASGIReceive) -> bool:
    """True if the ASGI server has already reported ``http.disconnect``; never blocks.

    ``receive()`` runs in this task and a sibling cancels it. The sibling starts only
    once this task yields, so a message the server already has is returned (a memory
    channel hands it over without a cancellable wait; a test double answers at
    once), and a message that is not there yet stays queued: nothing is consumed
    unseen. Other messages (the GET's empty ``http.request``) are skipped.
    """
    channel = request_channel(receive)
    if channel is not None:
        # Look without waiting, and without a task.
        try:
            while True:
                if channel.receive_nowait()["type"] == "http.disconnect":
                    return True
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return False
    while True:
        message: MutableMapping[str, Any] | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel, nursery.cancel_scope)
            message = await receive()
            nursery.cancel_scope.cancel()
        if message is None:
            return False
        if message["type"] == "http.disconnect":
            return True


async def _cancel(scope: trio.CancelScope) -> None:
    scope.cancel()


async def refuse_http(
    host: SessionHost,
    scope: MutableMapping[str, Any],
    receive: ASGIReceive,
    send: ASGISend,
    rejected: RequestRejected,
    headers: Headers,
) -> None:
    """Answer a refused HTTP request with its status and JSON body (one log line).

    A client may close a half-sent request (e.g. a POST refused with 413 before its
    body was read) as soon as it sees our status line, and the ASGI server may close
    the connection under the rest of the answer (``hypercorn_adapter.send_or_drain``).
    The refusal was decided (and any session closed) before; only the dead client
    misses the rest of the answer, so that stays here instead of escaping the app.
    """
    host.rejected += 1
    host.logger.info(
        "refused %s %s: %s (HTTP %d)", scope.get("method"), scope.get("path"), rejected, rejected.status
    )
    answer = partial(
        send_response,
        send,
        rejected.status,
        rejected.body(),
        [*POLLING_HEADERS, *headers],
        content_type=b"application/json",
    )
    if not await send_or_drain(answer, receive, drain_for=host.options.ping_timeout):
        host.logger.debug(
            "client closed while its HTTP %d was sent; the rest of it is dropped", rejected.status
        )


def _already_received(receive: ASGIReceive) -> list[MutableMapping[str, Any]]:
    """The request events the ASGI server has already queued (``request_channel``), up to the body's end."""
    taken: list[MutableMapping[str, Any]] = []
    channel = request_channel(receive)
    if channel is not None:
        try:
            while not taken or not _body_complete(taken[-1]):
                taken.append(channel.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            pass
    return taken


def _body_complete(message: MutableMapping[str, Any]) -> bool:
    """True when nothing of the request follows ``message`` (its last body part, or a disconnect)."""
    return message["type"] != "http.request" or not message.get("more_body", False)


async def _read_body(
    scope: MutableMapping[str, Any],
    receive: ASGIReceive,
    limit: int,
    taken: list[MutableMapping[str, Any]],
) -> bytes:
    """The whole body (``taken``: its first events, already taken from ``receive``)."""
    declared = header_value(scope, b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    while True:
        message = taken.pop(0) if taken else await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


_COOKIE_ATTRIBUTES = {
    "path": "Path",
    "domain": "Domain",
    "httponly": "HttpOnly",
    "samesite": "SameSite",
    "secure": "Secure",
    "max-age": "Max-Age",
    "expires": "Expires",
    "partitioned": "Partitioned",
}


def cookie_header(server: Server, sid: str) -> Headers:
    options = server.options.cookie
    if options is None:
        return []
    parts = [f"{options['name']}={sid}"]
    for key, value in options.items():
        if key == "name":
            continue
        if callable(value):
            try:
                value = value()
            except Exception:
                server.logger.exception("cookie attribute %r callable failed; attribute left out", key)
                continue
            if not cookie_value_ok(value):
                server.logger.error("cookie attribute %r callable returned %.40r; left out", key, value)
                continue
        if value is None or value is False:
            continue
        attribute = _COOKIE_ATTRIBUTES.get(key, key)
        parts.append(attribute if value is True else f"{attribute}={value}")
    return [(b"set-cookie", "; ".join(parts).encode("latin-1"))]


def unauthorized_body(server: Server, message: Any) -> bytes:
    """The 401 body python-engineio sends when the connect handler refuses: ``{"message": ...}``."""
    return server.options.json.dumps({"message": message}).encode("utf-8")


async def _send_unauthorized(server: Server, send: ASGISend, message: Any, headers: Headers) -> None:
    body = unauthorized_body(server, message)
    await send_response(send, 401, body, [*POLLING_HEADERS, *headers], content_type=b"application/json")
