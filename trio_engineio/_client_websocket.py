"""The client's websocket transport, on trio-websocket.

Each websocket lives in a small task of its own (started in the connection's
nursery) that owns trio-websocket's reader task: if connecting is cancelled or
fails, that task's nursery ends and the socket is closed; once connected,
:meth:`WebSocketTransport.aclose` sends the close frame and then ends the task,
so no reader outlives the transport. Errors become
:class:`~trio_engineio._client_common.TransportFailed`.
"""

from __future__ import annotations

import ssl as _ssl
import sys

import trio
import trio_websocket

from ._client_common import TransportFailed
from ._exceptions import ConnectionRejected, EngineIOConnectionError
from .protocol.packets import Packet, encode_frame

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
            async with trio.open_nursery() as nursery:
                try:
                    ws = await trio_websocket.connect_websocket_url(
                        nursery,
                        url,
                        ssl_context,
                        extra_headers=headers,
                        max_message_size=max_message_size,
                    )
                except _CONNECT_ERRORS as exc:
                    error = _connect_error(url, exc)
                    nursery.cancel_scope.cancel()
                else:
                    started = True
                    task_status.started(cls(ws, nursery.cancel_scope))
        except BaseExceptionGroup as group:
            # trio-websocket raises a rejection from its reader task, i.e. through our nursery.
            matched, rest = group.split(_CONNECT_ERRORS)
            if rest is not None or matched is None:
                raise
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


_CONNECT_ERRORS = (trio_websocket.HandshakeError, trio_websocket.ConnectionClosed, OSError)


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
