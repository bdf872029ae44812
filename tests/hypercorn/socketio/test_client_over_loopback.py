"""Our Socket.IO client against our Socket.IO server under hypercorn on 127.0.0.1.

The same features in memory: tests/memory/socketio/test_client_features.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import trio
from loopback import ServeApp

from trio_engineio import socketio

pytestmark = pytest.mark.timeout(30)


async def test_features_over_loopback(serve_app: ServeApp) -> None:
    """Dynamic namespaces, callbacks both ways and ``disconnecting``, our client over hypercorn."""
    sio = socketio.Server(ping_interval=5, ping_timeout=5)
    pattern = re.compile(r"/game-(\d+)")
    seen: list[Any] = []
    gone = trio.Event()

    @sio.on("connect", namespace=pattern)
    async def connect(namespace: str, sid: str, environ: Any, auth: Any) -> None:
        await sio.enter_room(sid, "players", namespace=namespace)
        await sio.emit("ask", namespace, to=sid, namespace=namespace, callback=seen.append)

    @sio.on("move", namespace=pattern)
    def move(namespace: str, sid: str, square: str) -> Any:
        return pattern.fullmatch(namespace).group(1), square  # type: ignore[union-attr]

    @sio.on("disconnecting", namespace=pattern)
    def disconnecting(namespace: str, sid: str, reason: str) -> None:
        seen.append(("disconnecting", namespace, sio.rooms(sid, namespace=namespace)[1:], reason))

    @sio.on("disconnect", namespace=pattern)
    def disconnect(namespace: str, sid: str, reason: str) -> None:
        gone.set()

    url = await serve_app(socketio.ASGIApp(sio))
    for transports in (["websocket"], ["polling"]):
        seen.clear()
        gone = trio.Event()
        moves: list[Any] = []
        async with socketio.Client(reconnection=False) as client:
            client.on("ask", lambda namespace: f"answer from {namespace}", namespace="/game-7")
            await client.connect(url, transports=transports, namespaces=["/game-7"])

            def moved(*args: Any, moves: list[Any] = moves) -> None:
                moves.append(args)

            await client.emit("move", "e4", namespace="/game-7", callback=moved)
            with trio.fail_after(10):
                while not (moves and seen):
                    await trio.sleep(0.01)
            assert moves == [("7", "e4")]
            assert seen == ["answer from /game-7"]
            async with socketio.Client(reconnection=False) as refused:
                with pytest.raises(socketio.ConnectionRefusedError, match="Invalid namespace"):
                    await refused.connect(url, transports=transports, namespaces=["/game-x"])
        with trio.fail_after(10):
            await gone.wait()
        assert seen[1] == ("disconnecting", "/game-7", ["players"], "client disconnect")
