"""examples/scale_out: Redis, two chat nodes and nginx from one command (``python -m examples.scale_out``).

Two clients whose sessions are on different nodes (nginx takes turns) see each other's
messages: the chat broadcasts through ``server.broadcast`` and Redis.
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import pytest
import trio

import trio_engineio
from examples.scale_out.deploy import find_binary

from ..where import CLIENT_BUILD
from .examples_harness import StartExample


async def next_event(conn: trio_engineio.ClientConnection, kind: str) -> dict[str, Any]:
    """The next JSON event of type ``kind`` (others are skipped), within 10 s."""
    with trio.fail_after(10):
        while True:
            event: dict[str, Any] = json.loads(await conn.receive())
            if event["type"] == kind:
                return event


async def test_chat_across_two_nodes(start_example: StartExample) -> None:
    for binary in ("nginx", "redis-server"):
        if find_binary(binary) is None:
            pytest.skip(f"{binary} is not installed (scripts/bootstrap.sh installs it)")
    if not CLIENT_BUILD.exists():
        pytest.skip("engine.io-client is not installed (scripts/bootstrap.sh)")
    demo = await start_example("examples.scale_out", "--nodes", "2")
    assert demo.first_line.startswith("scale-out chat running: open http://127.0.0.1:")
    async with AsyncExitStack() as stack:
        by_node: dict[str, trio_engineio.ClientConnection] = {}
        for _ in range(6):
            conn = await stack.enter_async_context(trio_engineio.open_client(demo.url, connect_timeout=10))
            welcome = await next_event(conn, "welcome")
            assert conn.sid is not None
            assert conn.sid.startswith(welcome["node"] + ".")
            by_node.setdefault(welcome["node"], conn)
            if len(by_node) == 2:
                break
        assert set(by_node) == {"a", "b"}
        await by_node["a"].send("hello from a")
        for conn in by_node.values():
            said = await next_event(conn, "said")
            assert said["text"] == "hello from a"
            assert said["node"] == "a"
        await by_node["b"].send("and back from b")
        said = await next_event(by_node["a"], "said")
        assert said["text"] == "and back from b"
        assert said["node"] == "b"
