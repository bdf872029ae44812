"""The Socket.IO chat example (examples/socketio_chat) with our client: rooms, acks, broadcasts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import trio
from loopback import ServeApp

from trio_engineio import socketio

pytestmark = pytest.mark.timeout(60)
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "socketio_chat" / "server.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("_socketio_chat_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_chat_rooms(serve_app: ServeApp) -> None:
    url = await serve_app(load_example().build_app(ping_interval=5, ping_timeout=5))
    heard: dict[str, list[Any]] = {"ann": [], "bob": []}
    async with socketio.Client(reconnection=False) as ann, socketio.Client(reconnection=False) as bob:
        for name, client in (("ann", ann), ("bob", bob)):
            client.on("said", lambda event, name=name: heard[name].append(event["text"]))
            await client.connect(url, auth={"name": name})
        assert await ann.call("say", "hello", timeout=5) == 2
        assert await bob.call("switch", "trio", timeout=5) == "trio"
        assert await ann.call("say", "anyone?", timeout=5) == 1
        with trio.fail_after(5):
            while len(heard["ann"]) < 2 or not heard["bob"]:
                await trio.sleep(0.01)
        assert heard == {"ann": ["hello", "anyone?"], "bob": ["hello"]}
        assert await bob.call("switch", "nowhere", timeout=5) == "trio"
        left: list[Any] = []
        bob.on("left", left.append)
        assert await ann.call("switch", "trio", timeout=5) == "trio"
        await ann.disconnect()  # bob hears it from the server's disconnecting handler
        with trio.fail_after(5):
            while not left:
                await trio.sleep(0.01)
        assert left == [{"name": "ann", "room": "trio"}]
