"""The client's websocket transport, on trio-websocket.

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
from .common import TransportFailed

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
    ) -> WebSocketTransport:
        """Connect; raise :class:`ConnectionRejected` or :class:`EngineIOConnectionError`.

        No timeout here: the caller bounds the attempt.
        """
        transport: WebSocketTransport = await nursery.start(
            cls._own, url, headers, ssl_context, max_message_size
        )
        return transport

    @classmethod
    async def _own(
        cls,
        url: str,
        headers: list[tuple[bytes, bytes]],
        ssl_context: _ssl.SSLContext | None,
        max_message_size: int,
        task_status: trio.TaskStatus[WebSocketTransport] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        error: Exception | None = None
        started = False
        try:
            with trio.CancelScope() as guard:
                async with trio.open_nursery() as nursery:
                    try:
                        ws = await _connect(nursery, url, headers, ssl_context, max_message_size)
                    except _CONNECT_ERRORS as exc:
                        error = _connect_error(url, exc)
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
                error = _connect_error(url, _first_leaf(matched))
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


_CONNECT_ERRORS = (trio_websocket.HandshakeError, trio_websocket.ConnectionClosed, OSError)


class _ReaderEnded(OSError):
    """trio-websocket's reader ended before the opening handshake did."""


class _WatchedNursery:
    """Hands trio-websocket a nursery whose tasks set ``ended`` when they finish.

    trio-websocket 0.12 swallows a failure to send the opening request (e.g. a TLS
    handshake refused by certificate verification: the TLS handshake happens on the
    first send) and leaves ``connect_websocket_url`` waiting forever.
    """

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.ended = trio.Event()
        #: The connection whose reader was started (trio-websocket passes its bound method).
        self.connection: trio_websocket.WebSocketConnection | None = None

    def start_soon(self, fn: Any, *args: Any, name: object = None) -> None:
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, trio_websocket.WebSocketConnection):
            self.connection = owner

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
) -> trio_websocket.WebSocketConnection:
    watched = _WatchedNursery(nursery)
    result: list[trio_websocket.WebSocketConnection] = []

    async def connect(race: trio.Nursery) -> None:
        result.append(
            await trio_websocket.connect_websocket_url(
                watched,  # type: ignore[arg-type]
                url,
                ssl_context,
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
        raise _ReaderEnded(await _why_not_connected(url, ssl_context))
    except BaseException:
        if watched.connection is not None:
            # Cancelled or failed after the TCP connect (even just after the handshake):
            # trio-websocket would leave the socket open until garbage collection.
            await trio.aclose_forcefully(watched.connection)
        raise


async def _why_not_connected(url: str, ssl_context: _ssl.SSLContext | None) -> str:
    """Best effort: repeat the TLS handshake alone to learn why the first one failed."""
    parts = urlsplit(url)
    if ssl_context is None or parts.hostname is None:
        return "the connection closed before the websocket handshake"
    port = parts.port or 443
    try:
        with trio.fail_after(5):
            stream = await trio.open_ssl_over_tcp_stream(parts.hostname, port, ssl_context=ssl_context)
            try:
                await stream.do_handshake()
            finally:
                await trio.aclose_forcefully(stream)
    except (OSError, trio.BrokenResourceError, trio.TooSlowError) as exc:
        cause = exc.__cause__ or exc
        return f"TLS handshake failed: {cause}"
    return "the connection closed before the websocket handshake"


def _connect_error(url: str, exc: BaseException) -> Exception:
    if isinstance(exc, trio_websocket.ConnectionRejected):
        body = (exc.body or b"").decode("utf-8", "replace")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in exc.headers or ()}
        return ConnectionRejected(exc.status_code, body, headers)
    return EngineIOConnectionError(f"websocket connection to {url} failed: {exc!r}")


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
