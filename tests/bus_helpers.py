"""Helpers shared by the bus tests (tests/memory/bus on the MemoryBus, tests/peers/redis_bus on Redis).

An inbox for a node's deliveries, links for a few nodes, waiting for a condition, and the
payloads and garbage envelopes both buses must handle alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import trio

from trio_engineio.bus import (
    Bus,
    BusBroadcast,
    BusDisconnect,
    BusLink,
    BusMessage,
    BusSend,
    open_bus_link,
)
from trio_engineio.bus.envelope import VERSION, encode

#: How long a helper waits before failing the test (virtual seconds under autojump_clock).
WAIT_CAP = 30
#: The message size limit of the in-memory buses (the garbage is cut to it).
MAX = 4096

#: Payloads that must arrive exactly as sent: text, binary that is not UTF-8, empty, odd.
PAYLOADS: list[str | bytes] = [
    "hello",
    "",
    "héllo ✓ \U0001f600",
    "\x1e\x00\r\n controls",
    b"",
    b"\xff\xfe\x00\x80 not UTF-8",
    bytes(range(256)),
    b"hello",  # the same bytes as a text message above: the kind must survive too
]


def largest(sid: str, origin: str, binary: bool, limit: int = MAX) -> str | bytes:
    """The largest payload a send to ``sid`` from ``origin`` may carry under ``limit``."""
    empty: str | bytes = b"" if binary else ""
    room = limit - len(encode(BusSend(sid, empty), origin))
    return b"\xff" * room if binary else "x" * room


class Inbox:
    """A node's ``deliver`` callback that keeps what it gets, in order."""

    def __init__(self) -> None:
        self.messages: list[BusMessage] = []
        self._lot = trio.lowlevel.ParkingLot()

    def __call__(self, message: BusMessage) -> None:
        self.messages.append(message)
        self._lot.unpark_all()

    async def wait_for(self, count: int) -> list[BusMessage]:
        """Wait until at least ``count`` messages arrived (at most ``WAIT_CAP``); all of them so far."""
        with trio.fail_after(WAIT_CAP):
            while len(self.messages) < count:
                await self._lot.park()
        return self.messages

    def take(self) -> list[BusMessage]:
        """What arrived so far, emptying the inbox."""
        messages, self.messages = self.messages, []
        return messages


async def until(predicate: Callable[[], bool], step: float = 0.005) -> None:
    """Wait until ``predicate()`` is true (polled every ``step`` seconds), at most ``WAIT_CAP``."""
    with trio.fail_after(WAIT_CAP):
        while not predicate():
            await trio.sleep(step)


@asynccontextmanager
async def nodes(
    bus: Bus, *node_ids: str, connected: bool = False
) -> AsyncIterator[dict[str, tuple[BusLink, Inbox]]]:
    """Links for ``node_ids`` on ``bus``, each with its inbox (``connected=True``: checked connected)."""
    async with AsyncExitStack() as stack:
        found = {}
        for node_id in node_ids:
            inbox = Inbox()
            link = await stack.enter_async_context(open_bus_link(bus, node_id=node_id, deliver=inbox))
            assert link.statistics().connected or not connected
            found[node_id] = (link, inbox)
        yield found


def garbage(bus: Bus) -> list[tuple[str, bytes]]:
    """Envelopes a node must drop, each with the channel it arrives on (node ``a``'s or all)."""
    own = bus.node_channel("a")
    everyone = bus.broadcast_channel
    send = encode(BusSend("a.s1", "ok"), "b")
    binary = encode(BusSend("a.s1", b"\xff\xfe"), "b")
    return [
        (own, b""),
        (own, b"\x01"),
        (own, b"garbage that is no envelope at all"),
        (own, bytes([VERSION + 1]) + send[1:]),  # a newer version
        (own, send[:1] + b"\x09" + send[2:]),  # an unknown kind
        (own, send[:2] + b"\x80" + send[3:]),  # unknown flags
        (own, send[:5]),  # cut inside the session id
        (own, send[:3] + b"\x05" + send[4:]),  # origin length past the origin
        (own, send[:3] + b"\x01!" + send[5:]),  # an origin that is no node id
        (own, binary[:2] + b"\x00" + binary[3:]),  # flagged as text, not UTF-8
        (own, encode(BusSend("a.sX", "x"), "b").replace(b"a.sX", b"a.s\xff")),  # sid not ASCII
        (own, encode(BusSend("a.s1", "x"), "b").replace(b"a.s1", b"a.s#")),  # sid outside the charset
        (own, encode(BusDisconnect("a.s1"), "b") + b"trailing"),
        (own, encode(BusSend("b.s1", "not for a"), "b")),  # another node's session on a's channel
        (own, encode(BusBroadcast("x"), "b")),  # a broadcast on a node channel
        (own, b"\x01" * (MAX + 1)),  # over the size limit
        (own, encode(BusSend("a.s1", "x" * (MAX - 9)), "b")),  # over it by one byte once encoded
        (everyone, encode(BusSend("a.s1", "x"), "b")),  # a send on the broadcast channel
        (everyone, encode(BusBroadcast("x"), "b")[:8] + b"\xff\xff\xff\xff"),  # 4 G excluded ids
        (everyone, encode(BusBroadcast("x", frozenset({"a.1"})), "b")[:-2]),  # cut in an excluded id
    ]
