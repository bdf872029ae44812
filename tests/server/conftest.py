"""Fixtures for the server conformance tests: a real hypercorn (trio worker) on 127.0.0.1:0.

``start_server(**options)`` builds an echo :class:`trio_engineio.Server` (every
message is sent back as is), serves it with :func:`trio_engineio.serve` inside
the test's nursery and returns a :class:`Running` that records the handlers'
calls. Teardown triggers a graceful shutdown and waits for ``serve()`` to return.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import trio
from wire import Endpoint, Running, StartServer

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
        stop, stopped = trio.Event(), trio.Event()
        running: Running | None = None

        async def connect(sid: str, environ: Any) -> Any:
            assert running is not None
            running.connects.append(sid)
            running.changed()
            if on_connect is None:
                return None
            verdict = on_connect(sid, environ)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            return verdict

        async def message(sid: str, data: str | bytes) -> None:
            assert running is not None
            running.messages.append((sid, data))
            running.changed()
            if echo:
                await server.send(sid, data)

        async def disconnect(sid: str, reason: str) -> None:
            assert running is not None
            running.disconnects.append((sid, reason))
            running.changed()

        server.on("connect", connect)
        server.on("message", message)
        server.on("disconnect", disconnect)

        async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await trio_engineio.serve(
                    app, "127.0.0.1", 0, shutdown_trigger=stop.wait, task_status=task_status
                )
            finally:
                stopped.set()

        binds = await nursery.start(run)
        base = next(b for b in binds if b.startswith("http://127.0.0.1:"))
        path = "/" + engineio_path.strip("/") + "/"
        running = Running(server, app, Endpoint(base, path), stop, stopped)
        started.append(running)
        return running

    yield start
    with trio.fail_after(10):
        for running in started:
            await running.shutdown()
    for running in started:
        # Invariants of every test: the disconnect handler ran at most once per
        # session, and once per accepted session by the end; nothing is left behind.
        sids = [sid for sid, _ in running.disconnects]
        assert len(sids) == len(set(sids)), running.disconnects
        stats = running.server.statistics()
        assert (stats.sessions, stats.running_sessions) == (0, 0), stats
        assert len(sids) == stats.sessions_opened, (running.disconnects, stats)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client; read timeout above every heartbeat the tests use."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
        yield client
