"""The event-style Client (python-engineio AsyncClient style) and URL handling.

Against the scripted fake server on hypercorn; the handlers against npm engine.io are in
tests/peers/servers/test_js_server.py.
"""

from __future__ import annotations

import ssl

import pytest
import trio
from client_helpers import Client
from wire import FakeEngineIO, serve_fake

from trio_engineio import ConnectionClosed, ConnectionRejected
from trio_engineio.client.common import EngineURL, websocket_ssl_context


async def test_client_disconnect_handler_once_on_cancel_and_server_close() -> None:
    fake = FakeEngineIO(echo=False)
    reasons: list[str] = []
    async with serve_fake(fake) as url:
        with trio.fail_after(10):
            with trio.CancelScope() as scope:
                async with Client() as client:
                    client.on("disconnect", reasons.append)
                    await client.connect(url, transports=["polling"])
                    await fake.wait_for(lambda: fake.event("get").is_set())
                    scope.cancel()
                    await trio.sleep_forever()
            assert reasons == ["client disconnect"]
            await fake.wait_for(lambda: fake.close_packets == 1)

            reasons.clear()
            fake2 = FakeEngineIO(echo=False, scripted_gets=[b"4bye\x1e1"])
            async with serve_fake(fake2) as url2, Client() as client:
                messages: list[str | bytes] = []
                client.on("message", messages.append)
                client.on("disconnect", lambda: reasons.append("no-arg handler"))
                await client.connect(url2, transports=["polling"])
                await client.wait()
                assert messages == ["bye"]
                assert client.close_info is not None
                assert client.close_info.reason.value == "server disconnect"
            assert reasons == ["no-arg handler"]


async def test_client_connect_errors_and_misuse() -> None:
    fake = FakeEngineIO(reject=(403, {"code": 4, "message": "Forbidden"}))
    async with serve_fake(fake) as url:
        with trio.fail_after(10):
            async with Client() as client:
                disconnects: list[str] = []
                client.on("disconnect", disconnects.append)
                with pytest.raises(ConnectionRejected) as info:
                    await client.connect(url)
                assert info.value.status_code == 403
                assert not client.connected
                with pytest.raises(ConnectionClosed):
                    await client.send("x")
                assert disconnects == []  # never connected, so no disconnect
    with pytest.raises(RuntimeError):
        await Client().connect("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="unknown event"):
        Client().on("connection")


def test_engine_url_building() -> None:
    url = EngineURL.parse("ws://example.com:8080/prefix/?token=a%20b&EIO=3", "socket.io")
    assert url.http() == "http://example.com:8080/prefix/socket.io/?token=a+b&EIO=4&transport=polling"
    assert url.websocket(sid="s1") == (
        "ws://example.com:8080/prefix/socket.io/?token=a+b&EIO=4&transport=websocket&sid=s1"
    )
    assert EngineURL.parse("https://h").websocket().startswith("wss://h/engine.io/?")
    assert EngineURL.parse("wss://h").http().startswith("https://h/engine.io/?")
    with pytest.raises(ValueError, match="scheme"):
        EngineURL.parse("ftp://h")


def test_h9_tls_verification_on_by_default_off_only_explicitly() -> None:
    secure = EngineURL.parse("https://h")
    default = websocket_ssl_context(secure, None)
    assert default is not None
    assert default.verify_mode == ssl.CERT_REQUIRED
    assert default.check_hostname
    off = websocket_ssl_context(secure, False)
    assert off is not None
    assert off.verify_mode == ssl.CERT_NONE
    custom = ssl.create_default_context()
    assert websocket_ssl_context(secure, custom) is custom
    assert websocket_ssl_context(EngineURL.parse("http://h"), None) is None


# ------------------------------------------------------ options checked at construction
@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"bad_kwarg": 1}, TypeError),
        ({"connect_timout": 1.0}, TypeError),  # a typo is caught before connect()
        ({"connect_timeout": "5"}, TypeError),
        ({"connect_timeout": 0}, ValueError),
        ({"close_timeout": -1.0}, ValueError),
        ({"upgrade_timeout": float("nan")}, ValueError),
        ({"max_message_size": 0}, ValueError),
        ({"receive_queue_size": 1.5}, TypeError),
        ({"max_packets_per_post": 0}, ValueError),
        ({"transports": ["carrier-pigeon"]}, ValueError),
        ({"ssl": "yes"}, TypeError),
        ({"headers": {"X-A": "1\r\nX-B: 2"}}, ValueError),
        ({"http_client": object()}, TypeError),
    ],
)
def test_client_options_are_validated_at_construction(options: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        Client(**options)


def test_client_accepts_every_open_client_option() -> None:
    Client(
        transports=["polling"],
        headers={"X-Token": "t"},
        engineio_path="socket.io",
        ssl=False,
        connect_timeout=1.0,
        upgrade_timeout=2,
        close_timeout=0.5,
        max_packets_per_post=16,
        max_response_size=1000,
        max_message_size=1000,
        receive_queue_size=10,
        send_buffer_size=1000,
    )


async def test_client_connect_options_are_validated_too() -> None:
    async with Client() as client:
        with pytest.raises(TypeError, match="bad_kwarg"):
            await client.connect("http://127.0.0.1:1", bad_kwarg=1)
        assert not client.connected


async def test_client_constructor_transports_and_headers_are_used() -> None:
    fake = FakeEngineIO()
    async with serve_fake(fake) as url:
        with trio.fail_after(10):
            async with Client(transports=["polling"], headers={"X-Token": "abc"}) as client:
                await client.connect(url)
                assert client.transport() == "polling"
                await client.disconnect()
    assert fake.requests
    assert all(r.headers.get("x-token") == "abc" for r in fake.requests)
