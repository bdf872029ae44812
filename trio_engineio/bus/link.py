"""One server's or emitter's link to a bus: the outgoing buffer, reconnecting, receiving, counting.

A :class:`BusLink` publishes through the bus's :meth:`~Bus.open_publisher` and, for a
node, receives through :meth:`~Bus.open_subscriber` on two channels: its own (messages
for its sessions) and the broadcast channel. Each runs in its own task and reconnects
with backoff on its own; the link is *connected* when both are.

:meth:`BusLink.publish` never waits: it encodes the message, puts it in a bounded buffer
and returns; when the buffer is full the message is dropped and counted. Received
envelopes are untrusted: anything invalid is counted, logged (rate limited) and dropped.
"""

from __future__ import annotations

import logging
import math
import random
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from .base import Bus, Publish
from .envelope import InvalidEnvelope, decode, encode
from .messages import BusBroadcast, BusMessage, BusRelay, check_node_id, node_of

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["BusLink", "BusStatistics", "RateLimit", "open_bus_link"]

logger = logging.getLogger("trio_engineio.bus")

#: A publish call takes at most this many messages (and about this many bytes) at once.
_BATCH_MESSAGES = 64
_BATCH_BYTES = 256 * 1024
#: Repeated warnings (invalid messages, a full buffer, failing deliveries) are logged at
#: most once per this many seconds, with the number left out.
LOG_INTERVAL = 10.0

_PUBLISHER = "publisher"
_SUBSCRIBER = "subscriber"


@dataclass(frozen=True)
class BusStatistics:
    """What one server's or emitter's link to the bus has done (see ``statistics()``)."""

    #: The node this link belongs to (``None`` for an emitter).
    node_id: str | None
    #: Whether every connection to the bus is up right now.
    connected: bool
    #: Messages handed to the bus.
    published: int
    #: Published messages that no one was subscribed to receive (their node was down or
    #: does not exist): lost. Counted where the bus can tell (Redis and memory buses can).
    unheard: int
    #: Messages received from the bus and passed on to the node.
    delivered: int
    #: Messages that were not published (the buffer was full, the connection failed with
    #: them in flight, or the link closed before they went out).
    dropped: int
    #: Messages received that were malformed, too large or on the wrong channel.
    invalid: int
    #: Times the link came back after losing the bus.
    reconnects: int
    #: Messages waiting in the buffer to be published.
    buffered: int
    #: Bytes (encoded) of the messages waiting in the buffer.
    buffered_bytes: int


class RateLimit:
    """Says when a repeated warning may be logged: the first time, then once per interval."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self._interval = interval
        self._next = -math.inf
        self._skipped = 0

    def allow(self) -> int | None:
        """The number of occurrences left out since the last one logged, or ``None``: skip this one."""
        now = trio.current_time()
        if now < self._next:
            self._skipped += 1
            return None
        skipped, self._skipped = self._skipped, 0
        self._next = now + self._interval
        return skipped


class _Backoff:
    """Exponential delays from ``first`` to ``cap`` seconds, each with up to 50% jitter off."""

    def __init__(self, first: float, cap: float) -> None:
        self._first = first
        self._cap = cap
        self._next = first

    def reset(self) -> None:
        self._next = self._first

    def delay(self) -> float:
        delay = self._next
        self._next = min(self._cap, delay * 2)
        return delay * random.uniform(0.5, 1.0)


class _Health:
    """Which of a link's connections are up, and when the current outage began."""

    def __init__(self, parts: tuple[str, ...]) -> None:
        self._parts = frozenset(parts)
        self._up: set[str] = set()
        self.outage_since: float | None = None
        self.ever_connected = False
        self.first_connected = trio.Event()

    @property
    def connected(self) -> bool:
        return self._up == self._parts

    def is_up(self, part: str) -> bool:
        return part in self._up

    def up(self, part: str) -> float | None:
        """Mark ``part`` up; the outage's length if this ended one, else ``None``."""
        self._up.add(part)
        if not self.connected:
            return None
        self.ever_connected = True
        self.first_connected.set()
        since, self.outage_since = self.outage_since, None
        return None if since is None else trio.current_time() - since

    def down(self, part: str) -> bool:
        """Mark ``part`` down; whether this began an outage."""
        self._up.discard(part)
        if self.outage_since is not None:
            return False
        self.outage_since = trio.current_time()
        return True

    def stop(self) -> None:
        self._up.clear()


def _describe(exc: BaseException) -> str:
    """``Type: message`` of the first leaf exception (libraries nest them in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _only_cancellation(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """What to re-raise from ``group``: its ``Cancelled`` part if any (a connection failure
    that raced a cancellation does not matter any more), else the group itself."""
    cancelled, _ = group.split(trio.Cancelled)
    return group if cancelled is None else cancelled


class BusLink:
    """A server's (``node_id`` and ``deliver`` given) or an emitter's (neither) link to ``bus``.

    Run it with ``await nursery.start(link.run)``; :meth:`publish` works before that too
    (messages wait in the buffer). :meth:`aclose` publishes what is buffered, within
    ``flush_timeout``, and makes :meth:`run` return.

    ``deliver(message)`` is called, synchronously, for every valid message for this node:
    a :class:`BusSend` or :class:`BusDisconnect` for one of its sessions (or for a session
    id naming it that it does not have), or a :class:`BusBroadcast` published by another
    node or an emitter (a node's own broadcasts are not delivered back to it). It must not
    block; an exception it raises is logged and the link goes on.
    """

    def __init__(
        self,
        bus: Bus,
        *,
        node_id: str | None = None,
        deliver: Callable[[BusMessage], None] | None = None,
    ) -> None:
        if (node_id is None) != (deliver is None):
            raise TypeError("a node's link needs both node_id and deliver, an emitter's neither")
        self._bus = bus
        self._options = bus.options
        self._node_id = None if node_id is None else check_node_id(node_id)
        self._deliver = deliver
        self._origin = node_id or ""
        self._channel = None if node_id is None else bus.node_channel(node_id)
        self._broadcast_channel = bus.broadcast_channel

        self._queue: deque[tuple[str, bytes]] = deque()
        self._queued_bytes = 0
        self._in_flight = 0
        self._wake_publisher = trio.lowlevel.ParkingLot()
        self._progress = trio.lowlevel.ParkingLot()
        self._health = _Health((_PUBLISHER,) if node_id is None else (_PUBLISHER, _SUBSCRIBER))
        self._running = False
        self._closing = False
        self._closed = trio.Event()

        self._published = 0
        self._unheard = 0
        self._delivered = 0
        self._dropped = 0
        self._dropped_at_outage = 0
        self._invalid = 0
        self._reconnects = 0
        self._full_log = RateLimit()
        self._invalid_log = RateLimit()
        self._deliver_log = RateLimit()

    @property
    def node_id(self) -> str | None:
        """The node this link belongs to, ``None`` for an emitter."""
        return self._node_id

    def __repr__(self) -> str:
        who = f"node {self._node_id}" if self._node_id is not None else "emitter"
        return f"<BusLink {who} on {self._bus!r}>"

    # ------------------------------------------------------------- publishing
    def publish(self, message: BusMessage) -> bool:
        """Queue ``message`` for the bus; ``False`` if it was dropped (buffer full, link closed).

        Never waits. A :class:`BusSend` or :class:`BusDisconnect` goes to the node its
        session id names (``ValueError`` if it names none); a :class:`BusBroadcast` to every
        node. ``ValueError``/``TypeError`` for a message that cannot be encoded or is over
        ``max_message_size``.
        """
        if isinstance(message, BusBroadcast | BusRelay):
            channel = self._broadcast_channel
        else:
            node_id = node_of(message.sid) if isinstance(message.sid, str) else None
            if node_id is None:
                raise ValueError(
                    f"session id {str(message.sid)[:60]!r} names no node "
                    "(ids of Server(node_id='a') start 'a.')"
                )
            channel = self._bus.node_channel(node_id)
        raw = encode(message, self._origin)
        limit = self._options.max_message_size
        if len(raw) > limit:
            raise ValueError(f"bus message of {len(raw)} bytes is over max_message_size ({limit})")
        if self._closing:
            self._dropped += 1
            return False
        if len(self._queue) >= self._options.buffer_size or (
            self._queued_bytes + len(raw) > self._options.buffer_bytes
        ):
            self._dropped += 1
            # During an outage the recovery line reports the drops; otherwise the bus is slow.
            if self._health.outage_since is None and (skipped := self._full_log.allow()) is not None:
                logger.warning(
                    "%r: outgoing buffer full (%d messages, %d bytes), dropping messages "
                    "(%d more dropped since the last report)",
                    self,
                    len(self._queue),
                    self._queued_bytes,
                    skipped,
                )
            return False
        self._queue.append((channel, raw))
        self._queued_bytes += len(raw)
        self._wake_publisher.unpark()
        return True

    async def _next_batch(self) -> list[tuple[str, bytes]]:
        while not self._queue:
            await self._wake_publisher.park()
        batch: list[tuple[str, bytes]] = []
        size = 0
        while self._queue and len(batch) < _BATCH_MESSAGES and size < _BATCH_BYTES:
            item = self._queue.popleft()
            batch.append(item)
            size += len(item[1])
        self._queued_bytes -= size
        self._in_flight = len(batch)
        return batch

    async def _publish_batch(self, publish: Publish, batch: list[tuple[str, bytes]]) -> None:
        done = False
        try:
            self._unheard += await publish(batch)
            done = True
        finally:
            self._in_flight = 0
            if done:
                self._published += len(batch)
            else:
                # At most once: a batch whose publication failed is not sent again.
                self._dropped += len(batch)
            self._progress.unpark_all()

    async def _publish_loop(self) -> None:
        backoff = _Backoff(*self._options.reconnect_backoff)
        while True:
            try:
                async with self._bus.open_publisher() as publish:
                    self._part_up(_PUBLISHER)
                    backoff.reset()
                    while True:
                        await self._publish_batch(publish, await self._next_batch())
            except Exception as exc:
                self._part_down(_PUBLISHER, exc)
            except BaseExceptionGroup as group:
                raise _only_cancellation(group) from None
            await trio.sleep(backoff.delay())

    # -------------------------------------------------------------- receiving
    async def _subscribe_loop(self) -> None:
        assert self._channel is not None
        channels = [self._channel, self._broadcast_channel]
        backoff = _Backoff(*self._options.reconnect_backoff)
        while True:
            try:
                async with self._bus.open_subscriber(channels) as received:
                    self._part_up(_SUBSCRIBER)
                    backoff.reset()
                    await self._receive_all(received)
                raise ConnectionError("the subscription ended")
            except Exception as exc:
                self._part_down(_SUBSCRIBER, exc)
            except BaseExceptionGroup as group:
                raise _only_cancellation(group) from None
            await trio.sleep(backoff.delay())

    async def _receive_all(self, received: AsyncIterator[tuple[str, bytes]]) -> None:
        async for channel, raw in received:
            self._received(channel, raw)

    def _received(self, channel: str, raw: bytes) -> None:
        """Check one envelope from the bus and deliver it (or count it as invalid)."""
        try:
            message, origin = decode(raw, self._options.max_message_size)
        except InvalidEnvelope as exc:
            self._reject(channel, str(exc))
            return
        if channel == self._broadcast_channel:
            if not isinstance(message, BusBroadcast | BusRelay):
                self._reject(channel, f"a {type(message).__name__} on the broadcast channel")
                return
            if origin == self._node_id:
                return  # its own broadcast: the node delivered it locally
        elif channel != self._channel:
            self._reject(channel, "a channel this node did not subscribe to")
            return
        elif isinstance(message, BusBroadcast | BusRelay) or node_of(message.sid) != self._node_id:
            self._reject(channel, "a message for another node")
            return
        self._delivered += 1
        assert self._deliver is not None
        try:
            self._deliver(message)
        except Exception:
            if (skipped := self._deliver_log.allow()) is not None:
                logger.exception(
                    "%r: delivering %s failed (%d more failures since the last report)",
                    self,
                    type(message).__name__,
                    skipped,
                )

    def _reject(self, channel: str, reason: str) -> None:
        self._invalid += 1
        if (skipped := self._invalid_log.allow()) is not None:
            logger.warning(
                "%r: dropped an invalid message on %.100r: %s (%d more invalid since the last report)",
                self,
                channel,
                reason,
                skipped,
            )

    # ------------------------------------------------------------ connection
    def _part_up(self, part: str) -> None:
        first = not self._health.ever_connected
        outage = self._health.up(part)
        if not self._health.connected:
            return
        if outage is not None:
            if not first:
                self._reconnects += 1
            logger.info(
                "%r: bus reachable again after %.1f s; %d messages dropped meanwhile",
                self,
                outage,
                self._dropped - self._dropped_at_outage,
            )
        elif first:
            logger.info("%r: connected", self)

    def _part_down(self, part: str, exc: BaseException) -> None:
        if self._health.down(part):
            self._dropped_at_outage = self._dropped
            first, cap = self._options.reconnect_backoff
            logger.warning(
                "%r: bus unreachable (%s: %s); retrying every %g to %g s; meanwhile outgoing "
                "messages are buffered (up to %d) then dropped%s",
                self,
                part,
                _describe(exc),
                first,
                cap,
                self._options.buffer_size,
                "" if self._node_id is None else ", and messages for this node are lost",
            )
        else:
            logger.debug("%r: %s still failing: %s", self, part, _describe(exc))
        self._progress.unpark_all()

    # -------------------------------------------------------------- lifetime
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect and keep connected until :meth:`aclose` (or cancellation).

        Reports started once connected, or after ``connect_timeout`` if the bus cannot be
        reached (it keeps trying in the background). Messages still buffered when it ends
        are counted as dropped.
        """
        if self._running:
            raise RuntimeError(f"{self!r} is already running")
        self._running = True
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._publish_loop)
                if self._node_id is not None:
                    nursery.start_soon(self._subscribe_loop)
                with trio.move_on_after(self._options.connect_timeout):
                    await self._health.first_connected.wait()
                task_status.started()
                await self._closed.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._health.stop()
            left = len(self._queue)
            if left:
                self._dropped += left
                self._queue.clear()
                self._queued_bytes = 0
                logger.warning("%r: closed with %d messages not published", self, left)

    async def aclose(self) -> None:
        """Stop taking messages, publish the buffered ones (within ``flush_timeout``), then stop.

        It does not wait while the bus is unreachable: what is still buffered then is
        counted as dropped.
        """
        self._closing = True
        with trio.move_on_after(self._options.flush_timeout):
            while (self._queue or self._in_flight) and self._health.is_up(_PUBLISHER):
                await self._progress.park()
        self._closed.set()
        await trio.lowlevel.checkpoint()

    def statistics(self) -> BusStatistics:
        """A snapshot of the link's counters (cheap)."""
        return BusStatistics(
            node_id=self._node_id,
            connected=self._health.connected,
            published=self._published,
            unheard=self._unheard,
            delivered=self._delivered,
            dropped=self._dropped,
            invalid=self._invalid,
            reconnects=self._reconnects,
            buffered=len(self._queue),
            buffered_bytes=self._queued_bytes,
        )


@asynccontextmanager
async def open_bus_link(
    bus: Bus,
    *,
    node_id: str | None = None,
    deliver: Callable[[BusMessage], None] | None = None,
) -> AsyncIterator[BusLink]:
    """Run a :class:`BusLink` for the duration of the block; leaving it flushes and closes it."""
    link = BusLink(bus, node_id=node_id, deliver=deliver)
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        try:
            yield link
        finally:
            await link.aclose()
