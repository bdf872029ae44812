"""Rooms and broadcasts across nodes: two Socket.IO servers on one bus.

In memory (``testing.MemoryBus``, raw peers) for the exchange and hostile relay
payloads; over loopback with a real ``redis-server`` in tests/peers/socketio/test_cross_node_redis.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from sio_wire import WirePeer, nothing_for, open_peer, quiet_server, running

from trio_engineio import socketio
from trio_engineio.bus import Bus
from trio_engineio.socketio._relay import MAGIC
from trio_engineio.socketio.protocol import Packet, PacketType
from trio_engineio.testing import MemoryBus

T = PacketType
pytestmark = pytest.mark.timeout(30)


@asynccontextmanager
async def two_nodes(bus: Bus, **options: Any) -> AsyncIterator[tuple[socketio.Server, socketio.Server]]:
    a = quiet_server(node_id="a", bus=bus, **options)
    b = quiet_server(node_id="b", bus=bus, **options)
    yield a, b


async def joined(sio: socketio.Server, peer: WirePeer, room: str, namespace: str = "/") -> str:
    reply = await peer.connect(namespace)
    assert reply.type is T.CONNECT, reply
    sid = str(reply.data["sid"])
    await sio.enter_room(sid, room, namespace=namespace)
    return sid


async def test_emits_reach_rooms_everyone_and_sids_on_the_other_node(autojump_clock: Any) -> None:
    async with (
        two_nodes(MemoryBus()) as (a, b),
        running(a) as app_a,
        running(b) as app_b,
        open_peer(app_a) as on_a,
        open_peer(app_b) as on_b,
        open_peer(app_b) as elsewhere,
    ):
        sid_a = await joined(a, on_a, "r")
        sid_b = await joined(b, on_b, "r")
        await joined(b, elsewhere, "other")

        await a.emit("news", ("for r", {"bin": b"\x00\x01"}), room="r")
        expected = Packet(T.BINARY_EVENT, data=["news", "for r", {"bin": b"\x00\x01"}])
        assert await on_a.receive() == expected
        assert await on_b.receive() == expected
        await nothing_for(elsewhere, 1)

        await a.emit("all", to=None, skip_sid=sid_b)  # everyone on every node but one
        assert await on_a.receive() == Packet(T.EVENT, data=["all"])
        assert await elsewhere.receive() == Packet(T.EVENT, data=["all"])
        await nothing_for(on_b, 1)

        await b.emit("direct", 1, to=sid_a)  # a sid that is not on this node
        assert await on_a.receive() == Packet(T.EVENT, data=["direct", 1])

        await a.close_room("r")  # on both nodes, b's once the bus brought it
        assert a.participants("r") == []
        with trio.fail_after(5):
            while b.participants("r"):
                await trio.sleep(0.01)
        assert b.rooms(sid_b) == [sid_b]
        await a.emit("after close", room="r")
        await nothing_for(on_b, 1)

        disconnected = trio.Event()
        b.on("disconnect", lambda sid, reason: disconnected.set())
        await a.disconnect(sid_b)  # the socket lives on b
        assert await on_b.receive() == Packet(T.DISCONNECT)
        with trio.fail_after(5):
            await disconnected.wait()
        await a.emit("still", room=sid_a)
        assert await on_a.receive() == Packet(T.EVENT, data=["still"])
        assert a.relay_drops == b.relay_drops == 0


async def test_a_full_buffer_on_the_other_node_drops_instead_of_waiting(autojump_clock: Any) -> None:
    async with (
        two_nodes(MemoryBus(), max_buffered_messages=2) as (a, b),
        running(a),
        running(b) as app_b,
        open_peer(app_b) as slow,
    ):
        await joined(b, slow, "r")
        with trio.fail_after(5):
            for i in range(1100):  # the in-memory socket takes 1,000, the engine 2 more
                await a.emit("n", i, room="r")
            await trio.sleep(1)
        assert b.relay_drops > 0
        received = [(await slow.receive()).data[1] for _ in range(1100 - b.relay_drops)]
        assert received == sorted(received)
        await nothing_for(slow, 1)


def relay(body: dict[str, Any]) -> bytes:
    return MAGIC + json.dumps(body).encode()


GOOD = {"op": "emit", "ns": "/", "to": None, "skip": [], "text": '2["x"]', "bins": []}
HOSTILE = [
    pytest.param(MAGIC + b"{not json", id="bad-json"),
    pytest.param(MAGIC + b"[1]", id="not-an-object"),
    pytest.param(MAGIC + b"[" * 100_000, id="deep-json"),
    pytest.param(relay({**GOOD, "op": "explode"}), id="unknown-op"),
    pytest.param(relay({**GOOD, "ns": 3}), id="namespace-not-str"),
    pytest.param(relay({**GOOD, "to": "r"}), id="rooms-not-list"),
    pytest.param(relay({**GOOD, "skip": [1]}), id="skip-not-strings"),
    pytest.param(relay({**GOOD, "text": '2["x"'}), id="packet-bad-json"),
    pytest.param(relay({**GOOD, "text": "1"}), id="not-an-event"),
    pytest.param(relay({**GOOD, "text": '21["x"]'}), id="ack-id"),
    pytest.param(relay({**GOOD, "text": '2/other,["x"]'}), id="other-namespace"),
    pytest.param(relay({**GOOD, "text": '51-["x",{"_placeholder":true,"num":0}]'}), id="missing-attachment"),
    pytest.param(relay({**GOOD, "bins": ["!!"]}), id="bad-base64"),
    pytest.param(relay({**GOOD, "bins": [base64.b64encode(b"x").decode()]}), id="extra-attachment"),
    pytest.param(relay({"op": "disconnect", "ns": "/"}), id="disconnect-without-sid"),
]


@pytest.mark.parametrize("payload", HOSTILE)
async def test_hostile_relay_payloads_are_refused(autojump_clock: Any, payload: bytes) -> None:
    """What another process put on the bus is checked; the node and its sockets go on."""
    async with two_nodes(MemoryBus()) as (a, b), running(a), running(b) as app_b, open_peer(app_b) as peer:
        await joined(b, peer, "r")
        with pytest.raises(ValueError):
            b._from_other_node(payload)
        assert a.eio.publish_to_nodes(payload)  # the same through the bus: logged by b's link
        assert a.eio.publish_to_nodes(b"another layer's payload")  # not ours: ignored
        await a.emit("fine", room="r")
        assert await peer.receive() == Packet(T.EVENT, data=["fine"])
        await nothing_for(peer, 1)
