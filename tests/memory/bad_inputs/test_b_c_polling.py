"""Bad inputs, sections B (polling POST) and C (polling GET), in memory on autojump_clock.

The harness (:func:`engine_harness.engine`) checks the global invariants; the tests check
the row's outcome: status, close reason (``DisconnectReason`` and its description),
and what was or was not delivered.
"""

from __future__ import annotations

import gzip
import zlib
from functools import partial
from typing import Any

import pytest
import trio
from engine_harness import Engine, engine
from wire import RS, RawResponse, asgi_http, http_scope, polling_url, websocket_url, ws_close_code

from trio_engineio.server.polling import _disconnect_reported
from trio_engineio.testing import open_websocket

TEXT = (b"content-type", b"text/plain;charset=UTF-8")


def query(sid: str) -> str:
    return polling_url(sid).split("?")[1]


async def raw_post(
    eng: Engine, sid: str, body: bytes | list[bytes], *headers: tuple[bytes, bytes], **kw: Any
) -> RawResponse:
    return await asgi_http(eng.app, "POST", "/engine.io/", query(sid), [TEXT, *headers], body, **kw)


async def assert_closed(eng: Engine, sid: str, reason: str, description: str | None = None) -> None:
    """Closed with ``reason`` (and ``description``), gone, and its sid is unknown to the next GET."""
    await eng.assert_closed(sid, reason, description)
    response = await eng.get(sid)
    assert response.status_code == 400
    assert response.json()["code"] == 1


# ------------------------------------------------------------------------------ B1 B2 B3


async def test_b1_oversized_post_with_content_length_is_413_without_reading(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with engine(max_http_buffer_size=1000) as eng:
        sid = await eng.handshake()
        chunks = [b"4" + b"x" * 999] * 100
        response = await raw_post(eng, sid, chunks, (b"content-length", b"100000"))
        assert response.status == 413
        assert response.chunks_read == 0, "the body was read before refusing it"
        assert response.json() == {"code": 3, "message": "Payload too large"}
        await assert_closed(eng, sid, "transport error", "payload too large")
        assert eng.rec.of(sid) == []


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_b2_oversized_post_without_content_length_is_413_once_over(
    autojump_clock: trio.abc.Clock, http_version: str
) -> None:
    async with engine(max_http_buffer_size=1000) as eng:
        sid = await eng.handshake()
        chunks = [b"4" + b"x" * 599] + [b"x" * 600] * 20
        response = await raw_post(eng, sid, chunks, http_version=http_version)
        assert response.status == 413
        assert response.chunks_read == 2, "the running count must stop at the first chunk over the limit"
        await assert_closed(eng, sid, "transport error", "payload too large")
        assert eng.rec.of(sid) == []
        # exactly at the limit is fine (bytes, not chunks)
        sid = await eng.handshake()
        response = await raw_post(eng, sid, [b"4" + b"x" * 499, b"y" * 500], http_version=http_version)
        assert response.status == 200
        assert await eng.rec.wait_messages(sid, 1) == ["x" * 499 + "y" * 500]


async def test_b3_stalled_post_body_is_bounded_by_ping_timeout(autojump_clock: trio.abc.Clock) -> None:
    async with engine(ping_interval=25, ping_timeout=5) as eng:
        sid = await eng.handshake()
        start = trio.current_time()
        response = await raw_post(eng, sid, b"4abc", (b"content-length", b"100"), stall=True)
        assert response.status == 408
        assert trio.current_time() - start == pytest.approx(5)
        await assert_closed(eng, sid, "transport error", "POST body not received in time")
        assert eng.rec.of(sid) == []


async def test_b3_post_aborted_mid_body_closes_with_transport_close(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        gone = trio.Event()
        async with trio.open_nursery() as nursery:
            result: list[RawResponse] = []

            async def post() -> None:
                result.append(await raw_post(eng, sid, b"4abc", stall=True, disconnect=gone))

            nursery.start_soon(post)
            await trio.sleep(1)
            gone.set()
        assert result[0].status is None  # nobody to answer
        await assert_closed(eng, sid, "transport close", "POST request aborted by the client")
        assert eng.rec.of(sid) == []


# ------------------------------------------------------------------------------ B4 B5 B6


@pytest.mark.parametrize("content_type", [b"application/octet-stream", b"Application/Octet-Stream; x=y"])
async def test_b4_octet_stream_post_is_400_and_closes(
    autojump_clock: trio.abc.Clock, content_type: bytes
) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        response = await asgi_http(
            eng.app, "POST", "/engine.io/", query(sid), [(b"content-type", content_type)], b"\x04abc"
        )
        assert response.status == 400
        await assert_closed(eng, sid, "transport error", "binary POST bodies are not Engine.IO v4")
        assert eng.rec.of(sid) == []


@pytest.mark.parametrize(
    "body",
    [b"abc", b"9x", b"7", b"4ok\x1eabc\x1e4after", b"4a\x1e\x1e4b", b"\x1e4a", b"4a\x1e", b"", b"4\xff\xfe",
     b"4ok\x1e4\xc3\x28", b"\x00", b"4a\x1e 4b"],
)  # fmt: skip
async def test_b5_invalid_packet_is_400_parse_error_nothing_delivered(
    autojump_clock: trio.abc.Clock, body: bytes
) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        response = await raw_post(eng, sid, body)
        assert response.status == 400
        assert response.json()["code"] == 3
        await assert_closed(eng, sid, "parse error")
        # decision: the payload is decoded as a whole before anything is delivered, so
        # the valid packets before the bad one are not delivered either
        assert eng.rec.of(sid) == []


@pytest.mark.parametrize(
    ("packet", "what"), [("2", "PING"), ("2probe", "PING"), ("0", "OPEN"), ("0{}", "OPEN"), ("5", "UPGRADE")]
)
async def test_b6_wrong_direction_packets_over_polling_close_with_transport_error(
    autojump_clock: trio.abc.Clock, packet: str, what: str
) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        response = await eng.post(sid, RS.join(["4before", packet, "4after"]))
        assert (response.status_code, response.text) == (200, "ok")
        await assert_closed(eng, sid, "transport error", f"unexpected {what} packet from client")
        assert eng.rec.of(sid) == ["before"]


async def test_b6_noop_from_client_is_ignored(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        assert (await eng.post(sid, RS.join(["6", "4a", "6", "6x", "4b"]))).text == "ok"
        assert await eng.poll_until(sid, 2) == ["4a", "4b"]
        assert eng.rec.reasons(sid) == []


# ------------------------------------------------------------------------------ B7 B8 B9


@pytest.mark.parametrize(("body", "delivered"), [("1", []), ("4a\x1e1\x1e4b", ["a"]), ("1\x1e4b", [])])
async def test_b7_close_packet_closes_with_client_disconnect_nothing_after(
    autojump_clock: trio.abc.Clock, body: str, delivered: list[str]
) -> None:
    async with engine(echo=False) as eng:
        eng.rec.echo = False
        sid = await eng.handshake()
        got: list[str] = []
        async with trio.open_nursery() as nursery:

            async def pending_get() -> None:
                got.append((await eng.get(sid)).text)

            nursery.start_soon(pending_get)
            with trio.fail_after(5):
                while not eng.server.connection(sid).core.get_pending:
                    await trio.sleep(0.01)
            assert (await eng.post(sid, body)).text == "ok"
        assert got == ["6"]
        await assert_closed(eng, sid, "client disconnect")
        assert eng.rec.of(sid) == delivered


@pytest.mark.parametrize("packet", ["b!!!", "bAQI", "bA===", "bAQID=", "b####", "bAQ\nID"])
async def test_b8_binary_with_invalid_base64_is_parse_error_on_every_path(
    autojump_clock: trio.abc.Clock, packet: str
) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        response = await eng.post(sid, RS.join(["4before", packet]))
        assert response.status_code == 400
        await assert_closed(eng, sid, "parse error")
        assert eng.rec.of(sid) == []
        # over a websocket a text frame "b..." is not a packet at all: the same outcome
        async with open_websocket(eng.app, websocket_url()) as ws:
            ws_sid = __import__("json").loads(str(await ws.receive())[1:])["sid"]
            await ws.send(packet)
            code, _ = await ws_close_code(ws)
            assert code == 1002
        await assert_closed(eng, ws_sid, "parse error")


async def test_b9_many_small_packets_limit_is_bytes_not_count(autojump_clock: trio.abc.Clock) -> None:
    body = RS.join(["4a"] * 1000).encode()
    async with engine(max_http_buffer_size=len(body), echo=False) as eng:
        eng.rec.echo = False
        sid = await eng.handshake()
        assert (await eng.post(sid, body)).text == "ok"
        assert await eng.rec.wait_messages(sid, 1000) == ["a"] * 1000
        numbered = RS.join(f"4{i}" for i in range(1000)).encode()
        sid2 = await eng.handshake()
        response = await eng.post(sid2, numbered)
        assert response.status_code == 413  # over the byte limit: refused whole
        sid3 = await eng.handshake()
        half = RS.join(f"4{i}" for i in range(400)).encode()
        assert (await eng.post(sid3, half)).text == "ok"
        assert await eng.rec.wait_messages(sid3, 400) == [str(i) for i in range(400)]


# ---------------------------------------------------------------------------- B10 B11


async def test_b10_concurrent_posts_second_is_400_and_closes(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        gone = trio.Event()
        first: list[RawResponse] = []
        async with trio.open_nursery() as nursery:

            async def stalled_post() -> None:
                first.append(await raw_post(eng, sid, b"4first", stall=True, disconnect=gone))

            nursery.start_soon(stalled_post)
            with trio.fail_after(5):
                while not eng.server.connection(sid).core._post_pending:
                    await trio.sleep(0.01)
            second = await eng.post(sid, "4second")
            assert second.status_code == 400
            assert second.json()["code"] == 3
            gone.set()
        await assert_closed(eng, sid, "transport error", "overlapping POST requests")
        assert eng.rec.of(sid) == []


async def test_b11_post_after_upgrade_or_to_a_closed_sid_is_400(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        async with open_websocket(eng.app, websocket_url(sid)) as ws:
            await ws.send("2probe")
            assert await ws.receive() == "3probe"
            await ws.send("5")
            with trio.fail_after(5):
                while eng.server.transport(sid) != "websocket":
                    await trio.sleep(0.01)
            response = await eng.post(sid, "4late")
            assert response.status_code == 400
            assert (await eng.get(sid)).status_code == 400
            await ws.send("4over ws")
            assert await ws.receive() == "4over ws"
            await ws.send("1")
            await ws_close_code(ws)
        await assert_closed(eng, sid, "client disconnect")
        assert eng.rec.of(sid) == ["over ws"]
        # a closed sid: right after the close and after it was forgotten
        sid = await eng.handshake()
        assert (await eng.post(sid, "1")).text == "ok"
        assert (await eng.post(sid, "4ghost")).status_code == 400
        await eng.wait_gone(sid)
        response = await eng.post(sid, "4ghost")
        assert (response.status_code, response.json()["code"]) == (400, 1)
        assert eng.rec.of(sid) == []


# ------------------------------------------------------------------------------- C1 C2


async def test_c1_concurrent_gets_second_400_first_answered_close(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        first: list[str] = []
        async with trio.open_nursery() as nursery:

            async def pending_get() -> None:
                first.append((await eng.get(sid)).text)

            nursery.start_soon(pending_get)
            with trio.fail_after(5):
                while not eng.server.connection(sid).core.get_pending:
                    await trio.sleep(0.01)
            second = await eng.get(sid)
            assert second.status_code == 400
        assert first == ["1"]
        await assert_closed(eng, sid, "transport error", "overlapping GET requests")


async def test_c2_aborted_pending_get_closes_with_transport_close(autojump_clock: trio.abc.Clock) -> None:
    """Decision: an aborted long-poll closes the session ("transport close"), nothing is requeued."""
    async with engine() as eng:
        sid = await eng.handshake()
        gone = trio.Event()
        result: list[RawResponse] = []
        async with trio.open_nursery() as nursery:

            async def pending_get() -> None:
                result.append(await asgi_http(eng.app, "GET", "/engine.io/", query(sid), disconnect=gone))

            nursery.start_soon(pending_get)
            with trio.fail_after(5):
                while not eng.server.connection(sid).core.get_pending:
                    await trio.sleep(0.01)
            gone.set()
        assert result[0].status is None
        await assert_closed(eng, sid, "transport close", "long-poll request aborted by the client")


async def test_c2_abort_racing_a_message_loses_nothing(autojump_clock: trio.abc.Clock) -> None:
    """The client vanishes while the server queues a message: requeue it or close, never lose it."""
    async with engine(echo=False) as eng:
        eng.rec.echo = False
        outcomes: list[str] = []
        for round_ in range(20):
            sid = await eng.handshake()
            conn = eng.server.connection(sid)
            gone = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    partial(asgi_http, eng.app, "GET", "/engine.io/", query(sid), disconnect=gone)
                )
                with trio.fail_after(5):
                    while not conn.core.get_pending:
                        await trio.sleep(0.01)
                # both at once: the client's disconnect and the server's message
                gone.set()
                await conn.send(f"m{round_}")
            await trio.sleep(1)
            if conn.closed:
                outcomes.append(conn.close_reason or "")
            elif conn.core.has_outgoing():
                outcomes.append("requeued")
                assert await eng.poll_until(sid, 1) == [f"4m{round_}"]
                await eng.post(sid, "1")
            else:
                outcomes.append("lost: answered to the gone client, session still open")
                await eng.post(sid, "1")
        assert all(o in ("transport close", "requeued") for o in outcomes), outcomes


async def test_c2_client_gone_as_the_get_stops_waiting_loses_nothing(autojump_clock: trio.abc.Clock) -> None:
    """receive() as hypercorn makes it (a memory channel); the disconnect is queued at the very
    moment the GET stops waiting for one (its receive() is cancelled): still never answered."""
    async with engine(echo=False) as eng:
        eng.rec.echo = False
        for round_ in range(5):
            sid = await eng.handshake()
            conn = eng.server.connection(sid)
            to_app, from_server = trio.open_memory_channel[dict[str, Any]](10)
            sent: list[Any] = []

            await to_app.send({"type": "http.request", "body": b"", "more_body": False})
            scope = http_scope("GET", query=query(sid))
            receive = partial(_receive_then_gone_when_cancelled, to_app, from_server)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(eng.app, scope, receive, partial(_record, sent))
                with trio.fail_after(5):
                    while not conn.core.get_pending:
                        await trio.sleep(0.01)
                await conn.send(f"m{round_}")
            assert sent == [], (round_, sent)  # nothing answered to the gone client
            assert conn.close_info is not None
            assert (conn.close_reason, conn.close_info.description) == (
                "transport close",
                "long-poll request aborted by the client",
            )


async def _receive_then_gone_when_cancelled(
    to_app: trio.MemorySendChannel[dict[str, Any]], from_server: trio.MemoryReceiveChannel[dict[str, Any]]
) -> dict[str, Any]:
    try:
        return await from_server.receive()
    except trio.Cancelled:
        to_app.send_nowait({"type": "http.disconnect"})  # as hypercorn's HTTPStream on StreamClosed
        raise


async def _record(sent: list[Any], message: Any) -> None:
    sent.append(message)


@pytest.mark.parametrize("direct", [True, False], ids=["channel-receive-nowait", "any-receive-callable"])
async def test_c2_disconnect_reported_never_blocks_and_consumes_nothing_unseen(direct: bool) -> None:
    """Both ways of looking: hypercorn's bound channel receive(), and any other callable."""
    with trio.fail_after(5):
        to_app, from_server = trio.open_memory_channel[dict[str, Any]](10)

        async def any_receive() -> dict[str, Any]:
            return await from_server.receive()

        receive = from_server.receive if direct else any_receive
        assert await _disconnect_reported(receive) is False  # nothing there: no wait
        await to_app.send({"type": "http.request", "body": b"", "more_body": False})
        assert await _disconnect_reported(receive) is False  # skipped, not a disconnect
        await to_app.send({"type": "http.disconnect"})
        assert await _disconnect_reported(receive) is True
        # a cancelled look leaves a later message for the next receive()
        assert await _disconnect_reported(receive) is False
        await to_app.send({"type": "http.disconnect"})
        assert (await from_server.receive())["type"] == "http.disconnect"


# ------------------------------------------------------------------------------- C3 C4


async def test_c3_no_poll_closes_with_ping_timeout_then_400(autojump_clock: trio.abc.Clock) -> None:
    async with engine(ping_interval=10, ping_timeout=5) as eng:
        start = trio.current_time()
        sid = await eng.handshake()
        got = await eng.rec.wait_disconnect(sid)
        assert got == "ping timeout"
        assert trio.current_time() - start == pytest.approx(15)
        response = await eng.get(sid)
        assert (response.status_code, response.json()["code"]) == (400, 1)
        response = await eng.post(sid, "3")
        assert (response.status_code, response.json()["code"]) == (400, 1)


@pytest.mark.parametrize(
    ("accept", "allowed"),
    [(b"gzip;q=0", set()), (b"br", set()), (b"*", {"gzip", "deflate"}), (b"*;q=0", set()),
     (b"gzip;q=0, *", {"deflate"}), (b"deflate;q=0, gzip;q=0, *;q=1", set()), (b"garbage;;;q=abc", set()),
     (b"gzip;q=nan", set()), (b"gzip;q=inf", set()), (b"gzip;q=-1", set()), (b"GZIP", {"gzip"}),
     (b"\xff\xfe, deflate", {"deflate"}), (b",,,;", set()), (b"gzip;q=0.001", {"gzip"}),
     (b"identity", set()), (b"x" * 10000 + b", gzip", {"gzip"})],
)  # fmt: skip
async def test_c4_never_an_encoding_the_client_refused(
    autojump_clock: trio.abc.Clock, accept: bytes, allowed: set[str]
) -> None:
    async with engine(echo=False) as eng:
        sid = await eng.handshake()
        await eng.server.send(sid, "x" * 5000)
        response = await asgi_http(eng.app, "GET", "/engine.io/", query(sid), [(b"accept-encoding", accept)])
        assert response.status == 200
        encoding = (response.header(b"content-encoding") or b"").decode()
        if encoding:
            assert encoding in allowed, (accept, encoding)
        else:
            assert not allowed or accept.startswith(b"x"), (accept, "identity")
        body = {"gzip": gzip.decompress, "deflate": zlib.decompress, "": bytes}[encoding](response.body)
        assert body == b"4" + b"x" * 5000


async def _hypercorn_shaped_get(
    eng: Any, sid: str, to_app: trio.MemorySendChannel[dict[str, Any]], from_server: Any
) -> list[Any]:
    """A long-poll GET whose receive() is a memory channel's bound method, as hypercorn's."""
    sent: list[Any] = []
    await to_app.send({"type": "http.request", "body": b"", "more_body": False})
    await eng.app(http_scope("GET", query=query(sid)), from_server.receive, partial(_record, sent))
    return sent


async def test_c2_long_poll_on_a_shared_channel_waits_without_a_watcher_task(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Under hypercorn a waiting GET waits on a clone of its channel: woken by the session, or gone."""
    async with engine(echo=False) as eng:
        eng.rec.echo = False
        # 1. woken by a message, after other changes of the session woke it for nothing
        sid = await eng.handshake()
        conn = eng.server.connection(sid)
        to_app, from_server = trio.open_memory_channel[dict[str, Any]](10)
        result: list[list[Any]] = []
        async with trio.open_nursery() as nursery:

            async def get() -> None:
                result.append(await _hypercorn_shaped_get(eng, sid, to_app, from_server))

            nursery.start_soon(get)
            with trio.fail_after(5):
                while not conn.core.get_pending:
                    await trio.sleep(0.01)
            assert not [name for name in _task_names() if "watch_disconnect" in name]
            for _ in range(3):
                conn.notify()
                await trio.sleep(0.1)
            assert conn.core.get_pending  # still waiting
            await conn.send("hello")
        assert [m.get("body") for m in result[0] if m["type"] == "http.response.body"] == [b"4hello"]
        # 2. the client goes away while the GET waits: "transport close", nothing answered
        to_app, from_server = trio.open_memory_channel[dict[str, Any]](10)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(get)
            with trio.fail_after(5):
                while not conn.core.get_pending:
                    await trio.sleep(0.01)
            await to_app.send({"type": "http.disconnect"})
        assert result[1] == []
        assert conn.close_info is not None
        assert (conn.close_reason, conn.close_info.description) == (
            "transport close",
            "long-poll request aborted by the client",
        )


def _task_names() -> list[str]:
    names: list[str] = []
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        names.append(task.name)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return names
