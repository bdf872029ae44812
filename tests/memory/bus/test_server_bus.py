"""``Server(bus=...)`` in memory: send, disconnect and broadcast across nodes on a MemoryBus.

Each node is a real :class:`trio_engineio.Server` served in memory; sessions are opened
over long-polling or an in-memory websocket. Timers run on ``autojump_clock``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import trio
from wire import polling_url, websocket_url

import trio_engineio
from trio_engineio.testing import MemoryBus, TestWebSocket, open_test_client, open_websocket

#: Text, binary that is not UTF-8, text that looks like an Engine.IO packet or is empty.
PAYLOADS: list[str | bytes] = ["hello", b"\x00\xff\xfe", "4not a packet", "", "é\u2028", b""]


@dataclass
class Node:
    server: trio_engineio.Server
    http: httpx.AsyncClient
    app: trio_engineio.ASGIApp

    async def polling_session(self) -> str:
        response = await self.http.get(polling_url())
        assert response.status_code == 200
        sid: str = json.loads(response.text[1:])["sid"]
        return sid

    async def poll(self, sid: str, count: int) -> list[str | bytes]:
        """Messages (text, or binary decoded from base64) until ``count`` arrived."""
        messages: list[str | bytes] = []
        while len(messages) < count:
            response = await self.http.get(polling_url(sid))
            assert response.status_code == 200
            for packet in response.text.split("\x1e"):
                if packet.startswith("4"):
                    messages.append(packet[1:])
                elif packet.startswith("b"):
                    messages.append(base64.b64decode(packet[1:]))
        return messages


async def ws_messages(ws: TestWebSocket, count: int) -> list[str | bytes]:
    messages: list[str | bytes] = []
    while len(messages) < count:
        frame = await ws.receive()
        if isinstance(frame, bytes):
            messages.append(frame)
        elif frame.startswith("4"):
            messages.append(frame[1:])
    return messages


def bus_stats(server: trio_engineio.Server) -> trio_engineio.BusStatistics:
    stats = server.statistics().bus
    assert stats is not None
    return stats


@asynccontextmanager
async def cluster(bus: MemoryBus, *node_ids: str, **options: object) -> AsyncIterator[dict[str, Node]]:
    async with AsyncExitStack() as stack:
        found = {}
        for node_id in node_ids:
            server = trio_engineio.Server(node_id=node_id, bus=bus, **options)  # type: ignore[arg-type]
            app = trio_engineio.ASGIApp(server)
            await stack.enter_async_context(server)
            http = await stack.enter_async_context(open_test_client(app))
            found[node_id] = Node(server, http, app)
        yield found


async def test_send_reaches_a_session_on_another_node(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus()
    async with cluster(bus, "a", "b") as nodes:
        a, b = nodes["a"], nodes["b"]
        sid = await b.polling_session()
        assert sid.startswith("b.")
        for data in PAYLOADS:
            await a.server.send(sid, data)
        await a.server.send(sid, {"json": [1]})
        assert await b.poll(sid, len(PAYLOADS) + 1) == [*PAYLOADS, '{"json": [1]}']
        stats = a.server.statistics()
        assert stats.bus is not None
        assert stats.bus.published == len(PAYLOADS) + 1
        assert stats.bus.node_id == "a"
        assert b.server.statistics().undeliverable == 0


async def test_websocket_session_gets_cross_node_sends(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus()
    async with cluster(bus, "a", "b") as nodes:
        a, b = nodes["a"], nodes["b"]
        async with open_websocket(b.app, websocket_url()) as ws:
            sid = json.loads((await ws.receive())[1:])["sid"]
            for data in PAYLOADS:
                await a.server.send(sid, data)
            assert await ws_messages(ws, len(PAYLOADS)) == PAYLOADS


async def test_disconnect_reaches_another_node(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus()
    reasons: list[str] = []
    async with cluster(bus, "a", "b") as nodes:
        a, b = nodes["a"], nodes["b"]
        b.server.on("disconnect", lambda sid, reason: reasons.append(reason))
        sid = await b.polling_session()
        await a.server.disconnect(sid)
        with trio.fail_after(5):
            while sid in {c.sid for c in b.server.connections()}:
                await trio.sleep(0.01)
        assert reasons == ["server disconnect"]
        # An unknown session on the receiving node is counted, not an error.
        await a.server.disconnect("b.unknown")
        await a.server.send("b.unknown", "lost")
        with trio.fail_after(5):
            while b.server.statistics().undeliverable < 2:
                await trio.sleep(0.01)


async def test_broadcast_reaches_every_node_once_with_exclusions(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus()
    async with cluster(bus, "a", "b", "c") as nodes:
        sids = {name: [await node.polling_session() for _ in range(2)] for name, node in nodes.items()}
        excluded = [sids["a"][1], sids["c"][0]]
        await nodes["a"].server.broadcast("to all", exclude=excluded)
        await nodes["b"].server.broadcast(b"\x01bin")
        async with trio_engineio.open_emitter(bus) as emitter:
            await emitter.broadcast("from the emitter", exclude=sids["b"][0])
        for name, node in nodes.items():
            for sid in sids[name]:
                expected: list[str | bytes] = []
                if sid not in excluded:
                    expected.append("to all")
                expected.append(b"\x01bin")
                if sid != sids["b"][0]:
                    expected.append("from the emitter")
                got = await node.poll(sid, len(expected))
                assert sorted(got, key=repr) == sorted(expected, key=repr), (name, sid)
        await trio.sleep(1)
        for node in nodes.values():
            stats = node.server.statistics()
            assert stats.undeliverable == 0
            assert stats.bus is not None
            assert stats.bus.invalid == stats.bus.dropped == 0


async def test_broadcast_without_a_bus_is_local(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server()
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        node = Node(server, http, app)
        sids = [await node.polling_session() for _ in range(3)]
        await server.broadcast({"n": 1}, exclude=sids[2])
        assert await node.poll(sids[0], 1) == ['{"n": 1}']
        assert await node.poll(sids[1], 1) == ['{"n": 1}']
        assert server.statistics().bus is None
        with pytest.raises(TypeError):
            await server.broadcast(3)  # type: ignore[arg-type]


async def test_full_buffers_and_record_separators_are_undeliverable(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus()
    async with cluster(bus, "a", "b", max_buffered_messages=3) as nodes:
        a, b = nodes["a"], nodes["b"]
        sid = await b.polling_session()
        for i in range(5):
            await a.server.send(sid, f"m{i}")  # never waits, whatever b's buffer holds
        await a.server.send(sid, "split\x1ehere")  # cannot travel over long-polling
        await b.server.broadcast("local")  # b's own session: over its buffer limits
        with trio.fail_after(5):
            while b.server.statistics().undeliverable < 4:
                await trio.sleep(0.01)
        assert await b.poll(sid, 3) == ["m0", "m1", "m2"]
        assert b.server.statistics().undeliverable == 4


async def test_local_traffic_goes_on_while_the_bus_is_down(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus(reconnect_backoff=(0.1, 1.0))
    async with cluster(bus, "a", "b") as nodes:
        a, b = nodes["a"], nodes["b"]
        local, remote = await a.polling_session(), await b.polling_session()
        bus.set_reachable(False)
        await trio.sleep(1)
        for i in range(100):
            await a.server.send(local, f"l{i}")
        assert len(await a.poll(local, 100)) == 100
        await a.server.broadcast("still local")
        assert await a.poll(local, 1) == ["still local"]
        stats = a.server.statistics()
        assert stats.bus is not None
        assert not stats.bus.connected
        bus.set_reachable(True)
        with trio.fail_after(10):
            while not (bus_stats(a.server).connected and bus_stats(b.server).connected):
                await trio.sleep(0.05)
        await a.server.send(remote, "after")
        assert "after" in await b.poll(remote, 1)


async def test_invalid_bus_input_is_counted_not_delivered(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus()
    async with cluster(bus, "a") as nodes:
        a = nodes["a"]
        sid = await a.polling_session()
        bus.inject(bus.node_channel("a"), b"\x01\x09garbage")
        bus.inject(bus.broadcast_channel, b"")
        await a.server.send(sid, "ok")
        assert await a.poll(sid, 1) == ["ok"]
        with trio.fail_after(5):
            while bus_stats(a.server).invalid < 2:
                await trio.sleep(0.01)
