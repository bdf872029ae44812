"""The client's HTTP long-polling transport: httpx for the handshake, h11 for the hot path.

Only moves bytes: one handshake GET, long-poll GETs and POSTs, each with the
user's extra headers (cookies come from the httpx client's jar), a bounded
response body, and timeouts longer than the heartbeat so a long-poll never
times out before the server's PING is due. Errors become
:class:`~trio_engineio.client.common.TransportFailed` with the close reason
they imply; the rules about *when* to GET or POST live in the session.

The handshake always goes through the httpx client. When the client made that
httpx client itself, long-poll GETs and POSTs then skip httpx's layers: two
keep-alive HTTP/1.1 connections (one for GETs, one for POSTs) on h11 over trio
streams (:class:`_DirectHTTP`), directly, through the proxy's ``CONNECT`` or
SOCKS5 tunnel, or as forwarded requests to an HTTP proxy for ``http://`` URLs
(as httpx sends them). Headers are the ones httpx would send (taken once from
``build_request``), cookies still live in the httpx client's jar, and TLS uses
the same context as the httpx client. A user's own ``http_client`` (its
transport, proxies, auth, hooks, HTTP/2) is always used as is, through ``send()``.

**Stale connections.** A server or proxy may close a kept-alive connection at
any moment (tinyproxy does after every answer, without saying so). A request
is sent again, once, on a fresh connection when that cannot make the server act
twice:

* an idle connection that is readable (closed, or carrying unexpected bytes) is
  never reused: it is closed and a new one opened, nothing was sent;
* a request that could not be written completely on a reused connection is sent
  again, GET or POST (the server cannot act on half a request);
* a GET written on a reused connection that ended before the first byte of an
  answer is sent again: an Engine.IO server answers every GET it takes, so no
  answer at all means the connection was closed under it (HTTP's own rule for
  idempotent requests, RFC 9110 section 9.2.2); a POST in that case is not
  (the server may have taken its packets): the session closes, as before;
* POSTs reuse a connection only once the peer has answered a request on a reused
  connection (it keeps connections open); until then each POST gets a fresh one,
  so the first POSTs cannot meet a peer that closes after every answer;
* a connection that turned out closed within :data:`_QUICK_CLOSE` seconds of its
  last answer marks the peer as closing after each answer: from then on each
  request gets a fresh connection, so a POST never meets that race again.

On the httpx path (the handshake, or a user's ``http_client``) a GET is sent
again once if httpx reports the connection closed or broken before the answer
(``RemoteProtocolError``, ``ReadError``, ``WriteError``), a POST only on
``WriteError``.
"""

from __future__ import annotations

import ssl as _ssl
from collections.abc import Mapping

import h11
import httpx
import trio

from .._exceptions import ConnectionRejected, EngineIOConnectionError, HandshakeFailed
from .common import EngineURL, TransportFailed, describe_error
from .http11 import HTTPConnection, HTTPError, NoResponse, build_request
from .proxy import Proxy, open_proxy_stream, open_stream

__all__ = ["PollingTransport"]

#: Longest error body kept from a rejected request.
_MAX_ERROR_BODY = 64 * 1024
_POST_HEADERS = {"Content-Type": "text/plain;charset=UTF-8"}
#: Seconds: a kept-alive connection found closed sooner than this after its answer
#: marks the peer as one that closes after every answer.
_QUICK_CLOSE = 1.0
#: httpx errors after which a GET (idempotent) or a POST (not completely sent) is sent again.
_HTTPX_GET_RETRY = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
_HTTPX_POST_RETRY = (httpx.WriteError,)


class PollingTransport:
    """GET/POST for one session on ``url``, through ``http`` (not owned: never closed here).

    Built for the hot path: with ``direct`` (the client made ``http`` itself),
    GETs and POSTs after the handshake go through :class:`_DirectHTTP` (through
    ``proxy`` if one applies; ``ssl_context`` is the TLS context ``http`` uses).
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
        proxy: Proxy | None = None,
    ) -> None:
        self._http = http
        #: True when GETs and POSTs may bypass httpx (see the module docstring).
        self._direct_allowed = (
            direct
            and (not url.secure or ssl_context is not None)
            # The user chose the encodings: httpx decodes whatever they allow.
            and not any(name.lower() == "accept-encoding" for name in headers)
        )
        self._ssl_context = ssl_context
        self._proxy = proxy
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
        #: Requests sent again after a stale connection (see the module docstring).
        self.retries = 0

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
        self._direct = _DirectHTTP(
            self._http,
            sid,
            self._url_for(sid),
            self._headers,
            ssl_context=self._ssl_context if self._url.secure else None,
            connect_timeout=self._connect_timeout,
            proxy=self._proxy,
        )
        return self._direct

    def _count_direct(self, direct: _DirectHTTP) -> None:
        retried = direct.take_retries()
        self.retries += retried
        self.requests_sent += 1 + retried

    def _url_for(self, sid: str) -> httpx.URL:
        cached = self._session_url
        if cached is None or cached[0] != sid:
            cached = self._session_url = (sid, httpx.URL(self._url.http(sid=sid)))
        return cached[1]

    async def _send(
        self, method: str, url: httpx.URL | str, headers: dict[str, str], body: bytes | None
    ) -> httpx.Response:
        again = _HTTPX_GET_RETRY if method == "GET" else _HTTPX_POST_RETRY
        request = self._http.build_request(method, url, headers=headers, content=body, timeout=self._timeout)
        try:
            response = await self._http.send(request, stream=True)
        except again:
            # Once, on a fresh connection (httpx drops the broken one from its pool).
            self.requests_sent += 1
            self.retries += 1
            request = self._http.build_request(
                method, url, headers=headers, content=body, timeout=self._timeout
            )
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
            via = f" through proxy {self._proxy.url}" if self._proxy is not None else ""
            raise EngineIOConnectionError(
                f"handshake request to {url}{via} failed: {describe_error(exc)}"
            ) from exc

    async def get(self, sid: str) -> bytes:
        """One long-poll GET; returns the body or raises :class:`TransportFailed`."""
        direct = self._direct_for(sid)
        if direct is not None:
            try:
                status, body = await direct.request(_GET, None, self._max_response_size, self._timeout_s)
            except _DIRECT_ERRORS as exc:
                raise TransportFailed.closed(f"poll GET failed: {describe_error(exc)}") from exc
            finally:
                self._count_direct(direct)
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
            raise TransportFailed.closed(f"poll GET failed: {describe_error(exc)}") from exc

    async def post(self, sid: str, body: bytes) -> None:
        """One POST carrying ``body``; raises :class:`TransportFailed` unless answered 200."""
        direct = self._direct_for(sid)
        if direct is not None:
            try:
                status, answer = await direct.request(_POST, body, _MAX_ERROR_BODY, self._timeout_s)
            except _DIRECT_ERRORS as exc:
                raise TransportFailed.closed(f"POST failed: {describe_error(exc)}") from exc
            finally:
                self._count_direct(direct)
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
            raise TransportFailed.closed(f"POST failed: {describe_error(exc)}") from exc


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


# ------------------------------------------------------------------------------------------
# The direct path: h11 connections of our own

_GET = 0
_POST = 1
_METHODS = (b"GET", b"POST")
#: Request headers never copied from httpx's request into the direct templates.
_TEMPLATE_DROP = frozenset({b"accept-encoding", b"content-length", b"transfer-encoding", b"cookie"})


class _DirectTimeout(Exception):
    """A direct request took longer than its timeout."""


_DIRECT_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError, HTTPError, _DirectTimeout)


def _direct_status_error(method: str, status: int, body: bytes) -> TransportFailed:
    shown = body[:200].decode("utf-8", "replace")
    return TransportFailed.error(f"{method} answered HTTP {status}: {shown!r}", status_code=status)


class _DirectHTTP:
    """GET and POST for one session over HTTP/1.1 on h11, one keep-alive connection each.

    The session core never has more than one GET and one POST in flight, so each
    has its own connection slot. A connection is put back only after a complete,
    keep-alive answer; an error, a timeout or a cancellation closes it. Stale
    connections are handled as the module docstring says.
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
        proxy: Proxy | None,
    ) -> None:
        self.sid = sid
        self._http = http
        self._url = url
        self._host = url.host
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._proxy = proxy
        #: Plain http through an HTTP(S) proxy: requests go to the proxy with absolute URLs.
        self._forward = proxy is not None and proxy.forwards_http and url.scheme == "http"
        #: A ``Cookie`` header in the user's headers replaces the jar (as in httpx).
        self._user_cookie = any(name.lower() == "cookie" for name in headers)
        get = http.build_request("GET", url, headers=headers)
        post = http.build_request("POST", url, headers={**headers, **_POST_HEADERS})
        self._target = str(url).encode("ascii") if self._forward else url.raw_path
        self._templates = (self._template(get), self._template(post))
        self._conns: list[HTTPConnection | None] = [None, None]
        #: The last request made for each role, by (cookie header, body length).
        self._requests: list[tuple[tuple[tuple[bytes, bytes] | None, int | None], h11.Request] | None] = [
            None,
            None,
        ]
        #: Set once the peer was seen closing connections right after its answers.
        self.closes_after_answer = False
        #: Set once a request was answered on a reused connection: the peer keeps them open.
        self.keeps_alive = False
        self._retries = 0

    def _template(self, request: httpx.Request) -> list[tuple[bytes, bytes]]:
        headers = [
            (name, value)
            for name, value in request.headers.raw
            if name.lower() not in _TEMPLATE_DROP or (self._user_cookie and name.lower() == b"cookie")
        ]
        headers.append((b"Accept-Encoding", b"gzip, deflate"))
        if self._forward and self._proxy is not None:
            authorization = self._proxy.authorization()
            if authorization is not None:
                headers.append((b"Proxy-Authorization", authorization))
        return headers

    def take_retries(self) -> int:
        """Requests sent again since the last call."""
        retries, self._retries = self._retries, 0
        return retries

    def close(self) -> None:
        """Close both connections at once."""
        conns = self._conns
        for index, conn in enumerate(conns):
            if conn is not None:
                conns[index] = None
                conn.close()

    def _cookie_header(self) -> tuple[bytes, bytes] | None:
        cookies = self._http.cookies
        if self._user_cookie or not cookies.jar:
            return None
        request = httpx.Request("GET", self._url)
        cookies.set_cookie_header(request)
        value = request.headers.get("cookie")
        return (b"Cookie", value.encode("latin-1")) if value else None

    async def _connect(self) -> HTTPConnection:
        with trio.move_on_after(self._connect_timeout) as scope:
            if self._forward:
                assert self._proxy is not None
                stream = await open_proxy_stream(self._proxy)
            else:
                stream = await open_stream(
                    self._host, self._port, proxy=self._proxy, ssl_context=self._ssl_context
                )
            return HTTPConnection(stream)
        assert scope.cancelled_caught
        where = f"{self._host}:{self._port}"
        if self._proxy is not None:
            where += f" through proxy {self._proxy.url}"
        raise _DirectTimeout(f"connecting to {where} timed out")

    def _pooled(self, role: int) -> HTTPConnection | None:
        conn = self._conns[role]
        self._conns[role] = None
        if conn is None or conn.reusable():
            return conn
        conn.close()  # closed (or talking) while idle: nothing was sent on it
        self._closed_early(conn)
        return None

    def _closed_early(self, conn: HTTPConnection) -> None:
        if trio.current_time() - conn.idle_since < _QUICK_CLOSE:
            self.closes_after_answer = True
            self.close()

    async def request(
        self, role: int, body: bytes | None, ok_limit: int, limit_s: float
    ) -> tuple[int, bytes]:
        """Send a GET (``role`` 0) or POST (1); the status and the (decoded) body.

        A 200 answer may carry ``ok_limit`` bytes (a GET's body beyond it raises
        "payload too large"; a POST's is cut off); error answers are cut at 64 KiB.
        """
        with trio.move_on_after(limit_s) as scope:
            conn = self._pooled(role)
            while True:
                reused = conn is not None
                if conn is None:
                    conn = await self._connect()
                try:
                    status, answer, keep = await self._exchange(conn, role, body, ok_limit)
                except NoResponse as exc:
                    conn.close()
                    if reused and (not exc.sent or role == _GET):
                        self._closed_early(conn)
                        self._retries += 1
                        conn = None
                        continue  # once: a fresh connection is not retried
                    raise
                except BaseException:
                    conn.close()
                    raise
                if reused:
                    self.keeps_alive = True
                # A POST is never resent after it was written, so it reuses a connection only
                # once the peer has shown that it keeps them open (a GET may find out).
                if keep and not self.closes_after_answer and (role == _GET or self.keeps_alive):
                    self._conns[role] = conn
                else:
                    conn.close()
                return status, answer
        assert scope.cancelled_caught
        raise _DirectTimeout(f"no complete answer within {limit_s:g} s")

    def _request_for(self, role: int, body: bytes | None) -> h11.Request:
        """The request for ``role``, made (and validated by h11) once per cookie and body length."""
        cookie = self._cookie_header()
        key = (cookie, None if body is None else len(body))
        cached = self._requests[role]
        if cached is not None and cached[0] == key:
            return cached[1]
        headers = self._templates[role] if cookie is None else [*self._templates[role], cookie]
        request = build_request(_METHODS[role], self._target, headers, key[1])
        self._requests[role] = (key, request)
        return request

    async def _exchange(
        self, conn: HTTPConnection, role: int, body: bytes | None, ok_limit: int
    ) -> tuple[int, bytes, bool]:
        response, keep = await conn.request(
            self._request_for(role, body),
            body,
            limit=ok_limit,
            truncate=role == _POST,
            error_limit=_MAX_ERROR_BODY,
        )
        status = response.status
        if any(name == b"set-cookie" for name, _ in response.headers):
            self._store_cookies(role, status, response.headers)
        return status, response.body, keep

    def _store_cookies(self, role: int, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        method = "GET" if role == _GET else "POST"
        response = httpx.Response(status, headers=headers, request=httpx.Request(method, self._url))
        self._http.cookies.extract_cookies(response)
