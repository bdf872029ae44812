"""Our server on 127.0.0.1 for the tests that need real sockets (hypercorn and peers layers).

* ``serve_app`` (a fixture, registered for the whole tree by ``tests/conftest.py``):
  ``url = await serve_app(asgi_app)`` serves an app with :func:`trio_engineio.serve` on
  port 0 in the test's nursery; teardown fires every ``shutdown_trigger`` and waits for
  ``serve()`` to return;
* :func:`echo_server`: ``async with echo_server(**serve_options) as url``, an echo
  :class:`trio_engineio.Server` for the client to talk to (TLS with ``certfile``/``keyfile``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import trio_engineio

ServeApp = Callable[[Any], Awaitable[str]]


@pytest.fixture
async def serve_app(nursery: trio.Nursery) -> AsyncIterator[ServeApp]:
    """A factory: ``url = await serve_app(asgi_app)`` serves it on 127.0.0.1:0."""
    stops: list[tuple[trio.Event, trio.Event]] = []

    async def start(app: Any) -> str:
        stop, stopped = trio.Event(), trio.Event()

        async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await trio_engineio.serve(
                    app, "127.0.0.1", 0, shutdown_trigger=stop.wait, task_status=task_status
                )
            finally:
                stopped.set()

        binds = await nursery.start(run)
        stops.append((stop, stopped))
        return str(next(b for b in binds if b.startswith("http://127.0.0.1:")))

    yield start
    with trio.fail_after(15):
        for stop, stopped in stops:
            stop.set()
            await stopped.wait()


@asynccontextmanager
async def echo_server(**serve_options: Any) -> AsyncIterator[str]:
    """Our echo Server under serve() on 127.0.0.1:0 (TLS with ``certfile``/``keyfile``)."""
    server = trio_engineio.Server()

    async def message(sid: str, data: str | bytes) -> None:
        await server.send(sid, data)

    server.on("message", message)
    app = trio_engineio.ASGIApp(server)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        run: Callable[..., Any] = trio_engineio.serve
        binds = await nursery.start(
            lambda task_status: run(
                app,
                "127.0.0.1",
                0,
                shutdown_trigger=stop.wait,
                graceful_timeout=0.5,
                task_status=task_status,
                **serve_options,
            )
        )
        try:
            yield next(b for b in binds if "://127.0.0.1:" in b)
        finally:
            stop.set()
