"""Reconnection: the shared backoff schedule, Client(reconnection=True) and open_reconnecting_client.

The I/O tests run the library's own server on loopback and stop and start it again on
the same port; a listener that accepts and drops connections stands for a server that is
down while still showing each attempt. Timers run on ``io_clock`` (an autojump clock that
moves only when every task is idle), so backoff waits cost no wall time and are read
exactly on ``trio.current_time()``. Every test runs under ``trio.fail_after`` on that
clock and pytest-timeout's wall-clock cap.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from reconnect_helpers import DroppingListener, EchoServer
from trio.testing import MockClock

from trio_engineio import Client, EngineIOConnectionError, open_reconnecting_client
from trio_engineio._backoff import Backoff, backoff_delay

pytestmark = pytest.mark.timeout(60)

TRANSPORTS = pytest.mark.parametrize(
    "transports", [["polling"], ["websocket"], None], ids=["polling", "websocket", "upgrade"]
)
#: The backoff schedule without randomization: 1, 2, 4, then the 5 s cap.
EXACT: dict[str, Any] = {"reconnection_delay": 1, "reconnection_delay_max": 5, "randomization_factor": 0}


class Recorder:
    """A Client's handler calls with ``trio.current_time()``, and a way to wait for them."""

    def __init__(self, client: Client) -> None:
        self.calls: list[tuple[str, object, float]] = []
        self._changed = trio.Event()
        client.on("connect", lambda: self._add("connect", client.sid))
        client.on("disconnect", lambda reason: self._add("disconnect", reason))
        client.on("reconnect_failed", lambda: self._add("reconnect_failed", None))
        client.on("message", lambda data: self._add("message", data))

    def _add(self, name: str, value: object) -> None:
        self.calls.append((name, value, trio.current_time()))
        self._changed.set()
        self._changed = trio.Event()

    def names(self) -> list[str]:
        """The lifecycle events in order (messages left out)."""
        return [name for name, _, _ in self.calls if name != "message"]

    def values(self, name: str) -> list[object]:
        return [value for event, value, _ in self.calls if event == name]

    def times(self, name: str) -> list[float]:
        return [at for event, _, at in self.calls if event == name]

    async def wait_for(self, name: str, count: int = 1) -> None:
        while len(self.times(name)) < count:
            await self._changed.wait()

    async def echo(self, client: Client, text: str) -> None:
        """Send ``text`` and wait for its echo."""
        await client.send(text)
        while text not in self.values("message"):
            await self._changed.wait()


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 3) for a, b in itertools.pairwise(times)]


# ----------------------------------------------------------------- the schedule
def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(0, 1, 5, 0)
    assert [backoff.delay(n) for n in range(1, 7)] == [1, 2, 4, 5, 5, 5]
    assert [Backoff(0, 0.5, 60, 0).delay(n) for n in range(1, 5)] == [0.5, 1, 2, 4]


def test_backoff_randomization_stays_within_the_factor() -> None:
    backoff = Backoff(0, 1, 5, 0.5)
    assert backoff.delay(2, rand=lambda: 0.0) == 1.0  # 2 s - 50 %
    assert backoff.delay(2, rand=lambda: 1.0) == 3.0  # 2 s + 50 %
    assert backoff.delay(2, rand=lambda: 0.5) == 2.0
    assert all(2.5 <= backoff.delay(5) <= 7.5 for _ in range(200))
    assert backoff_delay(3, 1, 5, 0, lambda: 0.9) == 4


def test_backoff_gives_up_after_the_attempts() -> None:
    assert [Backoff(3).gives_up(n) for n in range(1, 6)] == [False, False, False, True, True]
    assert not any(Backoff(0).gives_up(n) for n in range(1, 1000))


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"reconnection_attempts": -1}, ValueError),
        ({"reconnection_attempts": 1.5}, TypeError),
        ({"reconnection_attempts": True}, TypeError),
        ({"reconnection_delay": -1}, ValueError),
        ({"reconnection_delay": "1"}, TypeError),
        ({"reconnection_delay_max": float("inf")}, ValueError),
        ({"reconnection_delay_max": float("nan")}, ValueError),
        ({"randomization_factor": 1.5}, ValueError),
        ({"randomization_factor": None}, TypeError),
        ({"reconnection": "yes"}, TypeError),
    ],
)
async def test_bad_reconnection_options_are_refused_up_front(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error) as raised:
        Client(**options)
    assert next(iter(options)) in str(raised.value)
    if "reconnection" not in options:
        with pytest.raises(error):
            async with open_reconnecting_client("http://127.0.0.1:9", **options):
                pass  # pragma: no cover


class Scene:
    """An echo server, a dropping listener on its port, a Client with a Recorder, a nursery."""

    def __init__(self, nursery: trio.Nursery, client: Client, server: EchoServer) -> None:
        self.nursery = nursery
        self.client = client
        self.server = server
        self.down = DroppingListener(server.port)
        self.record = Recorder(client)

    async def connect_then_lose_the_server(self, transports: list[str] | None = None) -> None:
        """Connect to the server, stop it, hold its port with the dropping listener."""
        await self.server.start(self.nursery)
        await self.client.connect(self.server.url, transports=transports)
        await self.server.stop()
        await self.down.start(self.nursery)
        await self.record.wait_for("disconnect")

    async def bring_the_server_back(self) -> None:
        await self.down.stop()
        await self.server.start(self.nursery)


@asynccontextmanager
async def scene(**client_options: Any) -> AsyncIterator[Scene]:
    """A :class:`Scene`; its ``Client`` gets ``client_options``."""
    async with trio.open_nursery() as nursery, Client(**client_options) as client:
        yield Scene(nursery, client, EchoServer())


# ----------------------------------------------------- Client(reconnection=True)
@TRANSPORTS
async def test_client_reconnects_after_the_server_restarts(
    io_clock: MockClock, transports: list[str] | None
) -> None:
    with trio.fail_after(60):
        async with scene(reconnection=True, **EXACT) as it:
            client, record, server = it.client, it.record, it.server
            await server.start(it.nursery)
            await client.connect(server.url, transports=transports)
            await record.echo(client, "before")
            first_sid = client.sid
            await server.stop()
            await record.wait_for("disconnect")
            assert not client.connected
            assert client.close_info is not None
            await server.start(it.nursery)
            await record.wait_for("connect", 2)
            assert client.connected
            assert client.close_info is None
            await record.echo(client, "after")
            assert record.names() == ["connect", "disconnect", "connect"]
            assert record.values("connect") == [first_sid, client.sid]
            assert server.connects == [first_sid, client.sid]
            assert record.values("disconnect")[0] in ("server disconnect", "transport close")
            # On the schedule (1 s, then 2 s more...): a retry during the server's graceful
            # shutdown is refused with 503 and the next one connects.
            lost_at, reconnected_at = record.times("disconnect")[0], record.times("connect")[1]
            assert round(reconnected_at - lost_at, 3) in (1, 3, 7)
            await client.disconnect()
            await server.stop()
    assert record.names() == ["connect", "disconnect", "connect", "disconnect"]
    assert record.values("disconnect")[1] == "client disconnect"


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_client_follows_the_backoff_schedule(io_clock: MockClock, transports: list[str]) -> None:
    with trio.fail_after(120):
        async with scene(reconnection=True, **EXACT) as it:
            await it.connect_then_lose_the_server(transports)
            await it.down.wait_for_attempts(6)
            await it.bring_the_server_back()
            await it.record.wait_for("connect", 2)
            await it.record.echo(it.client, "back")
            await it.client.disconnect()
            await it.server.stop()
    lost_at = it.record.times("disconnect")[0]
    attempts = it.down.attempts()
    assert gaps([lost_at, *attempts]) == [1, 2, 4, 5, 5, 5]
    # The next retry (5 s after the last dropped one) found the server.
    assert round(it.record.times("connect")[1] - attempts[-1], 3) == 5
    assert it.record.names() == ["connect", "disconnect", "connect", "disconnect"]


async def test_client_gives_up_after_the_attempts(io_clock: MockClock) -> None:
    with trio.fail_after(60):
        async with scene(reconnection=True, reconnection_attempts=3, **EXACT) as it:
            await it.connect_then_lose_the_server()
            await it.client.wait()  # returns once no reconnection is left
            assert not it.client.connected
            await trio.sleep(30)
            await it.down.stop()
    assert it.record.names() == ["connect", "disconnect", "reconnect_failed"]
    lost_at = it.record.times("disconnect")[0]
    assert gaps([lost_at, *it.down.attempts()]) == [1, 2, 4]
    assert it.record.times("reconnect_failed")[0] == it.down.attempts()[-1]


async def test_reconnection_is_off_by_default(io_clock: MockClock) -> None:
    with trio.fail_after(60):
        async with scene() as it:
            await it.connect_then_lose_the_server()
            await it.client.wait()
            await trio.sleep(30)
            await it.down.stop()
    assert it.record.names() == ["connect", "disconnect"]
    assert it.down.accepted == []


async def test_a_server_side_close_is_followed_by_a_reconnection(io_clock: MockClock) -> None:
    """The Engine.IO CLOSE packet carries no reason: as socket.io-client, the client comes back."""
    server = EchoServer()
    with trio.fail_after(60):
        async with server.running(), Client(reconnection=True, **EXACT) as client:
            record = Recorder(client)
            await client.connect(server.url)
            await client.send("disconnect me")
            await record.wait_for("connect", 2)
            await record.echo(client, "again")
            await client.disconnect()
    assert record.names() == ["connect", "disconnect", "connect", "disconnect"]
    assert record.values("disconnect") == ["server disconnect", "client disconnect"]
    assert [reason for _, reason in server.disconnects] == ["server disconnect", "client disconnect"]


async def test_user_disconnect_stops_reconnection(io_clock: MockClock) -> None:
    server = EchoServer()
    with trio.fail_after(60):
        async with server.running(), Client(reconnection=True, **EXACT) as client:
            record = Recorder(client)
            await client.connect(server.url)
            await client.disconnect()
            await trio.sleep(30)
            assert not client.connected
    assert record.names() == ["connect", "disconnect"]
    assert len(server.connects) == 1


@pytest.mark.parametrize("during", ["first wait", "later wait"])
async def test_disconnect_while_waiting_to_reconnect_stops_at_once(io_clock: MockClock, during: str) -> None:
    with trio.fail_after(60):
        async with scene(reconnection=True, **EXACT) as it:
            await it.connect_then_lose_the_server()
            if during == "later wait":
                await it.down.wait_for_attempts(2)
            await trio.sleep(0.5)
            asked_at = trio.current_time()
            await it.client.disconnect()
            assert trio.current_time() - asked_at < 0.1
            seen = len(it.down.accepted)
            await trio.sleep(30)
            await it.down.stop()
    assert len(it.down.accepted) == seen  # no attempt after disconnect()
    assert it.record.names() == ["connect", "disconnect"]


async def test_cancelled_while_waiting_to_reconnect_exits_at_once(io_clock: MockClock) -> None:
    with trio.fail_after(60):
        with trio.CancelScope() as scope:
            async with scene(reconnection=True, reconnection_delay=5) as it:
                await it.connect_then_lose_the_server()
                await trio.sleep(1)
                scope.cancel()
                cancelled_at = trio.current_time()
                await trio.sleep_forever()
        assert scope.cancelled_caught
        assert trio.current_time() - cancelled_at < 0.1
    assert it.record.names() == ["connect", "disconnect"]
    assert it.down.accepted == []  # cancelled before the first retry


# ------------------------------------------------------------- the first connect
async def test_first_connect_fails_at_once_without_retry(io_clock: MockClock) -> None:
    server = EchoServer()  # never started: the port is closed
    with trio.fail_after(30):
        async with Client(reconnection=True) as client:
            record = Recorder(client)
            started_at = trio.current_time()
            with pytest.raises(EngineIOConnectionError):
                await client.connect(server.url)
            assert trio.current_time() == started_at
            await client.wait()
            assert not client.connected
    assert record.names() == []


@pytest.mark.parametrize("reconnection", [False, True])
async def test_first_connect_retries_until_the_server_is_up(io_clock: MockClock, reconnection: bool) -> None:
    with trio.fail_after(60):
        async with scene(reconnection=reconnection, **EXACT) as it:
            connected = trio.Event()

            async def connect() -> None:
                await it.client.connect(it.server.url, retry=True)
                connected.set()

            await it.down.start(it.nursery)
            it.nursery.start_soon(connect)
            await it.down.wait_for_attempts(3)
            await it.bring_the_server_back()
            await connected.wait()
            await it.record.echo(it.client, "hello")
            await it.client.disconnect()
            await it.server.stop()
    attempts = it.down.attempts()
    assert gaps(attempts) == [1, 2]
    assert round(it.record.times("connect")[0] - attempts[0], 3) == 7  # then 4 s more
    assert it.record.names() == ["connect", "disconnect"]


async def test_first_connect_retry_gives_up_with_the_last_error(io_clock: MockClock) -> None:
    with trio.fail_after(60):
        async with scene(reconnection_attempts=2, **EXACT) as it:
            await it.down.start(it.nursery)
            with pytest.raises(EngineIOConnectionError):
                await it.client.connect(it.server.url, retry=True)
            await it.down.stop()
    assert gaps(it.down.attempts()) == [1, 2]
    assert it.record.names() == []  # connect() raised: no reconnect_failed event on top


async def test_disconnect_during_a_retried_first_connect(io_clock: MockClock) -> None:
    server = EchoServer()
    with trio.fail_after(60):
        async with Client(**EXACT) as client, trio.open_nursery() as nursery:
            failed: list[BaseException] = []

            async def connect() -> None:
                try:
                    await client.connect(server.url, retry=True)
                except EngineIOConnectionError as error:
                    failed.append(error)

            nursery.start_soon(connect)
            await trio.sleep(2.5)  # port closed: tries at 0 and 1, waits for the one at 3
            asked_at = trio.current_time()
            await client.disconnect()
            assert trio.current_time() == asked_at
        assert [str(error) for error in failed] == ["disconnect() was called before the connection was made"]


# ------------------------------------------------- open_reconnecting_client
@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_connections_follow_each_other_across_a_restart(
    io_clock: MockClock, transports: list[str]
) -> None:
    server = EchoServer()
    sids: list[str | None] = []
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await server.start(nursery)
            async with open_reconnecting_client(server.url, transports=transports, **EXACT) as connections:
                assert connections.connections == 1
                async for conn in connections:
                    sids.append(conn.sid)
                    await conn.send("ping")
                    assert await conn.receive() == "ping"
                    if len(sids) == 2:
                        break
                    await server.stop()
                    assert [message async for message in conn] == []
                    assert conn.closed
                    await server.start(nursery)
                assert connections.connections == 2
                assert connections.attempt == 0
            assert conn.close_reason == "client disconnect"  # leaving the block closed it
            await server.wait_for_disconnects(2)
            await server.stop()
    assert sids == server.connects
    assert len(set(sids)) == 2
    assert server.disconnects[1] == (sids[1], "client disconnect")


async def test_asking_for_the_next_connection_closes_the_previous(io_clock: MockClock) -> None:
    server = EchoServer()
    with trio.fail_after(60):
        async with server.running(), open_reconnecting_client(server.url, **EXACT) as connections:
            first = await connections.__anext__()
            asked_at = trio.current_time()
            second = await connections.__anext__()
            assert first.closed
            assert first.close_reason == "client disconnect"
            assert not second.closed
            assert trio.current_time() - asked_at == 1  # retry 1 waits reconnection_delay
            assert server.disconnects == [(first.sid, "client disconnect")]


async def test_connections_raise_the_last_error_when_the_attempts_run_out(io_clock: MockClock) -> None:
    server = EchoServer()
    down = DroppingListener(server.port)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await server.start(nursery)
            async with open_reconnecting_client(server.url, reconnection_attempts=2, **EXACT) as connections:
                conn = await connections.__anext__()
                await server.stop()
                await down.start(nursery)
                asked_at = trio.current_time()
                with pytest.raises(EngineIOConnectionError):
                    await connections.__anext__()
                assert conn.closed
                with pytest.raises(StopAsyncIteration):
                    await connections.__anext__()
            await down.stop()
    assert gaps([asked_at, *down.attempts()]) == [1, 2]


async def test_first_connection_fails_or_retries_like_connect(io_clock: MockClock) -> None:
    server = EchoServer()
    down = DroppingListener(server.port)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await down.start(nursery)
            with pytest.raises(EngineIOConnectionError):
                async with open_reconnecting_client(server.url, **EXACT):
                    pytest.fail("no connection to yield")  # pragma: no cover
            assert len(down.attempts()) == 1
            started_at = trio.current_time()
            with pytest.raises(EngineIOConnectionError):
                async with open_reconnecting_client(server.url, reconnection_attempts=3, retry=True, **EXACT):
                    pytest.fail("no connection to yield")  # pragma: no cover
            await down.stop()
    # The first try of each is at started_at (one attempt on the listener), then 1, 2, 4 s.
    assert [round(at - started_at, 3) for at in down.attempts()] == [0, 1, 3, 7]


async def test_cancelled_while_waiting_for_the_next_connection(io_clock: MockClock) -> None:
    server = EchoServer()
    cancelled_at: list[float] = []

    async def cancel_after(scope: trio.CancelScope, seconds: float) -> None:
        await trio.sleep(seconds)
        cancelled_at.append(trio.current_time())
        scope.cancel()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await server.start(nursery)
            with trio.CancelScope() as scope:
                async with open_reconnecting_client(server.url, reconnection_delay=5) as connections:
                    async for conn in connections:
                        await server.stop()
                        async for _ in conn:
                            pass  # pragma: no cover
                        nursery.start_soon(cancel_after, scope, 2)  # in the middle of the wait
            assert scope.cancelled_caught
            assert trio.current_time() - cancelled_at[0] < 0.1
    assert len(server.connects) == 1


async def test_cancelling_a_retried_first_connect_leaves_nothing_running(io_clock: MockClock) -> None:
    with trio.fail_after(60):
        async with scene(**EXACT) as it:
            with trio.move_on_after(2.5) as moved:
                await it.client.connect(it.server.url, retry=True)  # the port is closed
            assert moved.cancelled_caught
            await it.client.wait()  # returns at once: no connection task is left
            assert not it.client.connected
            await it.server.start(it.nursery)
            await it.client.connect(it.server.url)  # the client is usable again
            await it.record.echo(it.client, "hello")
            await it.client.disconnect()
            await it.server.stop()
    assert it.record.names() == ["connect", "disconnect"]
