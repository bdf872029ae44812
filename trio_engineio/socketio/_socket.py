"""Server-side state of one Engine.IO connection and of each namespace socket on it."""

from __future__ import annotations

import logging
from typing import Any

import trio

from .. import Connection, ConnectionClosed
from ._handlers import ack_result
from .exceptions import DisconnectedError

__all__ = ["EngineClient", "PendingAck", "ServerSocket"]

logger = logging.getLogger("trio_engineio.socketio")


class PendingAck:
    """One ``call()`` waiting for its ACK."""

    __slots__ = ("args", "done", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.args: list[Any] | None = None
        self.error: BaseException | None = None

    def resolve(self, args: list[Any]) -> None:
        """The ACK arrived with ``args``."""
        if not self.done.is_set():
            self.args = args
            self.done.set()

    def fail(self, error: BaseException) -> None:
        """No ACK will come."""
        if not self.done.is_set():
            self.error = error
            self.done.set()

    def result(self) -> Any:
        """The ACK's arguments as ``call()`` returns them, or raise why there are none."""
        if self.error is not None:
            raise self.error
        return ack_result(self.args or [])


class EngineClient:
    """One Engine.IO session carrying any number of namespace sockets.

    Owns the send lock: a packet's text message and its binary attachments go
    out back to back, never interleaved with another task's packet.
    """

    __slots__ = ("conn", "connected_once", "send_lock", "sockets")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.send_lock = trio.Lock()
        #: Namespace -> socket connected (or connecting) on it.
        self.sockets: dict[str, ServerSocket] = {}
        self.connected_once = trio.Event()

    async def send_messages(self, messages: list[str | bytes]) -> bool:
        """Send one encoded packet; ``False`` (logged at debug) when the session has ended."""
        try:
            if len(messages) == 1:
                async with self.send_lock:
                    await self.conn.send(messages[0])
            else:
                async with self.send_lock:
                    for message in messages:
                        await self.conn.send(message)
        except ConnectionClosed:
            logger.debug("dropped a packet for closed session %s", self.conn.sid)
            return False
        return True


class ServerSocket:
    """One namespace connection (its own Socket.IO sid) on an :class:`EngineClient`."""

    __slots__ = (
        "acks",
        "buffered",
        "client",
        "connected",
        "disconnected",
        "max_buffered",
        "namespace",
        "next_ack_id",
        "rooms",
        "session",
        "sid",
    )

    def __init__(self, client: EngineClient, namespace: str, sid: str, *, max_buffered: int) -> None:
        self.client = client
        self.namespace = namespace
        self.sid = sid
        #: False while the connect handler runs: packets for it wait in ``buffered``.
        self.connected = False
        self.disconnected = False
        self.buffered: list[list[str | bytes]] = []
        self.max_buffered = max_buffered
        self.rooms: set[str] = {sid}
        self.session: dict[str, Any] = {}
        self.acks: dict[int, PendingAck] = {}
        self.next_ack_id = 0

    async def send_messages(self, messages: list[str | bytes]) -> None:
        """Send an encoded packet now, or keep it until the CONNECT reply went out."""
        if self.disconnected:
            await trio.lowlevel.checkpoint()
            return
        if not self.connected:
            if len(self.buffered) >= self.max_buffered:
                logger.warning(
                    "dropped a packet for %s: too many emitted during its connect handler", self.sid
                )
            else:
                self.buffered.append(messages)
            await trio.lowlevel.checkpoint()
            return
        await self.client.send_messages(messages)

    def fail_acks(self) -> None:
        """The socket is gone: every pending ``call()`` raises :class:`DisconnectedError`."""
        acks, self.acks = self.acks, {}
        for pending in acks.values():
            pending.fail(DisconnectedError(f"socket {self.sid} disconnected"))
