"""Two nodes behind a real nginx routing by sid, on a real Redis, with real clients.

Every test starts ``redis-server``, two ``hypercorn --worker-class trio`` processes
(nodes ``a`` and ``b``, :mod:`peers.deployment.cluster_app`) and nginx configured from the how-to's
``examples/scale_out/nginx.conf.template`` (see ``conftest.py``). nginx's access log
records which node served each request: every request of a session must have reached
the node its sid names, and none may have failed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import trio

import trio_engineio

from ..clients.conftest import require_node_modules, run_node
from .conftest import Cluster

#: engine.io-client runs: (transports, phases) — polling only, websocket only, and the
#: upgrade with messages sent before, during and after it.
JS_CASES: dict[str, dict[str, Any]] = {
    "polling": {"transports": ["polling"], "phases": None},
    "websocket": {"transports": ["websocket"], "phases": None},
    "upgrade": {"transports": None, "phases": {"open": 40, "tick": 20, "upgrading": 20, "upgrade": 20}},
}
CLIENTS_PER_CASE = 4


async def test_js_client_on_every_transport(cluster: Cluster) -> None:
    require_node_modules("engine.io-client")
    results: dict[str, list[dict[str, Any]]] = {case: [] for case in JS_CASES}

    async def run(case: str, index: int) -> None:
        config = {
            "url": cluster.url,
            "texts": 60,
            "binaries": 30,
            "maxBinary": 4000,
            "seed": index,
            "timeoutMs": 30_000,
            "window": 200_000,
            **JS_CASES[case],
        }
        results[case].append(await run_node("echo_client.js", config, seconds=40))

    async with trio.open_nursery() as nursery:
        for case in JS_CASES:
            for index in range(CLIENTS_PER_CASE):
                nursery.start_soon(run, case, index)

    nodes: Counter[str] = Counter()
    for case, runs in results.items():
        for result in runs:
            assert result["_exit"] == 0, (case, result)
            assert result["mismatches"] == 0, (case, result)
            assert result["received"] == result["sent"] == {"text": 60, "binary": 30}, (case, result)
            assert result["errors"] == [], (case, result)
            assert result["upgradeErrors"] == [], (case, result)
            expected = "polling" if case == "polling" else "websocket"
            assert result["transportAtClose"] == expected, (case, result)
            nodes[result["sid"].partition(".")[0]] += 1
    # nginx balanced the handshakes over both nodes; each session stayed on its node.
    assert set(nodes) == {"a", "b"}, nodes
    entries = cluster.assert_routed_by_sid()
    assert {e.sid for e in entries if e.sid} >= {
        r["sid"] for runs in results.values() for r in runs if r["openTransport"] == "polling"
    }
    for node in ("a", "b"):
        stats = await cluster.stats(node)
        assert stats["misrouted_requests"] == 0
        assert stats["requests_rejected"] == 0


@asynccontextmanager
async def clients_on_both_nodes(
    cluster: Cluster, transports: list[str] | None = None, count: int = 2
) -> AsyncIterator[dict[str, list[trio_engineio.ClientConnection]]]:
    """Our client, connected through nginx until each node holds ``count`` sessions."""
    async with AsyncExitStack() as stack:
        found: dict[str, list[trio_engineio.ClientConnection]] = {"a": [], "b": []}
        for _ in range(8 * count):  # round robin: a few more than 2 * count at most
            if min(len(conns) for conns in found.values()) >= count:
                break
            client = trio_engineio.open_client(cluster.url, transports=transports, connect_timeout=10)
            conn = await stack.enter_async_context(client)
            assert conn.sid is not None
            found[conn.sid.partition(".")[0]].append(conn)
        assert min(len(conns) for conns in found.values()) >= count, found
        yield found


async def receive_text(conn: trio_engineio.ClientConnection) -> str | bytes:
    with trio.fail_after(10):
        return await conn.receive()


@pytest.mark.parametrize(
    "transports", [["polling"], ["websocket"], None], ids=["polling", "websocket", "upgrade"]
)
async def test_our_client_on_every_transport(cluster: Cluster, transports: list[str] | None) -> None:
    async with clients_on_both_nodes(cluster, transports) as found:
        for node, conns in found.items():
            for conn in conns:
                await conn.send("!node")
                assert await receive_text(conn) == f"node {node}"
                payloads: list[str | bytes] = ["text é", b"\x00\xff binary", "", json.dumps({"k": [1]})]
                for data in payloads:
                    await conn.send(data)
                    assert await receive_text(conn) == data
    cluster.assert_routed_by_sid()


async def test_cross_node_send_broadcast_and_emitter(cluster: Cluster) -> None:
    async with clients_on_both_nodes(cluster) as found:
        (a1, a2), (b1, b2) = found["a"], found["b"]
        assert a1.sid is not None
        assert b1.sid is not None
        # A session on node a asks its node to send to a session on node b, and back.
        await a1.send(f"!send {b1.sid} from a")
        assert await receive_text(b1) == "from a"
        await b2.send(f"!send {a1.sid} from b")
        assert await receive_text(a1) == "from b"
        # A broadcast from node b reaches every session on both nodes, once.
        await b1.send("!broadcast everyone")
        for conn in (a1, a2, b1, b2):
            assert await receive_text(conn) == "everyone"
        # A process with no server: the test itself, through an emitter.
        bus = trio_engineio.RedisBus(cluster.redis.url)
        async with trio_engineio.open_emitter(bus) as emitter:
            await emitter.send(a2.sid or "", b"\x01\x02 bytes to a2")
            await emitter.broadcast("from the emitter", exclude=b2.sid)
        assert await receive_text(a2) == b"\x01\x02 bytes to a2"
        for conn in (a1, a2, b1):
            assert await receive_text(conn) == "from the emitter"
        # b2 got nothing more: its next message is the echo of what it sends now.
        await b2.send("ping")
        assert await receive_text(b2) == "ping"
    cluster.assert_routed_by_sid()
    for node in ("a", "b"):
        stats = await cluster.stats(node)
        assert stats["undeliverable"] == 0
        assert stats["bus"]["dropped"] == stats["bus"]["invalid"] == 0  # type: ignore[index]


async def wait_bus(cluster: Cluster, *, connected: bool) -> None:
    with trio.fail_after(15):
        while True:
            states = [(await cluster.stats(node))["bus"]["connected"] for node in ("a", "b")]  # type: ignore[index]
            if all(state is connected for state in states):
                return
            await trio.sleep(0.05)


async def test_redis_outage_leaves_local_traffic_alone_and_the_bus_recovers(cluster: Cluster) -> None:
    async with clients_on_both_nodes(cluster, count=1) as found:
        (a1,), (b1,) = found["a"], found["b"]
        await cluster.redis.stop()
        await wait_bus(cluster, connected=False)
        # Local traffic goes on on both nodes: echoes and a node's own sends.
        for i in range(20):
            for conn in (a1, b1):
                await conn.send(f"during {i}")
                assert await receive_text(conn) == f"during {i}"
        await a1.send(f"!send {a1.sid} local send")
        assert await receive_text(a1) == "local send"
        await a1.send("!broadcast local part")
        assert await receive_text(a1) == "local part"

        await cluster.redis.start()
        await wait_bus(cluster, connected=True)
        await a1.send(f"!send {b1.sid} after the outage")
        assert await receive_text(b1) == "after the outage"
        # The broadcast during the outage reached node b or was dropped, never delayed:
        # b1's next message is one sent from now on.
        await b1.send("echo")
        got = await receive_text(b1)
        if got == "local part":
            got = await receive_text(b1)
        assert got == "echo"
    cluster.assert_routed_by_sid()
    stats = await cluster.stats("a")
    assert stats["bus"]["reconnects"] >= 1  # type: ignore[index]
    assert stats["sessions_closed"].get("ping timeout", 0) == 0  # type: ignore[attr-defined]
