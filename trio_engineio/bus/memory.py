"""A bus inside one process, for tests: :class:`MemoryBus`."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio

from .base import Bus, Publish

__all__ = ["MemoryBus"]

#: Like Redis's pub/sub output buffer limit: a subscriber that falls this far behind is cut off.
_SUBSCRIBER_LIMIT = 10_000


class _Subscription:
    """The receiving end of one subscriber: what was published on its channels, in order."""

    def __init__(self, channels: Sequence[str]) -> None:
        self.channels = tuple(channels)
        self._queue: deque[tuple[str, bytes]] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._error: Exception | None = None

    def push(self, channel: str, raw: bytes) -> None:
        if len(self._queue) >= _SUBSCRIBER_LIMIT:
            self.cut(ConnectionError("memory bus: subscriber too far behind, disconnected"))
            return
        self._queue.append((channel, raw))
        self._lot.unpark_all()

    def cut(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
            self._lot.unpark_all()

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> tuple[str, bytes]:
        while not self._queue and self._error is None:
            await self._lot.park()
        if self._error is not None:
            raise self._error
        return self._queue.popleft()


class MemoryBus(Bus):
    """A bus between servers and emitters in one process, for tests.

    It runs the same machinery as :class:`~trio_engineio.RedisBus` (envelopes, buffering,
    reconnecting, statistics), with channels in memory instead of Redis, so tests can use
    ``autojump_clock``. Two helpers make faults: :meth:`set_reachable` takes the bus down
    and back up, :meth:`inject` publishes raw bytes as another process could. Takes the
    options of :class:`~trio_engineio.Bus`, with the same defaults.
    """

    def __init__(
        self,
        *,
        channel_prefix: str = "trio_engineio",
        max_message_size: int = 1024 * 1024,
        buffer_size: int = 10_000,
        buffer_bytes: int = 16 * 1024 * 1024,
        reconnect_backoff: tuple[float, float] = (0.1, 5.0),
        connect_timeout: float = 2.0,
        flush_timeout: float = 2.0,
    ) -> None:
        super().__init__(
            channel_prefix=channel_prefix,
            max_message_size=max_message_size,
            buffer_size=buffer_size,
            buffer_bytes=buffer_bytes,
            reconnect_backoff=reconnect_backoff,
            connect_timeout=connect_timeout,
            flush_timeout=flush_timeout,
        )
        self._subscriptions: set[_Subscription] = set()
        self._reachable = True
        # Bumped at every outage: a connection opened before it is dead.
        self._generation = 0

    def __repr__(self) -> str:
        return f"MemoryBus(channel_prefix={self.options.channel_prefix!r})"

    @property
    def reachable(self) -> bool:
        """Whether connections to the bus work (see :meth:`set_reachable`)."""
        return self._reachable

    def set_reachable(self, reachable: bool) -> None:
        """Simulate an outage (``False``): every connection fails and new ones are refused.

        ``True`` ends it; links reconnect by themselves, with their backoff.
        """
        if self._reachable and not reachable:
            self._generation += 1
            for subscription in self._subscriptions:
                subscription.cut(ConnectionError("memory bus: connection lost"))
        self._reachable = reachable

    def inject(self, channel: str, raw: bytes) -> int:
        """Publish ``raw`` bytes on ``channel`` as is; the number of subscribers reached.

        For tests of what a node does with envelopes it did not write (garbage, other
        versions, oversized ones).
        """
        receivers = [s for s in self._subscriptions if channel in s.channels]
        for subscription in receivers:
            subscription.push(channel, raw)
        return len(receivers)

    def _check(self, generation: int) -> None:
        if not self._reachable or generation != self._generation:
            raise ConnectionError("memory bus: connection lost")

    @asynccontextmanager
    async def open_publisher(self) -> AsyncIterator[Publish]:
        """A connection to publish on (``ConnectionError`` while the bus is unreachable).

        Like a pooled Redis client, it reconnects by itself at each call: it fails only
        while the bus is unreachable.
        """
        await trio.lowlevel.checkpoint()
        self._check(self._generation)

        async def publish(batch: Sequence[tuple[str, bytes]]) -> int:
            await trio.lowlevel.checkpoint()
            self._check(self._generation)
            return sum(self.inject(channel, raw) == 0 for channel, raw in batch)

        yield publish

    @asynccontextmanager
    async def open_subscriber(
        self, channels: Sequence[str]
    ) -> AsyncIterator[AsyncIterator[tuple[str, bytes]]]:
        """A subscription to ``channels`` (``ConnectionError`` while the bus is unreachable)."""
        await trio.lowlevel.checkpoint()
        self._check(self._generation)
        subscription = _Subscription(channels)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
