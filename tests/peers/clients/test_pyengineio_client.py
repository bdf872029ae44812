"""python-engineio's ``AsyncClient`` (asyncio + aiohttp, in a subprocess) against our server.

The same exchange as the JavaScript client: 1000 numbered texts and 200 binaries
up to 64 KiB, echoed back intact and in order, then ``disconnect()``.

Known peer limits (python-engineio 4.x), worked within:

* Polling POSTs: the write loop sends its whole queue in one POST, with no
  maxPayload check at all. Polling GETs: its payload decoder refuses more than
  16 packets (``Payload.max_decode_packets``) and then drops the connection. On
  polling the script therefore keeps at most 10 messages and 400 kB of wire
  bytes sent and not yet echoed.
* Text messages are JSON-decoded on receipt (``"1"`` or ``"{}"`` would not come
  back as sent); the plan's texts (``t<i>:...``) are never valid JSON.
* The upgrade runs inside ``connect()``, right after the ``connect`` handler: nothing
  can go out over polling before it. Messages sent from the ``connect`` handler wait
  in the client's queue during the upgrade and leave over the websocket.
* Receiving on polling has the same 16-packet limit, so a server pushing to it over
  polling must not queue more than that per long-poll: ``test_server_push_then_server_disconnect``
  pushes in groups of 10 and waits for each group to be taken (``conn.wait_drained()``).
* ``disconnect()`` over websocket closes the socket before its queued CLOSE packet
  is written, so the server reports "transport close" (python-engineio's own
  AsyncServer reports the same); ``test_plain_websocket_disconnect`` records it.
  The exchange tests let the CLOSE out first (``flush_close``) and get "client
  disconnect".
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import trio

import trio_engineio

from .conftest import PY_DIR, ServeApp, StartServer, run_json

pytestmark = pytest.mark.interop

TEXTS = 1000
BINARIES = 200

CASES: dict[str, list[str] | None] = {"polling": ["polling"], "websocket": ["websocket"], "default": None}


@pytest.fixture(autouse=True)
def _python_engineio() -> None:
    pytest.importorskip("engineio")
    pytest.importorskip("aiohttp", reason="python-engineio's AsyncClient needs aiohttp")


async def run_client(url: str, **config: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "texts": TEXTS,
        "binaries": BINARIES,
        "max_binary": 64 * 1024,
        "seed": 7,
        "in_connect": 300,
        "window_count": 10,
        "window_bytes": 400_000,
        "timeout": 50,
    }
    config = {**defaults, **config, "url": url}
    script = str(PY_DIR / "pyengineio_client.py")
    return await run_json([sys.executable, script, json.dumps(config)], seconds=60)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_echo_texts_and_binaries(echo_server: StartServer, case: str) -> None:
    served = await echo_server(ping_interval=5, ping_timeout=5)
    result = await run_client(served.url, transports=CASES[case], flush_close=True)

    assert not result["timed_out"], result
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["sent"] == {"text": TEXTS, "binary": BINARIES}
    assert result["received"] == {"text": TEXTS, "binary": BINARIES}
    assert result["disconnect_reason"] == "client disconnect"
    assert result["_exit"] == 0, result["_stderr"]

    record = served.sessions[result["sid"]]
    assert (record.texts, record.binaries) == (TEXTS, BINARIES)
    expected = "polling" if case == "polling" else "websocket"
    assert result["transport_at_end"] == expected
    if case == "default":
        assert result["transport_in_connect"] == "polling"
        assert result["transport_after_connect"] == "websocket"
        assert record.transport_at_connect == "polling"
        assert result["sent_by"]["connect-handler"] == 300  # queued during the upgrade
    else:
        assert record.transport_at_connect == expected
    assert record.transports_seen == [expected]
    assert await served.disconnect_reason(result["sid"]) == "client disconnect"


async def test_plain_websocket_disconnect(echo_server: StartServer) -> None:
    """Without help, python-engineio closes the websocket before its CLOSE packet is out."""
    served = await echo_server(ping_interval=5, ping_timeout=5)
    result = await run_client(served.url, transports=["websocket"], texts=20, binaries=2, in_connect=0)
    assert result["received"] == {"text": 20, "binary": 2}
    assert result["disconnect_reason"] == "client disconnect"  # what the client reports
    assert await served.disconnect_reason(result["sid"]) == "transport close"


PUSHED = 600


def push_message(k: int) -> str | bytes:
    """The server-push pattern (``push_message`` in py/pyengineio_client.py)."""
    if k % 6 == 5:
        return k.to_bytes(4, "big") + bytes([k & 0xFF]) * ((k * 997) % 60_000)
    return f"s{k}:" + "x" * (k % 50)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_server_push_then_server_disconnect(serve_app: ServeApp, case: str) -> None:
    """Server to client: 500 texts and 100 binaries, then ``conn.aclose()``.

    Every message arrives in order before the CLOSE; the server's reason is "server
    disconnect", and so is python-engineio's. While the session is on polling the
    handler pushes in groups of 10 and waits for each to be taken (the client's
    16-packet limit). With the default transports the first group is queued before
    the client's upgrade, which runs before its first long-poll, so it waits in the
    session's queue and leaves over the websocket.

    The client waits 0.2 s after the server's CLOSE before it closes its websocket.
    Without that pause (python-engineio closes at once) about one run in 60 crashed the
    whole hypercorn server: the client's close frame is answered by hypercorn's reading
    task (``send_all`` under ``send_lock``) while the ASGI task, finishing the request,
    runs ``TCPServer._close()`` -> ``stream.send_eof()`` without that lock, and the
    ``trio.BusyResourceError`` escapes ``serve()`` (hypercorn 0.18, trio worker).
    """
    reasons: dict[str, str] = {}

    async def push(conn: trio_engineio.Connection) -> None:
        for k in range(PUSHED):
            await conn.send(push_message(k))
            if conn.transport == "polling" and k % 10 == 9:
                await conn.wait_drained()  # python-engineio: at most 16 packets a long-poll
        await conn.aclose()
        reasons[conn.sid] = (await conn.wait_closed()).reason.value

    server = trio_engineio.Server(handler=push, ping_interval=5, ping_timeout=5)
    url = await serve_app(trio_engineio.ASGIApp(server))
    result = await run_client(
        url, transports=CASES[case], listen=PUSHED, in_connect=0, close_delay=0.2, timeout=30
    )

    assert not result["timed_out"], result
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["received"] == {"text": 500, "binary": 100}
    assert result["disconnect_reason"] == "server disconnect"
    expected = "polling" if case == "polling" else "websocket"
    assert result["transport_last_message"] == expected
    with trio.fail_after(10):
        while result["sid"] not in reasons:
            await trio.sleep(0.01)
    assert reasons[result["sid"]] == "server disconnect"
