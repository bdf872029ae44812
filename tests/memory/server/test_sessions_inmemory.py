"""Server behaviour driven in memory (httpx.ASGITransport and an in-memory websocket).

Timers run on ``autojump_clock``: heartbeats, ping timeouts and upgrade timeouts
are checked to the exact virtual second with no wall time spent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
from wire import polling_url, websocket_url

import trio_engineio
from trio_engineio.testing import (
    TestWebSocket,
    WebSocketClosed,
    WebSocketRejected,
    open_test_client,
    open_websocket,
)


class Recorder:
    """Collects what the python-engineio-style handlers saw."""

    def __init__(self, server: trio_engineio.Server, *, echo: bool = True) -> None:
        self.connected: list[str] = []
        self.messages: list[tuple[str, Any]] = []
        self.disconnects: list[tuple[str, str, float]] = []
        self.disconnected = trio.Event()

        @server.on("connect")
        def connect(sid: str, environ: dict[str, Any]) -> None:
            self.connected.append(sid)

        @server.on("message")
        async def message(sid: str, data: Any) -> None:
            self.messages.append((sid, data))
            if echo:
                await server.send(sid, data)

        @server.on("disconnect")
        def disconnect(sid: str, reason: str) -> None:
            self.disconnects.append((sid, reason, trio.current_time()))
            self.disconnected.set()


@asynccontextmanager
async def running(**options: Any) -> AsyncIterator[tuple[trio_engineio.Server, Recorder, httpx.AsyncClient]]:
    echo = options.pop("echo", True)
    server = trio_engineio.Server(**options)
    recorder = Recorder(server, echo=echo)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        http.app = app  # type: ignore[attr-defined]
        yield server, recorder, http


async def poll_packets(http: httpx.AsyncClient, sid: str, count: int) -> list[str]:
    """GET until ``count`` packets arrived (a GET returns as soon as there is one)."""
    packets: list[str] = []
    while len(packets) < count:
        packets += (await http.get(polling_url(sid))).text.split("\x1e")
    return packets


async def drain(ws: TestWebSocket) -> None:
    while True:
        await ws.receive()


async def handshake(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get(polling_url())
    assert response.status_code == 200, response.text
    assert response.text[0] == "0"
    return json.loads(response.text[1:])  # type: ignore[no-any-return]


async def test_handshake_advertises_options_in_ms(autojump_clock: trio.abc.Clock) -> None:
    async with running(ping_interval=(0.3, 0.2), ping_timeout=0.5, max_http_buffer_size=1234) as (
        _,
        rec,
        http,
    ):
        info = await handshake(http)
        assert set(info) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
        assert info["pingInterval"] == 500  # interval + grace, as python-engineio advertises
        assert info["pingTimeout"] == 500
        assert info["maxPayload"] == 1234
        assert info["upgrades"] == ["websocket"]
        assert rec.connected == [info["sid"]]


async def test_d2_ping_timeout_closes_exactly_on_time(autojump_clock: trio.abc.Clock) -> None:
    async with running(ping_interval=25, ping_timeout=20) as (server, rec, http):
        start = trio.current_time()
        sid = (await handshake(http))["sid"]
        response = await http.get(polling_url(sid))
        assert response.text == "2"
        assert trio.current_time() - start == pytest.approx(25)
        await rec.disconnected.wait()
        (closed_sid, reason, at) = rec.disconnects[0]
        assert (closed_sid, reason) == (sid, "ping timeout")
        assert at - start == pytest.approx(45)
        assert (await http.get(polling_url(sid))).status_code == 400
        assert server.statistics().sessions == 0


async def test_pong_keeps_session_alive_across_intervals(autojump_clock: trio.abc.Clock) -> None:
    async with running(ping_interval=1, ping_timeout=1) as (server, rec, http):
        sid = (await handshake(http))["sid"]
        for _ in range(10):
            assert (await http.get(polling_url(sid))).text == "2"
            assert (await http.post(polling_url(sid), content="3")).text == "ok"
        assert rec.disconnects == []
        assert server.statistics().sessions == 1


async def test_d1_pong_flood_creates_no_extra_timers(autojump_clock: trio.abc.Clock) -> None:
    async with running(ping_interval=10, ping_timeout=5) as (_server, rec, http):
        sid = (await handshake(http))["sid"]
        start = trio.current_time()
        assert (await http.post(polling_url(sid), content="\x1e".join(["3"] * 500))).text == "ok"
        assert (await http.get(polling_url(sid))).text == "2"
        assert trio.current_time() - start == pytest.approx(10)
        await rec.disconnected.wait()
        assert rec.disconnects[0][1] == "ping timeout"
        assert rec.disconnects[0][2] - start == pytest.approx(15)


async def test_polling_echo_text_and_binary(autojump_clock: trio.abc.Clock) -> None:
    async with running() as (_, rec, http):
        sid = (await handshake(http))["sid"]
        response = await http.post(polling_url(sid), content="4hello\x1ebAQID\x1e4wörld")
        assert response.text == "ok"
        assert response.headers["cache-control"] == "no-store"
        assert await poll_packets(http, sid, 3) == ["4hello", "bAQID", "4wörld"]
        assert [data for _, data in rec.messages] == ["hello", b"\x01\x02\x03", "wörld"]


async def test_b9_thousand_small_packets_in_order(autojump_clock: trio.abc.Clock) -> None:
    async with running(echo=False) as (_, rec, http):
        sid = (await handshake(http))["sid"]
        body = "\x1e".join(f"4m{i}" for i in range(1000))
        assert (await http.post(polling_url(sid), content=body)).text == "ok"
        with trio.fail_after(5):
            while len(rec.messages) < 1000:
                await trio.sleep(0.01)
        assert [data for _, data in rec.messages] == [f"m{i}" for i in range(1000)]


async def test_c1_duplicate_get_closes_session(autojump_clock: trio.abc.Clock) -> None:
    async with running() as (_, rec, http):
        sid = (await handshake(http))["sid"]
        results: dict[str, httpx.Response] = {}

        async def first_get() -> None:
            results["first"] = await http.get(polling_url(sid))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first_get)
            await trio.sleep(1)
            second = await http.get(polling_url(sid))
        assert second.status_code == 400
        assert results["first"].text == "1"
        await rec.disconnected.wait()
        assert rec.disconnects[0][1] == "transport error"


async def test_b7_client_close_releases_pending_get(autojump_clock: trio.abc.Clock) -> None:
    async with running() as (server, rec, http):
        sid = (await handshake(http))["sid"]
        results: dict[str, httpx.Response] = {}

        async def pending_get() -> None:
            results["get"] = await http.get(polling_url(sid))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pending_get)
            await trio.sleep(1)
            released_at = trio.current_time()
            assert (await http.post(polling_url(sid), content="4a\x1e1\x1e4b")).text == "ok"
        assert results["get"].text == "6"
        assert trio.current_time() == pytest.approx(released_at)
        await rec.disconnected.wait()
        assert rec.disconnects[0][1] == "client disconnect"
        assert [data for _, data in rec.messages] == ["a"]
        assert server.statistics().sessions == 0


async def test_b5_invalid_packet_is_400_and_closes(autojump_clock: trio.abc.Clock) -> None:
    async with running() as (_, rec, http):
        sid = (await handshake(http))["sid"]
        response = await http.post(polling_url(sid), content="4ok\x1eabc")
        assert response.status_code == 400
        await rec.disconnected.wait()
        assert rec.disconnects[0][1] == "parse error"
        assert rec.messages == []  # the payload is rejected as a whole


async def test_b1_oversized_post_is_413(autojump_clock: trio.abc.Clock) -> None:
    async with running(max_http_buffer_size=100) as (_, rec, http):
        sid = (await handshake(http))["sid"]
        response = await http.post(polling_url(sid), content="4" + "x" * 200)
        assert response.status_code == 413
        await rec.disconnected.wait()
        assert rec.disconnects[0][1] == "transport error"


async def test_b4_octet_stream_post_is_refused(autojump_clock: trio.abc.Clock) -> None:
    async with running() as (_, rec, http):
        sid = (await handshake(http))["sid"]
        response = await http.post(
            polling_url(sid), content=b"\x04abc", headers={"content-type": "application/octet-stream"}
        )
        assert response.status_code == 400
        await rec.disconnected.wait()


async def test_upgrade_loses_and_reorders_nothing(autojump_clock: trio.abc.Clock) -> None:
    async with running(echo=False) as (server, rec, http):
        sid = (await handshake(http))["sid"]
        for i in range(3):
            await server.send(sid, f"before{i}")
        received: list[str] = []
        received += (await http.get(polling_url(sid))).text.split("\x1e")
        got: dict[str, str] = {}

        async def pending_get() -> None:
            got["get"] = (await http.get(polling_url(sid))).text

        async with open_websocket(http.app, websocket_url(sid)) as ws:  # type: ignore[attr-defined]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pending_get)
                await trio.sleep(0.5)
                await ws.send("2probe")
                assert await ws.receive() == "3probe"
            assert got["get"] == "6"
            for i in range(3):
                await server.send(sid, f"during{i}")
            assert server.transport(sid) == "polling"
            await ws.send("5")
            for i in range(3):
                await server.send(sid, f"after{i}")
            for _ in range(6):
                received.append(str(await ws.receive()))
            assert server.transport(sid) == "websocket"
            # polling is over for this session; a second websocket is accepted, then closed
            assert (await http.get(polling_url(sid))).status_code == 400
            async with open_websocket(http.app, websocket_url(sid)) as second:  # type: ignore[attr-defined]
                with pytest.raises(WebSocketClosed) as closed:
                    await second.receive()
            assert closed.value.code == 1008
            await ws.send("4hi")
            with trio.fail_after(1):
                while not rec.messages:
                    await trio.sleep(0.01)
        assert received == [f"4{k}{i}" for k in ("before", "during", "after") for i in range(3)]


async def test_e3_upgrade_timeout_keeps_polling(autojump_clock: trio.abc.Clock) -> None:
    async with running(upgrade_timeout=10, echo=False) as (server, rec, http):
        sid = (await handshake(http))["sid"]
        async with open_websocket(http.app, websocket_url(sid)) as ws:  # type: ignore[attr-defined]
            await ws.send("2probe")
            assert await ws.receive() == "3probe"
            await server.send(sid, "queued")
            start = trio.current_time()
            with pytest.raises(WebSocketClosed):
                await ws.receive()
            assert trio.current_time() - start == pytest.approx(10)
        assert server.transport(sid) == "polling"
        assert (await http.get(polling_url(sid))).text == "4queued"
        assert rec.disconnects == []


async def test_e4_upgrade_packet_before_probe_aborts_upgrade_only(autojump_clock: trio.abc.Clock) -> None:
    async with running() as (server, _rec, http):
        sid = (await handshake(http))["sid"]
        async with open_websocket(http.app, websocket_url(sid)) as ws:  # type: ignore[attr-defined]
            await ws.send("5")
            with pytest.raises(WebSocketClosed):
                await ws.receive()
        assert server.transport(sid) == "polling"
        assert (await http.post(polling_url(sid), content="4still")).text == "ok"
        assert (await http.get(polling_url(sid))).text == "4still"


async def test_websocket_only_session(autojump_clock: trio.abc.Clock) -> None:
    async with running(ping_interval=5, ping_timeout=5) as (_server, rec, http):
        async with open_websocket(http.app, websocket_url()) as ws:  # type: ignore[attr-defined]
            opened = await ws.receive()
            assert isinstance(opened, str)
            assert opened[0] == "0"
            info = json.loads(opened[1:])
            assert info["upgrades"] == []
            await ws.send("4hello")
            assert await ws.receive() == "4hello"
            await ws.send(b"\x00\xff")
            assert await ws.receive() == b"\x00\xff"
            assert await ws.receive() == "2"
            await ws.send("3")
            await ws.send("1")
            with pytest.raises(WebSocketClosed):
                await ws.receive()
        await rec.disconnected.wait()
        assert rec.disconnects[0][:2] == (info["sid"], "client disconnect")


async def test_e1_e2_bad_websocket_frames_close_the_session(autojump_clock: trio.abc.Clock) -> None:
    async with running(max_http_buffer_size=50) as (server, rec, http):
        for frame, code, reason in (("abc", 1002, "parse error"), ("4" + "x" * 60, 1009, "transport error")):
            rec.disconnected = trio.Event()
            async with open_websocket(http.app, websocket_url()) as ws:  # type: ignore[attr-defined]
                await ws.receive()
                await ws.send(frame)
                with pytest.raises(WebSocketClosed) as closed:
                    await drain(ws)
                assert closed.value.code == code
            await rec.disconnected.wait()
            assert rec.disconnects[-1][1] == reason
        assert server.statistics().sessions == 0


async def test_connect_handler_refusal_is_401(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server()

    @server.on("connect")
    def connect(sid: str, environ: dict[str, Any]) -> Any:
        assert environ["REMOTE_ADDR"] == "127.0.0.1"
        assert environ["asgi.scope"]["type"] in ("http", "websocket")
        if environ["QUERY_STRING"].endswith("who=bad"):
            return False
        raise trio_engineio.ConnectionRefusedError("nope")

    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        response = await http.get(polling_url() + "&who=bad")
        assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
        response = await http.get(polling_url())
        assert (response.status_code, response.json()) == (401, {"message": "nope"})
        with pytest.raises(WebSocketRejected) as rejected:
            async with open_websocket(app, websocket_url()):
                pass
        assert rejected.value.status == 401
        assert server.statistics().sessions == 0
        assert server.statistics().running_sessions == 0


async def test_a9_slow_connect_handler_is_bounded(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(connect_timeout=3)

    @server.on("connect")
    async def connect(sid: str, environ: dict[str, Any]) -> None:
        await trio.sleep_forever()

    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        start = trio.current_time()
        response = await http.get(polling_url())
        assert response.status_code == 401
        assert trio.current_time() - start == pytest.approx(3)
        assert server.statistics().sessions == 0


async def test_trio_style_handler_echo_and_close_reason(autojump_clock: trio.abc.Clock) -> None:
    reasons: list[str | None] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        async for message in conn:
            await conn.send(message)
        reasons.append(conn.close_reason)

    server = trio_engineio.Server(handler=handler)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sid = (await handshake(http))["sid"]
        await http.post(polling_url(sid), content="4one\x1e4two")
        assert await poll_packets(http, sid, 2) == ["4one", "4two"]
        await http.post(polling_url(sid), content="1")
        with trio.fail_after(1):
            while not reasons:
                await trio.sleep(0.01)
        assert reasons == ["client disconnect"]


async def test_handler_return_ends_session_and_sends_close(autojump_clock: trio.abc.Clock) -> None:
    async def handler(conn: trio_engineio.Connection) -> None:
        await conn.send("bye")

    server = trio_engineio.Server(handler=handler)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sid = (await handshake(http))["sid"]
        assert (await http.get(polling_url(sid))).text == "4bye\x1e1"
        assert (await http.get(polling_url(sid))).status_code == 400


async def test_g4_handler_exception_is_contained(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server()

    @server.on("message")
    async def message(sid: str, data: Any) -> None:
        if data == "boom":
            raise RuntimeError("boom")
        await server.send(sid, data)

    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sid = (await handshake(http))["sid"]
        await http.post(polling_url(sid), content="4boom\x1e4fine")
        assert (await http.get(polling_url(sid))).text == "4fine"
        assert server.statistics().handler_errors == 1


async def test_g1_send_backpressure_until_client_polls(autojump_clock: trio.abc.Clock) -> None:
    async with running(max_buffered_messages=5, ping_interval=100, ping_timeout=100) as (server, _, http):
        sid = (await handshake(http))["sid"]
        conn = server.connection(sid)
        sent = 0
        with trio.move_on_after(1):
            for i in range(10):
                await conn.send(f"m{i}")
                sent += 1
        assert sent == 5
        assert server.statistics().buffered_messages == 5
        assert len((await http.get(polling_url(sid))).text.split("\x1e")) == 5


async def test_g3_shutdown_runs_disconnect_once_with_shutdown_reason(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server()
    recorder = Recorder(server)
    app = trio_engineio.ASGIApp(server)
    async with open_test_client(app) as http:
        async with server:
            sids = [(await handshake(http))["sid"] for _ in range(20)]
        assert sorted(sid for sid, _, _ in recorder.disconnects) == sorted(sids)
        assert {reason for _, reason, _ in recorder.disconnects} == {"server shutdown"}
        assert server.statistics().running_sessions == 0
        response = await http.get(polling_url())
        assert response.status_code == 503


async def test_server_disconnect_delivers_queue_then_close(autojump_clock: trio.abc.Clock) -> None:
    async with running() as (server, rec, http):
        sid = (await handshake(http))["sid"]
        await server.send(sid, "last words")
        await server.disconnect(sid)
        assert (await http.get(polling_url(sid))).text == "4last words\x1e1"
        await rec.disconnected.wait()
        assert rec.disconnects[0][1] == "server disconnect"


async def test_c2_aborted_long_poll_closes_with_transport_close(autojump_clock: trio.abc.Clock) -> None:
    async with running() as (_, rec, http):
        sid = (await handshake(http))["sid"]
        with trio.move_on_after(1):
            await http.get(polling_url(sid))
        # httpx.ASGITransport cannot signal a disconnect; the hypercorn tests cover
        # the real abort. Here the session must survive a cancelled client request.
        assert rec.disconnects == []


async def test_cookie_and_cors_headers(autojump_clock: trio.abc.Clock) -> None:
    async with running(cookie="io", cors_allowed_origins=["https://app.example"]) as (_, _, http):
        response = await http.get(polling_url(), headers={"origin": "https://app.example"})
        sid = json.loads(response.text[1:])["sid"]
        assert response.headers["set-cookie"] == f"io={sid}; Path=/; HttpOnly; SameSite=Lax"
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert response.headers["access-control-allow-credentials"] == "true"
        refused = await http.get(polling_url(), headers={"origin": "https://evil.example"})
        assert refused.status_code == 403
        assert refused.json()["code"] == 4
        assert "access-control-allow-origin" not in refused.headers


async def test_f1_same_origin_default(autojump_clock: trio.abc.Clock) -> None:
    async with running() as (_, _, http):
        assert (await http.get(polling_url(), headers={"origin": "http://testserver"})).status_code == 200
        assert (await http.get(polling_url(), headers={"origin": "null"})).status_code == 403
        assert (await http.get(polling_url(), headers={"origin": "http://evil"})).status_code == 403
        forwarded = {
            "origin": "https://proxy.example",
            "x-forwarded-host": "proxy.example",
            "x-forwarded-proto": "https",
        }
        assert (await http.get(polling_url(), headers=forwarded)).status_code == 403


async def test_c4_compression_honours_q_values(autojump_clock: trio.abc.Clock) -> None:
    async with running(echo=False) as (server, _, http):
        sid = (await handshake(http))["sid"]
        await server.send(sid, "x" * 5000)
        response = await http.get(polling_url(sid), headers={"accept-encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.text == "4" + "x" * 5000
        await server.send(sid, "x" * 5000)
        response = await http.get(polling_url(sid), headers={"accept-encoding": "gzip;q=0, br"})
        assert "content-encoding" not in response.headers


def test_unknown_option_is_type_error() -> None:
    with pytest.raises(TypeError):
        trio_engineio.Server(async_mode="asgi")  # type: ignore[call-arg]


async def test_get_arriving_after_probe_is_released_at_once(autojump_clock: trio.abc.Clock) -> None:
    """The client's last poll may reach the server after its 2probe: answer it with a NOOP."""
    async with running(echo=False) as (server, _rec, http):
        sid = (await handshake(http))["sid"]
        async with open_websocket(http.app, websocket_url(sid)) as ws:  # type: ignore[attr-defined]
            await ws.send("2probe")
            assert await ws.receive() == "3probe"
            start = trio.current_time()
            assert (await http.get(polling_url(sid))).text == "6"
            assert trio.current_time() == start
            await server.send(sid, "after")
            await ws.send("5")
            assert await ws.receive() == "4after"


async def test_websocket_push_burst_then_close_delivers_everything(autojump_clock: trio.abc.Clock) -> None:
    """Frames written by send() itself and by the writer interleave without loss or reorder."""

    async def push(conn: trio_engineio.Connection) -> None:
        for k in range(600):
            await conn.send(f"m{k}")
        await conn.aclose()

    server = trio_engineio.Server(handler=push)
    app = trio_engineio.ASGIApp(server)
    async with server, open_websocket(app, websocket_url()) as ws:
        frames: list[str | bytes] = []
        with pytest.raises(WebSocketClosed):
            await collect(ws, frames)
    assert frames[1:] == [f"4m{k}" for k in range(600)] + ["1"]


async def collect(ws: TestWebSocket, frames: list[str | bytes]) -> None:
    while True:
        frames.append(await ws.receive())


async def test_g3_polling_client_collects_its_close_during_shutdown(autojump_clock: trio.abc.Clock) -> None:
    """A polling client with no GET pending at shutdown still gets CLOSE on its next poll."""
    async with running() as (server, rec, http):
        sid = (await handshake(http))["sid"]
        await server.send(sid, "first")
        assert (await http.get(polling_url(sid))).text == "4first"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.shutdown)
            await trio.sleep(0.1)
            assert (await http.get(polling_url(sid))).text == "1"
            assert (await http.get(polling_url())).status_code == 503
        assert rec.disconnects[0][1] == "server shutdown"


async def test_send_is_a_cancellation_point_and_never_starves_other_tasks(
    autojump_clock: trio.abc.Clock,
) -> None:
    """send() queues without a scheduler trip, but yields at least every SEND_YIELD_EVERY."""
    from trio_engineio.server.session import SEND_YIELD_EVERY

    async with running(ping_interval=100, ping_timeout=100) as (server, _, http):
        sid = (await handshake(http))["sid"]
        conn = server.connection(sid)
        with trio.CancelScope() as scope:
            scope.cancel()
            await conn.send("never")
        assert scope.cancelled_caught
        assert conn.buffered_messages == 0

        bystander_steps = 0

        async def bystander() -> None:
            nonlocal bystander_steps
            while True:
                bystander_steps += 1
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(bystander)
            await trio.lowlevel.checkpoint()
            longest_run = run = 0
            for i in range(4 * SEND_YIELD_EVERY):
                before = bystander_steps
                await conn.send(f"m{i}")
                run = run + 1 if bystander_steps == before else 0
                longest_run = max(longest_run, run)
            # Each yield lets every other runnable task run once; trio may run the
            # sender first in the next batch, so one run can span two yields.
            assert 0 < longest_run < 2 * SEND_YIELD_EVERY
            nursery.cancel_scope.cancel()
        assert conn.buffered_messages == 4 * SEND_YIELD_EVERY


async def test_receive_queue_keeps_order_bound_and_close(autojump_clock: trio.abc.Clock) -> None:
    """Messages wait for the handler in order, at most max_queued_incoming, then ConnectionClosed."""
    received: list[str | bytes] = []
    may_read = trio.Event()
    ended = trio.Event()

    async def handler(conn: trio_engineio.Connection) -> None:
        await may_read.wait()
        try:
            while True:
                received.append(await conn.receive())
        except trio_engineio.ConnectionClosed:
            ended.set()

    server = trio_engineio.Server(handler=handler, max_queued_incoming=3, ping_interval=100, ping_timeout=100)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sid = (await handshake(http))["sid"]
        posted = trio.Event()

        async def post() -> None:
            await http.post(polling_url(sid), content="\x1e".join(f"4m{i}" for i in range(6)) + "\x1e1")
            posted.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(post)
            await trio.testing.wait_all_tasks_blocked()
            assert not posted.is_set()  # the POST waits: the handler's queue is full
            may_read.set()
            with trio.fail_after(5):
                await ended.wait()
        assert received == [f"m{i}" for i in range(6)]


async def test_websocket_push_only_handler_still_sees_pongs_and_the_close(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A handler that never calls receive(): the transport reads PONGs and the CLOSE itself."""
    closed_at: list[float] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        info = await conn.wait_closed()
        closed_at.append(trio.current_time())
        assert info.reason.value == "client disconnect"

    server = trio_engineio.Server(handler=handler, ping_interval=1, ping_timeout=1)
    app = trio_engineio.ASGIApp(server)
    async with server:
        async with open_websocket(app, websocket_url()) as ws:
            await ws.receive()  # OPEN
            for _ in range(5):  # five intervals: without the PONGs being read it would time out
                assert await ws.receive() == "2"
                await ws.send("3")
            assert closed_at == []
            sent_close_at = trio.current_time()
            await ws.send("1")
            with trio.fail_after(1):
                while not closed_at:
                    await trio.sleep(0.001)
        from trio_engineio.server.session import PULL_HANDOVER_DELAY

        assert closed_at[0] - sent_close_at <= PULL_HANDOVER_DELAY + 0.01
        assert server.statistics().sessions == 0


async def test_websocket_busy_handler_gets_every_message_in_order_and_keeps_its_session(
    autojump_clock: trio.abc.Clock,
) -> None:
    """While the handler is away for long, frames are still read (PONGs) and queued (messages)."""
    got: list[str | bytes] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        async for message in conn:
            got.append(message)
            await trio.sleep(3)  # busy for three ping intervals per message

    server = trio_engineio.Server(handler=handler, ping_interval=1, ping_timeout=0.5)
    app = trio_engineio.ASGIApp(server)
    async with server, open_websocket(app, websocket_url()) as ws:
        await ws.receive()  # OPEN
        for i in range(4):
            await ws.send(f"4m{i}")
        for _ in range(12):
            assert await ws.receive() == "2"
            await ws.send("3")
        assert got == ["m0", "m1", "m2", "m3"]
        assert server.statistics().sessions == 1


async def test_websocket_cancelled_receive_loses_no_message(autojump_clock: trio.abc.Clock) -> None:
    """A receive() cancelled while it pulls leaves the next frame for the next receive()."""
    got: list[str | bytes] = []
    timeouts = 0

    async def handler(conn: trio_engineio.Connection) -> None:
        nonlocal timeouts
        while len(got) < 20:
            with trio.move_on_after(0.013) as scope:
                got.append(await conn.receive())
            timeouts += scope.cancelled_caught

    server = trio_engineio.Server(handler=handler, ping_interval=100, ping_timeout=100)
    app = trio_engineio.ASGIApp(server)
    async with server, open_websocket(app, websocket_url()) as ws:
        await ws.receive()  # OPEN
        for i in range(20):
            await ws.send(f"4m{i}")
            await trio.sleep(0.01 * (i % 3))
        with trio.fail_after(5):
            while len(got) < 20:
                await trio.sleep(0.01)
    assert got == [f"m{i}" for i in range(20)]
    assert timeouts > 0


async def test_websocket_two_receivers_share_the_messages_exactly_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    got: list[tuple[int, str | bytes]] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        async def receiver(n: int) -> None:
            async for message in conn:
                got.append((n, message))
                await trio.sleep(0.001 * n)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver, 1)
            nursery.start_soon(receiver, 2)

    server = trio_engineio.Server(handler=handler, ping_interval=100, ping_timeout=100)
    app = trio_engineio.ASGIApp(server)
    async with server, open_websocket(app, websocket_url()) as ws:
        await ws.receive()  # OPEN
        for i in range(50):
            await ws.send(f"4m{i}")
        with trio.fail_after(5):
            while len(got) < 50:
                await trio.sleep(0.01)
    assert sorted(message for _, message in got) == sorted(f"m{i}" for i in range(50))
    assert {n for n, _ in got} == {1, 2}


def _plain_receive(app: Any) -> Any:
    """The app behind an ASGI server whose ``receive`` is a plain function (not hypercorn's)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def plain_receive() -> Any:
            return await receive()

        await app(scope, plain_receive, send)

    return wrapped


async def test_websocket_on_other_asgi_servers_the_request_task_reads(autojump_clock: trio.abc.Clock) -> None:
    """Without a shareable channel every frame is read by the request task: same behaviour."""
    got: list[str | bytes] = []
    closed: list[float] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        try:
            async for message in conn:
                got.append(message)
                await conn.send(message)
                if message == "slow":
                    await trio.sleep(3)  # three ping intervals away
        finally:
            closed.append(trio.current_time())

    server = trio_engineio.Server(handler=handler, ping_interval=1, ping_timeout=0.5)
    app = _plain_receive(trio_engineio.ASGIApp(server))
    async with server, open_websocket(app, websocket_url()) as ws:
        await ws.receive()  # OPEN
        await ws.send("4slow")
        for i in range(3):
            await ws.send(f"4m{i}")
        frames = []
        while len([f for f in frames if f != "2"]) < 4:
            frame = await ws.receive()
            frames.append(frame)
            if frame == "2":
                await ws.send("3")
        assert [f for f in frames if f != "2"] == ["4slow", "4m0", "4m1", "4m2"]
        assert got == ["slow", "m0", "m1", "m2"]
        sent_close_at = trio.current_time()
        await ws.send("1")
        with trio.fail_after(1):
            while not closed:
                await trio.sleep(0.001)
        assert closed[0] - sent_close_at < 0.01
    assert server.statistics().sessions_closed == {"client disconnect": 1}


async def test_a_handler_that_ignores_the_close_is_cancelled_after_its_grace(
    autojump_clock: trio.abc.Clock,
) -> None:
    from trio_engineio.server.heartbeats import SLOT
    from trio_engineio.server.session import HANDLER_CLOSE_GRACE

    ended: list[float] = []
    disconnected: list[float] = []

    async def handler(conn: trio_engineio.Connection) -> None:
        try:
            await trio.sleep_forever()  # never looks at the connection
        finally:
            ended.append(trio.current_time())

    server = trio_engineio.Server(handler=handler)
    server.on("disconnect", lambda sid, reason: disconnected.append(trio.current_time()))
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sid = (await handshake(http))["sid"]
        await http.post(polling_url(sid), content="1")
        closed_at = trio.current_time()
        with trio.fail_after(HANDLER_CLOSE_GRACE + 1):
            while not disconnected:
                await trio.sleep(0.01)
    assert HANDLER_CLOSE_GRACE <= ended[0] - closed_at <= HANDLER_CLOSE_GRACE + SLOT + 0.02
    assert disconnected[0] >= ended[0]
    assert server.statistics().handler_errors == 0
