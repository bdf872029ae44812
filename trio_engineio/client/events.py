"""The event-style client, for code written against python-engineio's ``AsyncClient``.

::

    async with trio_engineio.Client() as client:
        @client.on("message")
        async def on_message(data):
            print(data)

        await client.connect("http://localhost:8000")
        await client.send("hello")
        await client.wait()

It runs on :func:`~trio_engineio.open_reconnecting_client`: the connection task
lives in a nursery you can see (the one ``async with Client()`` opens, or one you
pass as ``Client(nursery=...)``); handlers run in that task one after the other,
in message order. With ``Client(reconnection=True)`` that task connects again
after a lost connection. No global state, no signal handlers.
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

from .._backoff import Backoff
from .._callables import call_maybe_async
from .._exceptions import ConnectionClosed, EngineIOConnectionError
from ..protocol.reasons import CloseInfo, CloseReason
from .common import single_exception
from .connection import ClientConnection, check_client_options
from .reconnecting import open_reconnecting_client

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["Client"]

logger = logging.getLogger("trio_engineio.client")

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)
_EVENTS = ("connect", "message", "disconnect", "reconnect_failed")


class Client:
    """An Engine.IO client with ``@client.on(...)`` handlers.

    ``connect`` handlers get no argument, ``message`` handlers the message
    (``str`` or ``bytes``), ``disconnect`` handlers the reason string if they
    take an argument, ``reconnect_failed`` handlers no argument. Handlers may
    be plain functions or coroutines; an exception in one is logged and the
    connection goes on. Options given here (e.g. ``http_client``, ``ssl``,
    ``connect_timeout``) are passed to :func:`~trio_engineio.open_client` on
    every connection.

    Reconnection (off by default, as in engine.io-client): with
    ``reconnection=True`` a connection that ends for any reason but
    :meth:`disconnect` is followed by another, ``connect`` firing again each
    time. Retry ``n`` waits ``reconnection_delay * 2 ** (n - 1)`` seconds,
    capped at ``reconnection_delay_max`` and randomized by
    ``± randomization_factor``; after ``reconnection_attempts`` failed retries
    (0: no limit) ``reconnect_failed`` fires and :meth:`wait` returns. The
    names, defaults and formula are socket.io-client's and python-socketio's.
    """

    def __init__(
        self,
        *,
        nursery: trio.Nursery | None = None,
        reconnection: bool = False,
        reconnection_attempts: int = 0,
        reconnection_delay: float = 1,
        reconnection_delay_max: float = 5,
        randomization_factor: float = 0.5,
        **options: Any,
    ) -> None:
        # Fail here, not at connect(): unknown names -> TypeError, bad values -> ValueError.
        check_client_options(options, caller="Client()")
        if nursery is not None and not isinstance(nursery, trio.Nursery):
            raise TypeError(f"nursery must be a trio.Nursery, not {type(nursery).__name__}")
        if not isinstance(reconnection, bool):
            raise TypeError(f"reconnection must be a bool, not {type(reconnection).__name__}")
        self._backoff = Backoff(
            reconnection_attempts, reconnection_delay, reconnection_delay_max, randomization_factor
        )
        self._reconnection = reconnection
        self._stopping = False
        self._run_scope: trio.CancelScope | None = None
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
        """True while a connection is open (not while waiting to reconnect)."""
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
        *,
        retry: bool = False,
        **options: Any,
    ) -> None:
        """Connect, run the ``connect`` handler, then return; messages flow in the background.

        Raises what :func:`~trio_engineio.open_client` raises when no session
        can be opened (e.g. :class:`~trio_engineio.ConnectionRejected`). With
        ``retry=True`` (python-socketio's name) a failed first connection is
        retried on the reconnection schedule, even with ``reconnection=False``;
        :meth:`connect` returns once connected, or raises the last error when
        ``reconnection_attempts`` retries have failed.
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
        if not isinstance(retry, bool):
            raise TypeError(f"retry must be a bool, not {type(retry).__name__}")
        kwargs.update(headers=headers, transports=transports, engineio_path=engineio_path, retry=retry)
        self._close_info = None
        self._stopping = False
        await self._nursery.start(self._run, url, kwargs)

    async def _run(
        self,
        url: str,
        options: dict[str, Any],
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """The connection task: each connection in turn, until disconnect() or the retries run out."""
        done = self._done = trio.Event()
        backoff = self._backoff
        try:
            with trio.CancelScope() as scope:
                self._run_scope = scope
                async with open_reconnecting_client(
                    url,
                    reconnection_attempts=backoff.reconnection_attempts,
                    reconnection_delay=backoff.reconnection_delay,
                    reconnection_delay_max=backoff.reconnection_delay_max,
                    randomization_factor=backoff.randomization_factor,
                    **options,
                ) as connections:
                    while True:
                        try:
                            conn = await connections.__anext__()
                        except EngineIOConnectionError as error:
                            logger.warning("reconnection failed: %s", error)
                            await self._trigger("reconnect_failed")
                            return
                        await self._serve(conn, task_status)
                        task_status = trio.TASK_STATUS_IGNORED
                        if self._stopping or not self._reconnection:
                            return
            if task_status is not trio.TASK_STATUS_IGNORED:  # disconnect() while connect() retried
                raise EngineIOConnectionError("disconnect() was called before the connection was made")
        finally:
            self._run_scope = None
            done.set()

    async def _serve(self, conn: ClientConnection, task_status: trio.TaskStatus[None]) -> None:
        """One connection: ``connect``, then ``message`` for each message, then ``disconnect``."""
        self._conn = conn
        self._close_info = None
        try:
            await self._trigger("connect")
            task_status.started()
            async for message in conn:
                await self._trigger("message", message)
        finally:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 5.0):
                await conn.aclose()  # already closed unless this task was cancelled
                self._close_info = conn.close_info or CloseInfo(CloseReason.CLIENT_DISCONNECT)
                await self._trigger("disconnect", self._close_info.reason.value)

    async def send(self, data: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Send a message (see :meth:`ClientConnection.send`)."""
        if self._conn is None:
            raise ConnectionClosed(CloseInfo(CloseReason.TRANSPORT_CLOSE, "not connected"))
        await self._conn.send(data)

    async def wait(self) -> None:
        """Wait until the connection ends for good, with no reconnection left (at once if there is none)."""
        if self._done is not None:
            await self._done.wait()

    async def disconnect(self) -> None:
        """Close the connection, stop reconnecting, and wait until the ``disconnect`` handler has run."""
        self._stopping = True
        conn = self._conn
        if conn is not None and not conn.closed:
            await conn.aclose()
        elif self._run_scope is not None:
            self._run_scope.cancel()  # between two connections: waiting or connecting again
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
