"""Fixtures for the server conformance tests: a real hypercorn (trio worker) on 127.0.0.1:0.

``start_server(**options)`` builds an echo :class:`trio_engineio.Server` (every
message is sent back as is), serves it with :func:`trio_engineio.serve` inside
the test's nursery and returns a :class:`Running` that records the handlers'
calls. Teardown triggers a graceful shutdown and waits for ``serve()`` to return.

Most tests need one such server and often one polling session on it:

* ``running``: ``start_server(**options)`` with the options of the test's
  ``@pytest.mark.server(...)`` marker (none: the defaults);
* ``endpoint``: its URLs;
* ``sid``: a polling session opened on it by a handshake (``http`` is the client).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import trio
from wire import Endpoint, Running, StartServer, handshake

import trio_engineio


@pytest.fixture
async def start_server(nursery: trio.Nursery) -> AsyncIterator[StartServer]:
    """A factory: ``await start_server(ping_interval=0.5, ...)`` -> :class:`Running`.

    Keywords ``engineio_path``, ``other_asgi_app`` go to :class:`ASGIApp`;
    ``on_connect`` replaces the (accept-all) connect handler; ``echo=False``
    disables echoing; everything else goes to :class:`Server`. Heartbeats
    default to 5 s so tests that do not look at them never see a PING.
    """
    started: list[Running] = []

    async def start(
        *,
        engineio_path: str = "engine.io",
        other_asgi_app: Any = None,
        on_connect: Callable[[str, Any], Any] | None = None,
        echo: bool = True,
        **options: Any,
    ) -> Running:
        options.setdefault("ping_interval", 5)
        options.setdefault("ping_timeout", 5)
        server = trio_engineio.Server(**options)
        app = trio_engineio.ASGIApp(server, other_asgi_app=other_asgi_app, engineio_path=engineio_path)
        running = Running(
            server, app, Endpoint("", "/" + engineio_path.strip("/") + "/"), echo=echo, on_connect=on_connect
        )

        async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await trio_engineio.serve(
                    app, "127.0.0.1", 0, shutdown_trigger=running.stop.wait, task_status=task_status
                )
            finally:
                running.stopped.set()

        binds = await nursery.start(run)
        running.endpoint.base = next(b for b in binds if b.startswith("http://127.0.0.1:"))
        started.append(running)
        return running

    yield start
    with trio.fail_after(10):
        for running in started:
            await running.shutdown()
    for running in started:
        # Invariants of every test: the disconnect handler ran at most once per
        # session, and once per accepted session by the end; nothing is left behind.
        running.check_disconnects()
        stats = running.server.statistics()
        assert (stats.sessions, stats.running_sessions) == (0, 0), stats


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client; read timeout above every heartbeat the tests use."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
        yield client


@pytest.fixture
async def running(start_server: StartServer, request: pytest.FixtureRequest) -> Running:
    """The test's server: ``start_server(**options)`` of its ``@pytest.mark.server(**options)``."""
    marker = request.node.get_closest_marker("server")
    return await start_server(**(marker.kwargs if marker is not None else {}))


@pytest.fixture
def endpoint(running: Running) -> Endpoint:
    """The URLs of the test's server."""
    return running.endpoint


@pytest.fixture
async def sid(http: httpx.AsyncClient, endpoint: Endpoint) -> str:
    """A polling session opened on the test's server."""
    sid, _ = await handshake(http, endpoint)
    return sid
