"""Sending to sessions from a process that runs no server: :func:`open_emitter`."""

from __future__ import annotations

import json as stdlib_json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._json import JSONModule, to_message
from .base import Bus
from .link import BusLink, BusStatistics, open_bus_link
from .messages import BusBroadcast, BusDisconnect, BusSend

__all__ = ["Emitter", "open_emitter"]


class Emitter:
    """Sends to sessions on any node through a bus, from a process with no server.

    Get one with ``async with open_emitter(bus) as emitter:`` (:func:`open_emitter`).
    Sending never waits for the bus: messages go into a bounded buffer that a background
    task publishes; when it is full (the bus is unreachable, say) they are dropped and
    counted in :meth:`statistics`. Delivery is at most once (see :class:`Bus`).
    """

    def __init__(self, link: BusLink, *, json: JSONModule | None = None) -> None:
        self._link = link
        self._json: JSONModule = json if json is not None else stdlib_json

    async def send(self, sid: str, data: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Send ``data`` to session ``sid`` on whichever node holds it.

        ``str`` arrives as a text message, ``bytes`` as binary, ``dict``/``list`` as JSON
        text. ``ValueError`` if ``sid`` names no node (ids from ``Server(node_id="a")``
        start with ``"a."``) or the message is over the bus's ``max_message_size``. A
        session that no longer exists is counted by the node that owns its id.
        """
        self._link.publish(BusSend(sid, to_message(data, self._json)))
        await trio.lowlevel.checkpoint()

    async def disconnect(self, sid: str) -> None:
        """Close session ``sid`` on whichever node holds it."""
        self._link.publish(BusDisconnect(sid))
        await trio.lowlevel.checkpoint()

    async def broadcast(
        self, data: str | bytes | dict[str, Any] | list[Any], exclude: str | Iterable[str] | None = None
    ) -> None:
        """Send ``data`` to every session on every node, except the ``exclude`` session id(s)."""
        if exclude is None:
            excluded: frozenset[str] = frozenset()
        elif isinstance(exclude, str):
            excluded = frozenset((exclude,))
        else:
            excluded = frozenset(exclude)
        self._link.publish(BusBroadcast(to_message(data, self._json), excluded))
        await trio.lowlevel.checkpoint()

    def statistics(self) -> BusStatistics:
        """The counters of the emitter's link to the bus (published, dropped, connected, ...)."""
        return self._link.statistics()


@asynccontextmanager
async def open_emitter(bus: Bus, *, json: JSONModule | None = None) -> AsyncIterator[Emitter]:
    """``async with open_emitter(bus) as emitter:``: an :class:`Emitter` publishing on ``bus``.

    Entering waits for the bus up to its ``connect_timeout`` (then goes on without it,
    buffering, and keeps trying). Leaving publishes what is still buffered, within its
    ``flush_timeout``, and closes the connection. ``json`` encodes ``dict``/``list``
    messages (the stdlib module by default, as for :class:`~trio_engineio.Server`).
    """
    async with open_bus_link(bus) as link:
        yield Emitter(link, json=json)
