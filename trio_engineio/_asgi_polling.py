"""Long-polling over ASGI HTTP: the handshake GET, long-poll GETs and POSTs.

A request only attaches to its session: a GET waits until the session has
packets (or closes), a POST feeds packets in. Session rules live in the core.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import trio

from ._compression import choose_encoding, compress
from ._http import ASGIReceive, ASGISend, Headers, header_value, send_response
from ._options import cookie_value_ok
from .protocol.errors import ParseError, RemoteProtocolError
from .protocol.packets import Packet, PacketType, decode_payload, encode_payload
from .protocol.query import ErrorCode, RequestRejected
from .protocol.reasons import CloseReason

if TYPE_CHECKING:
    from ._server import Server
    from ._session import Connection

__all__ = ["PollingHandler"]

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

    def __init__(self, server: Server) -> None:
        self.server = server

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
        open_packet = Packet(PacketType.OPEN, conn._core.handshake.encode(server._options.json.dumps))
        headers = list(extra_headers)
        headers.extend(cookie_header(server, conn.sid))
        await self._send_payload(scope, send, encode_payload([open_packet]), headers)

    # ---------------------------------------------------------------- long-poll
    async def get(
        self,
        conn: Connection,
        scope: MutableMapping[str, Any],
        receive: ASGIReceive,
        send: ASGISend,
        extra_headers: Headers,
    ) -> None:
        """Hold a GET until the session has packets for it, then answer with them."""
        core = conn._core
        _attach(conn, core.begin_get)
        aborted = False
        try:
            if not core.poll_ready():
                aborted = await _wait_ready_or_disconnect(conn, receive)
            if aborted:
                conn.close(CloseReason.TRANSPORT_CLOSE, "long-poll request aborted by the client")
                return
            packets = core.take_poll_payload()
        finally:
            core.end_get()
            conn._last_poll_at = trio.current_time()
        conn._notify()
        await self._send_payload(scope, send, encode_payload(packets), extra_headers)
        await conn._after_flush(packets)

    # --------------------------------------------------------------------- POST
    async def post(
        self,
        conn: Connection,
        scope: MutableMapping[str, Any],
        receive: ASGIReceive,
        send: ASGISend,
        extra_headers: Headers,
    ) -> None:
        """Read a POST body (bounded by maxPayload) and feed its packets to the session."""
        core = conn._core
        _attach(conn, core.begin_post)
        try:
            content_type = header_value(scope, b"content-type") or b""
            if content_type.split(b";")[0].strip().lower() == _OCTET_STREAM:
                conn.close(CloseReason.TRANSPORT_ERROR, "binary POST bodies are not Engine.IO v4")
                raise RequestRejected(ErrorCode.BAD_REQUEST, "application/octet-stream body")
            limit = self.server._options.max_http_buffer_size
            try:
                with trio.fail_after(self.server._options.ping_timeout):
                    body = await _read_body(scope, receive, limit)
            except trio.TooSlowError:
                conn.close(CloseReason.TRANSPORT_ERROR, "POST body not received in time")
                raise RequestRejected(
                    ErrorCode.BAD_REQUEST, "POST body timed out", message="Request timeout", status=408
                ) from None
            except ClientGone:
                conn.close(CloseReason.TRANSPORT_CLOSE, "POST request aborted by the client")
                return
            except PayloadTooLarge:
                conn.close(CloseReason.TRANSPORT_ERROR, "payload too large")
                raise RequestRejected(
                    ErrorCode.BAD_REQUEST, "payload too large", message="Payload too large", status=413
                ) from None
            try:
                packets = decode_payload(body)
            except ParseError as exc:
                conn.close(CloseReason.PARSE_ERROR, str(exc))
                raise RequestRejected(ErrorCode.BAD_REQUEST, f"parse error: {exc}") from None
            if conn._wants("packet_received"):
                for packet in packets:
                    await conn._emit("packet_received", packet)
            events = core.receive_packets(packets, trio.current_time())
            await conn._receive_packets_and_deliver(events)
        finally:
            core.end_post()
        await send_response(send, 200, b"ok", [*POLLING_HEADERS, *extra_headers])

    async def _send_payload(
        self, scope: MutableMapping[str, Any], send: ASGISend, body: bytes, headers: Headers
    ) -> None:
        options = self.server._options
        all_headers = [*POLLING_HEADERS, *headers]
        if options.http_compression and len(body) >= options.compression_threshold:
            encoding = choose_encoding(header_value(scope, b"accept-encoding"))
            if encoding is not None:
                body = compress(body, encoding)
                all_headers.append((b"content-encoding", encoding.encode()))
        await send_response(send, 200, body, all_headers)


def _attach(conn: Connection, begin: Callable[[], None]) -> None:
    """Attach a GET or POST to its session, or refuse it with 400 (the core may close the session)."""
    try:
        begin()
    except RemoteProtocolError as exc:
        if conn._core.closed:
            conn._after_close()
        raise RequestRejected(ErrorCode.BAD_REQUEST, str(exc)) from None


async def _wait_ready_or_disconnect(conn: Connection, receive: ASGIReceive) -> bool:
    """Wait until the session can answer the GET; True if the client went away first."""
    core = conn._core
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
            await conn._wait_changed()
        # Let a disconnect that arrived together with the packets be seen first.
        await trio.lowlevel.cancel_shielded_checkpoint()
        nursery.cancel_scope.cancel()
    # A disconnect seen while packets became ready still wins: answering the
    # dead request would lose them.
    return aborted


async def _read_body(scope: MutableMapping[str, Any], receive: ASGIReceive, limit: int) -> bytes:
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
        message = await receive()
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
    options = server._options.cookie
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
    return server._options.json.dumps({"message": message}).encode("utf-8")


async def _send_unauthorized(server: Server, send: ASGISend, message: Any, headers: Headers) -> None:
    body = unauthorized_body(server, message)
    await send_response(send, 401, body, [*POLLING_HEADERS, *headers], content_type=b"application/json")
