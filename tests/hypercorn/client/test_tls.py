"""End to end over TLS (case H9, after test_faults.py): our server under hypercorn, a trustme certificate."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from client_helpers import echo_exchange, open_client

import trio_engineio
from trio_engineio import EngineIOConnectionError

trustme = pytest.importorskip("trustme")

TRANSPORTS = pytest.mark.parametrize(
    ("transports", "expected"),
    [(["polling"], "polling"), (["websocket"], "websocket"), (None, "websocket")],
    ids=["polling", "websocket", "upgrade"],
)


@pytest.fixture(scope="module")
def ca() -> Any:
    return trustme.CA()


@pytest.fixture
def trusting_context(ca: Any) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@asynccontextmanager
async def tls_server(ca: Any, tmp_path: Path) -> AsyncIterator[tuple[str, list[str]]]:
    """An echo Server over https on 127.0.0.1:0; yields its base URL and the disconnect reasons."""
    cert = ca.issue_cert("127.0.0.1")
    pem = tmp_path / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    server = trio_engineio.Server()
    reasons: list[str] = []

    async def message(sid: str, data: str | bytes) -> None:
        await server.send(sid, data)

    def disconnect(sid: str, reason: str) -> None:
        reasons.append(reason)

    server.on("message", message)
    server.on("disconnect", disconnect)
    app = trio_engineio.ASGIApp(server)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        run: Callable[..., Any] = trio_engineio.serve
        binds = await nursery.start(
            lambda task_status: run(
                app,
                "127.0.0.1",
                0,
                shutdown_trigger=stop.wait,
                certfile=str(pem),
                keyfile=str(pem),
                graceful_timeout=0.5,
                task_status=task_status,
            )
        )
        base = next(b for b in binds if b.startswith("https://127.0.0.1:"))
        try:
            yield base, reasons
        finally:
            stop.set()


@TRANSPORTS
async def test_h9_tls_with_a_context_trusting_the_ca(
    ca: Any,
    trusting_context: ssl.SSLContext,
    tmp_path: Path,
    transports: list[str] | None,
    expected: str,
) -> None:
    messages: list[str | bytes] = [f"secure {i}" for i in range(50)] + [b"\x00\xffbinary"]
    async with tls_server(ca, tmp_path) as (url, reasons):
        assert url.startswith("https://")
        with trio.fail_after(20):
            async with open_client(url, transports=transports, ssl=trusting_context) as conn:
                await echo_exchange(conn, messages)
                if transports is None:
                    while conn.transport != "websocket":
                        await echo_exchange(conn, ["until upgraded"])
                assert conn.transport == expected
            while not reasons:
                await trio.sleep(0.01)
    assert reasons == ["client disconnect"]


@pytest.mark.parametrize(
    "transports", [["polling"], ["websocket"], None], ids=["polling", "websocket", "upgrade"]
)
async def test_h9_tls_default_verification_refuses_untrusted_cert(
    ca: Any, tmp_path: Path, transports: list[str] | None
) -> None:
    async with tls_server(ca, tmp_path) as (url, reasons):
        with trio.fail_after(20), pytest.raises(EngineIOConnectionError) as info:
            async with open_client(url, transports=transports):
                pytest.fail("connected to a server whose certificate nobody trusts")  # pragma: no cover
    assert "certificate verify failed" in str(info.value).lower()
    assert reasons == []


@TRANSPORTS
async def test_h9_tls_ssl_false_turns_verification_off_explicitly(
    ca: Any, tmp_path: Path, transports: list[str] | None, expected: str
) -> None:
    async with tls_server(ca, tmp_path) as (url, _reasons):
        with trio.fail_after(20):
            async with open_client(url, transports=transports, ssl=False) as conn:
                await echo_exchange(conn, ["unverified"])
                if transports is None:
                    while conn.transport != "websocket":
                        await echo_exchange(conn, ["until upgraded"])
                assert conn.transport == expected
