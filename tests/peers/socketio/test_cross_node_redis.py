"""Rooms and broadcasts across two hypercorn nodes on a real ``redis-server``, our client on each.

The same exchange in memory, on ``testing.MemoryBus``: tests/memory/socketio/test_cross_node.py.
"""

from __future__ import annotations

import shutil
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_engineio import socketio
from trio_engineio.bus import Bus

from .conftest import ServeApp

pytestmark = pytest.mark.timeout(30)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
async def test_rooms_across_two_hypercorn_nodes_on_redis(serve_app: ServeApp, tmp_path: Path) -> None:
    """Our client on each node; a room spans both; a broadcast from either reaches both."""
    from examples.scale_out.deploy import open_redis

    async with open_redis(tmp_path) as redis_url, AsyncExitStack() as stack:
        nodes = {}
        for name in ("a", "b"):
            sio = socketio.Server(node_id=name, bus=socketio_bus(redis_url), ping_interval=5, ping_timeout=5)

            @sio.event
            async def join(sid: str, room: str, sio: socketio.Server = sio) -> None:
                await sio.enter_room(sid, room)

            @sio.event
            async def shout(sid: str, room: str, text: str, sio: socketio.Server = sio) -> None:
                await sio.emit("heard", text, room=room, skip_sid=sid)

            nodes[name] = await serve_app(socketio.ASGIApp(sio))
        heard: dict[str, list[Any]] = {"a": [], "b": []}
        clients = {}
        for name, transports in (("a", ["websocket"]), ("b", ["polling"])):
            client = await stack.enter_async_context(socketio.Client(reconnection=False))
            client.on("heard", heard[name].append)
            await client.connect(nodes[name], transports=transports)
            await client.call("join", "lobby", timeout=10)
            clients[name] = client
        await clients["a"].emit("shout", ("lobby", "hello from a"))
        await clients["b"].emit("shout", ("lobby", "hello from b"))
        with trio.fail_after(10):
            while not (heard["a"] and heard["b"]):
                await trio.sleep(0.01)
        assert heard == {"a": ["hello from b"], "b": ["hello from a"]}


def socketio_bus(url: str) -> Bus:
    from trio_engineio import RedisBus

    return RedisBus(url)
