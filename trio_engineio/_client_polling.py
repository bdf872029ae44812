"""The client's HTTP long-polling transport, on httpx.

Only moves bytes: one handshake GET, long-poll GETs and POSTs, each with the
user's extra headers (cookies come from the httpx client's jar), a bounded
response body, and httpx timeouts longer than the heartbeat so a long-poll
never times out before the server's PING is due. Errors become
:class:`~trio_engineio._client_common.TransportFailed` with the close reason
they imply; the rules about *when* to GET or POST live in the session.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ._client_common import EngineURL, TransportFailed
from ._exceptions import ConnectionRejected, EngineIOConnectionError, HandshakeFailed

__all__ = ["PollingTransport"]

#: Longest error body kept from a rejected request.
_MAX_ERROR_BODY = 64 * 1024
_POST_HEADERS = {"Content-Type": "text/plain;charset=UTF-8"}


class PollingTransport:
    """GET/POST for one session on ``url``, through ``http`` (not owned: never closed here).

    Built for the hot path: the session URL (an :class:`httpx.URL`), the header
    dicts and the timeout are made once, each request is one ``build_request``
    and one ``send``, and a body with an honest ``Content-Length`` within the
    limit is read in one go.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: EngineURL,
        *,
        headers: Mapping[str, str],
        max_response_size: int,
        connect_timeout: float,
    ) -> None:
        self._http = http
        self._url = url
        self._headers = dict(headers)
        self._post_headers = {**self._headers, **_POST_HEADERS}
        self._max_response_size = max_response_size
        self._timeout = httpx.Timeout(connect_timeout)
        self._session_url: tuple[str, httpx.URL] | None = None
        self.requests_sent = 0

    def set_heartbeat(self, heartbeat_timeout: float) -> None:
        """Derive request timeouts from the handshake: a poll may wait a whole heartbeat."""
        self._timeout = httpx.Timeout(heartbeat_timeout + 5.0)

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


def _describe(exc: httpx.HTTPError) -> str:
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
