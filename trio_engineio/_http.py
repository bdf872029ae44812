"""Small helpers for answering ASGI HTTP requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import trio

__all__ = ["ASGIReceive", "ASGISend", "Headers", "header_value", "send_response", "shared_channel"]

ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


def shared_channel(receive: ASGIReceive) -> trio.MemoryReceiveChannel[Any] | None:
    """The memory channel behind ``receive``, when the ASGI server gives its bound method.

    hypercorn's trio worker does: the app may then look without waiting
    (``receive_nowait``) and wait on a clone that it closes to wake itself.
    ``None`` for any other ``receive``.
    """
    channel = getattr(receive, "__self__", None)
    return channel if isinstance(channel, trio.MemoryReceiveChannel) else None


def header_value(scope: MutableMapping[str, Any] | Any, name: bytes) -> bytes | None:
    """The first value of request header ``name`` (lower-case bytes), or ``None``."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


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
