"""The client's websocket transport, on trio-websocket.

The byte stream is opened here (:func:`~trio_engineio.client.proxy.open_stream`:
directly, or through an HTTP ``CONNECT`` or SOCKS5 tunnel, then TLS for wss)
and handed to trio-websocket for the websocket handshake and framing.

Each websocket lives in a small task of its own (started in the connection's
nursery) that owns trio-websocket's reader task: if connecting is cancelled or
fails, that task's nursery ends and the socket is closed; once connected,
:meth:`WebSocketTransport.aclose` sends the close frame and then ends the task,
so no reader outlives the transport.

Once connected, the owner task is shielded from the caller's cancellation:
trio-websocket's ``aclose()`` needs its reader alive to see the peer's close
frame (with the reader cancelled it waits its whole timeout). Only
:meth:`~WebSocketTransport.aclose` and :meth:`~WebSocketTransport.cancel` end it. Errors become
:class:`~trio_engineio.client.common.TransportFailed`.
"""

from __future__ import annotations

import ssl as _ssl
import sys
from typing import Any
from urllib.parse import urlsplit

import trio
import trio_websocket

from .._exceptions import ConnectionRejected, EngineIOConnectionError
from .._starting import started_then_shield
from ..protocol.packets import Packet, encode_frame
from .common import TransportFailed, describe_error
from .proxy import Proxy, open_stream

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["WebSocketTransport"]

_MESSAGE_TOO_BIG = 1009


class WebSocketTransport:
    """One open websocket; frames in and out, one Engine.IO packet per frame."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, scope: trio.CancelScope) -> None:
        self._ws = ws
        self._scope = scope

    @classmethod
    async def open(
        cls,
        nursery: trio.Nursery,
        url: str,
        *,
        headers: list[tuple[bytes, bytes]],
        ssl_context: _ssl.SSLContext | None,
        max_message_size: int,
        proxy: Proxy | None = None,
    ) -> WebSocketTransport:
        """Connect (through ``proxy`` if given); raise :class:`ConnectionRejected` or
        :class:`EngineIOConnectionError`.

        No timeout here: the caller bounds the attempt.
        """
        transport: WebSocketTransport = await nursery.start(
            cls._own, url, headers, ssl_context, max_message_size, proxy
        )
        return transport

    @classmethod
    async def _own(
        cls,
        url: str,
        headers: list[tuple[bytes, bytes]],
        ssl_context: _ssl.SSLContext | None,
        max_message_size: int,
        proxy: Proxy | None,
        task_status: trio.TaskStatus[WebSocketTransport] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        error: Exception | None = None
        started = False
        try:
            with trio.CancelScope() as guard:
                async with trio.open_nursery() as nursery:
                    try:
                        ws = await _connect(nursery, url, headers, ssl_context, max_message_size, proxy)
                    except _CONNECT_ERRORS as exc:
                        error = _connect_error(url, exc, proxy)
                        nursery.cancel_scope.cancel()
                    else:
                        started = True
                        # From now on only aclose()/cancel() end the reader (see the module
                        # doc), unless the opener was cancelled before it got the transport.
                        started_then_shield(task_status, cls(ws, guard), guard)
        except BaseExceptionGroup as group:
            # trio-websocket raises a rejection from its reader task, i.e. through our nursery.
            matched, rest = group.split(_CONNECT_ERRORS)
            if matched is None:
                raise
            if rest is not None:
                # Cancelled (e.g. the session closed during an upgrade attempt) while the
                # server refused: the cancellation wins; the refusal has no one to tell.
                raise rest from None
            if not started:
                error = _connect_error(url, _first_leaf(matched), proxy)
            # After the handshake the reader's errors surface as ConnectionClosed on receive().
        if error is not None:
            raise error

    async def send_packet(self, packet: Packet) -> None:
        """Send one packet as one frame."""
        try:
            await self._ws.send_message(encode_frame(packet))
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def receive(self) -> str | bytes:
        """The next frame (``str`` for text, ``bytes`` for binary)."""
        try:
            return await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def aclose(self, code: int = 1000) -> None:
        """Close the websocket (close frame, then wait for the peer's); ends the reader task.

        Bounded only by the caller's deadline; the socket is closed even if cancelled.
        """
        try:
            await self._ws.aclose(code)
        finally:
            self._scope.cancel()

    def cancel(self) -> None:
        """End the socket's tasks now, without a close handshake (idempotent)."""
        self._scope.cancel()


_CONNECT_ERRORS = (
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
    OSError,
    trio.BrokenResourceError,
)


class _ReaderEnded(OSError):
    """trio-websocket's reader ended before the opening handshake did."""


class _WatchedNursery:
    """Hands trio-websocket a nursery whose tasks set ``ended`` when they finish.

    trio-websocket 0.12 swallows a failure to send the opening request (e.g. the
    connection reset before it went out) and leaves ``wrap_client_stream`` waiting
    forever. (The TLS handshake, the usual culprit, is done before, in ``open_stream``.)
    """

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.ended = trio.Event()

    def start_soon(self, fn: Any, *args: Any, name: object = None) -> None:
        async def watched() -> None:
            try:
                await fn(*args)
            finally:
                self.ended.set()

        self._nursery.start_soon(watched, name=name or fn)


async def _connect(
    nursery: trio.Nursery,
    url: str,
    headers: list[tuple[bytes, bytes]],
    ssl_context: _ssl.SSLContext | None,
    max_message_size: int,
    proxy: Proxy | None,
) -> trio_websocket.WebSocketConnection:
    parts = urlsplit(url)
    host = parts.hostname
    assert host is not None
    port = parts.port or (443 if ssl_context is not None else 80)
    resource = parts.path + ("?" + parts.query if parts.query else "")
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port in (80, 443) else f"{shown}:{port}"
    # TCP, the proxy's tunnel and the TLS handshake: their errors surface here.
    stream = await open_stream(host, port, proxy=proxy, ssl_context=ssl_context)
    watched = _WatchedNursery(nursery)
    result: list[trio_websocket.WebSocketConnection] = []

    async def connect(race: trio.Nursery) -> None:
        result.append(
            await trio_websocket.wrap_client_stream(
                watched,  # type: ignore[arg-type]
                stream,  # type: ignore[arg-type]
                host_header,
                resource,
                extra_headers=headers,
                max_message_size=max_message_size,
            )
        )
        race.cancel_scope.cancel()

    async def watch(race: trio.Nursery) -> None:
        await watched.ended.wait()
        race.cancel_scope.cancel()

    try:
        async with trio.open_nursery() as race:
            race.start_soon(connect, race)
            race.start_soon(watch, race)
        if result:
            return result[0]
        raise _ReaderEnded("the connection closed before the websocket handshake")
    except BaseException:
        # Cancelled or failed after the connect (even just after the handshake):
        # trio-websocket would leave the socket open until garbage collection.
        await trio.aclose_forcefully(stream)
        raise


def _connect_error(url: str, exc: BaseException, proxy: Proxy | None) -> Exception:
    if isinstance(exc, trio_websocket.ConnectionRejected):
        body = (exc.body or b"").decode("utf-8", "replace")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in exc.headers or ()}
        return ConnectionRejected(exc.status_code, body, headers)
    via = f" through proxy {proxy.url}" if proxy is not None else ""
    return EngineIOConnectionError(f"websocket connection to {url}{via} failed: {describe_error(exc)}")


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _closed(exc: trio_websocket.ConnectionClosed) -> TransportFailed:
    reason = exc.reason
    if reason is not None and reason.code == _MESSAGE_TOO_BIG:
        return TransportFailed.too_large(f"websocket message too big (1009: {reason.reason})")
    if reason is None:
        return TransportFailed.closed("websocket closed")
    detail = f" {reason.reason}" if reason.reason else ""
    return TransportFailed.closed(f"websocket closed ({reason.code} {reason.name}{detail})")
