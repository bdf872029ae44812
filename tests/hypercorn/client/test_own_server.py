"""The client against our own server (trio_engineio.Server + ASGIApp under serve())."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from client_helpers import echo_exchange, make_messages, open_client

import trio_engineio

if not hasattr(trio_engineio, "Server"):  # pragma: no cover
    pytest.skip("trio_engineio.Server is not available yet", allow_module_level=True)


@asynccontextmanager
async def own_server(**options: Any) -> AsyncIterator[tuple[str, list[tuple[str, str]]]]:
    """An echo Server on 127.0.0.1:0; yields its base URL and the (sid, reason) disconnects.

    A message ``"disconnect me"`` makes the server close that session.
    """
    server = trio_engineio.Server(**options)
    app = trio_engineio.ASGIApp(server)
    disconnects: list[tuple[str, str]] = []

    async def message(sid: str, data: str | bytes) -> None:
        await server.send(sid, data)
        if data == "disconnect me":
            await server.disconnect(sid)

    def disconnect(sid: str, reason: str) -> None:
        disconnects.append((sid, reason))

    server.on("message", message)
    server.on("disconnect", disconnect)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        run: Callable[..., Any] = trio_engineio.serve
        binds = await nursery.start(
            lambda task_status: run(app, "127.0.0.1", 0, shutdown_trigger=stop.wait, task_status=task_status)
        )
        base = next(b for b in binds if b.startswith("http://127.0.0.1:"))
        try:
            yield base, disconnects
        finally:
            stop.set()


@pytest.mark.parametrize(
    ("transports", "expected"),
    [(["polling"], "polling"), (["websocket"], "websocket"), (None, "websocket")],
    ids=["polling", "websocket", "default-upgrade"],
)
async def test_echo_with_our_server(transports: list[str] | None, expected: str) -> None:
    messages = make_messages(seed=3, texts=1000, binaries=200)
    async with own_server() as (url, disconnects):
        with trio.fail_after(60):
            async with open_client(url, transports=transports) as conn:
                await echo_exchange(conn, messages)
                assert conn.transport == expected
                sid = conn.sid
            while not disconnects:
                await trio.sleep(0.01)
        assert disconnects == [(sid, "client disconnect")]


@pytest.mark.parametrize(
    "transports", [["polling"], ["websocket"], None], ids=["polling", "websocket", "default"]
)
async def test_server_disconnect_seen_by_client(transports: list[str] | None) -> None:
    async with own_server() as (url, disconnects):
        with trio.fail_after(10):
            async with open_client(url, transports=transports) as conn:
                await conn.send("disconnect me")
                received = [message async for message in conn]
            assert received == ["disconnect me"]  # sent before the CLOSE, so delivered
            assert conn.close_reason == "server disconnect"
        assert [reason for _, reason in disconnects] == ["server disconnect"]


@pytest.mark.parametrize(
    "transports", [["polling"], ["websocket"], None], ids=["polling", "websocket", "upgraded"]
)
async def test_h8_cancelled_block_closes_promptly(io_clock: Any, transports: list[str] | None) -> None:
    """Leaving the block by cancellation sends CLOSE and closes the websocket without waiting out
    close_timeout (the MockClock jumps only when everything is idle, so a wait would show)."""
    async with own_server() as (url, disconnects):
        with trio.fail_after(30):
            with trio.CancelScope() as scope:
                async with open_client(url, transports=transports, close_timeout=2.0) as conn:
                    await echo_exchange(conn, ["hello"])
                    while transports is None and conn.transport != "websocket":
                        await echo_exchange(conn, ["until upgraded"])
                    scope.cancel()
                    cancelled_at = trio.current_time()
                    await trio.sleep_forever()
            elapsed = trio.current_time() - cancelled_at
            assert scope.cancelled_caught
            assert elapsed < 0.5, elapsed
            assert conn.close_reason == "client disconnect"
            while not disconnects:
                await trio.sleep(0.01)
    assert [reason for _, reason in disconnects] == ["client disconnect"]
