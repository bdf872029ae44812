"""A real echo server (``trio_engineio.serve()`` on loopback) that a test can stop and start again.

Used by the reconnection and client statistics tests: the server is the library's own
``Server`` + ``ASGIApp`` under hypercorn's trio worker, bound to one port for the whole
test so that a client can find it again after a restart. Between two runs the port can
also be held by a listener that accepts and drops every connection, recording when the
client tried: the backoff schedule, read on the test's clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from hypercorn_cli import free_port

import trio_engineio


class EchoServer:
    """One echo ``Server`` that can be served, stopped and served again on ``port``.

    It records the session ids it opened and the ``(sid, reason)`` of each disconnect;
    a message ``"disconnect me"`` makes it close that session.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.connects: list[str] = []
        self.disconnects: list[tuple[str, str]] = []
        self.changed = trio.Event()
        self._stop = trio.Event()
        self._stopped = trio.Event()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def wait_for_disconnects(self, count: int) -> None:
        """Wait until ``count`` sessions have ended on the server."""
        while len(self.disconnects) < count:
            await self.changed.wait()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[trio_engineio.Server]:
        """Serve on ``port`` for the block; stop (hypercorn's graceful shutdown) at its end."""
        server = trio_engineio.Server()

        async def connect(sid: str, environ: object) -> None:
            self.connects.append(sid)
            self._notify()

        async def message(sid: str, data: str | bytes) -> None:
            await server.send(sid, data)
            if data == "disconnect me":
                await server.disconnect(sid)

        def disconnect(sid: str, reason: str) -> None:
            self.disconnects.append((sid, str(reason)))
            self._notify()

        server.on("connect", connect)
        server.on("message", message)
        server.on("disconnect", disconnect)
        app = trio_engineio.ASGIApp(server)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: trio_engineio.serve(
                    app, "127.0.0.1", self.port, shutdown_trigger=stop.wait, task_status=task_status
                )
            )
            try:
                yield server
            finally:
                stop.set()

    async def start(self, nursery: trio.Nursery) -> None:
        """Serve in ``nursery`` until :meth:`stop` (for tests that stop and start it mid-block)."""
        stop, stopped = self._stop, self._stopped = trio.Event(), trio.Event()

        async def run(task_status: trio.TaskStatus[None]) -> None:
            try:
                async with self.running():
                    task_status.started()
                    await stop.wait()
            finally:
                stopped.set()

        await nursery.start(run)

    async def stop(self) -> None:
        """Stop what :meth:`start` started and wait until the port is closed."""
        self._stop.set()
        await self._stopped.wait()


class DroppingListener:
    """Accepts and drops every connection on ``port``, recording when (``trio.current_time()``).

    Each client connection attempt fails at once, as against a server that is down,
    but the attempt is seen: :attr:`accepted` holds the times.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted: list[float] = []
        self._scope = trio.CancelScope()
        self._closed = trio.Event()
        self._accepted_one = trio.Event()

    def attempts(self) -> list[float]:
        """The times of the client's attempts (see :func:`attempt_times`)."""
        return attempt_times(self.accepted)

    async def wait_for_attempts(self, count: int) -> None:
        """Wait until ``count`` attempts were seen."""
        while len(self.attempts()) < count:
            await self._accepted_one.wait()

    async def start(self, nursery: trio.Nursery) -> None:
        """Listen in ``nursery`` until :meth:`stop`."""
        listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")

        async def drop(stream: trio.SocketStream) -> None:
            self.accepted.append(trio.current_time())
            self._accepted_one.set()
            self._accepted_one = trio.Event()
            await stream.aclose()

        async def run() -> None:
            try:
                with self._scope:
                    await trio.serve_listeners(drop, listeners)
            finally:
                with trio.CancelScope(shield=True):
                    for listener in listeners:
                        await listener.aclose()
                self._closed.set()

        nursery.start_soon(run)

    async def stop(self) -> None:
        """Close the port (and wait until it is closed)."""
        self._scope.cancel()
        await self._closed.wait()


def attempt_times(accepted: list[float]) -> list[float]:
    """One time per connection attempt: accepts at the same instant are one attempt's retries."""
    times: list[float] = []
    for at in accepted:
        if not times or at - times[-1] > 0.01:
            times.append(at)
    return times
