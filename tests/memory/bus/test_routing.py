"""Routing by session id, in memory: ``Server(node_id=...)`` prefixes its sids and refuses misrouted ones."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import trio
from wire import polling_url, websocket_url

import trio_engineio
from trio_engineio.testing import WebSocketRejected, open_test_client, open_websocket


async def handshake(http: httpx.AsyncClient) -> str:
    response = await http.get(polling_url())
    assert response.status_code == 200
    sid: str = json.loads(response.text[1:])["sid"]
    return sid


def test_node_id_is_checked_at_construction() -> None:
    for bad in ("", "a.b", "a b", "é", "x" * 33):
        with pytest.raises(ValueError, match="node id"):
            trio_engineio.Server(node_id=bad)
    with pytest.raises(TypeError):
        trio_engineio.Server(node_id=7)  # type: ignore[arg-type]
    assert trio_engineio.Server(node_id="web-1_a").node_id == "web-1_a"
    assert trio_engineio.Server().node_id is None


def test_a_bus_needs_a_node_id() -> None:
    with pytest.raises(ValueError, match="node_id"):
        trio_engineio.Server(bus=trio_engineio.testing.MemoryBus())
    with pytest.raises(TypeError, match="Bus"):
        trio_engineio.Server(bus="redis://", node_id="a")  # type: ignore[arg-type]


async def test_sids_start_with_the_node_id(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(node_id="a")
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sids = [await handshake(http) for _ in range(20)]
    assert all(sid.startswith("a.") and len(sid) == 22 for sid in sids)
    assert len(set(sids)) == 20


async def test_generate_id_gets_the_prefix(autojump_clock: trio.abc.Clock) -> None:
    ids = iter(["one", "two", "x" * 127])
    server = trio_engineio.Server(node_id="b", generate_id=lambda scope: next(ids))
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        assert await handshake(http) == "b.one"
        assert await handshake(http) == "b.two"
        # Over the sid length limit with its prefix: refused like any unusable id.
        response = await http.get(polling_url())
        assert response.status_code == 400


async def test_a_sid_of_another_node_is_refused_and_counted(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    server = trio_engineio.Server(node_id="a")
    app = trio_engineio.ASGIApp(server)
    caplog.set_level(logging.WARNING, "trio_engineio.server")
    async with server, open_test_client(app) as http:
        for _ in range(3):
            response = await http.get(polling_url("b.xyz"))
            assert response.status_code == 400
            assert response.json()["code"] == 1
        response = await http.post(polling_url("b.xyz"), content="4hi")
        assert response.status_code == 400
        with pytest.raises(WebSocketRejected) as rejected:
            async with open_websocket(app, websocket_url("b.xyz")):
                pass
        assert rejected.value.status == 400
        # A sid naming no node, or this node, is an unknown session as before: not misrouted.
        assert (await http.get(polling_url("a.gone"))).status_code == 400
        assert (await http.get(polling_url("nodot"))).status_code == 400
        stats = server.statistics()
    assert stats.misrouted_requests == 5
    assert stats.requests_rejected == 7
    warnings = [r.getMessage() for r in caplog.records if "misrouted" in r.getMessage()]
    assert len(warnings) == 1  # rate limited: one line per burst
    assert "load balancer" in warnings[0]
    assert "node b" in warnings[0]


async def test_without_a_node_id_nothing_is_misrouted(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(generate_id=lambda scope: "b.mine")
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        assert await handshake(http) == "b.mine"
        assert (await http.get(polling_url("b.mine"))).status_code == 200
        assert server.statistics().misrouted_requests == 0
