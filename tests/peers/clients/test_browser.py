"""A real browser: Debian's headless Chromium driven by playwright-core (tests/peers/clients/js/browser.js).

* The chat demo (examples/chat) served by our server: the page's engine.io-client
  (the npm browser build) upgrades to websocket, a message typed into the form is
  broadcast back and shown, and a screenshot lands in ``artifacts/chat.png``.
* Cross-origin: a page from one loopback port connects to an Engine.IO server on
  another port. With ``cors_allowed_origins`` set to the page's origin it connects
  (polling, then the websocket upgrade) and exchanges text and binary messages; with
  the default same-origin policy the server answers 403 and the page sees the
  connection fail.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest
import trio

import trio_engineio

from ..where import ARTIFACTS, CHROMIUM, CLIENT_BUILD, REPO
from .conftest import JS_DIR, ServeApp, StartServer, require_node_modules, run_node

pytestmark = pytest.mark.interop


@pytest.fixture(autouse=True)
def _browser() -> None:
    require_node_modules("playwright-core", "engine.io-client")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


def load_chat_example() -> ModuleType:
    """examples/chat/server.py, loaded by path (the examples are not an installed package)."""
    path = REPO / "examples" / "chat" / "server.py"
    spec = importlib.util.spec_from_file_location("_interop_chat_server", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def browse(config: dict[str, Any]) -> dict[str, Any]:
    result = await run_node(
        "browser.js", {"chromium": str(CHROMIUM), "timeoutMs": 50_000, **config}, seconds=60
    )
    assert result["ok"], result.get("error")
    return result


async def test_chat_demo(serve_app: ServeApp) -> None:
    chat = load_chat_example()
    app = chat.build_app(ping_interval=5, ping_timeout=5)
    url = await serve_app(app)
    screenshot = ARTIFACTS / "chat.png"
    screenshot.unlink(missing_ok=True)
    message = "hello from Chromium ✓"

    result = await browse(
        {"mode": "chat", "url": url + "/", "message": message, "screenshot": str(screenshot)}
    )

    assert result["status"]["transport"] == "websocket"
    assert result["status"]["state"] == "open"
    assert result["status"]["text"].startswith("connected as guest-")
    assert any(line.endswith(f": {message}") for line in result["log"]), result["log"]
    assert any("joined" in line for line in result["log"]), result["log"]
    assert result["inputAfter"] == ""
    assert result["seen"]["pageErrors"] == []
    assert result["seen"]["console"] == []
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"chat screenshot: {screenshot}")

    stats = app.server.statistics()
    assert stats.sessions_opened == 1
    assert stats.handler_errors == 0
    # The browser is gone: its session ends (websocket closed without a CLOSE packet).
    with trio.fail_after(10):
        while app.server.statistics().sessions:
            await trio.sleep(0.05)
    assert app.server.statistics().sessions_closed == {"transport close": 1}


async def test_cross_origin(serve_app: ServeApp, echo_server: StartServer) -> None:
    page_server = trio_engineio.Server()
    page_app = trio_engineio.ASGIApp(
        page_server,
        static_files={
            "/": str(JS_DIR / "pages" / "cross_origin.html"),
            "/engine.io.js": {"filename": str(CLIENT_BUILD), "content_type": "application/javascript"},
        },
    )
    origin = await serve_app(page_app)
    allowed = await echo_server(cors_allowed_origins=origin, ping_interval=5, ping_timeout=5)
    refused = await echo_server(ping_interval=5, ping_timeout=5)  # default: same origin only
    assert allowed.port != refused.port != int(origin.rsplit(":", 1)[1])

    pages = {
        "allowed": f"{origin}/?target={allowed.url}",
        "allowed-websocket": f"{origin}/?target={allowed.url}&transports=websocket",
        "refused": f"{origin}/?target={refused.url}",
        "refused-websocket": f"{origin}/?target={refused.url}&transports=websocket",
    }
    result = await browse({"mode": "pages", "pages": [{"name": k, "url": v} for k, v in pages.items()]})
    outcome = result["pages"]

    ok = outcome["allowed"]
    assert ok["done"], ok
    assert ok["openTransport"] == "polling"
    assert ok["upgraded"]
    assert ok["transportAtClose"] == "websocket"
    assert len(ok["received"]) == 12
    assert ok["mismatches"] == 0, ok
    assert ok["closeReason"] == "forced close"
    polls = [r for r in ok["seen"]["engineio"] if r["method"] in ("GET", "POST")]
    assert polls
    assert all(r["status"] == 200 for r in polls), polls

    ws = outcome["allowed-websocket"]
    assert ws["done"], ws
    assert ws["openTransport"] == "websocket"
    assert len(ws["received"]) == 6
    assert ws["mismatches"] == 0, ws

    records = sorted(allowed.sessions.values(), key=lambda r: r.transport_at_connect)
    assert [r.transports_seen for r in records] == [["polling", "websocket"], ["websocket"]]
    assert [(r.texts, r.binaries) for r in records] == [(10, 2), (5, 1)]
    for record in records:
        assert await allowed.disconnect_reason(record.sid) == "transport close"

    for name in ("refused", "refused-websocket"):
        page = outcome[name]
        assert page["done"], page
        assert page["openTransport"] is None
        assert page["received"] == []
        assert page["closeReason"] == "transport error", page
    # Chromium hides the status of a response that CORS blocks; the server recorded it.
    assert refused.app.responses == [("http", "GET", 403), ("websocket", "GET", 403)]
    assert any("blocked by CORS policy" in line for line in outcome["refused"]["seen"]["console"])
    assert any(
        "Unexpected response code: 403" in line for line in outcome["refused-websocket"]["seen"]["console"]
    )
    assert refused.sessions == {}
    assert refused.server.statistics().requests_rejected == 2
