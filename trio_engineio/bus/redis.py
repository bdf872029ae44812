"""The Redis bus: pub/sub through coredis (which runs on trio through anyio).

coredis is an optional dependency (``pip install 'trio-engineio-v4[redis]'``): this module
imports it only when a :class:`RedisBus` is built, so ``trio_engineio.RedisBus`` can be
imported without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .base import Bus, Publish

if TYPE_CHECKING:
    import coredis
    from coredis.patterns.pubsub import PubSub

__all__ = ["RedisBus"]

_SCHEMES = ("redis", "rediss", "unix")


def _redacted(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (for logs and reprs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class _Messages:
    """The ``(channel, envelope)`` pairs of a coredis subscription (subscribe acks skipped)."""

    def __init__(self, pubsub: PubSub[bytes]) -> None:
        self._pubsub = pubsub

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> tuple[str, bytes]:
        while True:
            message = await self._pubsub.get_message()
            if message is None or message["type"] != "message":
                continue
            channel: Any = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode("utf-8", "replace")
            # The link checks the channel and the data's type: this is untrusted input.
            data: Any = message["data"]
            return str(channel), data


class RedisBus(Bus):
    """A bus over Redis pub/sub, between processes and hosts (needs ``coredis``).

    ``url`` is a ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS) or
    ``unix://[[user]:password@]/path/to/socket`` URL. Each server opens two connections
    (one publishes, one is subscribed to the server's own channel and the broadcast
    channel), each emitter one. See :class:`~trio_engineio.Bus` for the other options and
    for what the bus guarantees (at most once); ``connect_timeout`` here also bounds how
    long Redis may take to answer a command.

    Redis outages are survived, not hidden: while Redis is unreachable publishing goes on
    into the bounded buffer, the connections are retried with backoff, one warning is logged
    when the outage begins and one line when it ends, and the losses are counted. A
    subscription on a connection that dies silently is noticed by coredis's keepalive
    ``PING`` (after 15 s without traffic).

    ``ImportError`` if coredis is not installed (``pip install 'trio-engineio-v4[redis]'``).
    """

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = "trio_engineio",
        max_message_size: int = 1024 * 1024,
        buffer_size: int = 10_000,
        buffer_bytes: int = 16 * 1024 * 1024,
        reconnect_backoff: tuple[float, float] = (0.1, 5.0),
        connect_timeout: float = 2.0,
        flush_timeout: float = 2.0,
    ) -> None:
        try:
            import coredis  # noqa: F401 (only checks that it is there)
        except ImportError as exc:
            raise ImportError(
                "trio_engineio.RedisBus needs coredis: pip install 'trio-engineio-v4[redis]'",
                name="coredis",
            ) from exc
        super().__init__(
            channel_prefix=channel_prefix,
            max_message_size=max_message_size,
            buffer_size=buffer_size,
            buffer_bytes=buffer_bytes,
            reconnect_backoff=reconnect_backoff,
            connect_timeout=connect_timeout,
            flush_timeout=flush_timeout,
        )
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES or (parts.scheme != "unix" and not parts.hostname):
            raise ValueError(f"not a Redis URL: {_redacted(url)!r} (use redis://host:port/db)")
        self._url = url

    @property
    def url(self) -> str:
        """The Redis URL, with the password (if any) replaced by ``***``."""
        return _redacted(self._url)

    def __repr__(self) -> str:
        return f"RedisBus({self.url!r})"

    def _client(self, role: str) -> coredis.Redis[bytes]:
        import coredis
        from coredis.retry import NoRetryPolicy

        timeout = self.options.connect_timeout
        return coredis.Redis.from_url(
            self._url,
            decode_responses=False,
            # The link retries with its own backoff and counts what it loses.
            retry_policy=NoRetryPolicy(),
            connect_timeout=timeout,
            stream_timeout=timeout,
            client_name=f"{self.options.channel_prefix}:{role}",
        )

    @asynccontextmanager
    async def open_publisher(self) -> AsyncIterator[Publish]:
        """A connection to publish on (checked with a ``PING``); batches go as one pipeline."""
        client = self._client("publisher")
        async with client:
            await client.ping()

            async def publish(batch: Sequence[tuple[str, bytes]]) -> int:
                if len(batch) == 1:
                    channel, raw = batch[0]
                    return int(await client.publish(channel, raw) == 0)
                async with client.pipeline(transaction=False) as pipe:
                    requests = [pipe.publish(channel, raw) for channel, raw in batch]
                return sum([await request == 0 for request in requests])

            yield publish

    @asynccontextmanager
    async def open_subscriber(
        self, channels: Sequence[str]
    ) -> AsyncIterator[AsyncIterator[tuple[str, bytes]]]:
        """A subscription to ``channels``; yields once Redis acknowledged it."""
        client = self._client("subscriber")
        async with (
            client,
            client.pubsub(
                channels=list(channels),
                ignore_subscribe_messages=True,
                # The link reconnects (and resubscribes) with its own backoff.
                retry_policy=None,
                subscription_timeout=self.options.connect_timeout,
            ) as pubsub,
        ):
            yield _Messages(pubsub)
