"""Reconnection, trio style: ``async with open_reconnecting_client(url) as connections``.

::

    async with trio_engineio.open_reconnecting_client(url) as connections:
        async for conn in connections:
            async for message in conn:
                print(message)
            print("lost:", conn.close_info)

Each ``conn`` is a :class:`~trio_engineio.ClientConnection` of its own (a new session,
a new sid). Task tree::

    open_reconnecting_client(...)   the caller's task: waits for the first connection, then the block
    └── nursery
        └── connector               open_client() for each connection in turn: hands the
                                    connection over, closes it when the caller asks for
                                    the next one, waits the backoff, connects again

The connector only connects again when the caller asks (``async for`` moves on), so no
session is opened that nobody reads, and leaving the block (normally, by an exception or
by cancellation, even in the middle of a backoff wait) closes the current connection
and stops everything.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._backoff import Backoff
from .._exceptions import EngineIOConnectionError
from .common import single_exception
from .connection import ClientConnection, check_client_options, open_client

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["ReconnectingClient", "open_reconnecting_client"]

logger = logging.getLogger("trio_engineio.client")

_Result = ClientConnection | EngineIOConnectionError


class ReconnectingClient:
    """The connections of :func:`open_reconnecting_client`, one after the other.

    ``async for conn in connections`` yields a new :class:`~trio_engineio.ClientConnection`
    each time the previous one is over (and the backoff has passed). Asking for the next
    connection closes the previous one if it is still open. When the retries run out,
    the iteration raises the last connection error
    (:class:`~trio_engineio.EngineIOConnectionError`); with ``reconnection_attempts=0``
    it never ends on its own.
    """

    def __init__(self, url: str, options: dict[str, Any], backoff: Backoff, retry: bool) -> None:
        self._url = url
        self._options = options
        self._backoff = backoff
        self._retry = retry
        self._results_in, self._results = trio.open_memory_channel[_Result](0)
        # The caller is done with the connection it holds: room for one signal is enough.
        self._release_in, self._release = trio.open_memory_channel[None](1)
        self._holding = False
        self._connections = 0
        self._attempt = 0

    @property
    def connections(self) -> int:
        """Connections opened so far (the first one included)."""
        return self._connections

    @property
    def attempt(self) -> int:
        """The retry under way since the last connection was lost or failed (0 while connected)."""
        return self._attempt

    def __aiter__(self) -> ReconnectingClient:
        """``async for conn in connections``."""
        return self

    async def __anext__(self) -> ClientConnection:
        """The next connection; raises the last connection error once the retries run out."""
        if self._holding:
            self._holding = False
            self._release_in.send_nowait(None)  # at most one: we held one connection
        try:
            result = await self._results.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
        if isinstance(result, EngineIOConnectionError):
            raise result
        self._holding = True
        return result

    async def _connector(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open each connection, hand it over, close it once released; back off between them.

        Reports to ``nursery.start`` once the first connection is open; raises the
        connection error instead if the first connection fails (after the retries,
        with ``retry=True``).
        """
        backoff = self._backoff
        first = True
        last_error: EngineIOConnectionError | None = None
        async with self._results_in:
            while True:
                try:
                    async with open_client(self._url, **self._options) as conn:
                        self._attempt = 0
                        self._connections += 1
                        if first:
                            first = False
                            task_status.started()
                        await self._results_in.send(conn)
                        await self._release.receive()
                    # Leaving the block closes the connection (if the server did not first).
                except EngineIOConnectionError as error:
                    if first and not self._retry:
                        raise
                    last_error = error
                    logger.info("connecting failed (retry %d): %s", self._attempt, error)
                self._attempt += 1
                if backoff.gives_up(self._attempt):
                    assert last_error is not None  # a retry count is only exceeded by failures
                    logger.info("giving up after %d reconnection attempts", self._attempt - 1)
                    if first:
                        raise last_error
                    await self._results_in.send(last_error)
                    return
                await trio.sleep(backoff.delay(self._attempt))


@asynccontextmanager
async def open_reconnecting_client(
    url: str,
    *,
    reconnection_attempts: int = 0,
    reconnection_delay: float = 1,
    reconnection_delay_max: float = 5,
    randomization_factor: float = 0.5,
    retry: bool = False,
    **options: Any,
) -> AsyncIterator[ReconnectingClient]:
    """Connect like :func:`~trio_engineio.open_client`, and connect again whenever a connection ends.

    Yields a :class:`ReconnectingClient`: ``async for conn in connections``. The first
    connection is open when the block starts; it raises what :func:`open_client`
    raises if it cannot be, unless ``retry=True``, which retries it on the same
    schedule as the reconnections. After a connection ends (lost, or closed by either
    side) and the loop asks for the next, retry number ``n`` waits
    ``reconnection_delay * 2 ** (n - 1)`` seconds, capped at ``reconnection_delay_max``
    and randomized by ``± randomization_factor`` (socket.io-client's defaults: 1 s, 5 s,
    0.5). ``reconnection_attempts`` retries at most (0: no limit); then the loop raises
    the last :class:`~trio_engineio.EngineIOConnectionError`. Every other keyword
    option is :func:`open_client`'s and applies to every connection.
    """
    check_client_options(options, caller="open_reconnecting_client()")
    if not isinstance(retry, bool):
        raise TypeError(f"retry must be a bool, not {type(retry).__name__}")
    backoff = Backoff(reconnection_attempts, reconnection_delay, reconnection_delay_max, randomization_factor)
    connections = ReconnectingClient(url, options, backoff, retry)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(connections._connector)
            try:
                yield connections
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The connector raises only before it started (then start() re-raised it): a group
        # holds the block's own exception, re-raised as is.
        single = single_exception(group)
        if single is None:
            raise
        raise single from None
