"""The client's HTTP long-polling transport, on httpx.

Only moves bytes: one handshake GET, long-poll GETs and POSTs, each with the
user's extra headers (cookies come from the httpx client's jar), a bounded
response body, and httpx timeouts longer than the heartbeat so a long-poll
never times out before the server's PING is due. Errors become
:class:`~trio_engineio.client.common.TransportFailed` with the close reason
they imply; the rules about *when* to GET or POST live in the session.

The hot path (long-poll GETs and POSTs) skips httpx when the client made its
own ``httpx.AsyncClient`` and no proxy applies: two keep-alive HTTP/1.1
connections (one for GETs, one for POSTs) speak the few request shapes
Engine.IO needs directly on trio streams (:class:`_DirectHTTP`). Headers are
the ones httpx would send (taken once from ``build_request``), cookies still
live in the httpx client's jar, and TLS uses the same context as the httpx
client. Per request this costs a fraction of httpx's client, httpcore and h11
layers. A user's own ``http_client`` (its transport, proxies, auth, hooks,
HTTP/2) is always used as is, through ``send()``.
"""

from __future__ import annotations

import ssl as _ssl
import zlib
from collections.abc import Mapping

import httpx
import trio

from .._exceptions import ConnectionRejected, EngineIOConnectionError, HandshakeFailed
from .common import EngineURL, TransportFailed

__all__ = ["PollingTransport"]

#: Longest error body kept from a rejected request.
_MAX_ERROR_BODY = 64 * 1024
_POST_HEADERS = {"Content-Type": "text/plain;charset=UTF-8"}


class PollingTransport:
    """GET/POST for one session on ``url``, through ``http`` (not owned: never closed here).

    Built for the hot path: with ``direct`` (the client made ``http`` itself) and
    no proxy for the URL, GETs and POSTs after the handshake go through
    :class:`_DirectHTTP` (``ssl_context`` is the TLS context ``http`` uses).
    Otherwise the session URL (an :class:`httpx.URL`), the header dicts and the
    timeout are made once, each request is one ``build_request`` and one
    ``send``, and a body with an honest ``Content-Length`` within the limit is
    read in one go.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: EngineURL,
        *,
        headers: Mapping[str, str],
        max_response_size: int,
        connect_timeout: float,
        direct: bool = False,
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        self._http = http
        #: True when GETs and POSTs may bypass httpx (see the module docstring).
        self._direct_allowed = direct and (not url.secure or ssl_context is not None)
        self._ssl_context = ssl_context
        self._direct: _DirectHTTP | None = None
        self._connect_timeout = connect_timeout
        self._url = url
        self._headers = dict(headers)
        self._post_headers = {**self._headers, **_POST_HEADERS}
        self._max_response_size = max_response_size
        self._timeout = httpx.Timeout(connect_timeout)
        self._timeout_s = connect_timeout
        self._session_url: tuple[str, httpx.URL] | None = None
        self.requests_sent = 0

    def set_heartbeat(self, heartbeat_timeout: float) -> None:
        """Derive request timeouts from the handshake: a poll may wait a whole heartbeat."""
        self._timeout = httpx.Timeout(heartbeat_timeout + 5.0)
        self._timeout_s = heartbeat_timeout + 5.0

    @property
    def direct(self) -> bool:
        """True once GETs and POSTs go straight to the server (not through httpx)."""
        return self._direct is not None

    def close(self) -> None:
        """Close the direct connections (httpx's pool belongs to the httpx client)."""
        if self._direct is not None:
            self._direct.close()

    def _direct_for(self, sid: str) -> _DirectHTTP | None:
        direct = self._direct
        if direct is not None and direct.sid == sid:
            return direct
        if not self._direct_allowed:
            return None
        self._direct_allowed = False  # decided once per session
        if any(name.lower() == "accept-encoding" for name in self._headers):
            return None  # the user chose the encodings: httpx decodes whatever they allow
        url = self._url_for(sid)
        http = self._http
        try:
            # Only the client's own pool: a proxy mounted for this URL (e.g. from the
            # environment) keeps the session on httpx.
            if http._transport_for_url(url) is not http._transport:
                return None
        except AttributeError:  # pragma: no cover - another httpx version
            return None
        self._direct = _DirectHTTP(
            http,
            sid,
            url,
            self._headers,
            ssl_context=self._ssl_context if self._url.secure else None,
            connect_timeout=self._connect_timeout,
        )
        return self._direct

    def _url_for(self, sid: str) -> httpx.URL:
        cached = self._session_url
        if cached is None or cached[0] != sid:
            cached = self._session_url = (sid, httpx.URL(self._url.http(sid=sid)))
        return cached[1]

    async def _send(
        self, method: str, url: httpx.URL | str, headers: dict[str, str], body: bytes | None
    ) -> httpx.Response:
        request = self._http.build_request(method, url, headers=headers, content=body, timeout=self._timeout)
        response = await self._http.send(request, stream=True)
        self.requests_sent += 1
        return response

    async def handshake(self) -> bytes:
        """The handshake GET; raises :class:`ConnectionRejected` or :class:`EngineIOConnectionError`."""
        url = self._url.http()
        try:
            resp = await self._send("GET", url, self._headers, None)
            try:
                if resp.status_code != 200:
                    body = await _read_limited(resp, _MAX_ERROR_BODY, truncate=True)
                    raise ConnectionRejected(
                        resp.status_code,
                        body.decode("utf-8", "replace"),
                        dict(resp.headers.items()),
                    )
                return await _read_limited(resp, self._max_response_size)
            finally:
                await resp.aclose()
        except TransportFailed as exc:
            raise HandshakeFailed(f"handshake failed: {exc}") from exc
        except httpx.HTTPError as exc:
            raise EngineIOConnectionError(f"handshake request to {url} failed: {_describe(exc)}") from exc

    async def get(self, sid: str) -> bytes:
        """One long-poll GET; returns the body or raises :class:`TransportFailed`."""
        direct = self._direct_for(sid)
        if direct is not None:
            try:
                status, body = await direct.request(_GET, None, self._max_response_size, self._timeout_s)
            except _DIRECT_ERRORS as exc:
                raise TransportFailed.closed(f"poll GET failed: {_describe(exc)}") from exc
            finally:
                self.requests_sent += 1
            if status != 200:
                raise _direct_status_error("GET", status, body)
            return body
        try:
            resp = await self._send("GET", self._url_for(sid), self._headers, None)
            try:
                if resp.status_code != 200:
                    raise await _status_error("GET", resp)
                return await _read_limited(resp, self._max_response_size)
            finally:
                await resp.aclose()
        except httpx.HTTPError as exc:
            raise TransportFailed.closed(f"poll GET failed: {_describe(exc)}") from exc

    async def post(self, sid: str, body: bytes) -> None:
        """One POST carrying ``body``; raises :class:`TransportFailed` unless answered 200."""
        direct = self._direct_for(sid)
        if direct is not None:
            try:
                status, answer = await direct.request(_POST, body, _MAX_ERROR_BODY, self._timeout_s)
            except _DIRECT_ERRORS as exc:
                raise TransportFailed.closed(f"POST failed: {_describe(exc)}") from exc
            finally:
                self.requests_sent += 1
            if status != 200:
                raise _direct_status_error("POST", status, answer)
            return
        try:
            resp = await self._send("POST", self._url_for(sid), self._post_headers, body)
            try:
                if resp.status_code != 200:
                    raise await _status_error("POST", resp)
                await _read_limited(resp, _MAX_ERROR_BODY, truncate=True)
            finally:
                await resp.aclose()
        except httpx.HTTPError as exc:
            raise TransportFailed.closed(f"POST failed: {_describe(exc)}") from exc


async def _status_error(method: str, resp: httpx.Response) -> TransportFailed:
    body = await _read_limited(resp, 200, truncate=True)
    shown = body.decode("utf-8", "replace")
    return TransportFailed.error(
        f"{method} answered HTTP {resp.status_code}: {shown!r}", status_code=resp.status_code
    )


async def _read_limited(resp: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
    """Read at most ``limit`` decoded bytes; beyond it raise (or, with ``truncate``, stop)."""
    headers = resp.headers
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit():
        size = int(declared)
        if size > limit and not truncate:
            raise TransportFailed.too_large(
                f"response body of {declared} bytes is above the client limit of {limit}"
            )
        if size <= limit and "content-encoding" not in headers:
            # Fast path: the body is exactly this long and not decompressed into anything longer.
            return await resp.aread()
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > limit:
            if truncate:
                chunks.append(chunk[: len(chunk) - (size - limit)])
                break
            raise TransportFailed.too_large(f"response body is above the client limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(exc: BaseException) -> str:
    """The error and what caused it (httpx's trio backend may leave the message empty)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        text = str(current)
        part = f"{type(current).__name__}: {text}" if text else type(current).__name__
        if not parts or (text and text not in parts[-1]):
            parts.append(part)
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


# ------------------------------------------------------------------------------------------
# The direct HTTP/1.1 path

_GET = 0
_POST = 1
#: Longest response head (status line and headers) accepted on the direct path.
_MAX_HEAD = 64 * 1024
_READ_SIZE = 65536
#: Request headers never copied from httpx's request into the direct templates.
_TEMPLATE_DROP = frozenset({b"accept-encoding", b"content-length", b"transfer-encoding", b"cookie"})


class _DirectProtocolError(Exception):
    """The server's HTTP/1.1 response could not be understood (direct path)."""


class _DirectTimeout(Exception):
    """A direct request took longer than its timeout."""


_DIRECT_ERRORS = (
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    _DirectProtocolError,
    _DirectTimeout,
)


def _direct_status_error(method: str, status: int, body: bytes) -> TransportFailed:
    shown = body[:200].decode("utf-8", "replace")
    return TransportFailed.error(f"{method} answered HTTP {status}: {shown!r}", status_code=status)


class _Connection:
    """One keep-alive HTTP/1.1 connection: a trio stream and what was read past the last response."""

    __slots__ = ("buffer", "socket", "stream")

    def __init__(self, stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]) -> None:
        self.stream = stream
        raw = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
        self.socket = raw.socket
        self.buffer = bytearray()

    def reusable(self) -> bool:
        """False if the server closed it (or sent something) while it was idle."""
        return not self.buffer and not self.socket.is_readable()

    def close(self) -> None:
        """Close at once (no TLS close_notify): safe from sync code, wakes any reader."""
        self.socket.close()

    async def fill(self) -> None:
        data = await self.stream.receive_some(_READ_SIZE)
        if not data:
            raise _DirectProtocolError("server closed the connection mid-response")
        self.buffer += data

    async def read_head(self) -> bytes:
        buffer = self.buffer
        start = 0
        while True:
            end = buffer.find(b"\r\n\r\n", start)
            if end >= 0:
                head = bytes(buffer[:end])
                del buffer[: end + 4]
                return head
            if len(buffer) > _MAX_HEAD:
                raise _DirectProtocolError("response head too long")
            start = max(0, len(buffer) - 3)
            try:
                await self.fill()
            except _DirectProtocolError:
                if not buffer:
                    raise _DirectProtocolError("server closed the connection without a response") from None
                raise

    async def read_line(self) -> bytes:
        buffer = self.buffer
        while True:
            end = buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                return line
            if len(buffer) > 4096:
                raise _DirectProtocolError("chunk header line too long")
            await self.fill()


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
                raise _DirectProtocolError(f"unsupported content-encoding {coding.decode('latin-1')!r}")

    def feed(self, data: bytes) -> bool:
        """Add raw body bytes; True when no more are wanted (truncated)."""
        decoder = self._decoder
        if decoder is None:
            return self._add(data)
        try:
            while data:
                out = decoder.decompress(data, self.limit - self.size + 1)
                if self._deflate_first:
                    self._deflate_first = False
                data = decoder.unconsumed_tail
                if self._add(out):
                    return True
        except zlib.error as exc:
            if self._deflate_first:  # "deflate" sent raw, without the zlib wrapper (as httpx allows)
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                self._deflate_first = False
                return self.feed(data)
            raise _DirectProtocolError(f"cannot decode the response body: {exc}") from None
        return False

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
        if self._decoder is not None and not self.full:
            try:
                self._add(self._decoder.flush())
            except zlib.error as exc:
                raise _DirectProtocolError(f"cannot decode the response body: {exc}") from None
        parts = self.parts
        return parts[0] if len(parts) == 1 else b"".join(parts)


class _DirectHTTP:
    """GET and POST for one session straight over HTTP/1.1, one keep-alive connection each.

    The session core never has more than one GET and one POST in flight, so each
    has its own connection slot. A connection is put back only after a complete,
    keep-alive response; an error, a timeout or a cancellation closes it.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        sid: str,
        url: httpx.URL,
        headers: Mapping[str, str],
        *,
        ssl_context: _ssl.SSLContext | None,
        connect_timeout: float,
    ) -> None:
        self.sid = sid
        self._http = http
        self._url = url
        self._host = url.host
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        #: A ``Cookie`` header in the user's headers replaces the jar (as in httpx).
        self._user_cookie = any(name.lower() == "cookie" for name in headers)
        get = http.build_request("GET", url, headers=headers)
        post = http.build_request("POST", url, headers={**headers, **_POST_HEADERS})
        target = url.raw_path
        self._heads = (
            b"GET " + target + b" HTTP/1.1\r\n" + self._template(get),
            b"POST " + target + b" HTTP/1.1\r\n" + self._template(post),
        )
        self._conns: list[_Connection | None] = [None, None]

    def _template(self, request: httpx.Request) -> bytes:
        lines = [
            name + b": " + value + b"\r\n"
            for name, value in request.headers.raw
            if name.lower() not in _TEMPLATE_DROP or (self._user_cookie and name.lower() == b"cookie")
        ]
        lines.append(b"Accept-Encoding: gzip, deflate\r\n")
        return b"".join(lines)

    def close(self) -> None:
        conns = self._conns
        for index, conn in enumerate(conns):
            if conn is not None:
                conns[index] = None
                conn.close()

    def _cookie_line(self) -> bytes:
        cookies = self._http.cookies
        if self._user_cookie or not cookies.jar:
            return b""
        request = httpx.Request("GET", self._url)
        cookies.set_cookie_header(request)
        value = request.headers.get("cookie")
        return b"Cookie: " + value.encode("latin-1") + b"\r\n" if value else b""

    async def _connect(self) -> _Connection:
        with trio.move_on_after(self._connect_timeout) as scope:
            tcp = await trio.open_tcp_stream(self._host, self._port)
            if self._ssl_context is None:
                return _Connection(tcp)
            stream = trio.SSLStream(tcp, self._ssl_context, server_hostname=self._host, https_compatible=True)
            try:
                await stream.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(tcp)
                raise
            return _Connection(stream)
        assert scope.cancelled_caught
        raise _DirectTimeout(f"connecting to {self._host}:{self._port} timed out")

    async def request(
        self, role: int, body: bytes | None, ok_limit: int, limit_s: float
    ) -> tuple[int, bytes]:
        """Send a GET (``role`` 0) or POST (1); the status and the (decoded) body.

        A 200 answer may carry ``ok_limit`` bytes (a GET's body beyond it raises
        "payload too large"; a POST's is cut off); error answers are cut at 64 KiB.
        """
        conn = self._conns[role]
        self._conns[role] = None
        if conn is not None and not conn.reusable():
            conn.close()
            conn = None
        with trio.move_on_after(limit_s) as scope:
            try:
                if conn is None:
                    conn = await self._connect()
                status, answer, keep = await self._exchange(conn, role, body, ok_limit)
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            if keep:
                self._conns[role] = conn
            else:
                conn.close()
            return status, answer
        assert scope.cancelled_caught
        if conn is not None:
            conn.close()
        raise _DirectTimeout(f"no complete answer within {limit_s:g} s")

    async def _exchange(
        self, conn: _Connection, role: int, body: bytes | None, ok_limit: int
    ) -> tuple[int, bytes, bool]:
        head = self._heads[role] + self._cookie_line()
        if body is None:
            await conn.stream.send_all(head + b"\r\n")
        else:
            message = head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
            # One write for small bodies: the server sees the request in one segment.
            await conn.stream.send_all(message + body if len(body) <= 16384 else message)
            if len(body) > 16384:
                await conn.stream.send_all(body)
        while True:
            status, version, fields = _parse_head(await conn.read_head())
            if not 100 <= status < 200:
                break
            if status == 101:
                raise _DirectProtocolError("unexpected 101 Switching Protocols")
        if fields.get(b"set-cookie") is not None:
            self._store_cookies(role, status, fields)
        keep = version == b"HTTP/1.1" and b"close" not in fields.get(b"connection", b"").lower()
        ok = status == 200
        limit = ok_limit if ok else _MAX_ERROR_BODY
        sink = _Body(limit, truncate=not (ok and role == _GET), encoding=fields.get(b"content-encoding"))
        if status in (204, 304):
            return status, b"", keep
        transfer = fields.get(b"transfer-encoding")
        if transfer is not None:
            if transfer.strip().lower() != b"chunked":
                raise _DirectProtocolError(f"unsupported transfer-encoding {transfer.decode('latin-1')!r}")
            complete = await _read_chunked(conn, sink)
        else:
            length = fields.get(b"content-length")
            if length is not None:
                complete = await _read_sized(conn, sink, _content_length(length))
            else:
                complete = await _read_to_eof(conn, sink)
                keep = False
        return status, sink.result(), keep and complete and not conn.buffer

    def _store_cookies(self, role: int, status: int, fields: _Fields) -> None:
        method = "GET" if role == _GET else "POST"
        response = httpx.Response(status, headers=fields.raw, request=httpx.Request(method, self._url))
        self._http.cookies.extract_cookies(response)


class _Fields(dict[bytes, bytes]):
    """Response header fields by lower-case name (repeats joined by ``, ``), plus the raw list."""

    raw: list[tuple[bytes, bytes]]


def _parse_head(head: bytes) -> tuple[int, bytes, _Fields]:
    lines = head.split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1.") or not status_line[1].isdigit():
        raise _DirectProtocolError(f"bad status line {lines[0][:100]!r}")
    fields = _Fields()
    raw: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):  # obsolete line folding: continues the previous value
            if not raw:
                raise _DirectProtocolError("header continuation without a header")
            name, value = raw[-1]
            raw[-1] = (name, value + b" " + line.strip())
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise _DirectProtocolError(f"bad header line {line[:100]!r}")
        raw.append((name, value.strip()))
    for name, value in raw:
        key = name.lower()
        previous = fields.get(key)
        fields[key] = value if previous is None else previous + b", " + value
    fields.raw = raw
    return int(status_line[1]), status_line[0], fields


def _content_length(value: bytes) -> int:
    values = {v.strip() for v in value.split(b",")}
    if len(values) != 1:
        raise _DirectProtocolError("conflicting content-length values")
    text = values.pop()
    if not text.isdigit():
        raise _DirectProtocolError(f"bad content-length {text[:40]!r}")
    return int(text)


async def _read_sized(conn: _Connection, sink: _Body, length: int) -> bool:
    """Read a ``Content-Length`` body; False if cut off (the connection is then unusable)."""
    if length > sink.limit and not sink.truncate and sink._decoder is None:
        raise TransportFailed.too_large(
            f"response body of {length} bytes is above the client limit of {sink.limit}"
        )
    buffer = conn.buffer
    while True:
        if len(buffer) >= length:
            data = bytes(buffer[:length])
            del buffer[:length]
            return not sink.feed(data)
        if buffer:
            length -= len(buffer)
            data = bytes(buffer)
            buffer.clear()
            if sink.feed(data):
                return False
        await conn.fill()


async def _read_chunked(conn: _Connection, sink: _Body) -> bool:
    buffer = conn.buffer
    while True:
        line = await conn.read_line()
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _DirectProtocolError(f"bad chunk size {size_text[:40]!r}") from None
        if size < 0 or size_text[:1] in (b"+", b"-"):
            raise _DirectProtocolError(f"bad chunk size {size_text[:40]!r}")
        if size == 0:
            while await conn.read_line():  # trailers, up to the empty line
                pass
            return True
        while size:
            if not buffer:
                await conn.fill()
            take = min(size, len(buffer))
            data = bytes(buffer[:take])
            del buffer[:take]
            size -= take
            if sink.feed(data):
                return False
        if await conn.read_line():
            raise _DirectProtocolError("chunk not followed by CRLF")


async def _read_to_eof(conn: _Connection, sink: _Body) -> bool:
    buffer = conn.buffer
    while True:
        if buffer:
            data = bytes(buffer)
            buffer.clear()
            if sink.feed(data):
                return False
        chunk = await conn.stream.receive_some(_READ_SIZE)
        if not chunk:
            return True
        buffer += chunk
