"""Server-side state of one Engine.IO connection and of each namespace socket on it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from .. import Connection, ConnectionClosed
from .._callables import call_maybe_async
from ._handlers import ack_result
from .exceptions import DisconnectedError

__all__ = ["EngineClient", "PendingAck", "ServerSocket", "acquire", "make_room", "run_callback"]

logger = logging.getLogger("trio_engineio.socketio")


class PendingAck:
    """One ``call()`` waiting for its ACK, or an ``emit(callback=)``'s callback."""

    __slots__ = ("args", "callback", "done", "error")

    def __init__(self, callback: Callable[..., Any] | None = None) -> None:
        self.done = trio.Event()
        self.args: list[Any] | None = None
        self.error: BaseException | None = None
        #: Called with the ACK's arguments (``emit(callback=)``); never called if none comes.
        self.callback = callback

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


def make_room(acks: dict[int, PendingAck], limit: int) -> bool:
    """Whether one more ack may wait in ``acks`` (at most ``limit``).

    When full, the oldest waiting callback (an ``emit(callback=)`` never
    answered) is forgotten to make room; ``call()`` waiters are never dropped.
    """
    if len(acks) < limit:
        return True
    for ack_id, pending in acks.items():
        if pending.callback is not None:
            del acks[ack_id]
            logger.warning("forgot the callback of ack %s: %d acks already waited", ack_id, limit)
            return True
    return False


async def acquire(limiter: trio.Semaphore) -> None:
    """``limiter.acquire()`` without a trip through the scheduler when a token is free.

    The reading task that calls it checkpoints for every message anyway.
    """
    try:
        limiter.acquire_nowait()
    except trio.WouldBlock:
        await limiter.acquire()


async def run_callback(callback: Callable[..., Any], args: list[Any], limiter: trio.Semaphore) -> None:
    """Call an ``emit(callback=)`` callback with the ACK's arguments; log what it raises."""
    try:
        await call_maybe_async(callback, *args)
    except Exception:
        logger.exception("ack callback %r failed", callback)
    finally:
        limiter.release()


class EngineClient:
    """One Engine.IO session carrying any number of namespace sockets.

    Owns the send lock: a packet's text message and its binary attachments go
    out back to back, never interleaved with another task's packet.
    """

    __slots__ = ("conn", "connected_once", "nursery", "send_lock", "sockets")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        #: The connection's task nursery while it is served (for work started from outside it).
        self.nursery: trio.Nursery | None = None
        self.send_lock = trio.Lock()
        #: Namespace -> socket connected (or connecting) on it.
        self.sockets: dict[str, ServerSocket] = {}
        self.connected_once = trio.Event()

    async def send_messages(self, messages: list[str | bytes]) -> bool:
        """Send one encoded packet; ``False`` (logged at debug) when the session has ended.

        A one-message packet is queued at once when no other packet is being
        written and the outgoing buffer has room: no lock and no trip through
        the scheduler per recipient of a broadcast (the caller checkpoints).
        """
        if len(messages) == 1 and not self.send_lock.locked() and self.conn.send_nowait(messages[0]):
            return True
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

    def send_nowait(self, messages: list[str | bytes], max_messages: int, max_bytes: int) -> bool:
        """Queue one encoded packet now, all its messages or none; ``False`` if it cannot be.

        It cannot be while another packet is being written, or when the outgoing
        buffer (``max_messages``/``max_bytes``, the engine's limits) lacks room for
        every part of it.
        """
        if self.send_lock.locked():
            return False
        conn = self.conn
        if len(messages) == 1:
            return conn.send_nowait(messages[0])
        stats = conn.statistics()
        size = sum(len(m.encode() if isinstance(m, str) else m) for m in messages)
        if stats.buffered_messages + len(messages) > max_messages or stats.buffered_bytes + size > max_bytes:
            return False
        return all(conn.send_nowait(message) for message in messages)

    async def send_volatile(self, messages: list[str | bytes]) -> bool:
        """Send one encoded packet only if that needs no waiting; ``False`` when it was dropped.

        Dropped when another packet is being written or the session's outgoing
        buffer is full. Once the text message is queued its attachments follow.
        """
        try:
            self.send_lock.acquire_nowait()
        except trio.WouldBlock:
            await trio.lowlevel.checkpoint()
            return False
        try:
            if not self.conn.send_nowait(messages[0]):
                return False
            for message in messages[1:]:
                await self.conn.send(message)
            return True
        except ConnectionClosed:
            return False
        finally:
            self.send_lock.release()


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

    def send_nowait(self, messages: list[str | bytes], max_messages: int, max_bytes: int) -> bool:
        """:meth:`EngineClient.send_nowait` for this socket (kept until its CONNECT reply)."""
        if self.disconnected or (not self.connected and len(self.buffered) >= self.max_buffered):
            return False
        if not self.connected:
            self.buffered.append(messages)
            return True
        return self.client.send_nowait(messages, max_messages, max_bytes)

    async def send_volatile(self, messages: list[str | bytes]) -> bool:
        """:meth:`send_messages` for a volatile emit: dropped (``False``) rather than waiting."""
        if self.disconnected or (not self.connected and len(self.buffered) >= self.max_buffered):
            return False
        if not self.connected:
            self.buffered.append(messages)
            return True
        return await self.client.send_volatile(messages)

    def fail_acks(self) -> None:
        """The socket is gone: every pending ``call()`` raises :class:`DisconnectedError`."""
        acks, self.acks = self.acks, {}
        for pending in acks.values():
            pending.fail(DisconnectedError(f"socket {self.sid} disconnected"))
