"""Our Socket.IO client against three servers: ours (hypercorn), npm ``socket.io`` 4.8 (Node)
and python-socketio 5.x ``AsyncServer`` (uvicorn), all with the behaviour of ``app.py``.

Then, in memory with ``autojump_clock``: reconnection with backoff, emits buffered while
reconnecting, and cancellation of ``connect()``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio

from trio_engineio import socketio

from .app import make_server
from .conftest import HERE, ServeApp, require_node_modules

pytestmark = [pytest.mark.timeout(60)]

StartPeer = Callable[[str], Awaitable[str]]


@pytest.fixture
async def start_peer(serve_app: ServeApp, nursery: trio.Nursery) -> AsyncIterator[StartPeer]:
    """``url = await start_peer("ours" | "node" | "python-socketio")``."""
    processes: list[trio.Process] = []

    async def start(kind: str) -> str:
        if kind == "ours":
            return await serve_app(socketio.ASGIApp(make_server()))
        if kind == "node":
            require_node_modules("socket.io")
            command = ["node", str(HERE / "js" / "sio_server.js")]
        else:
            pytest.importorskip("socketio")
            command = [sys.executable, str(HERE / "py" / "pysio_server.py")]
        process = await trio.lowlevel.open_process(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        processes.append(process)
        assert process.stdout is not None
        line = b""
        with trio.fail_after(20):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                assert chunk, "the peer server exited"
                line += chunk
        return f"http://127.0.0.1:{json.loads(line)['port']}"

    yield start
    for process in processes:
        assert process.stdin is not None
        await process.stdin.aclose()
        with trio.move_on_after(1):  # uvicorn waits for idle keep-alive connections: no need
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


PEERS = ["ours", "node", "python-socketio"]
TRANSPORTS: dict[str, Any] = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}


@pytest.mark.interop
@pytest.mark.parametrize("transport", list(TRANSPORTS))
@pytest.mark.parametrize("peer", PEERS)
async def test_client_scenarios(start_peer: StartPeer, peer: str, transport: str) -> None:
    url = await start_peer(peer)
    welcome = trio.Event()
    received: list[Any] = []
    async with socketio.Client(reconnection=False) as sio, socketio.Client(reconnection=False) as other:

        @sio.on("question")
        def question(q: int) -> dict[str, int]:
            return {"answer": q * 2}

        @sio.on("welcome", namespace="/chat")
        def on_welcome(data: Any) -> None:
            received.append(("welcome", data["sid"]))
            welcome.set()

        @other.on("room_msg", namespace="/chat")
        def room_msg(data: Any) -> None:
            received.append(("room_msg", data))

        await sio.connect(
            url, auth={"token": "ok"}, transports=TRANSPORTS[transport], namespaces=["/", "/chat"]
        )
        assert sio.sid is not None
        assert sio.get_sid("/chat") not in (None, sio.sid)
        echoed = await sio.call("echo", ("a", {"nested": {"bin": b"\x01\x02"}, "l": [b"\xff"]}, 7), timeout=5)
        assert echoed == ("a", {"nested": {"bin": b"\x01\x02"}, "l": [b"\xff"]}, 7)
        assert await sio.call("ask", 21, timeout=5) == {"answer": 42}
        with trio.fail_after(5):
            await welcome.wait()
        assert received[0] == ("welcome", sio.get_sid("/chat"))

        await other.connect(url, auth={"token": "ok"}, transports=TRANSPORTS[transport], namespaces=["/chat"])
        assert "r" in await sio.call("join", "r", namespace="/chat", timeout=5)
        assert "r" in await other.call("join", "r", namespace="/chat", timeout=5)
        await sio.emit("to_room", ("r", {"bin": b"yo"}), namespace="/chat")
        with trio.fail_after(5):
            while len(received) < 2:
                await trio.sleep(0.01)
        assert received[1] == ("room_msg", {"bin": b"yo"})
        if transport == "upgrade":
            with trio.fail_after(5):
                while sio.transport() != "websocket":
                    await trio.sleep(0.01)
        await sio.disconnect()
        assert not sio.connected

    async with socketio.Client(reconnection=False) as refused:
        with pytest.raises(socketio.ConnectionRefusedError) as info:
            await refused.connect(url, auth={"token": "no"}, transports=TRANSPORTS[transport])
        assert info.value.message == "Connection rejected by server"
    async with socketio.Client(reconnection=False) as private:
        with pytest.raises(socketio.ConnectionRefusedError) as info:
            await private.connect(
                url, auth={"token": "ok"}, transports=TRANSPORTS[transport], namespaces=["/private"]
            )
        assert info.value.error_args == {"message": "Not authorized", "data": {"code": 401}}


@pytest.mark.interop
@pytest.mark.parametrize("peer", PEERS)
async def test_server_disconnects_namespace_then_drops_engine(start_peer: StartPeer, peer: str) -> None:
    """A server-side DISCONNECT ends that namespace for good; a lost engine session reconnects."""
    url = await start_peer(peer)
    connects = 0
    reasons: list[str] = []
    async with socketio.Client(reconnection_delay=0.1, reconnection_delay_max=0.2) as sio:

        @sio.event
        def connect() -> None:
            nonlocal connects
            connects += 1

        @sio.event
        def disconnect(reason: str) -> None:
            reasons.append(reason)

        await sio.connect(url, auth=lambda: {"token": "ok"}, transports=["websocket"])
        await sio.emit("drop")
        with trio.fail_after(10):
            while connects < 2:
                await trio.sleep(0.01)
        assert reasons == ["transport close"] or reasons[0] in ("server disconnect", "transport close")
        assert await sio.call("echo", "back", timeout=5) == "back"
        await sio.emit("kick")
        with trio.fail_after(10):
            await sio.wait()
        assert reasons[-1] == "io server disconnect"
        assert connects == 2
