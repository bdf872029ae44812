"""hypercorn's quirks that the transports rely on (``trio_engineio/server/hypercorn_adapter.py``, Q1-Q5).

Each ``test_qN_*`` runs real hypercorn (trio worker) on 127.0.0.1 with a bare
ASGI app and asserts that the upstream behaviour the adapter states is still
there: when one fails, hypercorn has changed it, and the adapter's statement
(and whatever the transports do about it) must be revisited. The other tests
check that the adapter's calls fall back to plain ASGI behind any other server.
The containments (I1, I2, I5/I6) have their own tests, each with an
``upstream`` variant; these quirks are not containments, so hypercorn runs as
it is, containments installed (as under ``serve()``).
"""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.events import RawData
from hypercorn.trio import serve
from hypercorn.trio.tcp_server import TCPServer

from trio_engineio.server import hypercorn_adapter as adapter

pytestmark = pytest.mark.timeout(60)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


# ------------------------------------------------------------------------------------- helpers


@asynccontextmanager
async def hypercorn_serving(app: App) -> AsyncIterator[int]:
    """``app`` (HTTP and websocket requests only) on hypercorn's trio worker; yields the port."""
    adapter.install()

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await app(scope, receive, send)

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 0.5
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(serve, asgi, config)
        yield int(urls[0].rsplit(":", 1)[1])
        nursery.cancel_scope.cancel()


def upgrade_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def read_to_eof(stream: trio.SocketStream, *, marker: bytes = b"") -> bytes:
    """Read until EOF (or ``marker``); a reset ends the read too."""
    received = b""
    try:
        while not marker or marker not in received:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            received += chunk
    except trio.BrokenResourceError:
        pass
    return received


# ------------------------------------------------------------------------------------- the list


def test_every_quirk_names_adapter_calls_and_a_test_here() -> None:
    tests = {name for name in globals() if name.startswith("test_q")}
    rows = [quirk.row for quirk in adapter.QUIRKS]
    assert rows == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    for quirk in adapter.QUIRKS:
        assert quirk.test in tests, quirk
        assert quirk.checked == adapter.QUIRKS_CHECKED
        for name in quirk.names:
            assert name in adapter.__all__, (quirk.row, name)
            stated = getattr(adapter, name)
            if callable(stated):
                assert (stated.__doc__ or "").startswith(f"{quirk.row}: "), (quirk.row, name)


# ------------------------------------------------------------------------------------- Q1


async def test_q1_receive_is_a_memory_channels_bound_receive() -> None:
    """hypercorn's trio worker hands the app ``app_receive_channel.receive`` (HTTP and websocket)."""
    seen: dict[str, tuple[object, bool, bool]] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen[scope["type"]] = (
            type(getattr(receive, "__self__", None)),
            adapter.request_channel(receive) is not None,
            adapter.sends_shielded(receive),
        )
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        else:
            await receive()
            await send({"type": "websocket.close", "code": 1000})

    with trio.fail_after(10):
        async with hypercorn_serving(app) as port:
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"http://127.0.0.1:{port}/")).status_code == 204
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(upgrade_request(port))
                await read_to_eof(stream, marker=b"\r\n\r\n")
    expected = (trio.MemoryReceiveChannel, True, True)
    assert seen == {"http": expected, "websocket": expected}


async def test_any_other_receive_has_no_channel_and_unshielded_sends() -> None:
    send_channel, receive_channel = trio.open_memory_channel[MutableMapping[str, Any]](1)

    async def plain() -> MutableMapping[str, Any]:
        return await receive_channel.receive()

    async with send_channel, receive_channel:
        assert adapter.request_channel(plain) is None
        assert not adapter.sends_shielded(plain)
        assert adapter.request_channel(receive_channel.receive) is receive_channel


def test_an_unchecked_hypercorn_version_gets_no_shielded_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    send_channel, receive_channel = trio.open_memory_channel[MutableMapping[str, Any]](1)
    monkeypatch.setattr(adapter, "version", lambda package: "99.0")
    adapter._quirks_checked.cache_clear()
    try:
        assert adapter.request_channel(receive_channel.receive) is receive_channel
        assert not adapter.sends_shielded(receive_channel.receive)
    finally:
        adapter._quirks_checked.cache_clear()
        send_channel.close()
        receive_channel.close()


# ------------------------------------------------------------------------------------- Q2


async def tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    """(server side, client side) of one loopback TCP connection, with small buffers."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    listener = listeners[0]
    port = listener.socket.getsockname()[1]
    client = trio.socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await client.connect(("127.0.0.1", port))
    server = await listener.accept()
    await listener.aclose()
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return server, trio.SocketStream(client)


class ProtocolStub:
    """What ``TCPServer`` hands a closed connection to (unused unless the write fails)."""

    async def handle(self, event: object) -> None:
        """Drop the event."""


async def test_q2_close_sends_eof_outside_the_send_lock_and_a_send_meeting_it_raises() -> None:
    """``TCPServer._close()`` does not wait for the send lock, and ``protocol_send`` lets
    ``trio.BusyResourceError`` through: together, an app's send that meets hypercorn
    closing the connection raises it (either fix makes this test fail)."""
    with trio.fail_after(10):
        # 1. send_eof() goes out while a write holds the send lock.
        server, client = await tcp_pair()
        tcp = TCPServer(None, Config(), None, None, server)  # type: ignore[arg-type]
        release = trio.Event()

        async def writer(task_status: trio.TaskStatus[None]) -> None:
            async with tcp.send_lock:  # as the app's write holds it
                task_status.started()
                await release.wait()

        async with client, trio.open_nursery() as nursery:
            await nursery.start(writer)
            with trio.move_on_after(2) as waited:
                await tcp._close()
            assert not waited.cancelled_caught, "TCPServer._close() now waits for the send lock"
            assert tcp.send_lock.locked()
            assert await client.receive_some(10) == b""  # the EOF, under the writer's lock
            release.set()

        # 2. A write that meets another use of the stream (send_eof's) raises BusyResourceError.
        server, client = await tcp_pair()
        tcp = TCPServer(None, Config(), None, None, server)  # type: ignore[arg-type]
        tcp.protocol = ProtocolStub()  # type: ignore[assignment]
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(server.send_all, bytes(16 << 20))  # holds the stream: nobody reads
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await tcp.protocol_send(RawData(b"x"))
            nursery.cancel_scope.cancel()


async def test_send_or_drain_waits_for_the_disconnect_after_a_send_race() -> None:
    to_app, from_server = trio.open_memory_channel[MutableMapping[str, Any]](4)
    sent: list[str] = []

    async def racing_answer() -> None:
        sent.append("start")
        raise trio.BusyResourceError("another task is currently sending data on this SocketStream")

    async def answer() -> None:
        sent.append("whole")

    async with to_app, from_server:
        to_app.send_nowait({"type": "http.request", "body": b""})
        to_app.send_nowait({"type": "http.disconnect"})
        assert not await adapter.send_or_drain(racing_answer, from_server.receive, drain_for=1)
        with pytest.raises(trio.WouldBlock):
            from_server.receive_nowait()  # drained up to the disconnect
        assert await adapter.send_or_drain(answer, from_server.receive, drain_for=1)
    assert sent == ["start", "whole"]


async def test_close_websocket_drops_a_send_race_and_waits_for_the_disconnect(
    autojump_clock: trio.abc.Clock,
) -> None:
    to_app, from_server = trio.open_memory_channel[MutableMapping[str, Any]](4)

    async def racing_send(message: MutableMapping[str, Any]) -> None:
        raise trio.BusyResourceError("another task is currently sending data on this SocketStream")

    async with to_app, from_server:
        to_app.send_nowait({"type": "websocket.receive", "text": "4late"})
        to_app.send_nowait({"type": "websocket.disconnect", "code": 1000})
        close = {"type": "websocket.close", "code": 1000}
        await adapter.close_websocket(racing_send, from_server.receive, close, wait_for=1)
        # No disconnect: it gives up after wait_for, even when cancelled meanwhile.
        start = trio.current_time()
        with trio.CancelScope() as scope:
            scope.cancel()
            await adapter.close_websocket(racing_send, from_server.receive, close, wait_for=1)
        assert trio.current_time() - start == pytest.approx(1)


# ------------------------------------------------------------------------------------- Q3


async def test_q3_a_send_to_a_client_that_does_not_read_outlives_its_cancel_scope() -> None:
    """A websocket send under a 0.2 s cancel scope, to a client that reads only after 2 s,
    returns when the client reads, not at its deadline: hypercorn writes shielded."""
    longest = 0.0
    ended_by_deadline = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal longest, ended_by_deadline
        await receive()
        await send({"type": "websocket.accept"})
        message = {"type": "websocket.send", "bytes": bytes(256 << 10)}
        begin = trio.current_time()
        while trio.current_time() - begin < 6 and longest < 1.0:
            start = trio.current_time()
            with trio.move_on_after(0.2) as deadline:
                await send(message)
            longest = max(longest, trio.current_time() - start)
            ended_by_deadline += deadline.cancelled_caught
        await send({"type": "websocket.close", "code": 1000})

    with trio.fail_after(20):
        async with hypercorn_serving(app) as port:
            sock = trio.socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await sock.connect(("127.0.0.1", port))
            stream = trio.SocketStream(sock)
            async with stream:
                await stream.send_all(upgrade_request(port))
                await trio.sleep(2)  # the app's writes fill the buffers and block
                await read_to_eof(stream, marker=b"\x88\x02\x03\xe8")  # up to the close frame
    assert longest > 1.0, "a send ended at its cancel scope's deadline: hypercorn no longer shields it"
    # And no send was cancelled once written (no checkpoint after the shielded write): the
    # transports take a Cancelled out of send() to mean nothing of it went out.
    assert ended_by_deadline == 0


# ------------------------------------------------------------------------------------- Q4


async def test_q4_bytes_behind_an_upgrade_request_get_hypercorns_400_and_the_app_hears_nothing() -> None:
    """Bytes in the same write as the upgrade request reach hypercorn before the app's accept:
    hypercorn answers 400 itself, h11 fails the connection (contained by I1), and the app's
    request ends without a ``websocket.disconnect``: its accept fails or it is cancelled."""
    outcomes: list[str] = []
    errors: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        events = [(await receive())["type"]]
        outcome = "cancelled"
        try:
            error = await adapter.accept_websocket(send, [])
            if error is not None:
                errors.append(repr(error))
                outcome = f"accept failed: {type(error).__name__}"
            else:
                with trio.move_on_after(1):
                    events.append((await receive())["type"])
                outcome = f"accepted, then {events[1:] or 'nothing'}"
        finally:
            outcomes.append(outcome)

    with trio.fail_after(20):
        async with hypercorn_serving(app) as port:
            for _ in range(3):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                async with stream:
                    await stream.send_all(upgrade_request(port) + b"\x81\x85GARBAGE-NOT-A-FRAME")
                    with trio.fail_after(3):
                        answer = await read_to_eof(stream)
                assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
                assert b"\r\nconnection: close\r\n" in answer.lower(), answer
            with trio.fail_after(3):
                while len(outcomes) < 3:
                    await trio.sleep(0.01)
    assert all("websocket.disconnect" not in outcome for outcome in outcomes), outcomes
    assert all(outcome in ("cancelled", "accept failed: LocalProtocolError") for outcome in outcomes), (
        outcomes,
        errors,
    )
    assert all(error.startswith("LocalProtocolError(") for error in errors), errors


# ------------------------------------------------------------------------------------- Q5


def body_app(*, checkpoint: bool, raised: list[str]) -> App:
    """Read a body to its end, then answer 400 with ``Connection: close`` (after a checkpoint or at once)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body", False):
            pass
        if checkpoint:
            await adapter.after_body_read()
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-length", b"5"), (b"connection", b"close")],
                }
            )
            await send({"type": "http.response.body", "body": b"nope!"})
        except adapter.SEND_RACE as exc:
            raised.append(type(exc).__name__)

    return app


async def answers_kept(port: int, attempts: int) -> int:
    """How many of ``attempts`` chunked POSTs got their answer whole; each sends its last chunk
    once the app waits for it, with a pipelined request behind it."""
    kept = 0
    for _ in range(attempts):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
            )
            await trio.sleep(0.02)  # the app now waits for the rest of the body
            await stream.send_all(b"0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with trio.fail_after(3):
                answer = await read_to_eof(stream)
        kept += answer.startswith(b"HTTP/1.1 400 ") and answer.endswith(b"\r\n\r\nnope!")
    return kept


async def test_q5_an_answer_at_once_after_the_body_can_lose_the_connection_under_it() -> None:
    """Without a checkpoint between the body's end and a ``Connection: close`` answer, hypercorn
    closes the connection under some answers (about half; the app's send may meet it, Q2)."""
    raised: list[str] = []
    with trio.fail_after(30):
        async with hypercorn_serving(body_app(checkpoint=False, raised=raised)) as port:
            kept = await answers_kept(port, 20)
    assert kept < 20, "every answer arrived: hypercorn no longer closes the connection under it"
    assert set(raised) <= {"BusyResourceError"}, raised  # Q2: the app's send meets the close


async def test_after_body_read_keeps_every_answer() -> None:
    raised: list[str] = []
    with trio.fail_after(30):
        async with hypercorn_serving(body_app(checkpoint=True, raised=raised)) as port:
            kept = await answers_kept(port, 20)
    assert kept == 20
    assert raised == []
