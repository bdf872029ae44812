"""Small helpers for answering ASGI HTTP requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "ASGIReceive",
    "ASGISend",
    "Headers",
    "ambiguous_framing",
    "connection_close",
    "discard_body",
    "header_value",
    "send_response",
]

ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


def header_value(scope: MutableMapping[str, Any] | Any, name: bytes) -> bytes | None:
    """The first value of request header ``name`` (lower-case bytes), or ``None``."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


def ambiguous_framing(scope: MutableMapping[str, Any]) -> bool:
    """True for a request with both ``Content-Length`` and ``Transfer-Encoding``.

    Two framings of one body: a server (h11, under hypercorn) going by the chunks and a
    proxy in front going by the length disagree on where the next request starts,
    which is how a request is smuggled past the proxy. RFC 9112 §6.1: the request
    ought to be handled as an error and the connection closed after the answer.
    """
    length = encoding = False
    for name, _ in scope["headers"]:
        size = len(name)  # lengths first: cheaper than lower-casing every name
        if size == 14:
            length = length or name.lower() == b"content-length"
        elif size == 17:
            encoding = encoding or name.lower() == b"transfer-encoding"
    return length and encoding


def connection_close(scope: MutableMapping[str, Any]) -> Headers:
    """``Connection: close`` for an HTTP/1 request (the header is not allowed in HTTP/2 and 3).

    h11 honours it in a response: the ASGI server closes the connection after it,
    whatever the client sent after the request.
    """
    return [(b"connection", b"close")] if str(scope.get("http_version", "1.1")).startswith("1") else []


async def discard_body(receive: ASGIReceive, limit: int) -> bool:
    """Read a request body and drop it: True once it ended within ``limit`` bytes.

    False if it was larger, or the client went away first.
    """
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return False
        if not message.get("more_body", False):
            return True
        size += len(message.get("body", b""))
        if size > limit:
            return False


async def send_response(
    send: ASGISend,
    status: int,
    body: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    content_type: bytes = b"text/plain; charset=UTF-8",
) -> None:
    """Send a complete HTTP response."""
    all_headers: Headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
    ]
    all_headers.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})
