"""How a websocket session reads its frames, over real hypercorn.

There a ``receive()`` blocked in the handler reads from a clone of the request's memory
channel; the close (by the server, a ping timeout, or the client's RST) closes that clone
and must wake the receive promptly. The randomized stress of the same rules runs in
memory: ``tests/memory/server/test_websocket_reading.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from engine_harness import real_engine
from wire import raw_websocket_session, rst

import trio_engineio
from trio_engineio import ConnectionClosed
from trio_engineio.server.socket_lease import Reader


@dataclass
class RealProbe:
    conn: trio_engineio.Connection | None = None
    interruptible: bool = False
    pulling: trio.Event = field(default_factory=trio.Event)
    closed_at: float | None = None
    raised_at: float | None = None
    done: trio.Event = field(default_factory=trio.Event)


def real_handler(probe: RealProbe) -> Callable[[trio_engineio.Connection], Awaitable[None]]:
    async def handler(conn: trio_engineio.Connection) -> None:
        probe.conn = conn

        async def watch() -> None:
            await conn.wait_closed()
            probe.closed_at = trio.current_time()

        async def mark_pulling() -> None:
            while conn.lease is None or conn.lease.reader is not Reader.HANDLER:
                await trio.sleep(0.001)
            probe.interruptible = conn.lease.can_pull
            probe.pulling.set()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                nursery.start_soon(mark_pulling)
                try:
                    while True:
                        await conn.receive()
                except ConnectionClosed:
                    probe.raised_at = trio.current_time()
        finally:
            probe.done.set()

    return handler


#: Wall seconds a close may take to reach a receive() blocked on hypercorn's clone channel.
REAL_PROMPT = 0.25
REAL_REASONS = {"aclose": "server disconnect", "ping_timeout": "ping timeout", "rst": "transport close"}


@pytest.mark.parametrize("how", ["aclose", "ping_timeout", "rst"])
async def test_real_receive_blocked_on_the_clone_channel_is_woken(how: str) -> None:
    probe = RealProbe()
    options: dict[str, Any] = {"ping_interval": 5, "ping_timeout": 5}
    if how == "ping_timeout":
        options = {"ping_interval": 0.3, "ping_timeout": 0.2}
    with trio.fail_after(15):
        async with real_engine(bystanders=False, handler=real_handler(probe), **options) as eng:
            stream, sid = await raw_websocket_session(eng)
            with trio.fail_after(5):
                await probe.pulling.wait()
            assert probe.interruptible, "hypercorn's receive was not cloned"
            assert probe.conn is not None
            started = trio.current_time()
            if how == "aclose":
                await probe.conn.aclose()
            elif how == "rst":
                rst(stream)
            with trio.fail_after(5):
                await probe.done.wait()
            assert probe.raised_at is not None
            assert probe.closed_at is not None
            assert probe.raised_at - probe.closed_at <= REAL_PROMPT
            if how != "ping_timeout":
                assert probe.raised_at - started <= REAL_PROMPT
            expected = {
                "aclose": "server disconnect",
                "ping_timeout": "ping timeout",
                "rst": "transport close",
            }
            assert probe.conn.close_reason == expected[how]
            await eng.rec.wait_disconnect(sid, limit=5)
            if how != "rst":
                await stream.aclose()
