"""The code of docs/howto/testing.rst, run as tests (the page includes it from here).

Everything runs in memory inside the test's trio run, on pytest-trio's
``autojump_clock``: heartbeats and timeouts cost no wall time.
"""

from __future__ import annotations

import json

import pytest
import trio

import trio_engineio
from trio_engineio.testing import open_test_client, open_websocket


# --- the application under test ------------------------------------------------------
async def greeter(conn: trio_engineio.Connection) -> None:
    """Answer "hello <name>" with "hi <name>"; close the session on "bye"."""
    async for message in conn:
        if message == "bye":
            await conn.aclose()
        elif isinstance(message, str) and message.startswith("hello "):
            await conn.send("hi " + message.removeprefix("hello "))


# --- start: client ---------------------------------------------------------------------
async def test_greeter_with_the_real_client(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(handler=greeter)
    app = trio_engineio.ASGIApp(server)
    # `async with server` runs the server's nursery (the ASGI lifespan does it in production);
    # open_test_client sends every HTTP request straight into `app`, no socket involved.
    async with server, open_test_client(app) as http:
        async with trio_engineio.open_client(
            "http://testserver", http_client=http, transports=["polling"]
        ) as conn:
            await conn.send("hello Ada")
            assert await conn.receive() == "hi Ada"
            await trio.sleep(3599)  # an hour of heartbeats (143 PING/PONG rounds) in no wall time
            assert not conn.closed
            await conn.send("bye")
            assert [m async for m in conn] == []  # the server closed the session
        assert conn.close_reason == "server disconnect"
        assert server.statistics().sessions_closed == {"server disconnect": 1}


# --- end: client -----------------------------------------------------------------------


# --- start: timeout --------------------------------------------------------------------
async def test_silent_client_times_out(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(handler=greeter, ping_interval=25, ping_timeout=20)
    app = trio_engineio.ASGIApp(server)
    closed: list[str] = []
    server.on("disconnect", lambda sid, reason: closed.append(reason))
    async with server, open_test_client(app) as http:
        handshake = await http.get("/engine.io/?EIO=4&transport=polling")
        sid = json.loads(handshake.text[1:])["sid"]  # the body is "0" + the OPEN packet's JSON
        start = trio.current_time()
        # Never answer the PING: the session ends pingInterval + pingTimeout later.
        while not closed:
            await trio.sleep(1)
        assert closed == ["ping timeout"]
        assert trio.current_time() - start == pytest.approx(45, abs=1)
        gone = await http.get(f"/engine.io/?EIO=4&transport=polling&sid={sid}")
        assert gone.status_code == 400


# --- end: timeout ----------------------------------------------------------------------


# --- start: websocket ------------------------------------------------------------------
async def test_greeter_over_a_raw_websocket(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(handler=greeter)
    app = trio_engineio.ASGIApp(server)
    async with server, open_websocket(app, "/engine.io/?EIO=4&transport=websocket") as ws:
        opened = await ws.receive()  # frames are Engine.IO packets: "0{...}" is OPEN
        assert isinstance(opened, str)
        assert opened.startswith("0")
        await ws.send("4hello Grace")  # "4" is MESSAGE
        assert await ws.receive() == "4hi Grace"


# --- end: websocket --------------------------------------------------------------------
