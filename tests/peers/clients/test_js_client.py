"""The JavaScript ``engine.io-client`` (Node, npm 6.6.x) against our server under hypercorn.

Each run sends 1000 numbered text messages (ASCII and multi-byte UTF-8) and 200
binary messages of random sizes up to 64 KiB (each starts with its index),
interleaved at random, and checks on the client that every echo comes back
byte for byte, in order; the server side counts what its handler saw. The
other direction: the server pushes 600 messages and closes the session.

Known peer limits (engine.io-client 6.6.8), worked within rather than hidden:

* Polling POST size. The client splits its write buffer by the server's
  maxPayload, but estimates a binary message as ``ceil(byteLength * 1.33)``
  (``util.byteLength``) while the payload really carries ``"b"`` + base64,
  ``4 * ceil(n / 3)`` bytes. So a POST it believes fits may exceed maxPayload
  by about a quarter of a percent, and our server (correctly, like the
  reference) answers 413 and closes the session with "transport error". On
  polling the test therefore keeps at most ``WINDOW`` wire bytes sent and not
  yet echoed, far below maxPayload. ``test_polling_post_over_max_payload_gets_413``
  records the exact failure.
* Closing over websocket. ``socket.close()`` on the websocket transport closes
  the socket without an Engine.IO CLOSE packet (``WS.doClose``), so the server
  sees the transport go away: "transport close", as the JavaScript ``engine.io``
  server reports too. Over polling the client POSTs a CLOSE packet and our reason is
  "client disconnect" (python-engineio's name; the JavaScript server says "transport
  close" there as well). The client's own reason is "forced close" in both cases.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio

import trio_engineio

from .conftest import ServeApp, StartServer, require_node_modules, run_node

pytestmark = pytest.mark.interop

TEXTS = 1000
BINARIES = 200
MAX_BINARY = 64 * 1024
#: Most wire bytes in flight while on polling: far below the default maxPayload (1 MB).
WINDOW = 400_000

CASES: dict[str, dict[str, Any]] = {
    # default transports: polling first, then the websocket upgrade; messages go out in
    # the open handler (polling), one macrotask later (probe in flight), in the
    # `upgrading` handler (polling paused), in the `upgrade` handler, and after.
    "default-upgrade": {
        "transports": None,
        "phases": {"open": 250, "tick": 100, "upgrading": 150, "upgrade": 150},
        "window": WINDOW,
    },
    "websocket": {"transports": ["websocket"], "phases": None, "window": None},
    "polling": {"transports": ["polling"], "phases": None, "window": WINDOW},
}


@pytest.fixture(autouse=True)
def _node_peer() -> None:
    require_node_modules("engine.io-client")


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_echo_texts_and_binaries(echo_server: StartServer, case: str) -> None:
    served = await echo_server(ping_interval=5, ping_timeout=5)
    config = {
        "url": served.url,
        "texts": TEXTS,
        "binaries": BINARIES,
        "maxBinary": MAX_BINARY,
        "seed": 1000 + len(case),
        "timeoutMs": 50_000,
        **CASES[case],
    }
    result = await run_node("echo_client.js", config, seconds=60)

    assert not result["timedOut"], result
    assert result["errors"] == [], result
    assert result["mismatches"] == 0, result["firstMismatch"]
    assert result["sent"] == {"text": TEXTS, "binary": BINARIES}
    assert result["received"] == {"text": TEXTS, "binary": BINARIES}
    assert result["closeReason"] == "forced close"
    assert result["_exit"] == 0, result["_stderr"]

    sid = result["sid"]
    record = served.sessions[sid]
    assert (record.texts, record.binaries) == (TEXTS, BINARIES)
    reason = await served.disconnect_reason(sid)
    if case == "polling":
        assert result["openTransport"] == "polling"
        assert record.transports_seen == ["polling"]
        assert result["transportAtClose"] == "polling"
        assert reason == "client disconnect"
    elif case == "websocket":
        assert result["openTransport"] == "websocket"
        assert record.transport_at_connect == "websocket"
        assert record.transports_seen == ["websocket"]
        assert reason == "transport close"
    else:
        assert result["openTransport"] == "polling"
        assert result["upgrading"]
        assert result["upgraded"]
        assert result["upgradedTo"] == "websocket"
        assert result["upgradeErrors"] == []
        assert result["transportAtClose"] == "websocket"
        assert record.transport_at_connect == "polling"
        assert record.transports_seen == ["polling", "websocket"]
        # Messages really went out before, during and right after the upgrade.
        for phase in ("open", "upgrading-handler", "upgrade-handler"):
            assert result["sentBy"].get(phase, 0) > 0, result["sentBy"]
        assert reason == "transport close"


def post_sizes(count: int, size: int, max_payload: int) -> tuple[int, int, int]:
    """What engine.io-client 6.6 puts in one polling POST of equal binaries.

    Returns (packets, the client's size estimate, the real body size), following
    ``Socket._getWritablePackets`` and ``util.byteLength``.
    """
    estimate, packets = 1, 0
    for i in range(count):
        estimate += math.ceil(size * 1.33)
        if i > 0 and estimate > max_payload:
            estimate -= math.ceil(size * 1.33)
            break
        packets += 1
        estimate += 2
    estimate -= 2
    real = packets * (1 + 4 * math.ceil(size / 3)) + (packets - 1)
    return packets, estimate, real


async def test_polling_post_over_max_payload_gets_413(echo_server: StartServer) -> None:
    """The peer limit, recorded: a burst of binaries makes the client POST more than maxPayload.

    13 binaries of 62,600 bytes sent at once: the first goes alone (the transport is
    writable), the next 12 are batched because the client estimates them at
    999,119 bytes, but the payload really is 1,001,639 bytes > maxPayload (1,000,000).
    The server answers 413 and closes the session with "transport error"; the client
    reports "transport error" ("xhr post error", status 413), or "transport close" when
    the CLOSE on its pending long-poll arrives first. The same burst at
    60,000 bytes a binary stays under the limit and is echoed intact.
    """
    max_payload = 1_000_000
    packets, estimate, real = post_sizes(12, 62_600, max_payload)
    assert (packets, estimate, real) == (12, 999_119, 1_001_639)
    assert post_sizes(12, 60_000, max_payload)[2] < max_payload

    served = await echo_server(ping_interval=5, ping_timeout=5, max_http_buffer_size=max_payload)
    base = {"url": served.url, "transports": ["polling"], "timeoutMs": 15_000}

    result = await run_node("echo_client.js", {**base, "burst": {"count": 13, "size": 62_600}}, seconds=30)
    assert await served.disconnect_reason(result["sid"]) == "transport error"
    assert ("http", "POST", 413) in served.app.responses
    # The client learns it from whichever answer it handles first: the 413 on its POST,
    # or the CLOSE packet that ends its pending long-poll.
    if result["closeReason"] == "transport error":
        assert result["closeDescription"] == "xhr post error"
        assert result.get("closeStatus") == 413
    else:
        assert result["closeReason"] == "transport close", result
    assert served.sessions[result["sid"]].binaries == 1  # only the lone first POST got through

    result = await run_node("echo_client.js", {**base, "burst": {"count": 13, "size": 60_000}}, seconds=30)
    assert result["mismatches"] == 0, result["firstMismatch"]
    assert result["received"] == {"text": 0, "binary": 13}
    assert result["closeReason"] == "forced close"
    assert await served.disconnect_reason(result["sid"]) == "client disconnect"


def push_message(k: int) -> str | bytes:
    """The server-push pattern (``pushMessage`` in js/common.js)."""
    if k % 6 == 5:
        return k.to_bytes(4, "big") + bytes([k & 0xFF]) * ((k * 997) % 60_000)
    return f"s{k}:" + "x" * (k % 50)


PUSHED = 600


@pytest.mark.parametrize(
    "transports", [None, ["websocket"], ["polling"]], ids=["default-upgrade", "websocket", "polling"]
)
async def test_server_push_then_server_disconnect(serve_app: ServeApp, transports: list[str] | None) -> None:
    """Server to client: 500 texts and 100 binaries pushed at once, then ``conn.aclose()``.

    Everything queued before the close reaches the client, in order, before the
    CLOSE packet; the server's reason is "server disconnect" and the client's
    "transport close" (engine.io-client's name for a CLOSE from the server).
    """
    reasons: dict[str, str | None] = {}
    transports_at_close: dict[str, str] = {}

    async def push(conn: trio_engineio.Connection) -> None:
        for k in range(PUSHED):
            if transports is None and k == PUSHED // 2:
                # the first half went out over polling and during the upgrade; the
                # rest (and the CLOSE) once the session is on the websocket
                with trio.fail_after(10):
                    while conn.transport != "websocket":
                        await trio.sleep(0.005)
            await conn.send(push_message(k))
        await conn.aclose()
        info = await conn.wait_closed()
        reasons[conn.sid] = info.reason.value
        transports_at_close[conn.sid] = conn.transport

    server = trio_engineio.Server(handler=push, ping_interval=5, ping_timeout=5)
    url = await serve_app(trio_engineio.ASGIApp(server))
    config = {"url": url, "transports": transports, "listen": PUSHED, "timeoutMs": 30_000}
    result = await run_node("echo_client.js", config, seconds=40)

    assert not result["timedOut"], result
    assert result["mismatches"] == 0, result["firstMismatch"]
    assert result["received"] == {"text": 500, "binary": 100}
    assert result["closeReason"] == "transport close"
    with trio.fail_after(10):
        while result["sid"] not in reasons:
            await trio.sleep(0.01)
    assert reasons[result["sid"]] == "server disconnect"
    expected = "polling" if transports == ["polling"] else "websocket"
    assert transports_at_close[result["sid"]] == expected
    assert result["transportAtClose"] == expected
    if transports is None:
        assert result["upgraded"]
