"""npm ``socket.io-client`` 4.8 in Node and python-socketio's ``AsyncClient`` meet the
features users of the reference stacks expect: a dynamic namespace (a pattern),
``emit(callback=)`` answered by the client's ack, the client's own acked emits, a volatile
emit, an unknown dynamic namespace refused, and ``disconnecting`` then ``disconnect``.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
import trio

from trio_engineio import socketio

from .conftest import HERE, ServeApp, require_node_modules, run_json

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]
TRANSPORTS: dict[str, Any] = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}


def feature_server() -> tuple[socketio.Server, list[Any], trio.Event]:
    """The server both peers meet; what it saw, and an event set by the ``disconnect`` handler."""
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

    return sio, seen, gone


async def check_server_side(seen: list[Any], gone: trio.Event) -> None:
    with trio.fail_after(10):
        await gone.wait()
    # A script may exit right after disconnecting: on polling its DISCONNECT may not leave first.
    reason = seen[-1][1]
    assert reason in ("client disconnect", "transport close"), seen
    assert seen == [
        ("ready?!", 2),
        ("disconnecting", "/game-42", ["players"], reason),
        ("disconnect", reason),
    ]


@pytest.mark.parametrize("case", list(TRANSPORTS))
async def test_socketio_client_meets_the_features(serve_app: ServeApp, case: str) -> None:
    require_node_modules("socket.io-client")
    sio, seen, gone = feature_server()
    url = await serve_app(socketio.ASGIApp(sio))
    config = {"url": url, "transports": TRANSPORTS[case]}
    result = await run_json(["node", str(HERE / "js" / "sio_features.js"), json.dumps(config)], seconds=40)
    assert result.get("error") is None, result
    assert result["asked"] == "ready?"
    assert result["move"] == "42"  # two ack arguments; emitWithAck keeps the first
    assert result["tick"] == 1
    assert result["refused"] == "Invalid namespace"
    await check_server_side(seen, gone)


@pytest.mark.parametrize("case", list(TRANSPORTS))
async def test_python_socketio_client_meets_the_features(serve_app: ServeApp, case: str) -> None:
    pytest.importorskip("socketio")
    pytest.importorskip("aiohttp")
    sio, seen, gone = feature_server()
    url = await serve_app(socketio.ASGIApp(sio))
    config = {"url": url, "transports": TRANSPORTS[case]}
    command = [sys.executable, str(HERE / "py" / "pysio_features.py"), json.dumps(config)]
    result = await run_json(command, seconds=40)
    assert result["_exit"] == 0, result
    assert result["asked"] == "ready?"
    assert result["move"] == ["42", "e4"]  # python-socketio's callback gets every ack argument
    assert result["tick"] == 1
    assert result["report"] is True
    assert result["refused"] == "One or more namespaces failed to connect: /game-x", result
    await check_server_side(seen, gone)
