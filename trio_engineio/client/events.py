"""The event-style client, for code written against python-engineio's ``AsyncClient``.

::

    async with trio_engineio.Client() as client:
        @client.on("message")
        async def on_message(data):
            print(data)

        await client.connect("http://localhost:8000")
        await client.send("hello")
        await client.wait()

It runs on :func:`~trio_engineio.open_client`: the connection task lives in a
nursery you can see (the one ``async with Client()`` opens, or one you pass as
``Client(nursery=...)``); handlers run in that task one after the other, in
message order. No global state, no signal handlers.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, TypeVar

import trio

from .._callables import call_maybe_async
from .._exceptions import ConnectionClosed
from ..protocol.reasons import CloseInfo, CloseReason
from .common import single_exception
from .connection import ClientConnection, check_client_options, open_client

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["Client"]

logger = logging.getLogger("trio_engineio.client")

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)
_EVENTS = ("connect", "message", "disconnect")


class Client:
    """An Engine.IO client with ``@client.on(...)`` handlers.

    ``connect`` handlers get no argument, ``message`` handlers the message
    (``str`` or ``bytes``), ``disconnect`` handlers the reason string if they
    take an argument. Handlers may be plain functions or coroutines; an
    exception in one is logged and the connection goes on. Options given
    here (e.g. ``http_client``, ``ssl``, ``connect_timeout``) are passed to
    :func:`~trio_engineio.open_client` on every :meth:`connect`.
    """

    def __init__(self, *, nursery: trio.Nursery | None = None, **options: Any) -> None:
        # Fail here, not at connect(): unknown names -> TypeError, bad values -> ValueError.
        check_client_options(options, caller="Client()")
        if nursery is not None and not isinstance(nursery, trio.Nursery):
            raise TypeError(f"nursery must be a trio.Nursery, not {type(nursery).__name__}")
        self._nursery = nursery
        self._options = options
        self._handlers: dict[str, Handler] = {}
        self._exit_stack: AsyncExitStack | None = None
        self._conn: ClientConnection | None = None
        self._done: trio.Event | None = None
        self._close_info: CloseInfo | None = None

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Client:
        """Open the nursery the connection task runs in."""
        if self._nursery is not None:
            raise RuntimeError("this Client already has a nursery")
        stack = AsyncExitStack()
        self._nursery = await stack.enter_async_context(trio.open_nursery())
        self._exit_stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Disconnect (bounded, shielded) and close the nursery."""
        stack, self._exit_stack = self._exit_stack, None
        try:
            with trio.CancelScope(shield=True):
                await self.disconnect()
        finally:
            self._nursery = None
        if stack is None:
            return None
        try:
            return await stack.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # The connection task never raises: a group holds the block's own exception.
            single = single_exception(group)
            if single is None:
                raise
            raise single from None

    # --------------------------------------------------------------- events
    def on(self, event: str, handler: H | None = None) -> Any:
        """Register ``handler`` for ``"connect"``, ``"message"`` or ``"disconnect"``.

        Use as ``client.on("message", fn)`` or as a decorator ``@client.on("message")``.
        """
        if event not in _EVENTS:
            raise ValueError(f"unknown event {event!r}: use one of {', '.join(_EVENTS)}")

        def register(fn: H) -> H:
            self._handlers[event] = fn
            return fn

        if handler is None:
            return register
        return register(handler)

    async def _trigger(self, event: str, *args: Any) -> None:
        handler = self._handlers.get(event)
        if handler is None:
            return
        if event == "disconnect" and not _accepts_argument(handler):
            args = ()
        try:
            await call_maybe_async(handler, *args)
        except Exception:
            logger.exception("%s handler raised", event)

    # ----------------------------------------------------------- connection
    @property
    def sid(self) -> str | None:
        """The session id while connected (``None`` otherwise)."""
        return self._conn.sid if self._conn is not None and not self._conn.closed else None

    @property
    def connected(self) -> bool:
        """True between a successful :meth:`connect` and the disconnect."""
        return self._conn is not None and not self._conn.closed

    @property
    def close_info(self) -> CloseInfo | None:
        """Why the last connection ended (``None`` while connected or never connected)."""
        return self._close_info

    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"`` while connected, else ``None``."""
        return self._conn.transport if self.connected and self._conn is not None else None

    async def connect(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        transports: Sequence[str] | None = None,
        engineio_path: str = "engine.io",
        **options: Any,
    ) -> None:
        """Connect, run the ``connect`` handler, then return; messages flow in the background.

        Raises what :func:`~trio_engineio.open_client` raises when no session
        can be opened (e.g. :class:`~trio_engineio.ConnectionRejected`).
        """
        if self._nursery is None:
            raise RuntimeError("use `async with Client() as client` or Client(nursery=...) first")
        if self._done is not None and not self._done.is_set():
            raise RuntimeError("already connected")
        check_client_options(options, caller="connect()")
        kwargs = {**self._options, **options}
        # Given here, they win over the constructor's; not given, the constructor's apply.
        headers = headers if headers is not None else kwargs.pop("headers", None)
        transports = transports if transports is not None else kwargs.pop("transports", None)
        engineio_path = (
            kwargs.pop("engineio_path", engineio_path) if engineio_path == "engine.io" else engineio_path
        )
        kwargs.pop("headers", None)
        kwargs.pop("transports", None)
        kwargs.pop("engineio_path", None)
        self._close_info = None
        await self._nursery.start(self._run, url, headers, transports, engineio_path, kwargs)

    async def _run(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        transports: Sequence[str] | None,
        engineio_path: str,
        options: dict[str, Any],
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        done = self._done = trio.Event()
        connected = False
        try:
            async with open_client(
                url, headers=headers, transports=transports, engineio_path=engineio_path, **options
            ) as conn:
                self._conn = conn
                connected = True
                await self._trigger("connect")
                task_status.started()
                async for message in conn:
                    await self._trigger("message", message)
        finally:
            conn_ = self._conn
            if connected and conn_ is not None:
                self._close_info = conn_.close_info or CloseInfo(CloseReason.CLIENT_DISCONNECT)
                with trio.CancelScope(shield=True, deadline=trio.current_time() + 5.0):
                    await self._trigger("disconnect", self._close_info.reason.value)
            done.set()

    async def send(self, data: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Send a message (see :meth:`ClientConnection.send`)."""
        if self._conn is None:
            raise ConnectionClosed(CloseInfo(CloseReason.TRANSPORT_CLOSE, "not connected"))
        await self._conn.send(data)

    async def wait(self) -> None:
        """Wait until the connection ends (returns at once if there is none)."""
        if self._done is not None:
            await self._done.wait()

    async def disconnect(self) -> None:
        """Close the connection and wait until the ``disconnect`` handler has run."""
        if self._conn is not None and not self._conn.closed:
            await self._conn.aclose()
        await self.wait()


def _accepts_argument(handler: Callable[..., Awaitable[Any] | Any]) -> bool:
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind("reason")
    except TypeError:
        return False
    return True
