"""ClientConnection.statistics() is a frozen ClientStatistics; ``async for`` runs on ``__anext__``.

Against the library's own server on loopback (polling, websocket and the upgrade).
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import trio
from reconnect_helpers import EchoServer

import trio_engineio
from trio_engineio import ClientConnection, ClientStatistics

FIELDS = [
    "transport",
    "messages_sent",
    "messages_received",
    "queued_incoming",
    "buffered_messages",
    "buffered_bytes",
    "http_requests",
    "upgrade_state",
]


def test_client_statistics_is_a_frozen_dataclass_with_the_documented_fields() -> None:
    assert dataclasses.is_dataclass(ClientStatistics)
    assert [f.name for f in dataclasses.fields(ClientStatistics)] == FIELDS
    stats = ClientStatistics(None, 0, 0, 0, 0, 0, 0, "none")
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.messages_sent = 1  # type: ignore[misc]


def test_iteration_is_not_an_async_generator() -> None:
    assert not inspect.isasyncgenfunction(ClientConnection.__aiter__)
    assert not inspect.isasyncgenfunction(ClientConnection.__anext__)
    assert inspect.iscoroutinefunction(ClientConnection.__anext__)


@pytest.mark.parametrize(
    ("transports", "transport", "upgrade_state"),
    [(["polling"], "polling", "none"), (["websocket"], "websocket", "none"), (None, "websocket", "done")],
    ids=["polling", "websocket", "upgraded"],
)
async def test_statistics_count_what_the_session_did(
    transports: list[str] | None, transport: str, upgrade_state: str
) -> None:
    server = EchoServer()
    with trio.fail_after(30):
        async with server.running(), trio_engineio.open_client(server.url, transports=transports) as conn:
            first = conn.statistics()
            assert isinstance(first, ClientStatistics)
            assert (first.messages_sent, first.messages_received, first.queued_incoming) == (0, 0, 0)
            for index in range(3):
                await conn.send(f"m{index}")
            for _ in range(3):
                await conn.receive()
            while transports is None and conn.transport != "websocket":
                await conn.send("until upgraded")
                await conn.receive()
            await conn.send("unread")
            while conn.statistics().queued_incoming == 0:
                await trio.sleep(0.01)
            stats = conn.statistics()
            assert stats.transport == transport
            assert stats.upgrade_state == upgrade_state
            assert stats.messages_sent == stats.messages_received + 1
            assert stats.messages_received >= 3
            assert stats.queued_incoming == 1
            assert (stats.buffered_messages, stats.buffered_bytes) == (0, 0)
            if transports == ["websocket"]:
                assert stats.http_requests == 0
            else:
                assert stats.http_requests >= 2  # the handshake and at least one poll
            assert stats != first


async def test_async_for_yields_messages_then_ends_at_the_close() -> None:
    server = EchoServer()
    with trio.fail_after(30):
        async with server.running(), trio_engineio.open_client(server.url, transports=["websocket"]) as conn:
            assert conn.__aiter__() is conn
            await conn.send("a")
            await conn.send(b"b")
            await conn.send("disconnect me")
            received = [message async for message in conn]
            assert received == ["a", b"b", "disconnect me"]
            assert conn.close_reason == "server disconnect"
            with pytest.raises(StopAsyncIteration):
                await conn.__anext__()
