"""The abstract bus: options shared by every implementation, channel names, and the transport.

A :class:`Bus` is configuration plus a *transport*: two methods that open a connection to
publish on and a subscription to receive from. Everything else (the envelope, the
outgoing buffer, reconnecting, statistics) is done once for every bus by
:class:`~trio_engineio.bus.link.BusLink`, which calls only the public methods below.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from .messages import check_node_id

__all__ = ["Bus", "BusOptions", "Publish"]

#: Publish ``(channel, envelope)`` pairs, in order; returns how many of them reached no
#: subscriber (``0`` if the bus cannot tell); raises if the connection failed.
Publish = Callable[[Sequence[tuple[str, bytes]]], Awaitable[int]]


@dataclass(frozen=True)
class BusOptions:
    """The settings every bus shares (see :class:`Bus` for what each one means)."""

    channel_prefix: str
    max_message_size: int
    buffer_size: int
    buffer_bytes: int
    reconnect_backoff: tuple[float, float]
    connect_timeout: float
    flush_timeout: float

    def __post_init__(self) -> None:
        prefix = self.channel_prefix
        if not (isinstance(prefix, str) and prefix.isprintable() and prefix.strip() == prefix != ""):
            raise ValueError(f"channel_prefix must be a non-empty printable str, got {prefix!r}")
        if " " in prefix:
            raise ValueError(f"channel_prefix must not contain spaces, got {prefix!r}")
        if not 64 <= self.max_message_size <= 512 * 1024 * 1024:
            raise ValueError("max_message_size must be between 64 bytes and 512 MiB")
        if self.buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        if self.buffer_bytes < self.max_message_size:
            raise ValueError("buffer_bytes must be at least max_message_size")
        first, cap = self.reconnect_backoff
        if not (0 < first <= cap < math.inf):
            raise ValueError("reconnect_backoff must be (first, cap) with 0 < first <= cap")
        if not 0 < self.connect_timeout < math.inf:
            raise ValueError("connect_timeout must be a positive number of seconds")
        if not 0 <= self.flush_timeout < math.inf:
            raise ValueError("flush_timeout must be a non-negative number of seconds")


class Bus(ABC):
    """A message bus between server processes: pass one to ``Server(bus=...)`` and :func:`open_emitter`.

    The implementations are :class:`~trio_engineio.RedisBus` (Redis pub/sub, between
    processes and hosts) and :class:`trio_engineio.testing.MemoryBus` (in one process,
    for tests). One bus object can serve a server and any number of emitters: each of
    them opens its own connections to the bus.

    Delivery is **at most once**: a message is lost, never repeated, when the bus is
    unreachable long enough for the outgoing buffer to fill, when a connection fails
    with messages in flight, or when the receiving node is not subscribed at that moment.
    Every loss a node can see is counted in its statistics. Messages from one publisher
    to one node arrive in the order they were published.

    The options, common to every bus:

    ``channel_prefix``
        Start of every channel name (``<prefix>:node:<node id>``, ``<prefix>:all``): give
        each application sharing a Redis server its own.
    ``max_message_size``
        The largest encoded message, in bytes: the payload (UTF-8 for text) plus a header
        of a few bytes plus the excluded session ids of a broadcast. Publishing a larger one
        raises ``ValueError``; a larger one received is counted as invalid and dropped.
    ``buffer_size``, ``buffer_bytes``
        Bounds of the outgoing buffer (messages waiting to be published) of each server or
        emitter. It absorbs bursts and short outages; when it is full a new message is
        dropped and counted, the sender never waits.
    ``reconnect_backoff``
        ``(first, cap)``: after a failure the bus is retried after ``first`` seconds, then
        twice as long each time up to ``cap`` (with jitter): it recovers by itself at most
        ``cap`` seconds (plus the connection time) after it is reachable again.
    ``connect_timeout``
        How long opening a connection may take; also how long a server or emitter
        waits for the bus when it starts before going on without it (it keeps trying).
    ``flush_timeout``
        How long closing an emitter or a server waits for its buffered messages to be
        published (it does not wait while the bus is unreachable).

    A new bus implements :meth:`open_publisher` and :meth:`open_subscriber`.
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
        self._options = BusOptions(
            channel_prefix=channel_prefix,
            max_message_size=max_message_size,
            buffer_size=buffer_size,
            buffer_bytes=buffer_bytes,
            reconnect_backoff=(float(reconnect_backoff[0]), float(reconnect_backoff[1])),
            connect_timeout=connect_timeout,
            flush_timeout=flush_timeout,
        )

    @property
    def options(self) -> BusOptions:
        """The bus's settings."""
        return self._options

    @property
    def broadcast_channel(self) -> str:
        """The channel every node subscribes to for broadcasts."""
        return f"{self._options.channel_prefix}:all"

    def node_channel(self, node_id: str) -> str:
        """The channel node ``node_id`` subscribes to for messages to its own sessions."""
        return f"{self._options.channel_prefix}:node:{check_node_id(node_id)}"

    @abstractmethod
    def open_publisher(self) -> AbstractAsyncContextManager[Publish]:
        """Open a connection to publish on; it yields a :data:`Publish` function.

        Entering raises (any ``Exception``) if the bus cannot be reached within
        ``connect_timeout``; the function raises when publishing fails. Both are taken as
        "the bus is unreachable" and retried with backoff. The function should reconnect by
        itself when it can (a pooled Redis client does): an idle publisher only learns of a
        lost connection when it next publishes, and that batch is lost.
        """

    @abstractmethod
    def open_subscriber(
        self, channels: Sequence[str]
    ) -> AbstractAsyncContextManager[AsyncIterator[tuple[str, bytes]]]:
        """Subscribe to ``channels``; it yields an iterator of ``(channel, envelope)`` pairs.

        Entering returns once the subscription is active (a message published after that
        is received) and raises (any ``Exception``) if it cannot be set up within
        ``connect_timeout``. The iterator raises, or ends, when the connection is lost.
        """
