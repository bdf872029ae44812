"""The client against a faulty server, using the scripted fake server peer (cases H1-H8 below)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.lowlevel
from client_helpers import echo_exchange, open_client, open_socket_count
from trio.testing import MockClock
from wire import FakeEngineIO, serve_fake

from trio_engineio import ClientConnection, ConnectionClosed, ConnectionRejected, HandshakeFailed
from trio_engineio.protocol import Packet, PacketType

MEMORY_URL = "http://fake.test"


def memory_client(fake: FakeEngineIO) -> httpx.AsyncClient:
    """An httpx client whose requests go to ``fake`` in memory (polling only)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake))


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeEngineIO, str]]:
    fake = FakeEngineIO()
    async with serve_fake(fake) as url:
        yield fake, url


# ------------------------------------------------------------------ H1 handshake
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"4hello",
        b"0not json",
        b'0{"sid":1,"pingInterval":1,"pingTimeout":1}',
        b'0{"sid":"a","pingInterval":"25000","pingTimeout":20000}',
        b'0{"sid":"a","upgrades":[],"pingInterval":25000}',
        b"\xff\xfe",
    ],
)
async def test_h1_bad_handshake_raises_handshake_failed(body: bytes) -> None:
    fake = FakeEngineIO(handshake_body=body)
    async with memory_client(fake) as http:
        with trio.fail_after(5), pytest.raises(HandshakeFailed):
            async with open_client(MEMORY_URL, http_client=http):
                pytest.fail("connected")  # pragma: no cover
        assert not http.is_closed  # a client passed in is not closed


async def test_h1_bad_handshake_over_websocket() -> None:
    fake = FakeEngineIO(handshake_body=b"4hello")
    async with serve_fake(fake) as url:
        with trio.fail_after(5), pytest.raises(HandshakeFailed):
            async with open_client(url, transports=["websocket"]):
                pytest.fail("connected")  # pragma: no cover


# ------------------------------------------------------------------ H4 rejection
@pytest.mark.parametrize("status", [400, 401, 403])
async def test_h4_rejection_over_polling_carries_status_and_body(status: int) -> None:
    fake = FakeEngineIO(reject=(status, {"code": 4, "message": "Forbidden"}))
    async with memory_client(fake) as http:
        with trio.fail_after(5), pytest.raises(ConnectionRejected) as info:
            async with open_client(MEMORY_URL, http_client=http):
                pytest.fail("connected")  # pragma: no cover
    assert info.value.status_code == status
    assert info.value.json == {"code": 4, "message": "Forbidden"}
    assert json.loads(info.value.body) == {"code": 4, "message": "Forbidden"}


async def test_h4_rejection_over_websocket_carries_status_and_body() -> None:
    fake = FakeEngineIO(reject=(401, {"message": "Not authorized"}))
    async with serve_fake(fake) as url:
        with trio.fail_after(5), pytest.raises(ConnectionRejected) as info:
            async with open_client(url, transports=["websocket"]):
                pytest.fail("connected")  # pragma: no cover
    assert info.value.status_code == 401
    assert info.value.json == {"message": "Not authorized"}


async def test_connection_refused_is_a_connection_error() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    for transports in (["polling"], ["websocket"]):
        with trio.fail_after(5), pytest.raises(ConnectionError):
            async with open_client(f"http://127.0.0.1:{port}", transports=transports):
                pytest.fail("connected")  # pragma: no cover


# ------------------------------------------------------------------ H2 heartbeat
async def test_h2_silent_server_detected_over_polling(autojump_clock: MockClock) -> None:
    fake = FakeEngineIO(ping_interval_ms=1000, ping_timeout_ms=500, echo=False)
    async with memory_client(fake) as http:
        with trio.fail_after(30):
            async with open_client(MEMORY_URL, http_client=http, transports=["polling"]) as conn:
                start = trio.current_time()
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
                elapsed = trio.current_time() - start
    assert info.value.reason == "ping timeout"
    assert conn.close_reason == "ping timeout"
    assert 1.5 <= elapsed <= 1.5 + 0.01


async def test_h2_pings_keep_the_session_alive_and_get_pongs(autojump_clock: MockClock) -> None:
    fake = FakeEngineIO(ping_interval_ms=1000, ping_timeout_ms=500, echo=False)
    async with memory_client(fake) as http:
        with trio.fail_after(30):
            async with open_client(MEMORY_URL, http_client=http, transports=["polling"]) as conn:
                start = trio.current_time()
                for _ in range(5):
                    await trio.sleep(1.0)
                    fake.queue(Packet(PacketType.PING))
                with pytest.raises(ConnectionClosed):
                    await conn.receive()
                elapsed = trio.current_time() - start
    assert conn.close_reason == "ping timeout"
    assert 6.5 <= elapsed <= 6.5 + 0.01
    pong_posts = [r for r in fake.requests if r.kind == "POST"]
    assert len(pong_posts) >= 5  # each PING was answered by a POST carrying PONG


async def test_h2_silent_server_detected_over_websocket(io_clock: MockClock) -> None:
    fake = FakeEngineIO(ping_interval_ms=1000, ping_timeout_ms=500, echo=False)
    async with serve_fake(fake) as url:
        with trio.fail_after(30):
            async with open_client(url, transports=["websocket"]) as conn:
                start = trio.current_time()
                with pytest.raises(ConnectionClosed):
                    await conn.receive()
                elapsed = trio.current_time() - start
            assert conn.close_reason == "ping timeout"
            assert 1.5 <= elapsed <= 1.6
            with trio.fail_after(5):
                await fake.wait_for(lambda: fake.websocket_closed == 1)


# ------------------------------------------------------- H3 oversized, bad packets
async def test_h3_polling_body_above_client_limit(autojump_clock: MockClock) -> None:
    fake = FakeEngineIO(scripted_gets=[b"4" + b"x" * 5000])
    async with memory_client(fake) as http:
        with trio.fail_after(5):
            async with open_client(
                MEMORY_URL, http_client=http, transports=["polling"], max_response_size=4096
            ) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
    assert info.value.reason == "payload too large"
    assert conn.close_info is not None
    assert "4096" in conn.close_info.description


async def test_h3_websocket_message_above_client_limit() -> None:
    fake = FakeEngineIO(echo=False)
    async with serve_fake(fake) as url:
        with trio.fail_after(5):
            async with open_client(url, transports=["websocket"], max_message_size=1000) as conn:
                fake.queue(Packet(PacketType.MESSAGE, "small"), Packet(PacketType.MESSAGE, "x" * 5000))
                assert await conn.receive() == "small"
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
    assert info.value.reason == "payload too large"


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"4ok\x1eabc", "parse error"), (b"4ok\x1e1", "server disconnect"), (b"4ok\x1e5", "transport error")],
)
async def test_bad_or_final_packets_close_with_exact_reason(body: bytes, reason: str) -> None:
    fake = FakeEngineIO(scripted_gets=[body])
    async with memory_client(fake) as http:
        with trio.fail_after(5):
            async with open_client(MEMORY_URL, http_client=http, transports=["polling"]) as conn:
                received = [message async for message in conn]
    assert conn.close_reason == reason
    # A bad payload delivers nothing of it; a CLOSE delivers what came before it.
    assert received == ([] if reason == "parse error" else ["ok"])
    # After a local error the client still tells the server; after the server's CLOSE it does not.
    assert fake.close_packets == (0 if reason == "server disconnect" else 1)


# ------------------------------------------------------------ H5 POST splitting
async def test_h5_big_batches_never_exceed_max_payload() -> None:
    rng = random.Random(5)
    fake = FakeEngineIO(max_payload=3000)
    messages: list[str | bytes] = []
    for i in range(400):
        if i % 3:
            messages.append(f"{i}:" + "é" * rng.randint(0, 900))  # 2 UTF-8 bytes per char
        else:
            messages.append(rng.randbytes(rng.randint(0, 2200)))  # base64 grows by 4/3
    async with memory_client(fake) as http:
        with trio.fail_after(30):
            async with open_client(MEMORY_URL, http_client=http, transports=["polling"]) as conn:
                await echo_exchange(conn, messages)
    assert fake.messages == messages
    assert max(fake.post_sizes) <= 3000
    assert len(fake.post_sizes) > 10
    assert fake.max_posts_in_flight == 1
    assert fake.max_gets_in_flight == 1


# ---------------------------------------------------------- H6 cookies, headers
async def test_h6_cookies_and_headers_on_every_request_and_the_websocket() -> None:
    fake = FakeEngineIO(handshake_headers=[("set-cookie", "io=cookie-value; Path=/; HttpOnly")])
    async with serve_fake(fake) as url:
        with trio.fail_after(10):
            async with open_client(url, headers={"X-Token": "secret-1"}) as conn:
                await echo_exchange(conn, [f"m{i}" for i in range(20)])
                await fake.wait_for(lambda: fake.upgraded)
                await echo_exchange(conn, ["after upgrade"])
                assert conn.transport == "websocket"
    kinds = [r.kind for r in fake.requests]
    assert "POST" in kinds
    assert "WS" in kinds
    for index, request in enumerate(fake.requests):
        assert request.headers.get("x-token") == "secret-1", (index, request)
        if index > 0:
            assert request.headers.get("cookie") == "io=cookie-value", (index, request)
    assert fake.close_packets == 1


# ------------------------------------------------------------- H7 failed upgrade
@pytest.mark.parametrize("probe", ["silent", "garbage", "close", "reject"])
async def test_h7_failed_upgrade_stays_on_polling_and_loses_nothing(io_clock: MockClock, probe: str) -> None:
    fake = FakeEngineIO(probe=probe)
    async with serve_fake(fake) as url:
        with trio.fail_after(60):
            async with open_client(url, upgrade_timeout=2.0) as conn:
                messages: list[str | bytes] = [f"m{i}" for i in range(50)] + [b"\x00\x01"]
                await echo_exchange(conn, messages)
                await fake.wait_for(lambda: fake.event("probe").is_set() or probe == "reject")
                await trio.sleep(3.0)  # beyond upgrade_timeout: the attempt is over
                await echo_exchange(conn, ["after", b"the attempt"])
                assert conn.transport == "polling"
                assert conn.statistics().upgrade_state == "failed"
    assert [r.kind for r in fake.requests].count("WS") == 1  # no second attempt
    assert fake.messages == [*messages, "after", b"the attempt"]
    assert fake.close_packets == 1


# ---------------------------------------------------------------- H8 cancellation
async def _cancel_when(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def test_h8_cancel_mid_connect() -> None:
    fake = FakeEngineIO(stall_handshake=True)
    async with serve_fake(fake) as url, trio.open_nursery() as nursery:
        with trio.fail_after(5):
            with trio.CancelScope() as scope:
                nursery.start_soon(_cancel_when, fake.event("handshake"), scope)
                async with open_client(url):
                    pytest.fail("connected")  # pragma: no cover
            assert scope.cancelled_caught
            await fake.wait_for(lambda: fake.http_disconnects == 1)  # the request did not linger
    assert fake.close_packets == 0


async def test_h8_cancel_mid_receive() -> None:
    fake = FakeEngineIO(echo=False)
    async with serve_fake(fake) as url, trio.open_nursery() as nursery:
        with trio.fail_after(5):
            with trio.CancelScope() as scope:
                async with open_client(url, transports=["polling"]) as conn:
                    nursery.start_soon(_cancel_when, fake.event("get"), scope)
                    await conn.receive()
            assert scope.cancelled_caught
            assert conn.close_reason == "client disconnect"
            await fake.wait_for(lambda: fake.http_disconnects >= 1)
    assert fake.close_packets == 1


async def test_h8_cancel_mid_post() -> None:
    fake = FakeEngineIO(stall_first_post=True)
    async with serve_fake(fake) as url, trio.open_nursery() as nursery:
        with trio.fail_after(5):
            with trio.CancelScope() as scope:
                async with open_client(url, transports=["polling"]) as conn:
                    nursery.start_soon(_cancel_when, fake.event("post"), scope)
                    await conn.send("stalled")
                    await trio.sleep_forever()
            assert scope.cancelled_caught
            await fake.wait_for(lambda: fake.close_packets == 1)
    assert conn is not None
    assert conn.close_reason == "client disconnect"
    assert fake.close_packets == 1


async def test_h8_cancel_mid_upgrade() -> None:
    fake = FakeEngineIO(probe="silent")
    async with serve_fake(fake) as url, trio.open_nursery() as nursery:
        with trio.fail_after(5):
            with trio.CancelScope() as scope:
                async with open_client(url) as conn:
                    nursery.start_soon(_cancel_when, fake.event("probe"), scope)
                    await trio.sleep_forever()
            assert scope.cancelled_caught
            await fake.wait_for(lambda: fake.websocket_closed == 1 and fake.close_packets == 1)
    assert conn.transport == "polling"
    assert fake.close_packets == 1


async def test_exception_in_block_propagates_unwrapped_and_closes() -> None:
    fake = FakeEngineIO()
    async with serve_fake(fake) as url:
        with trio.fail_after(5):
            conn = None

            async def use_and_fail() -> None:
                nonlocal conn
                async with open_client(url) as conn:
                    await echo_exchange(conn, ["x"])
                    raise KeyError("boom")

            with pytest.raises(KeyError, match="boom"):
                await use_and_fail()
            await fake.wait_for(lambda: fake.close_packets == 1)
    assert conn is not None
    assert conn.close_reason == "client disconnect"


# ------------------------------------------- server CLOSE racing a refused POST
async def _client_saw_post_failure(conn: ClientConnection) -> None:
    """Until the client has handled the refused POST: held (fixed) or closed (the old race)."""
    while conn._session.held_failure is None and not conn.closed:
        await trio.lowlevel.checkpoint()


async def test_post_refused_while_get_brings_close_reports_server_disconnect() -> None:
    """The server closed the session: it answers the pending GET with CLOSE and refuses the PONG
    POST with 400. The 400 arrives first (forced here); the server's reason must still win.
    """
    gate = trio.Event()
    fake = FakeEngineIO(scripted_gets=[b"2", b"1"], scripted_gets_gate=gate, post_status=400)
    async with memory_client(fake) as http:
        with trio.fail_after(10):
            async with open_client(MEMORY_URL, http_client=http, transports=["polling"]) as conn:
                await fake.wait_for(lambda: len(fake.post_sizes) == 1)  # the PONG POST was refused
                await _client_saw_post_failure(conn)
                assert not conn.closed, conn.close_info
                gate.set()  # now the pending GET brings the CLOSE
                received = [message async for message in conn]
    assert received == []
    assert conn.close_reason == "server disconnect"
    assert fake.close_packets == 0  # the server is gone: nothing is sent after its CLOSE


async def test_post_refused_without_close_is_a_transport_error_after_the_get() -> None:
    """Same race, but the GET brings no CLOSE: the held 400 becomes the close reason."""
    gate = trio.Event()
    fake = FakeEngineIO(scripted_gets=[b"2", b"6"], scripted_gets_gate=gate, post_status=400)
    async with memory_client(fake) as http:
        with trio.fail_after(10):
            async with open_client(MEMORY_URL, http_client=http, transports=["polling"]) as conn:
                await fake.wait_for(lambda: len(fake.post_sizes) == 1)
                await _client_saw_post_failure(conn)
                assert not conn.closed
                gate.set()
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
    assert info.value.reason == "transport error"
    assert conn.close_info is not None
    assert "POST answered HTTP 400" in conn.close_info.description


async def test_post_refused_and_get_never_answers_fails_after_the_grace(autojump_clock: MockClock) -> None:
    """Same race, the GET hangs: the held failure closes the session after a short grace, not after
    the heartbeat."""
    gate = trio.Event()
    fake = FakeEngineIO(scripted_gets=[b"2", b"6"], scripted_gets_gate=gate, post_status=400)
    async with memory_client(fake) as http:
        with trio.fail_after(10):
            async with open_client(MEMORY_URL, http_client=http, transports=["polling"]) as conn:
                await fake.wait_for(lambda: len(fake.post_sizes) == 1)
                start = trio.current_time()
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
                elapsed = trio.current_time() - start
    assert info.value.reason == "transport error"
    assert elapsed <= 2.0 + 0.01


# ------------------------------------------------------- H3 endless response body
async def test_h3_endless_polling_body_is_bounded() -> None:
    fake = FakeEngineIO(endless_get=True)
    async with serve_fake(fake) as url:
        with trio.fail_after(10):
            async with open_client(url, transports=["polling"], max_response_size=1_000_000) as conn:
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
    assert info.value.reason == "payload too large"
    assert conn.close_info is not None
    assert "1000000" in conn.close_info.description
    assert fake.endless_sent < 10_000_000  # the client stopped reading soon after its limit


# ---------------------------------------------------------------- H8 cancellation
async def test_h8_cancel_mid_connect_over_websocket() -> None:
    fake = FakeEngineIO(stall_handshake=True)
    async with serve_fake(fake) as url, trio.open_nursery() as nursery:
        sockets = open_socket_count()
        with trio.fail_after(5):
            with trio.CancelScope() as scope:
                nursery.start_soon(_cancel_when, fake.event("handshake"), scope)
                async with open_client(url, transports=["websocket"]):
                    pytest.fail("connected")  # pragma: no cover
            assert scope.cancelled_caught
            await trio.testing.wait_all_tasks_blocked()
        # The accepted socket did not linger on the client side (no orphan reader, no open fd).
        assert open_socket_count() <= sockets
    assert fake.close_packets == 0


async def test_h8_cancel_on_websocket_sends_close_once_and_is_prompt(io_clock: MockClock) -> None:
    fake = FakeEngineIO()
    async with serve_fake(fake) as url:
        with trio.fail_after(10):
            with trio.CancelScope() as scope:
                async with open_client(url, transports=["websocket"], close_timeout=2.0) as conn:
                    await echo_exchange(conn, ["x"])
                    scope.cancel()
                    cancelled_at = trio.current_time()
                    await trio.sleep_forever()
            assert trio.current_time() - cancelled_at < 0.5
            await fake.wait_for(lambda: fake.websocket_closed == 1)
    assert conn.close_reason == "client disconnect"
    assert fake.close_packets == 1


async def test_h7_a_refused_upgrade_racing_a_cancellation_does_not_escape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server refuses the websocket (e.g. its session just closed) as the attempt is cancelled.

    trio-websocket raises the refusal from its reader task, in the same nursery that
    the cancellation unwinds: the refusal must not escape past the cancelled attempt
    (it crashed the whole client when an upgrade raced a server disconnect).
    """
    import trio_websocket

    from trio_engineio.client import websocket as _client_websocket

    async def connect_refused_while_cancelled(nursery: trio.Nursery, *args: object) -> None:
        async def reader() -> None:
            attempt.cancel()
            raise trio_websocket.ConnectionRejected(400, (), b'{"code":1}')

        nursery.start_soon(reader)
        await trio.sleep_forever()

    monkeypatch.setattr(_client_websocket, "_connect", connect_refused_while_cancelled)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with trio.CancelScope() as attempt:
                await _client_websocket.WebSocketTransport.open(
                    nursery,
                    "ws://127.0.0.1:9/engine.io/",
                    headers=[],
                    ssl_context=None,
                    max_message_size=1000,
                )
    assert attempt.cancelled_caught
