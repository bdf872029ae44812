"""The client against python-engineio's AsyncServer (under uvicorn, in a subprocess).

Peer limits we work within (our side is not weakened for them):

* python-engineio decodes at most 16 packets per polling payload; a longer POST is
  answered ``200 ok`` and silently dropped. The polling tests therefore pass
  ``max_packets_per_post=16`` (POSTs are still split by bytes under maxPayload).
* It JSON-decodes text messages before handing them to the application, and the echo
  re-encodes them; the test texts are not valid JSON, so they come back unchanged.
"""

from __future__ import annotations

import pytest
import trio
from client_helpers import echo_exchange, make_messages, open_client, open_socket_count

from .conftest import PeerFactory

pytestmark = pytest.mark.interop


@pytest.mark.parametrize(
    ("transports", "expected"),
    [(["polling"], "polling"), (["websocket"], "websocket"), (None, "websocket")],
    ids=["polling", "websocket", "default-upgrade"],
)
async def test_echo_with_python_engineio(
    py_server: PeerFactory, transports: list[str] | None, expected: str
) -> None:
    messages = make_messages(seed=7, texts=1000, binaries=200)
    async with py_server() as url:
        sockets_before = open_socket_count()
        with trio.fail_after(60):
            async with open_client(url, transports=transports, max_packets_per_post=16) as conn:
                await echo_exchange(conn, messages)
                assert conn.transport == expected
            assert conn.close_reason == "client disconnect"
        assert open_socket_count() <= sockets_before  # none left behind


async def test_small_max_payload_python_engineio(py_server: PeerFactory) -> None:
    async with py_server("--max-payload", "3000", "--transports", "polling") as url:
        with trio.fail_after(30):
            async with open_client(url, transports=["polling"], max_packets_per_post=16) as conn:
                assert conn.handshake is not None
                assert conn.handshake.max_payload == 3000
                messages: list[str | bytes] = [f"text {i} " * 30 for i in range(100)]
                messages += [bytes([i]) * 2000 for i in range(10)]
                await echo_exchange(conn, messages)
