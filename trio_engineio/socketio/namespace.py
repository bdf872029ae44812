"""Class-based namespaces: a :class:`Namespace` subclass with ``on_<event>`` methods."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ._handlers import call_handler

if TYPE_CHECKING:
    from .server import Server

__all__ = ["Namespace"]


class Namespace:
    """Handlers of one namespace, as methods: ``on_connect(sid, environ, auth)``, ``on_<event>(sid, *args)``.

    ``on_disconnecting(sid, reason)`` and ``on_disconnect(sid, reason)`` too.

    Register it with :meth:`Server.register_namespace`. The helpers (:meth:`emit`,
    :meth:`call`, :meth:`enter_room`...) are the server's, defaulting to this
    namespace. An event with no ``on_<event>`` method is ignored.
    """

    def __init__(self, namespace: str | None = None) -> None:
        #: The namespace this class handles (``"/"`` by default).
        self.namespace = namespace or "/"
        self._server: Server | None = None

    def _set_server(self, server: Server) -> None:
        self._server = server

    @property
    def server(self) -> Server:
        """The server this namespace is registered with."""
        if self._server is None:
            raise RuntimeError("namespace not registered with a server")
        return self._server

    def handler_for(self, event: str) -> Callable[..., Any] | None:
        """The ``on_<event>`` method for ``event``, or ``None``."""
        handler = getattr(self, "on_" + event, None)
        return handler if callable(handler) else None

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Call the ``on_<event>`` method with ``args``; ``None`` if there is none."""
        handler = self.handler_for(event)
        if handler is None:
            return None
        return await call_handler(handler, *args)

    async def emit(
        self,
        event: str,
        data: Any = None,
        to: str | list[str] | None = None,
        room: str | list[str] | None = None,
        skip_sid: str | list[str] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        *,
        volatile: bool = False,
    ) -> None:
        """:meth:`Server.emit` in this namespace."""
        await self.server.emit(
            event,
            data,
            to=to,
            room=room,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
            volatile=volatile,
        )

    async def call(
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        *,
        timeout: float = 60,
        namespace: str | None = None,
    ) -> Any:
        """:meth:`Server.call` in this namespace."""
        return await self.server.call(
            event, data, to=to, timeout=timeout, namespace=namespace or self.namespace
        )

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """:meth:`Server.enter_room` in this namespace."""
        await self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """:meth:`Server.leave_room` in this namespace."""
        await self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]:
        """:meth:`Server.rooms` in this namespace."""
        return self.server.rooms(sid, namespace=namespace or self.namespace)

    async def disconnect(self, sid: str, namespace: str | None = None) -> None:
        """:meth:`Server.disconnect` in this namespace."""
        await self.server.disconnect(sid, namespace=namespace or self.namespace)

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        """:meth:`Server.get_session` in this namespace."""
        return await self.server.get_session(sid, namespace=namespace or self.namespace)

    async def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        """:meth:`Server.save_session` in this namespace."""
        await self.server.save_session(sid, session, namespace=namespace or self.namespace)

    @asynccontextmanager
    async def session(self, sid: str, namespace: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """:meth:`Server.session` in this namespace."""
        async with self.server.session(sid, namespace=namespace or self.namespace) as data:
            yield data
