"""npm ``socket.io-client`` 4.8 in Node meets the features users of the reference stacks
expect: a dynamic namespace (a pattern), ``emit(callback=)`` answered by the client's ack
function, its ``emitWithAck``, a volatile emit, and ``disconnecting`` then ``disconnect``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import trio
from conftest import HERE, ServeApp, require_node_modules, run_json

from trio_engineio import socketio

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]
TRANSPORTS: dict[str, Any] = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}


@pytest.mark.parametrize("case", list(TRANSPORTS))
async def test_socketio_client_meets_the_features(serve_app: ServeApp, case: str) -> None:
    require_node_modules("socket.io-client")
    sio = socketio.Server(ping_interval=5, ping_timeout=5)
    games = re.compile(r"/game-(\d+)")
    seen: list[Any] = []
    gone = trio.Event()

    @sio.on("connect", namespace=games)
    async def connect(namespace: str, sid: str, environ: Any, auth: Any) -> None:
        await sio.enter_room(sid, "players", namespace=namespace)
        await sio.emit("ask", "ready?", to=sid, namespace=namespace, callback=lambda *a: seen.append(a))

    @sio.on("move", namespace=games)
    async def move(namespace: str, sid: str, square: str) -> Any:
        await sio.emit("tick", 1, to=sid, namespace=namespace, volatile=True)
        return games.fullmatch(namespace).group(1), square  # type: ignore[union-attr]

    @sio.on("report", namespace=games)
    def report(namespace: str, sid: str) -> bool:
        return bool(seen)

    @sio.on("disconnecting", namespace=games)
    def disconnecting(namespace: str, sid: str, reason: str) -> None:
        seen.append(("disconnecting", namespace, sio.rooms(sid, namespace=namespace)[1:], reason))

    @sio.on("disconnect", namespace=games)
    def disconnect(namespace: str, sid: str, reason: str) -> None:
        seen.append(("disconnect", reason))
        gone.set()

    url = await serve_app(socketio.ASGIApp(sio))
    config = {"url": url, "transports": TRANSPORTS[case]}
    result = await run_json(["node", str(HERE / "js" / "sio_features.js"), json.dumps(config)], seconds=40)
    assert result.get("error") is None, result
    assert result["asked"] == "ready?"
    assert result["move"] == "42"  # two ack arguments; emitWithAck keeps the first
    assert result["tick"] == 1
    assert result["refused"] == "Invalid namespace"
    with trio.fail_after(10):
        await gone.wait()
    # The script exits right after disconnect(): on polling its DISCONNECT may not leave first.
    reason = seen[-1][1]
    assert reason in ("client disconnect", "transport close"), seen
    assert seen == [
        ("ready?!", 2),
        ("disconnecting", "/game-42", ["players"], reason),
        ("disconnect", reason),
    ]
