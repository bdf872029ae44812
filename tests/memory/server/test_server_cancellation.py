"""The server when its request tasks are cancelled at any checkpoint (in memory, autojump clock).

An ASGI server cancels a request task when its connection goes away or when it
shuts down. Each scenario below drives one session through its requests and
cancels the request task that is about to take its n-th scheduler step, for
n = 1, 2, ... until the scenario runs to its end uncancelled. After every run:
only the cancellation left the app; the session either keeps working (the
client goes on and nothing it was promised is lost or duplicated) or has
ended and refuses further requests with 400; and once the server closes what
is left, no session, session task or request task remains.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest
import trio
from cancel_points import CancelAtStep, descendants

import trio_engineio
from trio_engineio.testing import WebSocketClosed, WebSocketRejected, open_websocket

PING_INTERVAL = 1.0
PING_TIMEOUT = 1.0
PATH = "/engine.io/"


class CancellableRequests:
    """ASGI middleware: each request runs under a cancel scope that :meth:`cancel` can reach."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.scopes: dict[trio.lowlevel.Task, trio.CancelScope] = {}

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        task = trio.lowlevel.current_task()
        with trio.CancelScope() as cancel_scope:
            self.scopes[task] = cancel_scope
            try:
                await self.app(scope, receive, send)
            finally:
                del self.scopes[task]

    def in_request(self, task: trio.lowlevel.Task) -> bool:
        """Whether ``task`` is running a request (the instrument's filter)."""
        return task in self.scopes

    def cancel(self, task: trio.lowlevel.Task) -> None:
        """Cancel the request ``task`` is running."""
        self.scopes[task].cancel()


class Dropped(Exception):
    """The request ended without a complete response (its task was cancelled)."""


async def http(app: Any, method: str, query: str, body: bytes = b"") -> tuple[int, str]:
    """One HTTP request straight into ``app``, in this task; raises :class:`Dropped` if unanswered."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"text/plain;charset=UTF-8")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    if not starts or not bodies or bodies[-1].get("more_body", False):
        raise Dropped
    return int(starts[0]["status"]), b"".join(m.get("body", b"") for m in bodies).decode()


class PollingClient:
    """A scripted polling client that remembers what the server promised it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sid: str | None = None
        self.received: list[str] = []
        self.accepted_posts: list[str] = []
        self.refused = False

    async def request(self, method: str, body: str = "") -> str:
        assert self.sid is not None
        status, text = await http(self.app, method, f"EIO=4&transport=polling&sid={self.sid}", body.encode())
        if status == 400:
            self.refused = True
        assert status in (200, 400), (status, text)
        return text if status == 200 else ""

    async def handshake(self) -> None:
        status, text = await http(self.app, "GET", "EIO=4&transport=polling")
        assert status == 200, text
        self.sid = text.split('"sid":"', 1)[1].split('"', 1)[0]

    async def post(self, *packets: str) -> None:
        if await self.request("POST", "\x1e".join(packets)) == "ok":
            self.accepted_posts.extend(p[1:] for p in packets if p.startswith("4"))

    async def get(self) -> list[str]:
        packets = (await self.request("GET")).split("\x1e")
        self.received.extend(p[1:] for p in packets if p.startswith("4"))
        return packets

    async def script(self) -> None:
        """Handshake, an echo, a long-poll answered by a PING, the PONG, a second echo."""
        await self.handshake()
        await self.post("4one")
        while "one" not in self.received and not self.refused:
            await self.get()
        while "2" not in await self.get() and not self.refused:
            pass
        await self.post("3", "4two")
        while "two" not in self.received and not self.refused:
            await self.get()


async def echo(conn: trio_engineio.Connection) -> None:
    async for message in conn:
        await conn.send(message)


async def run_cancelled(
    scenario: Callable[[Any], Awaitable[Any]], check: Callable[[Any, trio_engineio.Server], Awaitable[None]]
) -> int:
    """Run ``scenario`` with its request tasks cancelled before each step in turn; return the count."""
    step = 0
    while True:
        step += 1
        server = trio_engineio.Server(handler=echo, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)
        app = CancellableRequests(trio_engineio.ASGIApp(server))
        async with server:
            here = trio.lowlevel.current_task()
            instrument = CancelAtStep(app.cancel, step, app.in_request)
            trio.lowlevel.add_instrument(instrument)
            try:
                state = await scenario(app)
            finally:
                trio.lowlevel.remove_instrument(instrument)
            await check(state, server)
            assert app.scopes == {}, f"step {step}: request tasks still running"
            # What is left ends at the latest at its ping timeout; nothing outlives that.
            await trio.sleep(PING_INTERVAL + PING_TIMEOUT + 1)
            stats = server.statistics()
            assert (stats.sessions, stats.running_sessions) == (0, 0), f"step {step}: {stats}"
            assert sum(stats.sessions_closed.values()) == stats.sessions_opened
            assert [t for t in descendants(here) if "heartbeat" not in t.name] == [], f"step {step}"
        if instrument.fired_at is None:
            print(f"{scenario.__qualname__}: cancelled before each of {step - 1} request steps")
            return step - 1
        assert step < 2000


@pytest.mark.timeout(120)
async def test_polling_requests_cancelled_at_every_step(autojump_clock: trio.testing.MockClock) -> None:
    async def scenario(app: Any) -> PollingClient:
        client = PollingClient(app)
        try:
            await client.script()
        except Dropped:
            pass
        return client

    async def check(client: PollingClient, server: trio_engineio.Server) -> None:
        if client.sid is None:
            return  # the handshake was dropped: the session (if any) expires unseen
        # The client goes on: it collects what the server still owes it.
        with trio.move_on_after(PING_INTERVAL / 2):
            while not client.refused:
                await client.get()
        received = client.received
        assert len(received) == len(set(received)), f"a message came twice: {received}"
        assert received == [m for m in ("one", "two") if m in received], received
        if not client.refused:
            # Still open: every message the server acknowledged has come back.
            assert set(client.accepted_posts) <= set(received), (client.accepted_posts, received)

    steps = await run_cancelled(scenario, check)
    assert steps > 8


@pytest.mark.timeout(120)
async def test_websocket_request_cancelled_at_every_step(autojump_clock: trio.testing.MockClock) -> None:
    async def scenario(app: Any) -> list[str | bytes]:
        frames: list[str | bytes] = []
        try:
            async with open_websocket(app, f"{PATH}?EIO=4&transport=websocket") as ws:
                try:
                    frames.append(await ws.receive())  # OPEN
                    await ws.send("4one")
                    frames.append(await ws.receive())
                    frames.append(await ws.receive())  # PING
                    await ws.send("3")
                    await ws.send("4two")
                    frames.append(await ws.receive())
                except WebSocketClosed:
                    pass
        except WebSocketRejected:
            pass
        return frames

    async def check(frames: list[str | bytes], server: trio_engineio.Server) -> None:
        # The OPEN packet, then the frames asked for in order, then perhaps the server's CLOSE.
        rest = frames[1:-1] if frames[-1:] == ["1"] else frames[1:]
        if frames:
            assert str(frames[0]).startswith("0"), frames
        assert rest == ["4one", "2", "4two"][: len(rest)], frames

    steps = await run_cancelled(scenario, check)
    assert steps > 3


@pytest.mark.timeout(120)
async def test_upgrade_requests_cancelled_at_every_step(autojump_clock: trio.testing.MockClock) -> None:
    """Polling handshake, then the upgrade (2probe/3probe/5) with a GET pending, then an echo."""

    async def scenario(app: Any) -> list[str]:
        client = PollingClient(app)
        seen: list[str] = []
        try:
            await client.handshake()

            async def long_poll() -> None:
                try:
                    seen.extend(await client.get())
                except Dropped:
                    pass

            async with trio.open_nursery() as nursery:
                nursery.start_soon(long_poll)
                try:
                    async with open_websocket(
                        app, f"{PATH}?EIO=4&transport=websocket&sid={client.sid}"
                    ) as ws:
                        try:
                            await ws.send("2probe")
                            seen.append(str(await ws.receive()))
                            await ws.send("5")
                            await ws.send("4one")
                            seen.append(str(await ws.receive()))
                        except WebSocketClosed:
                            pass
                except WebSocketRejected:
                    pass
        except Dropped:
            pass
        return seen

    async def check(seen: list[str], server: trio_engineio.Server) -> None:
        assert seen.count("4one") <= 1, seen
        if "4one" in seen:
            assert "3probe" in seen, seen
            assert seen.index("3probe") < seen.index("4one"), seen

    steps = await run_cancelled(scenario, check)
    assert steps > 5


class CancellableEcho:
    """A trio-style echo handler whose every receive+send runs under a cancel scope it exposes."""

    def __init__(self) -> None:
        self.scopes: dict[trio.lowlevel.Task, trio.CancelScope] = {}

    async def __call__(self, conn: trio_engineio.Connection) -> None:
        task = trio.lowlevel.current_task()
        while True:
            with trio.CancelScope() as cancel_scope:
                self.scopes[task] = cancel_scope
                try:
                    message = await conn.receive()
                    await conn.send(message)
                except trio_engineio.ConnectionClosed:
                    return
                finally:
                    del self.scopes[task]

    def in_call(self, task: trio.lowlevel.Task) -> bool:
        """Whether ``task`` is inside a receive+send (the instrument's filter)."""
        return task in self.scopes

    def cancel(self, task: trio.lowlevel.Task) -> None:
        """Cancel the receive+send ``task`` is in."""
        self.scopes[task].cancel()


async def handler_run(step: int, transport: str) -> bool:
    """One echo exchange with the handler cancelled before its ``step``-th step; False if never."""
    handler = CancellableEcho()
    server = trio_engineio.Server(handler=handler, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)
    app = trio_engineio.ASGIApp(server)
    instrument = CancelAtStep(handler.cancel, step, handler.in_call)
    async with server:
        trio.lowlevel.add_instrument(instrument)
        try:
            echoes = await echo_some(app, transport, ["a", "b", "c"])
        finally:
            trio.lowlevel.remove_instrument(instrument)
        sent = ["a", "b", "c", *(f"probe{n}" for n in range(10))]
        assert echoes == [m for m in sent if m in echoes], (step, echoes)
        assert any(m.startswith("probe") for m in echoes), (step, echoes)
    return instrument.fired_at is not None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_handler_send_and_receive_cancelled_at_every_step(
    autojump_clock: trio.testing.MockClock, transport: str
) -> None:
    """A handler cancels its own ``receive()``/``send()`` at each of their checkpoints in turn.

    A cancelled ``receive()`` consumes nothing and a cancelled ``send()`` sends the
    message once or not at all: the echoes are the messages in order, none twice,
    and the session goes on working.
    """
    step = 1
    while await handler_run(step, transport):
        step += 1
        assert step < 500
    assert step > 3


async def echo_some(app: Any, transport: str, messages: list[str]) -> list[str]:
    """Send ``messages``, then a probe a second until one is echoed (one send may be lost)."""
    echoes: list[str] = []
    probes = (f"probe{n}" for n in range(10))
    if transport == "websocket":
        async with open_websocket(app, f"{PATH}?EIO=4&transport=websocket") as ws:
            await ws.receive()  # OPEN
            for message in messages:
                await ws.send("4" + message)
            while not any(m.startswith("probe") for m in echoes):
                await ws.send("4" + next(probes))
                with trio.move_on_after(1):
                    while not any(m.startswith("probe") for m in echoes):
                        frame = str(await ws.receive())
                        if frame == "2":
                            await ws.send("3")
                        elif frame.startswith("4"):
                            echoes.append(frame[1:])
            await ws.send("1")
        return echoes
    client = PollingClient(app)
    await client.handshake()
    await client.post(*("4" + m for m in messages))
    while not any(m.startswith("probe") for m in client.received):
        await client.post("4" + next(probes))
        with trio.move_on_after(1):
            while not any(m.startswith("probe") for m in client.received):
                if "2" in await client.get():
                    await client.post("3")
    await client.post("1")
    return client.received
