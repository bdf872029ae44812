"""Mutated Socket.IO packets against the server: nothing escapes, nothing else is disturbed.

Valid packets (events, acks, binary packets with attachments, connects to several
namespaces) are mutated at random (bytes flipped, cut, duplicated, attachments
dropped or added) and sent one connection at a time; the server must either go on or
close that connection, never let an exception out of its handler, and keep serving a
bystander connected all along. Seeded: a failure is reproducible.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
import trio
from sio_wire import EngineClosed, open_peer

from trio_engineio import socketio
from trio_engineio.socketio.protocol import Packet, PacketType
from trio_engineio.testing import WebSocketClosed

T = PacketType
pytestmark = pytest.mark.timeout(60)

SEEDS: list[list[str | bytes]] = [
    ["0"],
    ['0/chat,{"token":"x"}'],
    ['2["echo",1,{"a":[1,2]}]'],
    ['2/chat,5["echo","x"]'],
    ['51-["echo",{"_placeholder":true,"num":0}]', b"\x00\x01"],
    ['52-7["echo",[{"_placeholder":true,"num":1}],{"_placeholder":true,"num":0}]', b"a", b"b"],
    ['3[1,"x"]', "30[]"],
    ['61-3[{"_placeholder":true,"num":0}]', b"z"],
    ["1", "1/chat,"],
]


def mutate(rng: random.Random, messages: list[str | bytes]) -> list[str | bytes]:
    out = list(messages)
    for _ in range(rng.randint(1, 3)):
        choice = rng.randrange(6)
        i = rng.randrange(len(out))
        message = out[i]
        if choice == 0 and message:  # flip a character / byte
            j = rng.randrange(len(message))
            if isinstance(message, str):
                out[i] = message[:j] + rng.choice('0123456789[]{},"-/_:x\\') + message[j + 1 :]
            else:
                out[i] = message[:j] + bytes([rng.randrange(256)]) + message[j + 1 :]
        elif choice == 1:  # cut
            out[i] = message[: rng.randrange(len(message) + 1)]
        elif choice == 2:  # drop a message
            if len(out) > 1:
                del out[i]
        elif choice == 3:  # duplicate
            out.insert(i, message)
        elif choice == 4:  # an extra binary attachment
            out.insert(rng.randrange(len(out) + 1), bytes(rng.randrange(256) for _ in range(3)))
        else:  # deep nesting
            depth = rng.choice([10, 40, 2000])
            out[i] = '2["echo",' + "[" * depth + "]" * depth + "]"
    return [m for m in out if m != ""]


async def test_mutated_packets(autojump_clock: Any) -> None:
    rng = random.Random(20261205)
    sio = socketio.Server(ping_interval=100, ping_timeout=100)
    sio.on("echo", lambda sid, *args: args)
    sio.on("echo", lambda sid, *args: args, namespace="/chat")
    cases = 0
    outcomes: Counter[str] = Counter()
    async with sio:
        app = socketio.ASGIApp(sio)
        async with open_peer(app) as bystander:
            await bystander.connect()
            for _ in range(300):
                messages = mutate(rng, rng.choice(SEEDS))
                async with open_peer(app) as peer:
                    await peer.connect()
                    for message in messages:
                        await peer.send_raw(message)
                    await peer.send(Packet(T.EVENT, data=["echo", "still"], id=999))
                    try:
                        with trio.move_on_after(5) as waited:  # no answer: "/" was left or never joined
                            while (await peer.receive()).id != 999:
                                pass
                        outcomes["ignored" if waited.cancelled_caught else "answered"] += 1
                    except (EngineClosed, WebSocketClosed):
                        outcomes["closed"] += 1
                cases += 1
            await bystander.send(Packet(T.EVENT, data=["echo", "ok"], id=1))
            assert await bystander.receive() == Packet(T.ACK, data=["ok"], id=1)
            await trio.sleep(1)
            assert len(sio._sockets) == 1  # every fuzzed socket was forgotten: only the bystander
    stats = sio.eio.statistics()
    assert stats.handler_errors == 0
    assert cases == 300
    assert outcomes["closed"] > 50
    assert outcomes["answered"] > 50
