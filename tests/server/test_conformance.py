"""Conformance of the server with the Engine.IO v4 wire rules (docs: /work/shared/notes/engineio-v4.md).

Every test runs the real server under hypercorn's trio worker on 127.0.0.1:0 and
talks to it with raw HTTP (httpx, explicit URLs, bodies and headers) and raw
websockets (trio-websocket, hand-written frames). Test names cite the rule and,
where one applies, the id from bad-inputs.md.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
import trio
import trio_websocket
from conftest import StartServer
from wire import (
    ERROR_MESSAGES,
    OPEN_KEYS,
    RS,
    b64,
    error_body,
    handshake,
    join_payload,
    open_ws,
    parse_open,
    poll,
    poll_messages,
    post,
    raw_http,
    split_payload,
    unb64,
    ws_closed_code,
    ws_messages,
    ws_rejected,
)

import trio_engineio

QUICK = 5  # seconds: the fail_after of an ordinary test


def assert_error(response: httpx.Response, code: int, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert error_body(response) == {"code": code, "message": ERROR_MESSAGES[code]}


# --------------------------------------------------------------------------- paths (A8)


@pytest.mark.parametrize("path", ["/engine.io/", "/engine.io"])
async def test_a8_default_path_with_and_without_trailing_slash(
    start_server: StartServer, http: httpx.AsyncClient, path: str
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        response = await http.get(running.endpoint.polling(path=path))
        assert response.status_code == 200
        assert response.text.startswith("0{")


async def test_a8_custom_engineio_path(start_server: StartServer, http: httpx.AsyncClient) -> None:
    with trio.fail_after(QUICK):
        running = await start_server(engineio_path="custom/eio")
        endpoint = running.endpoint
        for path in ("/custom/eio/", "/custom/eio"):
            response = await http.get(endpoint.polling(path=path))
            assert response.status_code == 200
            assert response.text.startswith("0{")
        response = await http.get(endpoint.polling(path="/engine.io/"))
        assert response.status_code == 404
        async with open_ws(endpoint.websocket()) as ws:
            assert parse_open(await ws.get_message())["upgrades"] == []


@pytest.mark.parametrize("path", ["/", "/engine.iox/", "/socket.io/", "/engine.io/extra", "/x/engine.io/"])
async def test_a8_other_paths_are_404(start_server: StartServer, http: httpx.AsyncClient, path: str) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
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

    with trio.fail_after(QUICK):
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
    start_server: StartServer, http: httpx.AsyncClient, query: str
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        assert_error(await http.get(running.endpoint.url(query)), 5)
        assert running.server.statistics().sessions == 0


@pytest.mark.parametrize(
    "query", ["EIO=4", "EIO=4&transport=abc", "EIO=4&transport=__proto__", "EIO=4&transport=constructor"]
)
async def test_a2_missing_or_unknown_transport_is_400_code_0(
    start_server: StartServer, http: httpx.AsyncClient, query: str
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        assert_error(await http.get(running.endpoint.url(query)), 0)
        assert running.server.statistics().sessions == 0


async def test_a1_a2_websocket_with_bad_query_is_refused_with_json(start_server: StartServer) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        base = running.endpoint.websocket().split("?")[0]
        for query, code in (("transport=websocket", 5), ("EIO=4&transport=nope", 0), ("EIO=4", 0)):
            rejected = await ws_rejected(f"{base}?{query}")
            assert rejected.status_code == 400
            assert json.loads(rejected.body) == {"code": code, "message": ERROR_MESSAGES[code]}
        assert running.server.statistics().sessions == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_a3_handshake_by_other_method_is_400_code_2(
    start_server: StartServer, http: httpx.AsyncClient, method: str
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        response = await http.request(method, running.endpoint.polling(), content=b"4hello")
        assert_error(response, 2)
        assert running.server.statistics().sessions == 0
        assert running.connects == []


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a5_unknown_sid_is_400_code_1(
    start_server: StartServer, http: httpx.AsyncClient, method: str
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        response = await http.request(method, running.endpoint.polling("AAAAAAAAAAAAAAAAAAAA"), content=b"4x")
        assert_error(response, 1)


async def test_a5_unknown_sid_on_websocket_is_refused_code_1(start_server: StartServer) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        rejected = await ws_rejected(running.endpoint.websocket("AAAAAAAAAAAAAAAAAAAA"))
        assert rejected.status_code == 400
        assert json.loads(rejected.body) == {"code": 1, "message": ERROR_MESSAGES[1]}


# ------------------------------------------------------------------------ handshake


async def test_handshake_polling_open_packet_has_exactly_the_five_keys(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server(ping_interval=2, ping_timeout=3, max_http_buffer_size=12345)
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
        assert running.connects == [info["sid"]]


async def test_d4_subsecond_ping_interval_is_advertised_in_ms(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server(ping_interval=0.3, ping_timeout=0.25)
        _, info = await handshake(http, running.endpoint)
        assert (info["pingInterval"], info["pingTimeout"]) == (300, 250)
        async with open_ws(running.endpoint.websocket()) as ws:
            info = parse_open(await ws.get_message())
            assert (info["pingInterval"], info["pingTimeout"]) == (300, 250)


async def test_handshake_websocket_first_frame_is_open_packet_without_upgrades(
    start_server: StartServer,
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server(ping_interval=2, ping_timeout=3, max_http_buffer_size=5000)
        async with open_ws(running.endpoint.websocket()) as ws:
            frame = await ws.get_message()
            assert isinstance(frame, str)
            info = parse_open(frame)
            assert set(info) == OPEN_KEYS
            assert info["upgrades"] == []
            assert (info["pingInterval"], info["pingTimeout"], info["maxPayload"]) == (2000, 3000, 5000)
            assert running.connects == [info["sid"]]
            assert running.server.transport(info["sid"]) == "websocket"


# --------------------------------------------------------------------------- headers (F7)


def assert_polling_headers(response: httpx.Response) -> None:
    assert response.headers.get("cache-control") == "no-store", response.headers
    assert response.headers.get("x-content-type-options") == "nosniff", response.headers


async def test_f7_post_answers_200_ok_and_polling_responses_carry_no_store_nosniff(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        endpoint = running.endpoint
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
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        endpoint = running.endpoint
        sid, _ = await handshake(http, endpoint)
        binary = bytes(range(256))
        response = await post(http, endpoint, sid, "4hello", b64(binary), "4", "4wörld\u2603", b64(b""))
        assert (response.status_code, response.text) == (200, "ok")
        messages = await running.wait_messages(5)
        assert [data for _, data in messages] == ["hello", binary, "", "wörld\u2603", b""]
        # The echoes come back in one GET, joined by the record separator.
        packets: list[str] = []
        while len(packets) < 5:
            packets.extend(await poll(http, endpoint, sid))
        assert packets[0] == "4hello"
        assert unb64(packets[1]) == binary
        assert packets[2:4] == ["4", "4wörld\u2603"]
        assert unb64(packets[4]) == b""


async def test_polling_server_sent_binary_travels_as_b_base64(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(QUICK):
        running = await start_server()
        endpoint = running.endpoint
        sid, _ = await handshake(http, endpoint)
        await running.server.send(sid, b"\x00\xff\x1e")
        await running.server.send(sid, "text\x1e?")  # not ours to escape: opaque data
        await running.server.send(sid, b"\x01")
        response = await http.get(endpoint.polling(sid))
        body = response.text
        assert body.startswith(b64(b"\x00\xff\x1e") + RS), body
        assert body.endswith(RS + b64(b"\x01")), body


async def test_b9_thousand_messages_in_one_post_arrive_in_order(
    start_server: StartServer, http: httpx.AsyncClient
) -> None:
    with trio.fail_after(10):
        running = await start_server()
        endpoint = running.endpoint
        sid, _ = await handshake(http, endpoint)
        sent = [f"4m{i}" for i in range(1000)]
        response = await post(http, endpoint, sid, *sent)
        assert (response.status_code, response.text) == (200, "ok")
        assert await poll_messages(http, endpoint, sid, 1000) == sent
        assert [data for _, data in running.messages] == [p[1:] for p in sent]
