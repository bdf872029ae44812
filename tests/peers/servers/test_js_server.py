"""The client against the JavaScript ``engine.io`` server (js/echo_server.js).

Echoes over each transport, the upgrade, maxPayload, and the event-style Client's handlers.
"""

from __future__ import annotations

import pytest
import trio
from client_helpers import Client, echo_exchange, make_messages, open_client, open_socket_count

from .conftest import PeerFactory

pytestmark = pytest.mark.interop


@pytest.mark.parametrize(
    ("transports", "expected"),
    [(["polling"], "polling"), (["websocket"], "websocket"), (None, "websocket")],
    ids=["polling", "websocket", "default-upgrade"],
)
async def test_echo_1000_texts_200_binaries(
    js_server: PeerFactory, transports: list[str] | None, expected: str
) -> None:
    messages = make_messages(seed=len(expected))
    async with js_server() as url:
        sockets_before = open_socket_count()
        with trio.fail_after(60):
            async with open_client(url, transports=transports) as conn:
                assert conn.sid
                assert conn.handshake is not None
                await echo_exchange(conn, messages)
                assert conn.transport == expected
                if transports is None:
                    assert conn.statistics().upgrade_state == "done"
            assert conn.closed
            assert conn.close_reason == "client disconnect"
        assert open_socket_count() <= sockets_before  # none left behind


async def test_upgrade_keeps_order_of_messages_sent_during_it(js_server: PeerFactory) -> None:
    """Messages queued while the upgrade runs arrive once each, in order."""
    async with js_server() as url:
        with trio.fail_after(30):
            async with open_client(url) as conn:
                assert conn.transport == "polling"
                messages: list[str | bytes] = [f"m{i}" for i in range(300)]
                await echo_exchange(conn, messages)
                await echo_exchange(conn, [b"after"])
                assert conn.transport == "websocket"


async def test_server_maxpayload_is_respected(js_server: PeerFactory) -> None:
    """A small maxPayload: every POST is split by bytes, and the server accepts them all."""
    async with js_server("--max-payload", "2000", "--transports", "polling") as url:
        with trio.fail_after(30):
            async with open_client(url, transports=["polling"]) as conn:
                assert conn.handshake is not None
                assert conn.handshake.max_payload == 2000
                messages: list[str | bytes] = [f"{i:05d}" * 20 for i in range(200)]
                messages += [bytes([i]) * 1400 for i in range(20)]  # 1 + 1868 bytes as base64
                await echo_exchange(conn, messages)
                with pytest.raises(ValueError, match="maxPayload"):
                    await conn.send(b"x" * 1500)  # 2001 bytes in a payload: can never be sent
            assert conn.close_reason == "client disconnect"


async def test_client_handlers_sync_and_async(js_server: PeerFactory) -> None:
    calls: list[tuple[str, object]] = []
    got_all = trio.Event()
    async with js_server() as url:
        with trio.fail_after(20):
            async with Client() as client:

                @client.on("connect")
                def on_connect() -> None:
                    calls.append(("connect", client.sid))

                @client.on("message")
                async def on_message(data: str | bytes) -> None:
                    calls.append(("message", data))
                    if data == b"last":
                        got_all.set()

                @client.on("disconnect")
                async def on_disconnect(reason: str) -> None:
                    await trio.lowlevel.checkpoint()
                    calls.append(("disconnect", reason))

                await client.connect(url, transports=["websocket"])
                assert client.connected
                assert client.transport() == "websocket"
                assert client.sid
                await client.send("hello")
                await client.send({"a": [1, 2]})
                await client.send(b"last")
                await got_all.wait()
                await client.disconnect()
                assert not client.connected
                assert client.sid is None
                assert client.transport() is None
                await client.wait()  # returns at once now
    assert calls[0][0] == "connect"
    assert calls[1:4] == [("message", "hello"), ("message", '{"a": [1, 2]}'), ("message", b"last")]
    assert calls[4:] == [("disconnect", "client disconnect")]


async def test_client_with_explicit_nursery(js_server: PeerFactory) -> None:
    async with js_server() as url:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                client = Client(nursery=nursery)
                echoed = trio.Event()
                client.on("message", lambda data: echoed.set())
                await client.connect(url)
                await client.send("ping?")
                await echoed.wait()
                await client.disconnect()
