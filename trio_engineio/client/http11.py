"""One keep-alive HTTP/1.1 client connection on h11 over a trio stream.

h11 does all of HTTP/1.1's framing: the request bytes, the status line and
headers, ``Content-Length``, chunked bodies with extensions and trailers,
bodies read to EOF, 1xx answers, whether the connection may be reused. This
module adds what h11 leaves to its user: the reads and writes, ``gzip`` and
``deflate`` content decoding with a size limit that holds for the decoded body,
and the two failures after which a request may be sent again on a fresh
connection (:class:`NoResponse`; the polling transport decides whether it is
safe to).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import h11
import trio

from .common import TransportFailed
from .proxy import Stream

__all__ = ["HTTPConnection", "HTTPError", "NoResponse", "Response", "build_request"]

#: Longest response head (status line and headers) accepted.
_MAX_HEAD = 64 * 1024
_READ_SIZE = 65536


class HTTPError(Exception):
    """The server's answer broke HTTP/1.1 or could not be decoded."""


class NoResponse(HTTPError):
    """The connection ended before the first byte of the answer.

    ``sent`` is False when the request was not completely written (the server
    cannot have acted on it), True when it was and the answer never came.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class Response:
    """A complete answer: status, headers (lower-case names, as h11 gives them), decoded body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def build_request(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body_length: int | None
) -> h11.Request:
    """An h11 request (validated once: the same object may be sent on any connection)."""
    if body_length is not None:
        headers = [*headers, (b"Content-Length", str(body_length).encode())]
    try:
        return h11.Request(method=method, target=target, headers=headers)
    except h11.LocalProtocolError as exc:
        raise HTTPError(f"cannot send the request: {exc}") from None


class HTTPConnection:
    """Requests one after the other on one connection; reusable after a complete keep-alive answer."""

    __slots__ = ("_h11", "_socket", "idle_since", "stream", "used")

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        inner: trio.abc.Stream = stream
        while isinstance(inner, trio.SSLStream):
            inner = inner.transport_stream
        assert isinstance(inner, trio.SocketStream)
        self._socket = inner.socket
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        #: Requests answered on this connection so far.
        self.used = 0
        #: ``trio.current_time()`` when the last answer was read.
        self.idle_since = 0.0

    def reusable(self) -> bool:
        """True if h11 allows another request and the server neither closed it nor sent anything."""
        conn = self._h11
        return conn.our_state is h11.IDLE and conn.their_state is h11.IDLE and not self._socket.is_readable()

    def close(self) -> None:
        """Close at once (no TLS close_notify): safe from sync code, wakes any reader."""
        self._socket.close()

    async def request(
        self,
        request: h11.Request,
        body: bytes | None,
        *,
        limit: int,
        truncate: bool,
        error_limit: int,
    ) -> tuple[Response, bool]:
        """Send ``request`` (from :func:`build_request`) and ``body``, read the answer.

        Returns the answer and whether the connection may be reused.

        The decoded body of a 200 answer may hold ``limit`` bytes: beyond it raise
        "payload too large" or, with ``truncate``, keep the first ``limit`` bytes and
        give up the connection. Other answers' bodies are cut at ``error_limit``.
        Raises :class:`NoResponse`, :class:`HTTPError`, :class:`OSError` or trio's
        stream errors; the connection is then unusable (close it).
        """
        conn = self._h11
        try:
            data = conn.send(request)
            if body:
                data += conn.send(h11.Data(data=body))
            data += conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise HTTPError(f"cannot send the request: {exc}") from None
        try:
            await self.stream.send_all(data)
        except (OSError, trio.BrokenResourceError) as exc:
            raise NoResponse(f"sending the request failed: {exc!r}", sent=False) from exc
        response = await self._read_head()
        if response.status_code != 200:
            limit, truncate = error_limit, True
        sink = _Body(limit, truncate, _header(response.headers, b"content-encoding"))
        length = _header(response.headers, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit and sink.plain and not truncate:
            raise TransportFailed.too_large(
                f"response body of {length.decode()} bytes is above the client limit of {limit}"
            )
        complete = await self._read_body(sink)
        self.used += 1
        self.idle_since = trio.current_time()
        keep = complete and conn.our_state is h11.DONE and conn.their_state is h11.DONE
        if keep:
            conn.start_next_cycle()
        return Response(response.status_code, list(response.headers), sink.result()), keep

    async def _read_head(self) -> h11.Response:
        conn = self._h11
        received = False
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    try:
                        data = await self.stream.receive_some(_READ_SIZE)
                    except (OSError, trio.BrokenResourceError) as exc:
                        if not received:
                            raise NoResponse(f"no answer: {exc!r}", sent=True) from exc
                        raise
                    if not data and not received:
                        raise NoResponse("server closed the connection without an answer", sent=True)
                    received = True
                    conn.receive_data(bytes(data))
                elif isinstance(event, h11.Response):
                    return event
                elif isinstance(event, h11.InformationalResponse):
                    continue  # 100 Continue and friends: the real answer follows
                else:
                    raise HTTPError(f"unexpected {type(event).__name__} instead of an answer")
        except h11.RemoteProtocolError as exc:
            raise HTTPError(f"bad answer: {exc}") from None

    async def _read_body(self, sink: _Body) -> bool:
        """Feed the body to ``sink``; False if it was cut short (the connection is then spent)."""
        conn = self._h11
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await self.stream.receive_some(_READ_SIZE)
                    conn.receive_data(bytes(data))
                elif isinstance(event, h11.Data):
                    if sink.feed(bytes(event.data)):
                        return False
                elif isinstance(event, h11.EndOfMessage):
                    sink.finish()
                    return True
                else:
                    raise HTTPError(f"unexpected {type(event).__name__} in the answer's body")
        except h11.RemoteProtocolError as exc:
            raise HTTPError(f"bad answer body: {exc}") from None


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The value of ``name`` (lower case), repeats joined by ``, ``."""
    values = [value for key, value in headers if key == name]
    if not values:
        return None
    return values[0] if len(values) == 1 else b", ".join(values)


class _Body:
    """Collects a response body: decodes gzip/deflate, enforces the size limit."""

    __slots__ = ("_decoder", "_deflate_first", "full", "limit", "parts", "size", "truncate")

    def __init__(self, limit: int, truncate: bool, encoding: bytes | None) -> None:
        self.limit = limit
        self.truncate = truncate
        self.parts: list[bytes] = []
        self.size = 0
        #: True once ``truncate`` cut the body short (the rest is not read).
        self.full = False
        self._deflate_first = False
        self._decoder: zlib._Decompress | None = None
        if encoding is not None:
            coding = encoding.strip().lower()
            if coding in (b"gzip", b"x-gzip"):
                self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
            elif coding == b"deflate":
                self._decoder = zlib.decompressobj()
                self._deflate_first = True
            elif coding not in (b"", b"identity"):
                raise HTTPError(f"unsupported content-encoding {coding.decode('latin-1')!r}")

    @property
    def plain(self) -> bool:
        """True when the body is not decoded (its wire size is its size)."""
        return self._decoder is None

    def feed(self, data: bytes) -> bool:
        """Add raw body bytes; True when no more are wanted (truncated)."""
        decoder = self._decoder
        if decoder is None:
            return self._add(data)
        try:
            while data:
                out = decoder.decompress(data, self.limit - self.size + 1)
                self._deflate_first = False
                data = decoder.unconsumed_tail
                if self._add(out):
                    return True
        except zlib.error as exc:
            if self._deflate_first:  # "deflate" sent raw, without the zlib wrapper (as httpx allows)
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                self._deflate_first = False
                return self.feed(data)
            raise HTTPError(f"cannot decode the response body: {exc}") from None
        return False

    def finish(self) -> None:
        """The body is complete: flush the decoder."""
        if self._decoder is not None and not self.full:
            try:
                self._add(self._decoder.flush())
            except zlib.error as exc:
                raise HTTPError(f"cannot decode the response body: {exc}") from None

    def _add(self, data: bytes) -> bool:
        if not data:
            return False
        size = self.size + len(data)
        if size > self.limit:
            if not self.truncate:
                raise TransportFailed.too_large(
                    f"response body is above the client limit of {self.limit} bytes"
                )
            data = data[: self.limit - self.size]
            size = self.limit
            self.full = True
        self.parts.append(data)
        self.size = size
        return self.full

    def result(self) -> bytes:
        """The (decoded) body."""
        parts = self.parts
        return parts[0] if len(parts) == 1 else b"".join(parts)
