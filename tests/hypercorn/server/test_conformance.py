"""Conformance of the server with the Engine.IO v4 wire rules (https://socket.io/docs/v4/engine-io-protocol/).

Every test runs the real server under hypercorn's trio worker on 127.0.0.1:0 and
talks to it with raw HTTP (httpx, explicit URLs, bodies and headers) and raw
websockets (trio-websocket, hand-written frames). Test names cite the rule and,
where one applies, the id from docs/bad-inputs.md.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
import trio
import trio_websocket
from wire import (
    ERROR_MESSAGES,
    OPEN_KEYS,
    Endpoint,
    Running,
    StartServer,
    b64,
    error_body,
    handshake,
    open_ws,
    parse_open,
    pending_get,
    poll,
    poll_messages,
    post,
    raw_http,
    split_payload,
    unb64,
    ws_closed_code,
    ws_messages,
    ws_refused,
    ws_rejected,
)

import trio_engineio

#: A hung test fails after 10 s (its server's start and shutdown included).
pytestmark = pytest.mark.deadline(10)


def assert_error(response: httpx.Response, code: int, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert error_body(response) == {"code": code, "message": ERROR_MESSAGES[code]}


async def assert_closed_for_polling(http: httpx.AsyncClient, endpoint: Endpoint, sid: str) -> None:
    """The next GET of a session closed by an error: its CLOSE packet, or already unknown (400 code 1)."""
    response = await http.get(endpoint.polling(sid))
    if response.status_code == 200:
        assert response.text == "1"
    else:
        assert_error(response, 1)


# --------------------------------------------------------------------------- paths (A8)


@pytest.mark.parametrize("path", ["/engine.io/", "/engine.io"])
async def test_a8_default_path_with_and_without_trailing_slash(
    running: Running, http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(running.endpoint.polling(path=path))
    assert response.status_code == 200
    assert response.text.startswith("0{")


@pytest.mark.server(engineio_path="custom/eio")
async def test_a8_custom_engineio_path(endpoint: Endpoint, http: httpx.AsyncClient) -> None:
    for path in ("/custom/eio/", "/custom/eio"):
        response = await http.get(endpoint.polling(path=path))
        assert response.status_code == 200
        assert response.text.startswith("0{")
    response = await http.get(endpoint.polling(path="/engine.io/"))
    assert response.status_code == 404
    async with open_ws(endpoint.websocket()) as ws:
        assert parse_open(await ws.get_message())["upgrades"] == []


@pytest.mark.parametrize("path", ["/", "/engine.iox/", "/socket.io/", "/engine.io/extra", "/x/engine.io/"])
async def test_a8_other_paths_are_404(running: Running, http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(running.endpoint.polling(path=path))
    assert response.status_code == 404
    assert running.server.statistics().sessions == 0


async def test_a8_other_paths_go_to_the_fallback_app(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    async def fallback(scope, receive, send):  # type: ignore[no-untyped-def]
        assert scope["type"] == "http"
        body = f"fallback {scope['path']}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 299,
                "headers": [(b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    running = await start_server(other_asgi_app=fallback)
    response = await http.get(running.endpoint.url(path="/somewhere/else"))
    assert (response.status_code, response.text) == (299, "fallback /somewhere/else")
    response = await http.get(running.endpoint.polling())
    assert response.status_code == 200
    assert response.text.startswith("0{")


# --------------------------------------------------------------- query errors (A1-A3, A5)


@pytest.mark.parametrize(
    "query",
    [
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=3&transport=polling",
        "EIO=4&EIO=4&transport=polling",
    ],
)
async def test_a1_missing_or_invalid_eio_is_400_code_5(
    running: Running, http: httpx.AsyncClient, query: str
) -> None:
    assert_error(await http.get(running.endpoint.url(query)), 5)
    assert running.server.statistics().sessions == 0


@pytest.mark.parametrize(
    "query", ["EIO=4", "EIO=4&transport=abc", "EIO=4&transport=__proto__", "EIO=4&transport=constructor"]
)
async def test_a2_missing_or_unknown_transport_is_400_code_0(
    running: Running, http: httpx.AsyncClient, query: str
) -> None:
    assert_error(await http.get(running.endpoint.url(query)), 0)
    assert running.server.statistics().sessions == 0


async def test_a1_a2_websocket_with_bad_query_is_refused_with_json(running: Running) -> None:
    base = running.endpoint.websocket().split("?")[0]
    for query, code in (("transport=websocket", 5), ("EIO=4&transport=nope", 0), ("EIO=4", 0)):
        rejected = await ws_rejected(f"{base}?{query}")
        assert rejected.status_code == 400
        assert json.loads(rejected.body) == {"code": code, "message": ERROR_MESSAGES[code]}
    assert running.server.statistics().sessions == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_a3_handshake_by_other_method_is_400_code_2(
    running: Running, http: httpx.AsyncClient, method: str
) -> None:
    response = await http.request(method, running.endpoint.polling(), content=b"4hello")
    assert_error(response, 2)
    assert running.server.statistics().sessions == 0
    assert running.connected == []


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a5_unknown_sid_is_400_code_1(running: Running, http: httpx.AsyncClient, method: str) -> None:
    response = await http.request(method, running.endpoint.polling("AAAAAAAAAAAAAAAAAAAA"), content=b"4x")
    assert_error(response, 1)


async def test_a5_unknown_sid_on_websocket_is_refused_code_1(running: Running) -> None:
    rejected = await ws_rejected(running.endpoint.websocket("AAAAAAAAAAAAAAAAAAAA"))
    assert rejected.status_code == 400
    assert json.loads(rejected.body) == {"code": 1, "message": ERROR_MESSAGES[1]}


# ------------------------------------------------------------------------ handshake


@pytest.mark.server(ping_interval=2, ping_timeout=3, max_http_buffer_size=12345)
async def test_handshake_polling_open_packet_has_exactly_the_five_keys(
    running: Running, http: httpx.AsyncClient
) -> None:
    response = await http.get(running.endpoint.polling())
    assert response.status_code == 200
    packets = split_payload(response.text)
    assert len(packets) == 1
    info = parse_open(packets[0])
    assert set(info) == OPEN_KEYS
    assert isinstance(info["sid"], str)
    assert info["sid"]
    assert info["upgrades"] == ["websocket"]
    for key in ("pingInterval", "pingTimeout", "maxPayload"):
        assert type(info[key]) is int, (key, info[key])
    assert (info["pingInterval"], info["pingTimeout"], info["maxPayload"]) == (2000, 3000, 12345)
    assert running.connected == [info["sid"]]


@pytest.mark.server(ping_interval=0.3, ping_timeout=0.25)
async def test_d4_subsecond_ping_interval_is_advertised_in_ms(
    running: Running, http: httpx.AsyncClient
) -> None:
    _, info = await handshake(http, running.endpoint)
    assert (info["pingInterval"], info["pingTimeout"]) == (300, 250)
    async with open_ws(running.endpoint.websocket()) as ws:
        info = parse_open(await ws.get_message())
        assert (info["pingInterval"], info["pingTimeout"]) == (300, 250)


@pytest.mark.server(ping_interval=2, ping_timeout=3, max_http_buffer_size=5000)
async def test_handshake_websocket_first_frame_is_open_packet_without_upgrades(running: Running) -> None:
    async with open_ws(running.endpoint.websocket()) as ws:
        frame = await ws.get_message()
        assert isinstance(frame, str)
        info = parse_open(frame)
        assert set(info) == OPEN_KEYS
        assert info["upgrades"] == []
        assert (info["pingInterval"], info["pingTimeout"], info["maxPayload"]) == (2000, 3000, 5000)
        assert running.connected == [info["sid"]]
        assert running.server.transport(info["sid"]) == "websocket"


# --------------------------------------------------------------------------- headers (F7)


def assert_polling_headers(response: httpx.Response) -> None:
    assert response.headers.get("cache-control") == "no-store", response.headers
    assert response.headers.get("x-content-type-options") == "nosniff", response.headers


async def test_f7_post_answers_200_ok_and_polling_responses_carry_no_store_nosniff(
    endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    response = await http.get(endpoint.polling())
    assert_polling_headers(response)
    sid = parse_open(response.text)["sid"]
    response = await post(http, endpoint, sid, "4hello")
    assert (response.status_code, response.text) == (200, "ok")
    assert_polling_headers(response)
    response = await http.get(endpoint.polling(sid))
    assert (response.status_code, response.text) == (200, "4hello")
    assert_polling_headers(response)


# -------------------------------------------------------------------------- payloads


async def test_polling_payload_record_separator_and_base64_binary_both_directions(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    binary = bytes(range(256))
    response = await post(http, endpoint, sid, "4hello", b64(binary), "4", "4wörld\u2603", b64(b""))
    assert (response.status_code, response.text) == (200, "ok")
    assert await running.wait_messages(sid, 5) == ["hello", binary, "", "wörld\u2603", b""]
    # The echoes come back in one GET, joined by the record separator.
    packets: list[str] = []
    while len(packets) < 5:
        packets.extend(await poll(http, endpoint, sid))
    assert packets[0] == "4hello"
    assert unb64(packets[1]) == binary
    assert packets[2:4] == ["4", "4wörld\u2603"]
    assert unb64(packets[4]) == b""


async def test_polling_server_sent_binary_travels_as_b_base64(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    await running.server.send(sid, b"\x00\xff\x1e")
    await running.server.send(sid, "text")
    await running.server.send(sid, b"\x01")
    response = await http.get(endpoint.polling(sid))
    body = response.text
    assert split_payload(body) == [b64(b"\x00\xff\x1e"), "4text", b64(b"\x01")]


async def test_b9_thousand_messages_in_one_post_arrive_in_order(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    sent = [f"4m{i}" for i in range(1000)]
    response = await post(http, endpoint, sid, *sent)
    assert (response.status_code, response.text) == (200, "ok")
    assert await poll_messages(http, endpoint, sid, 1000) == sent
    assert [data for _, data in running.messages] == [p[1:] for p in sent]


# ------------------------------------------------------------------------- heartbeat


@pytest.mark.server(ping_interval=0.3, ping_timeout=0.5)
async def test_heartbeat_server_pings_every_interval_and_pong_keeps_the_session(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    last = trio.current_time()
    for _ in range(4):
        assert await poll(http, endpoint, sid) == ["2"]
        now = trio.current_time()
        assert now - last >= 0.25, "PING came before pingInterval"
        last = now
        response = await post(http, endpoint, sid, "3")
        assert (response.status_code, response.text) == (200, "ok")
    # Four intervals + more than one pingTimeout later the session is still open.
    assert running.disconnects == []
    assert running.server.statistics().sessions == 1
    assert await post(http, endpoint, sid, "4still") is not None
    assert await poll_messages(http, endpoint, sid, 1) == ["4still"]


@pytest.mark.server(ping_interval=0.3, ping_timeout=0.3)
async def test_d2_no_pong_closes_with_ping_timeout_and_pending_get_gets_close(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    assert await poll(http, endpoint, sid) == ["2"]
    # No PONG: the next long-poll is released with CLOSE when pingTimeout expires.
    assert await poll(http, endpoint, sid) == ["1"]
    assert await running.wait_disconnect(sid) == "ping timeout"
    assert_error(await http.get(endpoint.polling(sid)), 1)
    assert_error(await post(http, endpoint, sid, "3"), 1)
    assert running.reasons(sid) == ["ping timeout"]


@pytest.mark.server(ping_interval=0.3, ping_timeout=0.3)
async def test_c3_no_poll_at_all_closes_with_ping_timeout(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    assert await running.wait_disconnect(sid) == "ping timeout"
    assert_error(await http.get(endpoint.polling(sid)), 1)
    assert running.server.statistics().sessions == 0


@pytest.mark.server(ping_interval=0.3, ping_timeout=0.3)
async def test_d2_websocket_no_pong_closes_with_ping_timeout(running: Running) -> None:
    async with open_ws(running.endpoint.websocket()) as ws:
        sid = parse_open(await ws.get_message())["sid"]
        _, frames = await ws_closed_code(ws)
    assert frames[0] == "2"
    assert "3" not in frames
    assert await running.wait_disconnect(sid) == "ping timeout"


# --------------------------------------------------------------------- session rules


async def test_c1_duplicate_get_second_is_400_first_gets_close(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with pending_get(http, endpoint, running, sid) as first:
        second = await http.get(endpoint.polling(sid))
    assert second.status_code == 400, second.text
    assert first.packets() == ["1"]
    assert await running.wait_disconnect(sid) == "transport error"
    assert_error(await http.get(endpoint.polling(sid)), 1)


async def test_b5_invalid_packet_post_is_400_and_closes_with_parse_error(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with pending_get(http, endpoint, running, sid) as pending:
        response = await post(http, endpoint, sid, "abc")
        assert response.status_code == 400, response.text
    assert pending.packets() == ["1"]
    assert await running.wait_disconnect(sid) == "parse error"
    assert_error(await post(http, endpoint, sid, "4late"), 1)
    assert running.messages == []


async def test_b5_nothing_after_an_invalid_packet_is_delivered(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    response = await post(http, endpoint, sid, "4a", "abc", "4b")
    assert response.status_code == 400, response.text
    await assert_closed_for_polling(http, endpoint, sid)
    assert await running.wait_disconnect(sid) == "parse error"
    assert "b" not in [data for _, data in running.messages]


async def test_b7_client_close_releases_pending_get_with_noop(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with pending_get(http, endpoint, running, sid) as pending:
        response = await post(http, endpoint, sid, "1")
        assert (response.status_code, response.text) == (200, "ok")
        with trio.fail_after(0.5):  # "at once", not at the next heartbeat (5 s here)
            await pending.answered.wait()
    assert pending.packets() == ["6"]
    assert await running.wait_disconnect(sid) == "client disconnect"
    assert_error(await http.get(endpoint.polling(sid)), 1)
    assert running.reasons(sid) == ["client disconnect"]


@pytest.mark.server(echo=False)
async def test_b7_close_mid_payload_delivers_what_came_before_only(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    response = await post(http, endpoint, sid, "4a", "1", "4b")
    assert (response.status_code, response.text) == (200, "ok")
    assert await running.wait_disconnect(sid) == "client disconnect"
    assert [data for _, data in running.messages] == ["a"]


# --------------------------------------------------------------------------- upgrade


async def probe(ws: trio_websocket.WebSocketConnection) -> None:
    await ws.send_message("2probe")
    assert await ws.get_message() == "3probe"


async def upgrade(ws: trio_websocket.WebSocketConnection, running: Running, sid: str) -> None:
    """Probe, send ``5`` and wait until the server has switched the session to the websocket.

    Before the server has read the ``5`` the session is still on polling: a
    server-side send or close in that window rightly goes to polling.
    """
    await probe(ws)
    await ws.send_message("5")
    while running.server.transport(sid) != "websocket":
        await trio.sleep(0.005)


async def test_upgrade_probe_releases_pending_get_with_noop_then_messages_flow_over_websocket(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        async with pending_get(http, endpoint, running, sid) as pending:
            await probe(ws)
        assert pending.packets() == ["6"]
        await ws.send_message("5")
        await ws.send_message("4hello")
        assert await ws_messages(ws, 1) == ["4hello"]
        await ws.send_message(b"\x00\x01")
        assert await ws_messages(ws, 1) == [b"\x00\x01"]
        await running.server.send(sid, "from server")
        assert await ws_messages(ws, 1) == ["4from server"]
        assert running.server.transport(sid) == "websocket"
        await ws.send_message("1")
        await ws_closed_code(ws)
    assert await running.wait_disconnect(sid) == "client disconnect"


async def test_upgrade_messages_before_and_during_upgrade_arrive_once_in_order(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    send = running.server.send
    sid, _ = await handshake(http, endpoint)
    received: list[str | bytes] = []
    for i in range(3):
        await send(sid, f"m{i}")
    received += await poll_messages(http, endpoint, sid, 3)
    await post(http, endpoint, sid, "4c0")  # echoed: "4c0" is the 4th message
    received += await poll_messages(http, endpoint, sid, 1)
    async with pending_get(http, endpoint, running, sid) as last_get:
        await send(sid, "m3")  # answers the pending GET
    assert last_get.packets() == ["4m3"]
    received += last_get.packets()
    await send(sid, "m4")  # queued: no GET pending
    async with open_ws(endpoint.websocket(sid)) as ws:
        await probe(ws)
        await send(sid, "m5")  # during the upgrade: polling is paused
        assert await poll(http, endpoint, sid) == ["6"]
        await ws.send_message("5")
        await send(sid, "m6")
        await ws.send_message("4c1")
        received += await ws_messages(ws, 4)
    assert received == ["4m0", "4m1", "4m2", "4c0", "4m3", "4m4", "4m5", "4m6", "4c1"]
    assert [data for _, data in running.messages] == ["c0", "c1"]


async def test_e5_after_upgrade_polling_is_400_and_second_websocket_is_refused(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await upgrade(ws, running, sid)
        response = await http.get(endpoint.polling(sid))
        assert response.status_code == 400, response.text
        response = await post(http, endpoint, sid, "4via polling")
        assert response.status_code == 400, response.text
        assert await ws_refused(endpoint.websocket(sid)) in ("rejected 400", "closed")
        # The session is untouched: the first websocket still works.
        await ws.send_message("4still here")
        assert await ws_messages(ws, 1) == ["4still here"]
    assert "via polling" not in [data for _, data in running.messages]


@pytest.mark.server(upgrade_timeout=0.5)
async def test_e3_upgrade_without_probe_is_abandoned_and_polling_keeps_working(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await running.server.send(sid, "q1")
        start = trio.current_time()
        _, frames = await ws_closed_code(ws)  # the server gives up on the silent socket
        assert trio.current_time() - start < 3
        assert frames == []
    assert await poll_messages(http, endpoint, sid, 1) == ["4q1"]
    await post(http, endpoint, sid, "4after")
    assert await poll_messages(http, endpoint, sid, 1) == ["4after"]
    assert running.server.transport(sid) == "polling"
    assert running.server.statistics().upgrades_in_progress == 0
    assert running.disconnects == []


@pytest.mark.server(upgrade_timeout=0.5)
async def test_e3_upgrade_probe_without_upgrade_packet_is_abandoned_queue_goes_to_polling(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await probe(ws)
        await running.server.send(sid, "q1")
        await running.server.send(sid, "q2")
        _, frames = await ws_closed_code(ws)
        assert frames == []
    assert await poll_messages(http, endpoint, sid, 2) == ["4q1", "4q2"]
    await post(http, endpoint, sid, "4after")
    assert await poll_messages(http, endpoint, sid, 1) == ["4after"]
    assert running.server.transport(sid) == "polling"
    assert running.disconnects == []


@pytest.mark.server(upgrade_timeout=5)
async def test_e3_socket_closed_mid_upgrade_polling_keeps_working(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await probe(ws)
        await running.server.send(sid, "q1")
    assert await poll_messages(http, endpoint, sid, 1) == ["4q1"]
    assert running.server.transport(sid) == "polling"
    assert running.disconnects == []


# ------------------------------------------------------------------- oversized input


@pytest.mark.server(max_http_buffer_size=1000)
async def test_b1_oversized_post_is_413_at_once_without_reading_the_body(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    head = (
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{running.endpoint.port}\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        "Content-Length: 100000000\r\n\r\n"
    ).encode()
    with trio.fail_after(2):
        answer, stream = await raw_http(running.endpoint.host, running.endpoint.port, head, b"4" + b"x" * 500)
    async with stream:
        assert answer.startswith(b"HTTP/1.1 413"), answer
    await assert_closed_for_polling(http, endpoint, sid)
    reason = await running.wait_disconnect(sid)
    assert reason in ("transport error", "payload too large"), reason
    assert running.messages == []


@pytest.mark.server(max_http_buffer_size=1000)
async def test_b2_oversized_chunked_post_is_413_once_over_the_limit(
    running: Running, endpoint: Endpoint, sid: str
) -> None:
    head = (
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{running.endpoint.port}\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"4" + b"x" * 1499
    with trio.fail_after(2):
        answer, stream = await raw_http(
            running.endpoint.host, running.endpoint.port, head, b"%x\r\n%s\r\n" % (len(chunk), chunk)
        )
    async with stream:
        assert answer.startswith(b"HTTP/1.1 413"), answer
    reason = await running.wait_disconnect(sid)
    assert reason in ("transport error", "payload too large"), reason


@pytest.mark.server(max_http_buffer_size=1000)
async def test_e2_oversized_websocket_frame_closes_1009(running: Running) -> None:
    async with open_ws(running.endpoint.websocket()) as ws:
        sid = parse_open(await ws.get_message())["sid"]
        await ws.send_message("4" + "x" * 1500)
        code, _ = await ws_closed_code(ws)
    assert code == 1009
    assert running.messages == []
    reason = await running.wait_disconnect(sid)
    assert reason in ("transport error", "payload too large"), reason


# ---------------------------------------------------------------- websocket-only


@pytest.mark.server(ping_interval=0.3, ping_timeout=0.5)
async def test_websocket_only_session_messages_ping_pong_and_client_close(running: Running) -> None:
    async with open_ws(running.endpoint.websocket()) as ws:
        sid = parse_open(await ws.get_message())["sid"]
        await ws.send_message("4hello")
        assert await ws.get_message() == "4hello"
        await ws.send_message(b"\x00\x01\x1e")
        assert await ws.get_message() == b"\x00\x01\x1e"
        for _ in range(3):  # three heartbeats answered: more than pingInterval + pingTimeout
            assert await ws.get_message() == "2"
            await ws.send_message("3")
        assert running.disconnects == []
        await ws.send_message("4bye")
        assert await ws.get_message() == "4bye"
        await ws.send_message("1")
        _, frames = await ws_closed_code(ws)
        assert all(frame == "2" for frame in frames), frames
    assert await running.wait_disconnect(sid) == "client disconnect"
    assert [data for _, data in running.messages] == ["hello", b"\x00\x01\x1e", "bye"]


async def test_e1_invalid_websocket_frame_closes_with_parse_error(running: Running) -> None:
    async with open_ws(running.endpoint.websocket()) as ws:
        sid = parse_open(await ws.get_message())["sid"]
        await ws.send_message("abc")
        await ws_closed_code(ws)
    assert await running.wait_disconnect(sid) == "parse error"
    assert running.reasons(sid) == ["parse error"]


# ------------------------------------------------------------------- transports


@pytest.mark.server(transports=["polling"])
async def test_transports_polling_only_refuses_websocket(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    rejected = await ws_rejected(endpoint.websocket())
    assert rejected.status_code == 400
    assert json.loads(rejected.body) == {"code": 0, "message": ERROR_MESSAGES[0]}
    sid, info = await handshake(http, endpoint)
    assert info["upgrades"] == []
    assert await ws_refused(endpoint.websocket(sid)) in ("rejected 400", "closed")
    await post(http, endpoint, sid, "4still polling")
    assert await poll_messages(http, endpoint, sid, 1) == ["4still polling"]
    assert running.server.statistics().sessions == 1


@pytest.mark.server(transports=["websocket"])
async def test_transports_websocket_only_refuses_polling_handshake(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    assert_error(await http.get(endpoint.polling()), 0)
    assert running.server.statistics().sessions == 0
    async with open_ws(endpoint.websocket()) as ws:
        assert parse_open(await ws.get_message())["upgrades"] == []


@pytest.mark.server(allow_upgrades=False)
async def test_e6_allow_upgrades_false_offers_no_upgrade_and_refuses_one(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    sid, info = await handshake(http, endpoint)
    assert info["upgrades"] == []
    assert await ws_refused(endpoint.websocket(sid)) in ("rejected 400", "closed")
    assert running.server.transport(sid) == "polling"
    await post(http, endpoint, sid, "4still polling")
    assert await poll_messages(http, endpoint, sid, 1) == ["4still polling"]
    assert running.disconnects == []


# ---------------------------------------------------------- server-side disconnect


async def test_server_disconnect_websocket_client_gets_close_then_socket_closes(running: Running) -> None:
    async with open_ws(running.endpoint.websocket()) as ws:
        sid = parse_open(await ws.get_message())["sid"]
        await running.server.send(sid, "last words")
        await running.server.disconnect(sid)
        _, frames = await ws_closed_code(ws)
    assert frames == ["4last words", "1"]
    assert await running.wait_disconnect(sid) == "server disconnect"
    assert running.reasons(sid) == ["server disconnect"]


async def test_g2_server_disconnect_polling_pending_get_gets_close(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with pending_get(http, endpoint, running, sid) as pending:
        with trio.fail_after(0.5):
            await running.server.disconnect(sid)
    assert pending.packets() == ["1"]
    assert await running.wait_disconnect(sid) == "server disconnect"
    assert_error(await http.get(endpoint.polling(sid)), 1)
    assert running.reasons(sid) == ["server disconnect"]


async def test_server_disconnect_idle_polling_client_gets_queue_then_close(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    await running.server.send(sid, "bye")
    await running.server.disconnect(sid)
    assert await poll(http, endpoint, sid) == ["4bye", "1"]
    assert await running.wait_disconnect(sid) == "server disconnect"


# ----------------------------------------------------------------- graceful shutdown


async def test_g3_graceful_shutdown_closes_websocket_and_polling_sessions(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    polling_sid, _ = await handshake(http, endpoint)
    async with open_ws(endpoint.websocket()) as ws:
        ws_sid = parse_open(await ws.get_message())["sid"]
        async with pending_get(http, endpoint, running, polling_sid) as pending:
            start = trio.current_time()
            running.stop.set()
            code, frames = await ws_closed_code(ws)
    assert frames == ["1"]
    assert code in (1000, 1001), code
    assert pending.packets() == ["1"]
    with trio.fail_after(3):
        await running.stopped.wait()
    assert trio.current_time() - start < 2.5
    assert running.reasons(ws_sid) == ["server shutdown"]
    assert running.reasons(polling_sid) == ["server shutdown"]
    assert len(running.disconnects) == 2
    assert running.server.statistics().sessions == 0


# -------------------------------------------------------------- connect handler (A9)


@pytest.mark.parametrize(
    ("verdict", "message"),
    [(False, "Unauthorized"), (trio_engineio.ConnectionRefusedError("nope"), "nope")],
    ids=["returns-false", "raises-refused"],
)
async def test_a9_connect_handler_refusal_is_401_json_polling(
    start_server: StartServer, http: httpx.AsyncClient, verdict: object, message: str
) -> None:
    def on_connect(sid: str, environ: object) -> object:
        if isinstance(verdict, BaseException):
            raise verdict
        return verdict

    running = await start_server(on_connect=on_connect)
    response = await http.get(running.endpoint.polling())
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(response.content) == {"message": message}
    assert len(running.connected) == 1
    stats = running.server.statistics()
    assert (stats.sessions, stats.running_sessions) == (0, 0)
    assert_error(await http.get(running.endpoint.polling(running.connected[0])), 1)
    assert running.disconnects == []


@pytest.mark.parametrize(
    ("verdict", "message"),
    [(False, "Unauthorized"), (trio_engineio.ConnectionRefusedError("nope"), "nope")],
    ids=["returns-false", "raises-refused"],
)
async def test_a9_connect_handler_refusal_is_401_json_websocket(
    start_server: StartServer, verdict: object, message: str
) -> None:
    def on_connect(sid: str, environ: object) -> object:
        if isinstance(verdict, BaseException):
            raise verdict
        return verdict

    running = await start_server(on_connect=on_connect)
    rejected = await ws_rejected(running.endpoint.websocket())
    assert rejected.status_code == 401
    assert json.loads(rejected.body) == {"message": message}
    stats = running.server.statistics()
    assert (stats.sessions, stats.running_sessions) == (0, 0)
    assert running.disconnects == []


# --------------------------------------------------------------------- CORS (F1, F5)


async def test_f1_default_same_origin_refuses_cross_site_origin_on_polling(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    for origin in ("http://evil.example", "null", f"http://localhost:{running.endpoint.port}"):
        response = await http.get(endpoint.polling(), headers={"Origin": origin})
        assert response.status_code == 403, (origin, response.text)
        body = error_body(response)
        assert body["code"] == 4
        assert isinstance(body["message"], str)
        assert "access-control-allow-origin" not in response.headers
    assert running.connected == []
    same = f"http://127.0.0.1:{running.endpoint.port}"
    response = await http.get(endpoint.polling(), headers={"Origin": same})
    assert response.status_code == 200
    sid = parse_open(response.text)["sid"]
    # A cross-site request on an existing session is refused too.
    response = await http.post(
        endpoint.polling(sid), content=b"4x", headers={"Origin": "http://evil.example"}
    )
    assert response.status_code == 403
    assert running.messages == []


async def test_f1_default_same_origin_refuses_cross_site_origin_on_websocket(
    running: Running, endpoint: Endpoint
) -> None:
    rejected = await ws_rejected(endpoint.websocket(), extra_headers=[("Origin", "http://evil.example")])
    assert rejected.status_code == 403
    assert json.loads(rejected.body)["code"] == 4
    assert running.connected == []
    same = f"http://127.0.0.1:{running.endpoint.port}"
    async with open_ws(endpoint.websocket(), extra_headers=[("Origin", same)]) as ws:
        assert parse_open(await ws.get_message())["upgrades"] == []


@pytest.mark.server(cors_allowed_origins="*")
async def test_cors_allowed_origins_star_reflects_the_origin(
    endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    origin = "http://anywhere.example"
    response = await http.get(endpoint.polling(), headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    sid = parse_open(response.text)["sid"]
    response = await http.post(endpoint.polling(sid), content=b"4x", headers={"Origin": origin})
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["access-control-allow-origin"] == origin
    async with open_ws(endpoint.websocket(), extra_headers=[("Origin", origin)]) as ws:
        assert parse_open(await ws.get_message())["upgrades"] == []


@pytest.mark.server(cors_allowed_origins=["http://a.example", "https://b.example"])
async def test_cors_allowed_origins_list_reflects_listed_and_refuses_others(
    endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    for origin in ("http://a.example", "https://b.example"):
        response = await http.get(endpoint.polling(), headers={"Origin": origin})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin
    response = await http.get(endpoint.polling(), headers={"Origin": "http://c.example"})
    assert response.status_code == 403
    assert error_body(response)["code"] == 4
    assert "access-control-allow-origin" not in response.headers
    rejected = await ws_rejected(endpoint.websocket(), extra_headers=[("Origin", "http://c.example")])
    assert rejected.status_code == 403


@pytest.mark.server(cors_allowed_origins=["http://a.example"])
async def test_f5_options_preflight(running: Running, endpoint: Endpoint, http: httpx.AsyncClient) -> None:
    request_headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    response = await http.options(
        endpoint.polling(), headers={"Origin": "http://a.example", **request_headers}
    )
    assert response.status_code in (200, 204), response.text
    assert response.headers["access-control-allow-origin"] == "http://a.example"
    methods = {m.strip().upper() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST"} <= methods
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert running.connected == []
    # Refused origin: no Access-Control-Allow-Origin at all.
    response = await http.options(
        endpoint.polling(), headers={"Origin": "http://c.example", **request_headers}
    )
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code >= 400


# ----------------------------------------------------------------- compression (C4)


async def get_raw(http: httpx.AsyncClient, url: str, accept_encoding: str) -> tuple[httpx.Response, bytes]:
    """GET without httpx decoding the body: the response and its raw bytes."""
    async with http.stream("GET", url, headers={"Accept-Encoding": accept_encoding}) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, raw


async def test_c4_http_compression_gzip_for_large_payload(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    await running.server.send(sid, "x" * 5000)
    response, raw = await get_raw(http, endpoint.polling(sid), "gzip")
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == "gzip"
    assert gzip.decompress(raw) == b"4" + b"x" * 5000
    assert len(raw) < 1000


@pytest.mark.parametrize("accept_encoding", ["gzip;q=0", "identity", "br", "gzip;q=0, deflate;q=0, *;q=1"])
async def test_c4_http_compression_never_an_encoding_the_client_refused(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, accept_encoding: str, sid: str
) -> None:
    await running.server.send(sid, "x" * 5000)
    response, raw = await get_raw(http, endpoint.polling(sid), accept_encoding)
    assert response.status_code == 200
    assert response.headers.get("content-encoding", "identity") in ("identity", "br")
    assert response.headers.get("content-encoding") != "gzip"
    if "content-encoding" not in response.headers:
        assert raw == b"4" + b"x" * 5000


# ------------------------------------------------------------------------ cookie (F6)


@pytest.mark.server(cookie="io")
async def test_f6_cookie_io_is_set_on_the_handshake(running: Running, http: httpx.AsyncClient) -> None:
    response = await http.get(running.endpoint.polling())
    assert response.status_code == 200
    sid = parse_open(response.text)["sid"]
    assert response.headers.get_list("set-cookie") == [f"io={sid}; Path=/; HttpOnly; SameSite=Lax"]
    # Only the handshake sets it.
    await running.server.send(sid, "x")
    response = await http.get(running.endpoint.polling(sid))
    assert "set-cookie" not in response.headers


async def test_f6_no_cookie_by_default(running: Running, http: httpx.AsyncClient) -> None:
    response = await http.get(running.endpoint.polling())
    assert "set-cookie" not in response.headers


# ------------------------------------------------------------- more bad inputs (A-E)


async def test_a4_websocket_transport_without_upgrade_is_400(
    running: Running, http: httpx.AsyncClient
) -> None:
    response = await http.get(running.endpoint.url({"EIO": "4", "transport": "websocket"}))
    assert response.status_code == 400, response.text
    assert error_body(response)["code"] == 3
    assert running.server.statistics().sessions == 0


async def test_a4_upgrade_on_polling_url_is_refused(running: Running) -> None:
    url = running.endpoint.websocket().replace("transport=websocket", "transport=polling")
    rejected = await ws_rejected(url)
    assert rejected.status_code == 400
    assert json.loads(rejected.body)["code"] == 3
    assert running.server.statistics().sessions == 0


@pytest.mark.parametrize(
    "sid",
    ["__proto__", "x" * 10_000, "abc%0Adef", "abc%00", "REPEATED"],
    ids=["proto", "10kB", "LF", "NUL", "twice"],
)
async def test_a5_odd_sids_are_400_code_1(running: Running, http: httpx.AsyncClient, sid: str) -> None:
    if sid == "REPEATED":
        real, _ = await handshake(http, running.endpoint)
        query = f"EIO=4&transport=polling&sid={real}&sid={real}"
    else:
        query = f"EIO=4&transport=polling&sid={sid}"
    assert_error(await http.get(running.endpoint.url(query)), 1)


async def test_a7_jsonp_is_400(running: Running, http: httpx.AsyncClient) -> None:
    response = await http.get(running.endpoint.url("EIO=4&transport=polling&j=0"))
    assert response.status_code == 400
    assert running.server.statistics().sessions == 0


@pytest.mark.server(ping_interval=5, ping_timeout=0.5)
async def test_b3_stalled_post_body_is_bounded_by_a_timeout(
    running: Running, endpoint: Endpoint, sid: str
) -> None:
    head = (
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{running.endpoint.port}\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    start = trio.current_time()
    answer, stream = await raw_http(running.endpoint.host, running.endpoint.port, head, b"4abc")
    async with stream:
        assert answer.split(b" ")[1] in (b"400", b"408"), answer
    assert trio.current_time() - start < 2
    await running.wait_disconnect(sid)
    assert running.messages == []


async def test_b4_octet_stream_post_is_400_and_closes(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    response = await http.post(
        endpoint.polling(sid), content=b"\x04hello", headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 400
    await running.wait_disconnect(sid)
    assert running.messages == []


@pytest.mark.parametrize("packet", ["2", "0", "5"], ids=["ping", "open", "upgrade"])
async def test_b6_wrong_direction_packet_over_polling_closes_with_transport_error(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, packet: str, sid: str
) -> None:
    await post(http, endpoint, sid, packet, "4after")
    assert await running.wait_disconnect(sid) == "transport error"
    assert running.messages == []


async def test_b6_noop_from_client_is_ignored(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    response = await post(http, endpoint, sid, "6", "4after noop")
    assert (response.status_code, response.text) == (200, "ok")
    assert await poll_messages(http, endpoint, sid, 1) == ["4after noop"]
    assert running.disconnects == []


async def test_b10_concurrent_posts_second_is_400_and_closes(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    head = (
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{running.endpoint.port}\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    # The first POST stalls in its body; the wire cannot show that it reached
    # the session, so peek at the core's flag.
    stream = await trio.open_tcp_stream(running.endpoint.host, running.endpoint.port)
    async with stream:
        await stream.send_all(head + b"4first")
        core = running.server.connection(sid).core
        while not core.post_pending:
            await trio.sleep(0.005)
        response = await post(http, endpoint, sid, "4second")
        assert response.status_code == 400, response.text
    await running.wait_disconnect(sid)
    assert running.messages == []


async def test_c2_aborted_pending_get_closes_with_transport_close(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with pending_get(http, endpoint, running, sid) as pending:
        pending.abort()  # httpx drops the connection
    assert await running.wait_disconnect(sid) == "transport close"


@pytest.mark.server(ping_interval=0.3, ping_timeout=0.5)
async def test_d1_unsolicited_and_repeated_pongs_are_ignored(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    response = await post(http, endpoint, sid, "3", "3", "3data")
    assert (response.status_code, response.text) == (200, "ok")
    for _ in range(2):
        assert await poll(http, endpoint, sid) == ["2"]
        assert (await post(http, endpoint, sid, "3", "3", "3")).text == "ok"
    assert running.disconnects == []


async def test_e1_more_invalid_websocket_frames_close_with_parse_error(running: Running) -> None:
    for frame in ("", "9x", "7", "b!!!"):
        async with open_ws(running.endpoint.websocket()) as ws:
            sid = parse_open(await ws.get_message())["sid"]
            await ws.send_message(frame)
            await ws_closed_code(ws)
        assert await running.wait_disconnect(sid) == "parse error", frame


async def test_e4_upgrade_packet_before_probe_aborts_only_the_upgrade(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await ws.send_message("5")
        _, frames = await ws_closed_code(ws)
        assert frames == []
    assert running.server.transport(sid) == "polling"
    await running.server.send(sid, "still")
    assert await poll_messages(http, endpoint, sid, 1) == ["4still"]
    assert running.disconnects == []


async def test_e4_garbage_after_probe_aborts_only_the_upgrade(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await probe(ws)
        await running.server.send(sid, "held")
        await ws.send_message("2probe")  # a second probe
        _, frames = await ws_closed_code(ws)
        assert frames == []
    assert await poll_messages(http, endpoint, sid, 1) == ["4held"]
    assert running.server.transport(sid) == "polling"
    assert running.disconnects == []


async def test_e5_second_websocket_during_upgrade_is_refused(
    running: Running, endpoint: Endpoint, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await probe(ws)
        assert await ws_refused(endpoint.websocket(sid)) in ("rejected 400", "closed")
        await ws.send_message("5")
        await ws.send_message("4over ws")
        assert await ws_messages(ws, 1) == ["4over ws"]
    assert await running.wait_disconnect(sid) == "transport close"


@pytest.mark.server(ping_interval=0.3, ping_timeout=0.5)
async def test_heartbeat_continues_over_the_websocket_after_upgrade(
    running: Running, endpoint: Endpoint, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await probe(ws)
        await ws.send_message("5")
        for _ in range(3):
            assert await ws.get_message() == "2"
            await ws.send_message("3")
        assert running.disconnects == []
        await ws.send_message("1")
        await ws_closed_code(ws)
    assert await running.wait_disconnect(sid) == "client disconnect"


@pytest.mark.server(cors_allowed_origins="*")
async def test_f4_origin_with_control_characters_is_400(running: Running) -> None:
    head = (
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{running.endpoint.port}\r\n"
        "Origin: http://a.example\x01\r\n\r\n"
    ).encode()
    answer, stream = await raw_http(running.endpoint.host, running.endpoint.port, head)
    async with stream:
        assert answer.startswith(b"HTTP/1.1 400"), answer
    assert running.connected == []


async def test_cache_buster_and_unknown_parameters_are_ignored(
    endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    response = await http.get(endpoint.url("EIO=4&transport=polling&t=PzX1aB2&foo=bar"))
    assert response.status_code == 200
    assert response.headers["content-type"].lower().startswith("text/plain")
    sid = parse_open(response.text)["sid"]
    response = await http.post(
        endpoint.url(f"t=x&EIO=4&sid={sid}&transport=polling"),
        content=b"4a",
        headers={"Content-Type": "text/plain"},
    )
    assert (response.status_code, response.text) == (200, "ok")
    response = await http.get(endpoint.url(f"EIO=4&transport=polling&sid={sid}&t=y"))
    assert (response.status_code, response.text) == (200, "4a")


async def test_polling_request_for_a_websocket_session_is_400(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    async with open_ws(endpoint.websocket()) as ws:
        sid = parse_open(await ws.get_message())["sid"]
        assert (await http.get(endpoint.polling(sid))).status_code == 400
        assert (await post(http, endpoint, sid, "4x")).status_code == 400
        assert await ws_refused(endpoint.websocket(sid)) in ("rejected 400", "closed")
        await ws.send_message("4still")
        assert await ws_messages(ws, 1) == ["4still"]
    assert "x" not in [data for _, data in running.messages]


async def test_b9_thousand_websocket_frames_arrive_in_order(running: Running) -> None:
    async with open_ws(running.endpoint.websocket()) as ws:
        parse_open(await ws.get_message())
        sent = [f"4m{i}" for i in range(1000)]
        async with trio.open_nursery() as nursery:

            async def send_all() -> None:
                for frame in sent:
                    await ws.send_message(frame)

            nursery.start_soon(send_all)
            assert await ws_messages(ws, 1000) == sent


@pytest.mark.server(max_http_buffer_size=1000)
async def test_e2_oversized_frame_after_upgrade_closes_1009(
    running: Running, endpoint: Endpoint, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await probe(ws)
        await ws.send_message("5")
        await ws.send_message(b"\x00" * 1500)
        code, _ = await ws_closed_code(ws)
    assert code == 1009
    assert running.messages == []
    await running.wait_disconnect(sid)


@pytest.mark.server(max_http_buffer_size=1000)
async def test_e2_oversized_frame_during_upgrade_closes_1009_and_polling_survives(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await probe(ws)
        await ws.send_message("4" + "x" * 1500)
        code, _ = await ws_closed_code(ws)
    assert code == 1009
    assert running.messages == []
    await running.server.send(sid, "still polling")
    assert await poll_messages(http, endpoint, sid, 1) == ["4still polling"]


async def test_websocket_closed_by_client_without_close_packet_is_transport_close(running: Running) -> None:
    async with open_ws(running.endpoint.websocket()) as ws:
        sid = parse_open(await ws.get_message())["sid"]
    assert await running.wait_disconnect(sid) == "transport close"


async def test_server_disconnect_after_upgrade_sends_close_over_websocket(
    running: Running, endpoint: Endpoint, sid: str
) -> None:
    async with open_ws(endpoint.websocket(sid)) as ws:
        await upgrade(ws, running, sid)
        await running.server.send(sid, "bye")
        await running.server.disconnect(sid)
        _, frames = await ws_closed_code(ws)
    assert frames == ["4bye", "1"]
    assert await running.wait_disconnect(sid) == "server disconnect"


@pytest.mark.parametrize(
    "body",
    [b"4a\x1e\x1e4b", b"4\xff\xfe", b"b!!!", b"bAQI", b"9x", b"7", b""],
    ids=["empty-packet", "invalid-utf8", "bad-base64-chars", "bad-base64-padding", "9x", "7", "empty-body"],
)
async def test_b5_b8_undecodable_post_is_400_parse_error(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient, body: bytes, sid: str
) -> None:
    response = await http.post(endpoint.polling(sid), content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 400, response.text
    assert await running.wait_disconnect(sid) == "parse error"
    assert "b" not in [data for _, data in running.messages]


@pytest.mark.parametrize(
    "query",
    ["EIO=4&transport=%ff%fe", "EIO=%ff&transport=polling", "EIO=4&transport=polling&sid=%ff%fe%00"],
    ids=["transport", "eio", "sid"],
)
async def test_a6_non_utf8_query_is_400(running: Running, http: httpx.AsyncClient, query: str) -> None:
    response = await http.get(running.endpoint.url(query))
    assert response.status_code == 400, response.text
    assert running.server.statistics().sessions == 0


async def test_a6_huge_query_string_is_400(running: Running, http: httpx.AsyncClient) -> None:
    response = await http.get(running.endpoint.url(f"EIO=4&transport=polling&pad={'x' * 40_000}"))
    assert_error(response, 3)
    assert running.server.statistics().sessions == 0


async def test_f3_forwarded_headers_are_ignored_without_a_trusted_proxy(
    running: Running, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        running.endpoint.polling(),
        headers={
            "Origin": "https://evil.example",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
        },
    )
    assert response.status_code == 403
    assert running.connected == []


async def test_a9_slow_connect_handler_is_bounded_by_connect_timeout(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    async def on_connect(sid: str, environ: object) -> None:
        await trio.sleep_forever()

    running = await start_server(on_connect=on_connect, connect_timeout=0.3)
    start = trio.current_time()
    response = await http.get(running.endpoint.polling())
    assert response.status_code in (401, 403), response.text
    assert "message" in json.loads(response.content)
    assert trio.current_time() - start < 2
    stats = running.server.statistics()
    assert (stats.sessions, stats.running_sessions) == (0, 0)


async def test_g3_graceful_shutdown_with_upgraded_and_upgrading_sessions(
    running: Running, endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    upgraded, _ = await handshake(http, endpoint)
    upgrading, _ = await handshake(http, endpoint)
    async with (
        open_ws(endpoint.websocket(upgraded)) as ws1,
        open_ws(endpoint.websocket(upgrading)) as ws2,
    ):
        await upgrade(ws1, running, upgraded)
        await probe(ws2)
        start = trio.current_time()
        running.stop.set()
        _, frames1 = await ws_closed_code(ws1)
        _, frames2 = await ws_closed_code(ws2)
    assert frames1 == ["1"]
    assert frames2 in ([], ["1"])  # a probing socket may just be closed
    with trio.fail_after(3):
        await running.stopped.wait()
    assert trio.current_time() - start < 2.5
    assert running.reasons(upgraded) == ["server shutdown"]
    assert running.reasons(upgrading) == ["server shutdown"]
