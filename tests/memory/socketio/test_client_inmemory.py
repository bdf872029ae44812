"""Our Socket.IO client against our server in memory (polling through httpx's ASGI transport).

``autojump_clock`` makes reconnection delays and timeouts cost no wall time.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from sio_wire import CLIENT_URL, echo_server, served

from trio_engineio import socketio

pytestmark = pytest.mark.timeout(30)
URL = CLIENT_URL
make_server = echo_server


async def test_emits_while_reconnecting_are_buffered_and_bounded(autojump_clock: Any) -> None:
    sio = make_server()
    notes: list[Any] = []
    sio.on("note", lambda sid, value: notes.append(value))
    refusals = 0

    def engine_connect(sid: str, environ: Any) -> bool:
        nonlocal refusals
        refusals -= 1
        return refusals < 0

    sio.eio.on("connect", engine_connect)
    async with (
        served(sio) as options,
        socketio.Client(
            reconnection_delay=1, randomization_factor=0, max_buffered_emits=2, **options
        ) as client,
    ):
        lost = trio.Event()
        connects: list[float] = []
        client.on("disconnect", lambda reason: lost.set())
        client.on("connect", lambda: connects.append(trio.current_time()))
        await client.connect(URL, transports=["polling"])
        refusals = 1  # the first reconnection attempt is refused (HTTP 401)
        await sio.eio.disconnect()
        await lost.wait()
        lost_at = trio.current_time()
        assert not client.connected
        await client.emit("note", 1)
        await client.emit("note", 2)
        with pytest.raises(socketio.DisconnectedError, match="already wait"):
            await client.emit("note", 3)
        with trio.fail_after(10):
            while len(notes) < 2:
                await trio.sleep(0.01)
        assert notes == [1, 2]
        # one failed attempt after 1 s, then the next after 2 s more
        assert 3 <= connects[1] - lost_at < 3.5
        assert await client.call("echo", "after", timeout=5) == "after"


async def test_gives_up_after_reconnection_attempts(autojump_clock: Any) -> None:
    sio = make_server()
    refuse = False
    sio.eio.on("connect", lambda sid, environ: not refuse)
    async with served(sio) as options, socketio.Client(reconnection_attempts=3, **options) as client:
        await client.connect(URL, transports=["polling"])
        refuse = True
        start = trio.current_time()
        await sio.eio.disconnect()
        with pytest.raises(socketio.DisconnectedError):
            await client.call("echo", timeout=100)  # failed by the loss, not by the timeout
        await client.wait()
        # delays 1, 2, 4 s, each randomized by at most half
        assert 3.5 <= trio.current_time() - start <= 10.5
        with pytest.raises(socketio.DisconnectedError):
            await client.emit("echo")


async def test_connect_can_be_cancelled_while_the_server_deliberates(autojump_clock: Any) -> None:
    sio = make_server()

    @sio.event
    async def connect(sid: str, environ: Any) -> None:
        await trio.sleep(100)

    async with served(sio) as options:
        async with socketio.Client(**options) as client:
            with trio.move_on_after(2) as scope:
                await client.connect(URL, transports=["polling"])
            assert scope.cancelled_caught
            assert not client.connected
        # leaving the client's block did not wait for the server's connect handler
        assert trio.current_time() < 10


async def test_call_timeout_and_handler_ack(autojump_clock: Any) -> None:
    sio = make_server()
    answers: list[Any] = []

    @sio.event
    async def ping_me(sid: str) -> None:
        answers.append(await sio.call("pong", "x", to=sid, timeout=5))

    sio.on("silent", lambda sid: None)
    async with served(sio) as options, socketio.Client(**options) as client:
        client.on("pong", lambda value: (value, 2))
        await client.connect(URL, transports=["polling"])
        await client.emit("ping_me")
        with trio.fail_after(5):
            while not answers:
                await trio.sleep(0.01)
        assert answers == [("x", 2)]
        assert await client.call("silent", timeout=5) is None  # acked with no arguments
        with pytest.raises(socketio.TimeoutError):
            await client.call("unhandled", timeout=3)  # the server acks nothing


async def test_client_connect_handler_may_call_the_server(autojump_clock: Any) -> None:
    sio = make_server()
    async with served(sio) as options, socketio.Client(**options) as client:
        answers: list[Any] = []

        @client.event
        async def connect() -> None:
            answers.append(await client.call("echo", "from connect", timeout=5))

        await client.connect(URL, transports=["polling"])
        with trio.fail_after(5):
            while not answers:
                await trio.sleep(0.01)
        assert answers == ["from connect"]


async def test_connect_wait_timeout(autojump_clock: Any) -> None:
    sio = make_server()

    @sio.event
    async def connect(sid: str, environ: Any) -> None:
        await trio.sleep(8)  # under the server's connect_handler_timeout (10 s)

    async with served(sio) as options, socketio.Client(**options) as client:
        start = trio.current_time()
        with pytest.raises(socketio.TimeoutError):
            await client.connect(URL, transports=["polling"], wait_timeout=2)
        assert 2 <= trio.current_time() - start < 3
        assert not client.connected
        await client.connect(URL, transports=["polling"])  # may try again
        assert client.connected
