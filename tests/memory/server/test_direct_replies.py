"""Direct replies: the first ``send()`` after ``receive()`` writes the frame in the caller's task.

On hypercorn's trio worker (a memory channel's bound ``receive``), a reply skips
the hand-off to the request task. What must hold, in memory here: it is written by the
handler's task, only when nothing else is queued (order), a cancelled reply that was not
written is still sent once and in order, ``direct_replies=False`` turns it off. A reply
stuck on a client that stopped reading (hypercorn shields its writes) does not keep the
session from ending: ``tests/hypercorn/server/test_direct_replies_real.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

import trio_engineio

SCOPE: dict[str, Any] = {
    "type": "websocket",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "scheme": "ws",
    "path": "/engine.io/",
    "raw_path": b"/engine.io/",
    "query_string": b"EIO=4&transport=websocket",
    "root_path": "",
    "headers": [(b"host", b"testserver")],
    "client": ("127.0.0.1", 50001),
    "server": ("testserver", 80),
    "subprotocols": [],
}


class Peer:
    """The client side of one in-memory websocket; records which task wrote each frame."""

    def __init__(self) -> None:
        self.to_app, self.app_receive = trio.open_memory_channel[dict[str, Any]](100)
        self.frames: list[tuple[str, str | bytes]] = []  # (writing task's name, frame)
        self.changed = trio.Event()
        #: When set, the next message frame waits here (cancellably) before it is "written".
        self.hold_next: trio.Event | None = None
        #: When true, every send fails as hypercorn's does when it closes the connection itself.
        self.closing_under_app = False
        self.app_errors: list[BaseException] = []

    async def send(self, message: dict[str, Any]) -> None:
        if self.closing_under_app:
            await trio.lowlevel.checkpoint()
            raise trio.BusyResourceError("another task is currently sending data on this SocketStream")
        if message["type"] == "websocket.send" and self.hold_next is not None:
            hold, self.hold_next = self.hold_next, None
            await hold.wait()  # a Cancelled here means: nothing was written
        if message["type"] == "websocket.send":
            text = message.get("text")
            data = text if text is not None else message["bytes"]
            self.frames.append((trio.lowlevel.current_task().name, data))
        self.changed.set()
        self.changed = trio.Event()

    async def say(self, text: str) -> None:
        await self.to_app.send({"type": "websocket.receive", "text": text})

    def messages(self) -> list[str | bytes]:
        return [f for _, f in self.frames if isinstance(f, str) and f.startswith("4")]

    async def wait_frames(self, count: int) -> None:
        while len(self.frames) < count:
            await self.changed.wait()


@asynccontextmanager
async def websocket_session(
    handler: Callable[[trio_engineio.Connection], Awaitable[None]], **options: Any
) -> AsyncIterator[Peer]:
    """A websocket-only session on an in-memory socket whose ``receive`` is a bound channel method."""
    server = trio_engineio.Server(handler=handler, **options)
    app = trio_engineio.ASGIApp(server)
    peer = Peer()
    async with server.running(), trio.open_nursery() as nursery:
        await peer.to_app.send({"type": "websocket.connect"})

        async def run_app() -> None:
            try:
                await app(dict(SCOPE), peer.app_receive.receive, peer.send)
            except BaseException as exc:
                peer.app_errors.append(exc)
                raise

        nursery.start_soon(run_app)
        await peer.wait_frames(1)
        assert json.loads(str(peer.frames[0][1])[1:])["sid"]
        yield peer
        await peer.to_app.send({"type": "websocket.disconnect", "code": 1000})


def writers(peer: Peer) -> set[str]:
    return {task for task, f in peer.frames if isinstance(f, str) and f.startswith("4")}


async def echo(conn: trio_engineio.Connection) -> None:
    async for message in conn:
        await conn.send(message)


async def test_a_reply_is_written_by_the_handlers_task(autojump_clock: trio.abc.Clock) -> None:
    async with websocket_session(echo) as peer:
        for i in range(5):
            await peer.say(f"4m{i}")
            await peer.wait_frames(2 + i)
        assert peer.messages() == [f"4m{i}" for i in range(5)]
        assert len(writers(peer)) == 1
        assert "Session.run" in writers(peer).pop()


async def test_direct_replies_false_leaves_the_writing_to_the_transport(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with websocket_session(echo, direct_replies=False) as peer:
        for i in range(3):
            await peer.say(f"4m{i}")
            await peer.wait_frames(2 + i)
        assert peer.messages() == ["4m0", "4m1", "4m2"]
        assert not any("Session.run" in task for task in writers(peer))


async def test_only_the_first_send_after_a_receive_is_direct_and_order_holds(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def burst(conn: trio_engineio.Connection) -> None:
        async for message in conn:
            for i in range(4):
                await conn.send(f"{message}-{i}")

    async with websocket_session(burst) as peer:
        await peer.say("4a")
        await peer.wait_frames(5)
        assert peer.messages() == ["4a-0", "4a-1", "4a-2", "4a-3"]
        tasks = [task for task, f in peer.frames[1:]]
        assert "Session.run" in tasks[0]
        assert not any("Session.run" in task for task in tasks[1:])


async def test_a_reply_behind_queued_messages_waits_its_turn(autojump_clock: trio.abc.Clock) -> None:
    conns: list[trio_engineio.Connection] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        conns.append(conn)
        async for message in conn:
            await conn.send(message)

    async with websocket_session(handler) as peer:
        await peer.say("4first")
        await peer.wait_frames(2)
        # Another task queues two messages, and the transport has not written them yet
        # when the handler replies to the next message: the reply must come after them.
        hold = peer.hold_next = trio.Event()
        assert conns[0].send_nowait("q1")
        assert conns[0].send_nowait("q2")
        await trio.sleep(0.01)
        assert peer.hold_next is None  # the transport took q1, q2 and waits in the first write
        await peer.say("4reply")
        await trio.sleep(0.01)
        assert conns[0].core.has_outgoing()  # the reply was queued behind that batch
        hold.set()
        await peer.wait_frames(5)
        assert peer.messages() == ["4first", "4q1", "4q2", "4reply"]


async def test_a_cancelled_reply_that_was_not_written_is_sent_once_in_order(
    autojump_clock: trio.abc.Clock,
) -> None:
    outcomes: list[str] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        async for message in conn:
            with trio.move_on_after(1) as scope:
                await conn.send(f"{message}!")
            outcomes.append("cancelled" if scope.cancelled_caught else "sent")

    async with websocket_session(handler) as peer:
        held = peer.hold_next = trio.Event()
        await peer.say("4a")
        start = trio.current_time()
        while not outcomes:
            await trio.sleep(0.1)
        assert outcomes == ["cancelled"]
        # Nothing else happens in the session, yet the message goes out (by the transport),
        # well before the next heartbeat would have woken anything.
        assert not held.is_set()
        await peer.wait_frames(2)
        assert trio.current_time() - start < 2
        assert peer.messages() == ["4a!"]
        await peer.say("4b")
        await peer.wait_frames(3)
        assert peer.messages() == ["4a!", "4b!"]
        assert outcomes == ["cancelled", "sent"]


async def test_hypercorn_closing_the_connection_under_a_reply_and_the_close_stays_inside(
    autojump_clock: trio.abc.Clock,
) -> None:
    """hypercorn 0.18's send_eof (outside its send lock) makes our writes raise BusyResourceError
    when the client sends CLOSE and its close frame together (seen in the soak: 37 of 5,000
    closes). Neither the handler's send() nor the ASGI call may raise it."""
    handler_errors: list[BaseException] = []
    replied = trio.Event()

    async def handler(conn: trio_engineio.Connection) -> None:
        async for message in conn:
            try:
                await conn.send(message)
            except BaseException as exc:
                handler_errors.append(exc)
                raise
            finally:
                replied.set()

    async with websocket_session(handler) as peer:
        peer.closing_under_app = True
        await peer.say("4reply")  # the direct reply fails under us
        with trio.fail_after(1):
            await replied.wait()
        await peer.say("1")  # the client's CLOSE: the session ends normally
        await trio.sleep(1)
    assert handler_errors == []
    assert peer.app_errors == []


async def test_hypercorn_closing_the_connection_under_our_close_frame_stays_inside(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with websocket_session(echo) as peer:
        peer.closing_under_app = True
        await peer.say("1")  # the client's CLOSE, and hypercorn closes the connection meanwhile
        await trio.sleep(1)
    assert peer.app_errors == []
