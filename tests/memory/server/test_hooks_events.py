"""Server hooks, lifecycle events and statistics (in memory, autojump_clock)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
import trio
from wire import parse_open, polling_url, websocket_url

import trio_engineio
from trio_engineio.protocol import Packet, PacketType
from trio_engineio.testing import WebSocketRejected, open_test_client, open_websocket


async def echo(conn: trio_engineio.Connection) -> None:
    async for message in conn:
        await conn.send(message)


async def wait_for(predicate: Any) -> None:
    with trio.fail_after(5):
        while not predicate():
            await trio.sleep(0.01)


@pytest.mark.parametrize("verdict", [False, "go away", "raise", "slow"])
async def test_allow_request_refuses_with_403(autojump_clock: trio.abc.Clock, verdict: Any) -> None:
    async def allow_request(scope: Mapping[str, Any]) -> Any:
        if verdict == "raise":
            raise RuntimeError("hook bug")
        if verdict == "slow":
            await trio.sleep_forever()
        return verdict

    server = trio_engineio.Server(handler=echo, allow_request=allow_request, allow_request_timeout=2)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        start = trio.current_time()
        response = await http.get(polling_url())
        assert response.status_code == 403
        body = response.json()
        assert body["code"] == 4
        assert body["message"] == ("go away" if verdict == "go away" else "Forbidden")
        if verdict == "slow":
            assert trio.current_time() - start == pytest.approx(2)
        with pytest.raises(WebSocketRejected) as rejected:
            async with open_websocket(app, websocket_url()):
                pass
        assert rejected.value.status == 403
        assert server.statistics().sessions == 0
        assert server.statistics().sessions_opened == 0


async def test_allow_request_accepts_and_sees_scope(autojump_clock: trio.abc.Clock) -> None:
    seen: list[str] = []

    def allow_request(scope: Mapping[str, Any]) -> bool:
        seen.append(scope["type"])
        return True

    server = trio_engineio.Server(handler=echo, allow_request=allow_request)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        assert (await http.get(polling_url())).status_code == 200
        async with open_websocket(app, websocket_url()) as ws:
            assert str(await ws.receive()).startswith("0")
        sid = parse_open((await http.get(polling_url())).text)["sid"]
        # requests of an existing session are not re-checked
        assert (await http.post(polling_url(sid), content="4x")).status_code == 200
    assert seen == ["http", "websocket", "http"]


async def test_initial_headers_and_headers_hooks(autojump_clock: trio.abc.Clock) -> None:
    def initial_headers(scope: Mapping[str, Any], headers: list[tuple[str, str]]) -> None:
        headers.append(("Set-Cookie", "lb=node1; Path=/"))

    def every_request(scope: Mapping[str, Any], headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [*headers, ("Strict-Transport-Security", "max-age=60"), ("X-Bad", "a\r\nb")]

    server = trio_engineio.Server(handler=echo, initial_headers=initial_headers, headers=every_request)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        first = await http.get(polling_url())
        assert first.headers["set-cookie"] == "lb=node1; Path=/"
        assert first.headers["strict-transport-security"] == "max-age=60"
        assert "x-bad" not in first.headers
        sid = json.loads(first.text[1:])["sid"]
        later = await http.post(polling_url(sid), content="4x")
        assert "set-cookie" not in later.headers
        assert later.headers["strict-transport-security"] == "max-age=60"
        async with open_websocket(app, websocket_url()) as ws:
            accept = dict(ws.accept_headers)
            assert accept[b"set-cookie"] == b"lb=node1; Path=/"
            assert accept[b"strict-transport-security"] == b"max-age=60"


async def test_headers_hooks_take_asgi_style_bytes_pairs(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    def initial_headers(scope: Mapping[str, Any], headers: list[tuple[str | bytes, str | bytes]]) -> None:
        headers.append((b"Set-Cookie", b"lb=node1; Path=/"))

    def every_request(scope: Mapping[str, Any], headers: list[tuple[str | bytes, str | bytes]]) -> None:
        headers.extend([(b"x-frame-options", "DENY"), ("X-Latin", b"caf\xe9"), (b"x-bad", b"a\r\nb")])

    server = trio_engineio.Server(handler=echo, initial_headers=initial_headers, headers=every_request)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        first = await http.get(polling_url())
        assert first.headers["set-cookie"] == "lb=node1; Path=/"
        assert first.headers["x-frame-options"] == "DENY"
        assert first.headers.raw.count((b"x-latin", b"caf\xe9")) == 1, "bytes go out as they came"
        assert "x-bad" not in first.headers
        async with open_websocket(app, websocket_url()) as ws:
            accept = dict(ws.accept_headers)
            assert accept[b"set-cookie"] == b"lb=node1; Path=/"
            assert accept[b"x-frame-options"] == b"DENY"
    refused = [r for r in caplog.records if "invalid header" in r.getMessage()]
    assert refused, "the one invalid header is logged"
    assert all("x-bad" in r.getMessage() for r in refused)


@pytest.mark.parametrize("returned", ["custom-1", "bad id!", "raise", "duplicate"])
async def test_generate_id(autojump_clock: trio.abc.Clock, returned: str) -> None:
    async def generate_id(scope: Mapping[str, Any]) -> str:
        if returned == "raise":
            raise RuntimeError("no ids left")
        return "same" if returned == "duplicate" else returned

    server = trio_engineio.Server(handler=echo, generate_id=generate_id)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        response = await http.get(polling_url())
        if returned == "custom-1":
            assert json.loads(response.text[1:])["sid"] == "custom-1"
        elif returned == "duplicate":
            assert response.status_code == 200
            assert (await http.get(polling_url())).status_code == 400
            assert server.statistics().sessions == 1
        else:
            assert response.status_code == 400
            assert server.statistics().sessions == 0


async def test_lifecycle_events_in_order_across_upgrade(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(handler=echo)
    events: list[tuple[Any, ...]] = []
    conn_events: list[tuple[Any, ...]] = []
    for name in ("upgrading", "upgrade", "packet_received", "packet_sent", "flush", "drain"):
        server.on(name, lambda sid, *args, _name=name: events.append((_name, *args)))

    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sid = parse_open((await http.get(polling_url())).text)["sid"]
        server.connection(sid).on("upgrade", lambda transport: conn_events.append(("upgrade", transport)))
        await http.post(polling_url(sid), content="4one")
        assert (await http.get(polling_url(sid))).text == "4one"
        async with open_websocket(app, websocket_url(sid)) as ws:
            await ws.send("2probe")
            assert await ws.receive() == "3probe"
            await ws.send("5")
            await ws.send("4two")
            assert await ws.receive() == "4two"
        await wait_for(lambda: server.statistics().running_sessions == 0)

    message_one = Packet(PacketType.MESSAGE, "one")
    message_two = Packet(PacketType.MESSAGE, "two")
    assert events[:4] == [
        ("packet_received", message_one),
        ("packet_sent", message_one),
        ("flush", [message_one]),
        ("drain",),
    ]
    rest = events[4:]
    assert rest[:2] == [("upgrading", "websocket"), ("upgrade", "websocket")]
    assert ("packet_received", message_two) in rest
    assert rest.index(("packet_received", message_two)) < rest.index(("packet_sent", message_two))
    assert [e for e in events if e[0] == "upgrade"] == [("upgrade", "websocket")]
    assert conn_events == [("upgrade", "websocket")]


async def test_lifecycle_handler_errors_are_contained(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(handler=echo)

    @server.on("flush")
    def broken(sid: str, packets: list[Packet]) -> None:
        raise RuntimeError("observer bug")

    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sid = parse_open((await http.get(polling_url())).text)["sid"]
        await http.post(polling_url(sid), content="4a")
        assert (await http.get(polling_url(sid))).text == "4a"
        await http.post(polling_url(sid), content="4b")
        assert (await http.get(polling_url(sid))).text == "4b"
        assert server.statistics().handler_errors >= 2


async def test_disconnect_reason_carries_description(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(handler=echo, max_http_buffer_size=10)
    reasons: list[trio_engineio.DisconnectReason] = []
    server.on("disconnect", lambda sid, reason: reasons.append(reason))
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sid = parse_open((await http.get(polling_url())).text)["sid"]
        assert (await http.post(polling_url(sid), content="4" + "x" * 50)).status_code == 413
        await wait_for(lambda: reasons)
    assert reasons[0] == "transport error"
    assert reasons[0].description == "payload too large"
    assert reasons[0].reason is trio_engineio.CloseReason.TRANSPORT_ERROR


async def test_statistics_match_reality_and_return_to_zero(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(handler=echo, ping_interval=100, ping_timeout=100)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sids = [parse_open((await http.get(polling_url())).text)["sid"] for _ in range(3)]
        async with open_websocket(app, websocket_url()) as ws:
            await ws.receive()
            await server.send(sids[0], "queued")
            await server.send(sids[0], "more")
            stats = server.statistics()
            assert stats.sessions == 4
            assert stats.sessions_by_transport == {"polling": 3, "websocket": 1}
            assert stats.buffered_messages == 2
            assert stats.buffered_bytes == len("queued") + len("more")
            conn_stats = server.connection(sids[0]).statistics()
            assert conn_stats.transport == "polling"
            assert conn_stats.state == "open"
            assert conn_stats.buffered_messages == 2
            assert conn_stats.remote_address == ("127.0.0.1", 50000)
            await ws.send("1")
        await http.post(polling_url(sids[1]), content="1")
        await server.disconnect(sids[2])
        await wait_for(lambda: server.statistics().sessions == 1)
        assert server.statistics().sessions_closed == {"client disconnect": 2, "server disconnect": 1}
    final = server.statistics()
    assert final.sessions == 0
    assert final.running_sessions == 0
    assert final.buffered_messages == 0
    assert final.sessions_opened == 4
    assert final.sessions_closed == {"client disconnect": 2, "server disconnect": 1, "server shutdown": 1}
