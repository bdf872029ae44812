"""Faults that need the real stack: hypercorn (trio worker) on 127.0.0.1, raw TCP clients.

Aborted requests and RSTs, 413 without reading the body, trailing bytes after an
upgrade request, bad RSV bits and unmasked frames, slow consumers, clients that
vanish mid-poll, mid-POST, mid-upgrade and mid-write. Every test runs inside
:func:`engine_harness.real_engine` (bystanders, no 5xx, nothing escapes, nothing left).
No timer is waited for on the wall clock beyond short heartbeats (0.5 s).
"""

from __future__ import annotations

import socket

import httpx
import pytest
import trio
from engine_harness import RealEngine, real_engine
from wire import frame, raw_websocket_session, read_until, read_until_close_frame, rst, ws_request

QUICK = 15


async def survives(eng: RealEngine) -> None:
    """The server still serves new sessions and the bystanders still echo."""
    sid = await eng.handshake()
    assert (await eng.http.post(eng.polling(sid), content="4alive")).text == "ok"
    await eng.rec.wait_messages(sid, 1, limit=5)
    assert (await eng.http.get(eng.polling(sid))).text == "4alive"
    assert (await eng.http.post(eng.polling(sid), content="1")).text == "ok"
    await eng.check_bystanders()


# ------------------------------------------------------------------------------- B


async def test_b1_real_413_at_once_without_reading_the_body() -> None:
    with trio.fail_after(QUICK):
        async with real_engine(max_http_buffer_size=1000) as eng:
            sid = await eng.handshake()
            head = (
                f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{eng.port}\r\n"
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 100000000\r\n\r\n"
            ).encode()
            stream = await trio.open_tcp_stream(eng.host, eng.port)
            async with stream, trio.open_nursery() as nursery:
                await stream.send_all(head + b"4" + b"x" * 500)

                async def keep_sending() -> None:  # a client streaming its huge body
                    with trio.move_on_after(1):
                        try:
                            while True:
                                await stream.send_all(b"x" * 65536)
                        except trio.BrokenResourceError:
                            pass  # the server closed the connection after its 413

                nursery.start_soon(keep_sending)
                with trio.fail_after(2):
                    answer = await read_until(stream, b"\r\n\r\n")
                assert answer.startswith(b"HTTP/1.1 413"), answer
            reason = await eng.rec.wait_disconnect(sid, limit=5)
            assert (reason, reason.description) == ("transport error", "payload too large")
            assert eng.rec.of(sid) == []
            await survives(eng)


async def test_b1_real_413_to_a_pausing_client_no_exception_escapes() -> None:
    with trio.fail_after(QUICK):
        async with real_engine(max_http_buffer_size=1000) as eng:
            for _ in range(6):  # the failure is a race: about 2 in 3 attempts show it
                sid = await eng.handshake()
                head = (
                    f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{eng.port}\r\n"
                    "Content-Type: text/plain;charset=UTF-8\r\n"
                ).encode()
                head += b"Content-Length: 100000000\r\n\r\n4" + b"x" * 1500
                stream = await trio.open_tcp_stream(eng.host, eng.port)
                async with stream:
                    await stream.send_all(head)
                    with trio.fail_after(2):
                        answer = await read_until(stream, b"\r\n\r\n")
                    assert answer.startswith(b"HTTP/1.1 413"), answer
                await eng.rec.wait_disconnect(sid, limit=5)


async def test_b2_real_chunked_413_once_over_the_limit() -> None:
    with trio.fail_after(QUICK):
        async with real_engine(max_http_buffer_size=1000) as eng:
            sid = await eng.handshake()
            head = (
                f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{eng.port}\r\n"
                "Content-Type: text/plain;charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode()
            stream = await trio.open_tcp_stream(eng.host, eng.port)
            async with stream, trio.open_nursery() as nursery:
                await stream.send_all(head)

                async def keep_sending() -> None:  # 600-byte chunks: over after the second one
                    with trio.move_on_after(1):
                        try:
                            while True:
                                await stream.send_all(b"258\r\n" + b"4" * 600 + b"\r\n")
                        except trio.BrokenResourceError:
                            pass  # the server closed the connection after its 413

                nursery.start_soon(keep_sending)
                with trio.fail_after(2):
                    answer = await read_until(stream, b"\r\n\r\n")
                assert answer.startswith(b"HTTP/1.1 413"), answer
            reason = await eng.rec.wait_disconnect(sid, limit=5)
            assert (reason, reason.description) == ("transport error", "payload too large")


@pytest.mark.parametrize("how", ["fin", "rst"])
async def test_b3_real_client_vanishes_mid_post(how: str) -> None:
    with trio.fail_after(QUICK):
        async with real_engine() as eng:
            sid = await eng.handshake()
            head = (
                f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{eng.port}\r\n"
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 100\r\n\r\n4partial"
            ).encode()
            stream = await trio.open_tcp_stream(eng.host, eng.port)
            await stream.send_all(head)
            with trio.fail_after(5):
                while not eng.server.connection(sid).core._post_pending:
                    await trio.sleep(0.005)
            if how == "rst":
                rst(stream)
            else:
                await stream.aclose()
            reason = await eng.rec.wait_disconnect(sid, limit=5)
            assert (reason, reason.description) == ("transport close", "POST request aborted by the client")
            assert eng.rec.of(sid) == []
            await survives(eng)


# ------------------------------------------------------------------------------- C


@pytest.mark.parametrize("how", ["cancel", "fin", "rst"])
async def test_c2_real_client_vanishes_mid_poll(how: str) -> None:
    with trio.fail_after(QUICK):
        async with real_engine() as eng:
            sid = await eng.handshake()
            if how == "cancel":
                async with httpx.AsyncClient(timeout=10) as http, trio.open_nursery() as nursery:
                    nursery.start_soon(http.get, eng.polling(sid))
                    await eng.rec.wait_get_pending(sid)
                    nursery.cancel_scope.cancel()
            else:
                stream = await trio.open_tcp_stream(eng.host, eng.port)
                await stream.send_all(
                    f"GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{eng.port}\r\n\r\n".encode()
                )
                await eng.rec.wait_get_pending(sid)
                if how == "rst":
                    rst(stream)
                else:
                    await stream.aclose()
            reason = await eng.rec.wait_disconnect(sid, limit=5)
            assert (reason, reason.description) == (
                "transport close",
                "long-poll request aborted by the client",
            )
            response = await eng.http.get(eng.polling(sid))
            assert response.status_code == 400
            await survives(eng)


# ------------------------------------------------------------------------------- E


@pytest.mark.parametrize("how", ["fin", "rst"])
async def test_e3_real_client_vanishes_mid_upgrade(how: str) -> None:
    with trio.fail_after(QUICK):
        async with real_engine(echo=False) as eng:
            sid = await eng.handshake()
            stream = await trio.open_tcp_stream(eng.host, eng.port)
            await stream.send_all(ws_request(eng, f"EIO=4&transport=websocket&sid={sid}"))
            assert (await read_until(stream, b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
            await stream.send_all(frame(b"2probe"))
            assert b"3probe" in await read_until(stream, b"3probe")
            await eng.server.send(sid, "queued during the upgrade")
            if how == "rst":
                rst(stream)
            else:
                await stream.aclose()
            with trio.fail_after(5):
                while eng.server.statistics().upgrades_in_progress:
                    await trio.sleep(0.01)
            assert eng.server.transport(sid) == "polling"
            assert (await eng.http.get(eng.polling(sid))).text == "4queued during the upgrade"
            assert (await eng.http.post(eng.polling(sid), content="4still here")).text == "ok"
            assert await eng.rec.wait_messages(sid, 1, limit=5) == ["still here"]
            assert eng.rec.reasons(sid) == []


@pytest.mark.parametrize(
    "attack",
    [
        "rsv1 bit",
        "rsv3 bit",
        "unmasked frame",
        "reserved opcode",
        "oversized control frame",
    ],
)
async def test_e7_malformed_websocket_traffic_is_rejected_server_survives(attack: str) -> None:
    with trio.fail_after(QUICK):
        async with real_engine() as eng:
            opened = set(eng.server._sessions)
            stream = await trio.open_tcp_stream(eng.host, eng.port)
            async with stream:
                await stream.send_all(ws_request(eng))
                assert (await read_until(stream, b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
                bad = {
                    "rsv1 bit": frame(b"4hello", rsv=4),
                    "rsv3 bit": frame(b"4hello", rsv=1),
                    "unmasked frame": frame(b"4hello", masked=False),
                    "reserved opcode": frame(b"4hello", opcode=3),
                    "oversized control frame": frame(b"x" * 200, opcode=9),
                }[attack]
                await stream.send_all(bad)
                with trio.fail_after(3):
                    await read_until_close_frame(stream)
            new = set(eng.server._sessions) - opened
            for sid in new:
                reason = await eng.rec.wait_disconnect(sid, limit=2)
                assert reason in ("transport close", "parse error", "transport error"), reason
            assert all(message != "hello" for _, message in eng.rec.messages)
            await survives(eng)


async def slow_consumer(eng: RealEngine, stream: trio.SocketStream, sid: str, before: int) -> None:
    sent = 0

    async def flood() -> None:
        nonlocal sent
        while sid in eng.server._sessions:
            await eng.server.send(sid, "x" * 10_000)
            await trio.lowlevel.checkpoint()  # send() to a closed session is no checkpoint
            sent += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(flood)
        await trio.sleep(0.3)
        stats = eng.server.statistics()
        assert stats.buffered_bytes <= 200_000 + 10_000, stats
        reason = await eng.rec.wait_disconnect(sid, limit=5)
        assert reason == "ping timeout"
    assert eng.rec.reasons(sid) == ["ping timeout"]
    with trio.fail_after(3):
        while eng.app.active_websockets > before:
            await trio.sleep(0.01)


async def test_e7_trailing_bytes_after_the_upgrade_request_leave_no_session() -> None:
    """hypercorn 0.18 race (about 1 attempt in 3): bytes after the upgrade request reach WSStream
    before the app's accept; its 400 then raises h11's LocalProtocolError out of the connection,
    which stopped the whole server. ContainedTCPServer (I1) ends that connection only, and with it
    the request and its session."""
    with trio.fail_after(40):
        async with real_engine() as eng:
            leaked: list[tuple[str, bytes]] = []
            for _ in range(8):
                opened = set(eng.server._sessions)
                stream = await trio.open_tcp_stream(eng.host, eng.port)
                async with stream:
                    await stream.send_all(ws_request(eng) + b"\x81\x85GARBAGE-NOT-A-FRAME\r\n\r\n")
                    with trio.fail_after(3):
                        answer = await read_until(stream, b"\r\n\r\n")
                        assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 101")), answer[:200]
                        if answer.startswith(b"HTTP/1.1 101"):
                            answer = await read_until_close_frame(stream, answer.split(b"\r\n\r\n", 1)[1])
                for sid in set(eng.server._sessions) - opened:
                    with trio.move_on_after(2):
                        reason = await eng.rec.wait_disconnect(sid)
                        assert reason in ("transport close", "parse error", "transport error"), reason
                        continue
                    leaked.append((sid, answer[-60:]))
            assert leaked == [], leaked
            await survives(eng)


async def test_e8_real_slow_consumer_bounded_writer_exits_disconnect_once() -> None:
    with trio.fail_after(QUICK):
        # hypercorn 0.18 shields its socket writes from cancellation: only the kernel's
        # TCP_USER_TIMEOUT (serve() sets it for an ASGIApp; the guard wrapper hides the
        # app here, so it is passed explicitly) ends the request task's blocked send.
        async with real_engine(
            ping_interval=0.5,
            ping_timeout=0.5,
            max_buffered_bytes=200_000,
            max_buffered_messages=100_000,
            hypercorn={"tcp_user_timeout": 1.0},
        ) as eng:
            before = eng.app.active_websockets
            stream, sid = await raw_websocket_session(eng)
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            try:
                await slow_consumer(eng, stream, sid, before)
            finally:
                rst(stream)  # else hypercorn's own shutdown blocks on the unread socket


async def test_e8_real_rst_mid_write_writer_exits_disconnect_once() -> None:
    with trio.fail_after(QUICK):
        async with real_engine(max_buffered_bytes=200_000) as eng:
            before = eng.app.active_websockets
            stream, sid = await raw_websocket_session(eng)

            async def flood() -> None:
                while sid in eng.server._sessions:
                    await eng.server.send(sid, "x" * 50_000)
                    await trio.lowlevel.checkpoint()  # send() to a closed session is no checkpoint

            async with trio.open_nursery() as nursery:
                nursery.start_soon(flood)
                await trio.sleep(0.2)
                rst(stream)
                reason = await eng.rec.wait_disconnect(sid, limit=5)
                assert reason in ("transport close", "transport error"), reason
            assert len(eng.rec.reasons(sid)) == 1
            with trio.fail_after(3):
                while eng.app.active_websockets > before:
                    await trio.sleep(0.01)


async def test_e8_real_client_vanishes_mid_websocket_session() -> None:
    with trio.fail_after(QUICK):
        async with real_engine() as eng:
            before = eng.app.active_websockets
            stream, sid = await raw_websocket_session(eng)
            await stream.send_all(frame(b"4a"))
            assert b"4a" in await read_until(stream, b"4a")
            rst(stream)
            reason = await eng.rec.wait_disconnect(sid, limit=5)
            assert reason == "transport close"
            with trio.fail_after(3):
                while eng.app.active_websockets > before:
                    await trio.sleep(0.01)
            await survives(eng)
