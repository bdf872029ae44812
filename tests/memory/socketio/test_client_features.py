"""The client side of ``emit(callback=)``, volatile emits and reserved names, in memory.

The server features (dynamic namespaces, ``disconnecting``, callbacks) as our client meets
them over loopback under ``trio_engineio.serve``: tests/hypercorn/socketio/test_client_over_loopback.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from sio_wire import CLIENT_URL, echo_server, served

from trio_engineio import socketio
from trio_engineio.socketio.protocol import MAX_ATTACHMENTS

pytestmark = pytest.mark.timeout(30)
URL = CLIENT_URL
make_server = echo_server


async def wait_for(condition: Any) -> None:
    with trio.fail_after(5):
        while not condition():
            await trio.sleep(0.01)


async def test_client_emit_callback(autojump_clock: Any) -> None:
    sio = make_server()
    sio.on("silent", lambda sid: None)
    got: list[Any] = []

    async def slow_callback(*args: Any) -> None:
        await trio.sleep(1)
        got.append(("async", args))

    async with served(sio) as options, socketio.Client(**options) as client:
        await client.connect(URL, transports=["polling"])
        await client.emit("echo", ("a", {"b": b"\x02"}), callback=lambda *args: got.append(args))
        await client.emit("silent", callback=lambda *args: got.append(args))
        await client.emit("echo", 3, callback=slow_callback)
        await wait_for(lambda: len(got) == 3)
        assert got == [("a", {"b": b"\x02"}), (), ("async", (3,))]


async def test_client_callbacks_are_bounded_and_calls_refused_beyond(autojump_clock: Any) -> None:
    sio = make_server()

    @sio.on("ignore")
    async def ignore(sid: str) -> None:
        await trio.sleep_forever()  # never acks

    async with served(sio) as options, socketio.Client(max_pending_calls=2, **options) as client:
        await client.connect(URL, transports=["polling"])
        got: list[Any] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: client.call("ignore", timeout=5))
            nursery.start_soon(lambda: client.call("ignore", timeout=5))
            await trio.sleep(0.5)
            with pytest.raises(RuntimeError, match="calls already wait"):
                await client.emit("echo", 1, callback=got.append)
            with pytest.raises(RuntimeError, match="calls already wait"):
                await client.call("echo", 1)
            nursery.cancel_scope.cancel()
        for _ in range(3):  # callbacks displace older callbacks
            await client.emit("ignore", callback=got.append)
        await client.emit("echo", "last", callback=got.append)
        await wait_for(lambda: got == ["last"])


async def test_client_server_emit_callback_answered_by_a_handler(autojump_clock: Any) -> None:
    sio = make_server()
    answers: list[Any] = []
    async with served(sio) as options, socketio.Client(**options) as client:
        client.on("double", lambda value: value * 2)
        await client.connect(URL, transports=["polling"])
        await sio.emit("double", 21, callback=answers.append)
        await wait_for(lambda: answers == [42])


@pytest.mark.parametrize(
    "name", ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]
)
async def test_client_refuses_reserved_names(autojump_clock: Any, name: str) -> None:
    sio = make_server()
    async with served(sio) as options, socketio.Client(**options) as client:
        await client.connect(URL, transports=["polling"])
        for emit in (
            lambda: client.emit(name),
            lambda: client.emit(name, volatile=True),
            lambda: client.emit(name, callback=print),
            lambda: client.call(name),
        ):
            with pytest.raises(ValueError, match="reserved event name"):
                await emit()
        with pytest.raises(ValueError, match="binary values"):
            await client.emit("echo", [b"x"] * (MAX_ATTACHMENTS + 1))
        assert await client.call("echo", "still connected", timeout=5) == "still connected"


async def test_client_volatile_emits_are_not_buffered(autojump_clock: Any) -> None:
    sio = make_server()
    notes: list[Any] = []
    sio.on("note", lambda sid, value: notes.append(value))
    async with (
        served(sio) as options,
        socketio.Client(reconnection_delay=1, randomization_factor=0, **options) as client,
    ):
        lost = trio.Event()
        back = trio.Event()
        client.on("disconnect", lambda reason: lost.set())
        await client.connect(URL, transports=["polling"])
        client.on("connect", back.set)
        await client.emit("note", "volatile while connected", volatile=True)
        await wait_for(lambda: len(notes) == 1)
        await sio.eio.disconnect()
        await lost.wait()
        await client.emit("note", "volatile while reconnecting: dropped", volatile=True)
        await client.emit("note", "buffered while reconnecting")
        with trio.fail_after(10):
            await back.wait()
        assert await client.call("echo", "sync", timeout=5) == "sync"
        assert notes == ["volatile while connected", "buffered while reconnecting"]


async def test_client_ignores_reserved_events_from_the_server(autojump_clock: Any) -> None:
    """A server (or a hostile proxy) sending ``disconnect`` as an event cannot fake one."""
    sio = make_server()
    sids: list[str] = []
    sio.on("connect", lambda sid, environ: sids.append(sid))
    async with served(sio) as options, socketio.Client(**options) as client:
        calls: list[Any] = []
        client.on("disconnect", lambda *args: calls.append(("disconnect", args)))
        client.on("*", lambda *args: calls.append(("*", args)))
        await client.connect(URL, transports=["polling"])
        conn = sio.engine_connection(sids[0])
        for name in ("disconnect", "connect", "connect_error", "disconnecting"):
            await conn.send(f'2["{name}","forged"]')  # an EVENT packet, written by hand
        await conn.send('2["real",1]')
        await wait_for(lambda: calls)
        await trio.sleep(1)
        assert calls == [("*", ("real", 1))]
        assert client.connected
        assert await client.call("echo", "alive", timeout=5) == "alive"


async def test_client_volatile_emit_dropped_while_the_send_buffer_is_full(autojump_clock: Any) -> None:
    sio = make_server()
    notes: list[Any] = []
    sio.on("note", lambda sid, value: notes.append(value))
    async with served(sio) as options, socketio.Client(send_buffer_size=1, **options) as client:
        await client.connect(URL, transports=["polling"])
        await client.emit("note", "v1", volatile=True)  # queued: the buffer now holds bytes
        await client.emit("note", "v2", volatile=True)  # before the next POST took them: dropped
        await wait_for(lambda: notes)
        await trio.sleep(1)
        await client.emit("note", "v3", volatile=True)  # the POST took v1: room again
        await wait_for(lambda: len(notes) == 2)
        assert notes == ["v1", "v3"]
