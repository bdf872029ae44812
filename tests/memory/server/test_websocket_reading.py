"""Randomized stress of how a websocket session reads its frames (pull by receive(), backstop read).

A task waiting in ``Connection.receive()`` pulls the next frame itself; when no
task has pulled for ``PULL_HANDOVER_DELAY`` the request task reads as a backstop.
The in-memory tests drive :func:`trio_engineio.testing.open_websocket` on
``autojump_clock`` through random interleavings of client messages (text and
binary), PONGs (late or missing), handler behaviours (busy receive loops,
cancelled receives, push-only bursts, two receivers, early return) and every way
a session ends, and check after each scenario:

* every message the transport read while the session was open reaches the
  handler exactly once, in order (a multiset with two receivers), and the
  transport read a prefix of what the client sent (all of it for client-side closes);
* a client that answers its PINGs never sees "ping timeout";
* a ``receive()`` ends with ``ConnectionClosed`` within the hand-over delay (plus
  a margin) of the later of the close and the call; the handler returns;
* what the handler sent reaches the client in order (all of it for server closes);
* nothing escapes the ASGI app, no session, session task or handler error is left.

The seed count per mode is ``WS_READING_SEEDS`` (default 60 keeps the module at a few
seconds). Busy periods mix values below and above the hand-over delay and past the ping
timeout; two fixed tests pin the cases the random runs first found (a hand-over lost
behind an earlier heartbeat booking, and a backlog that kept the transport from reading).
Over real hypercorn, where the puller reads from a clone of the request's memory
channel that the close closes: ``tests/hypercorn/server/test_websocket_reading_real.py``.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

import trio_engineio
from trio_engineio import ConnectionClosed
from trio_engineio.server.session import HANDLER_CLOSE_GRACE, PULL_HANDOVER_DELAY
from trio_engineio.server.socket_lease import Reader
from trio_engineio.testing import TestWebSocket, WebSocketClosed, open_websocket

URL = "/engine.io/?EIO=4&transport=websocket"
SEEDS = int(os.environ.get("WS_READING_SEEDS", "60"))
#: Virtual seconds a close may take to reach a waiting receive() (or the server, for a client close).
PROMPT = PULL_HANDOVER_DELAY + 0.015
#: Handler busy periods: around the hand-over delay, and past the ping timeout.
BUSY = (0, 0.001, 0.02, 0.049, 0.051, 0.08, 0.15, 0.45, 1.0)

Message = str | bytes

MODES = ("loop", "move_on", "push", "two", "early")
SERVER_ENDINGS = ("aclose_handler", "aclose_task", "disconnect", "ping_timeout")
CLIENT_ENDINGS = ("client_close", "client_ws_close")
ENDINGS = dict.fromkeys(("loop", "move_on", "push", "two"), SERVER_ENDINGS + CLIENT_ENDINGS)
ENDINGS["early"] = ("handler_return",)
REASONS = {
    "aclose_handler": "server disconnect",
    "aclose_task": "server disconnect",
    "disconnect": "server disconnect",
    "handler_return": "server disconnect",
    "ping_timeout": "ping timeout",
    "client_close": "client disconnect",
    "client_ws_close": "transport close",
}
#: Endings after which the server flushes what the handler queued before the CLOSE.
FLUSHING_ENDINGS = ("aclose_handler", "aclose_task", "disconnect", "handler_return")


# --------------------------------------------------------------------------- plan


@dataclass
class Plan:
    seed: int
    mode: str
    ending: str
    ping_interval: float
    ping_timeout: float
    messages: list[Message]
    gaps: list[float]
    #: Client message index (or, for handler-side endings, delivered count / burst count) of the ending.
    end_at: int
    busy: list[float]
    timeouts: list[float]
    pong_delays: list[float]
    echo: bool
    burst_sizes: list[int]


def make_plan(seed: int, mode: str) -> Plan:
    rng = random.Random(seed)
    ping_timeout = rng.choice([0.3, 0.5, 1.0])
    ping_interval = rng.choice([0.2, 0.5, 1.0, 100.0])
    count = rng.randint(1, 40)
    messages: list[Message] = [
        f"c{i}" if rng.random() < 0.7 else f"c{i}".encode() + bytes([0, 255]) for i in range(count)
    ]
    gaps = [rng.choice([0, 0, 0.001, 0.02, 0.049, 0.051, 0.07, 0.2]) for _ in range(count)]
    ending = rng.choice(ENDINGS[mode])
    busy = list(BUSY)
    return Plan(
        seed=seed,
        mode=mode,
        ending=ending,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        messages=messages,
        gaps=gaps,
        end_at=rng.randint(1, count) if mode != "push" else rng.randint(0, count),
        busy=busy,
        timeouts=[0.001, 0.01, 0.03, 0.049, 0.051, 0.08, 0.2],
        pong_delays=[d for d in (0, 0, 0.01, 0.04, 0.06, 0.1) if d <= 0.2 * ping_timeout],
        echo=rng.random() < 0.5,
        burst_sizes=[rng.choice([1, 5, 63, 64, 65, 150]) for _ in range(8)],
    )


# -------------------------------------------------------------------------- probes


@dataclass
class Probe:
    """What the handler and the transport did, on the virtual clock."""

    conn: trio_engineio.Connection | None = None
    delivered: list[tuple[int, Message]] = field(default_factory=list)
    delivered_at: list[float] = field(default_factory=list)
    #: (entered, raised) of every receive() that raised ConnectionClosed.
    closed_raises: list[tuple[float, float]] = field(default_factory=list)
    closed_at: float | None = None
    returned_at: float | None = None
    #: Messages the handler's send() accepted, in order.
    sent_ok: list[str] = field(default_factory=list)
    #: Frames the transport read from the socket: (payload or None, session open at that moment).
    reads: list[tuple[Message | None, bool]] = field(default_factory=list)
    escaped: list[BaseException] = field(default_factory=list)


def watched_app(app: Any, server: trio_engineio.Server, probe: Probe) -> Any:
    """The ASGI app, recording every frame it reads and any exception escaping it."""

    async def wrapped(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        async def watched_receive() -> dict[str, Any]:
            message = await receive()
            # No checkpoint between here and the app's use of the frame.
            payload: Message | None = None
            if message["type"] == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    payload = text[1:] if text.startswith("4") else None
                else:
                    payload = bytes(message["bytes"])
            probe.reads.append((payload, server.statistics().sessions > 0))
            return message

        try:
            await app(scope, watched_receive, send)
        except Exception as exc:
            probe.escaped.append(exc)
            raise

    return wrapped


# ------------------------------------------------------------------------- handler


def make_handler(plan: Plan, probe: Probe) -> Callable[[trio_engineio.Connection], Awaitable[None]]:
    rng = random.Random(plan.seed * 7919 + 1)
    sent_count = 0

    async def receive(conn: trio_engineio.Connection, who: int) -> Message:
        entered = trio.current_time()
        try:
            message = await conn.receive()
        except ConnectionClosed:
            probe.closed_raises.append((entered, trio.current_time()))
            raise
        probe.delivered.append((who, message))
        probe.delivered_at.append(trio.current_time())
        return message

    async def send(conn: trio_engineio.Connection) -> None:
        nonlocal sent_count
        text = f"s{sent_count}"
        try:
            await conn.send(text)
        except ConnectionClosed:
            return
        sent_count += 1
        probe.sent_ok.append(text)

    async def after_message(conn: trio_engineio.Connection) -> None:
        if plan.ending == "aclose_handler" and len(probe.delivered) == plan.end_at:
            await conn.aclose()
        if plan.echo and plan.mode != "two":
            await send(conn)
        busy = rng.choice(plan.busy)
        if not conn.closed:  # a handler that drains after the close must not outlive its grace
            await trio.sleep(busy)

    async def receiver(conn: trio_engineio.Connection, who: int) -> None:
        try:
            while True:
                await receive(conn, who)
                await after_message(conn)
        except ConnectionClosed:
            pass

    async def drain(conn: trio_engineio.Connection) -> None:
        try:
            while True:
                await receive(conn, 0)
        except ConnectionClosed:
            pass

    async def push(conn: trio_engineio.Connection) -> None:
        for burst, size in enumerate(plan.burst_sizes):
            if plan.ending == "aclose_handler" and burst == plan.end_at % len(plan.burst_sizes):
                await conn.aclose()
            if conn.closed:
                break
            for _ in range(size):
                await send(conn)
            await trio.sleep(rng.choice(plan.busy))
        await conn.wait_closed()

    async def body(conn: trio_engineio.Connection) -> None:
        if plan.mode == "loop":
            await receiver(conn, 0)
        elif plan.mode == "move_on":
            try:
                while True:
                    with trio.move_on_after(rng.choice(plan.timeouts)) as scope:
                        await receive(conn, 0)
                    if not scope.cancelled_caught:
                        await after_message(conn)
            except ConnectionClosed:
                pass
        elif plan.mode == "two":
            async with trio.open_nursery() as receivers:
                receivers.start_soon(receiver, conn, 1)
                receivers.start_soon(receiver, conn, 2)
        elif plan.mode == "push":
            await push(conn)
            await drain(conn)  # what was queued before the close is still there
        elif plan.mode == "early":
            while len(probe.delivered) < plan.end_at:
                await receive(conn, 0)
                await after_message(conn)

    async def handler(conn: trio_engineio.Connection) -> None:
        probe.conn = conn

        async def watch_close() -> None:
            await conn.wait_closed()
            probe.closed_at = trio.current_time()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch_close)
                await body(conn)
                nursery.cancel_scope.cancel()  # early return: the session closes after the handler
        finally:
            probe.returned_at = trio.current_time()

    return handler


# -------------------------------------------------------------------------- client


@dataclass
class ClientLog:
    sid: str = ""
    frames: list[Message] = field(default_factory=list)
    answering: bool = True
    closed: trio.Event = field(default_factory=trio.Event)
    close_sent_at: float | None = None
    sent: list[Message] = field(default_factory=list)


async def run_client(
    ws: TestWebSocket, plan: Plan, server: trio_engineio.Server, probe: Probe, log: ClientLog
) -> None:
    rng = random.Random(plan.seed * 104729 + 2)
    log.sid = str(json.loads(str(await ws.receive())[1:])["sid"])

    async def pong(delay: float) -> None:
        await trio.sleep(delay)
        if not log.closed.is_set():
            await ws.send("3")

    async def reader(nursery: trio.Nursery) -> None:
        try:
            while True:
                frame = await ws.receive()
                if frame == "2":
                    if log.answering:
                        nursery.start_soon(pong, rng.choice(plan.pong_delays))
                else:
                    log.frames.append(frame)
        except (WebSocketClosed, trio.EndOfChannel):
            pass
        log.closed.set()

    async def end() -> bool:
        """Trigger the plan's ending; True when the client must stop sending."""
        ending = plan.ending
        if ending == "aclose_task":
            await server.connection(log.sid).aclose()
        elif ending == "disconnect":
            await server.disconnect(log.sid)
        elif ending == "ping_timeout":
            log.answering = False
        elif ending == "client_close":
            log.close_sent_at = trio.current_time()
            await ws.send("1")
            return True
        elif ending == "client_ws_close":
            log.close_sent_at = trio.current_time()
            await ws.close()
            return True
        return False

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader, nursery)
        ended = False
        for index, message in enumerate(plan.messages):
            if index == plan.end_at:
                ended = True
                if await end():
                    break
            await trio.sleep(plan.gaps[index])
            if log.closed.is_set():
                break
            await ws.send(frame_of(message))
            log.sent.append(message)
        if not ended and not log.closed.is_set():
            await end()
        with trio.move_on_after(300) as waited:
            await log.closed.wait()
        assert not waited.cancelled_caught, "the session never closed"
        nursery.cancel_scope.cancel()


def frame_of(message: Message) -> Message:
    return "4" + message if isinstance(message, str) else message


# ------------------------------------------------------------------------ scenario


async def run_scenario(plan: Plan) -> None:
    probe = Probe()
    server = trio_engineio.Server(
        handler=make_handler(plan, probe),
        ping_interval=plan.ping_interval,
        ping_timeout=plan.ping_timeout,
    )
    app = watched_app(trio_engineio.ASGIApp(server), server, probe)
    log = ClientLog()
    async with server:
        assert server._host.nursery is not None
        idle_tasks = len(server._host.nursery.child_tasks)
        async with open_websocket(app, URL) as ws:
            await run_client(ws, plan, server, probe, log)
        with trio.fail_after(10):
            while server.statistics().running_sessions:
                await trio.sleep(0.01)
        stats = server.statistics()
        assert (stats.sessions, stats.running_sessions, stats.handler_errors) == (0, 0, 0), stats
        assert len(server._host.nursery.child_tasks) == idle_tasks, "a session task is left"
    check(plan, probe, log, stats)


def check(plan: Plan, probe: Probe, log: ClientLog, stats: Any) -> None:
    assert probe.escaped == []
    assert probe.conn is not None
    reason = probe.conn.close_reason
    assert reason == REASONS[plan.ending], (reason, probe.conn.close_info)
    assert probe.returned_at is not None
    # Transport level: frames were read in the client's order, each once.
    applied = [payload for payload, open_ in probe.reads if open_ and payload is not None]
    assert applied == log.sent[: len(applied)], "the transport read frames out of order"
    if plan.ending in CLIENT_ENDINGS:
        assert applied == log.sent, "a message sent before the client's close was lost"
    # Handler level: exactly once, in order (any order across two receivers).
    delivered = [message for _, message in probe.delivered]
    if plan.mode == "two":
        assert Counter(delivered) == Counter(applied), "lost or duplicated with two receivers"
    elif plan.mode == "early":
        assert delivered == applied[: plan.end_at]
    else:
        assert delivered == applied, "a message read while the session was open was not delivered"
    # What the handler sent reaches the client in order; all of it when the server closed.
    frames = [f for f in log.frames if f != "6"]
    expected = ["4" + text for text in probe.sent_ok]
    if plan.ending in FLUSHING_ENDINGS:
        assert frames == [*expected, "1"]
    else:  # a prefix, maybe with the CLOSE after it
        if frames[-1:] == ["1"]:
            frames.pop()
        assert frames == expected[: len(frames)]
    assert stats.sessions_closed == {REASONS[plan.ending]: 1}
    if plan.mode == "early":
        assert probe.closed_raises == []
        return
    # A receive() waiting when the session closed (or called after) ends promptly.
    assert probe.closed_at is not None
    assert probe.closed_raises, "no receive() saw the close"
    for entered, raised in probe.closed_raises:
        assert raised - max(entered, probe.closed_at) <= PROMPT, (entered, raised, probe.closed_at)
    if plan.ending in CLIENT_ENDINGS:
        # Read within the hand-over delay, whatever the handler is doing (the queue stays
        # under max_queued_incoming here).
        assert log.close_sent_at is not None
        assert probe.closed_at - log.close_sent_at <= PROMPT, (log.close_sent_at, probe.closed_at)
    # The handler (draining its queue with busy periods) returns on its own, right after the close.
    assert probe.returned_at - max(raised for _, raised in probe.closed_raises) <= PROMPT
    assert probe.returned_at - probe.closed_at < HANDLER_CLOSE_GRACE


def seeds(mode: str) -> list[int]:
    base = MODES.index(mode) * 1_000_000
    return [base + n for n in range(SEEDS)]


@pytest.mark.parametrize("mode", MODES)
async def test_random_interleavings(mode: str, autojump_clock: trio.abc.Clock) -> None:
    for seed in seeds(mode):
        plan = make_plan(seed, mode)
        try:
            with trio.fail_after(600):
                await run_scenario(plan)
        except BaseException as exc:
            raise AssertionError(f"seed {seed}: {plan}") from exc


# ------------------------------------------------------------------ deterministic


async def test_receive_after_server_close_raises_at_once(autojump_clock: trio.abc.Clock) -> None:
    """Waiting receivers (pulling and parked) end together with aclose() from another task."""
    raised: list[float] = []
    ready = trio.Event()

    async def handler(conn: trio_engineio.Connection) -> None:
        async def waiter() -> None:
            try:
                await conn.receive()
            except ConnectionClosed:
                raised.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(waiter)
            ready.set()

    server = trio_engineio.Server(handler=handler, ping_interval=100, ping_timeout=100)
    app = trio_engineio.ASGIApp(server)
    with trio.fail_after(10):
        async with server, open_websocket(app, URL) as ws:
            sid = json.loads(str(await ws.receive())[1:])["sid"]
            await ready.wait()
            await trio.sleep(1)
            conn = server.connection(sid)
            assert conn.lease is not None
            assert conn.lease.reader is Reader.HANDLER
            closed_at = trio.current_time()
            await conn.aclose()
            frames = []
            try:
                while True:
                    frames.append(await ws.receive())
            except WebSocketClosed:
                pass
            assert frames == ["1"]
            assert raised == [closed_at] * 3


async def test_busy_handler_keeps_its_session_when_a_ping_follows_a_receive_lost_handover(
    autojump_clock: trio.abc.Clock,
) -> None:
    reasons: list[str] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        async for _ in conn:
            await trio.sleep(3)  # busy for longer than the ping timeout

    server = trio_engineio.Server(handler=handler, ping_interval=1, ping_timeout=0.5)
    server.on("disconnect", lambda sid, reason: reasons.append(str(reason)))
    app = trio_engineio.ASGIApp(server)
    with trio.fail_after(30):
        async with server:
            async with open_websocket(app, URL) as ws:
                await ws.receive()  # OPEN at t=0, first PING due at t=1
                await trio.sleep(0.99)
                await ws.send("4m")  # receive() returns at 0.99: hand-over due at 1.04 > PING at 1.0
                for _ in range(3):
                    assert await ws.receive() == "2"
                    await ws.send("3")  # answered at once: never read, ping timeout at 1.5
            with trio.fail_after(10):
                while server.statistics().running_sessions:
                    await trio.sleep(0.01)
    # The PONGs were read while the handler slept; the session ended when the socket did.
    assert reasons == ["transport close"]


async def test_handler_draining_a_backlog_still_reads_the_close_promptly(
    autojump_clock: trio.abc.Clock,
) -> None:
    closed_at: list[float] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        async def watch() -> None:
            await conn.wait_closed()
            closed_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await conn.receive()
            await trio.sleep(2)  # away: the backstop reads and queues the 40 messages below
            async for message in conn:
                await conn.send(message)  # the flush cancels the backstop read...
                await trio.sleep(0.04)  # ...and one message per 40 ms keeps it from restarting

    server = trio_engineio.Server(handler=handler, ping_interval=100, ping_timeout=100)
    app = trio_engineio.ASGIApp(server)
    with trio.fail_after(30):
        async with server, open_websocket(app, URL) as ws:
            await ws.receive()  # OPEN
            for i in range(41):
                await ws.send(f"4m{i}")
            await trio.sleep(2.1)
            sent_close_at = trio.current_time()
            await ws.send("1")
            with trio.move_on_after(5):
                while not closed_at:
                    await trio.sleep(0.001)
    assert server.statistics().sessions_closed == {"client disconnect": 1}
    # Read by the transport behind the queue, not when the handler has drained it (about 3.6).
    assert closed_at[0] - sent_close_at <= PROMPT, (sent_close_at, closed_at)
