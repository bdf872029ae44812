"""npm ``socket.io-client`` 4.8's browser build in Debian's headless Chromium against our server.

The page (``pages/sio.html``, served by our ASGIApp with the client build straight
from ``tests/js/node_modules``) runs the scenario of ``js/sio_client.js``: binary
attachments nested in objects acked back, a server-to-client call, a second
namespace on the same engine session, a refused connect with data; once per
transport setting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from trio_engineio import socketio

from .app import make_server
from .conftest import HERE, NODE_MODULES, ServeApp, require_node_modules, run_json

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(autouse=True)
def _browser() -> None:
    require_node_modules("playwright-core", "socket.io-client")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


async def test_browser_socketio_client(serve_app: ServeApp) -> None:
    static = {
        "/": str(HERE / "pages" / "sio.html"),
        "/socket.io.js": str(NODE_MODULES / "socket.io-client" / "dist" / "socket.io.js"),
    }
    url = await serve_app(socketio.ASGIApp(make_server(), static_files=static))
    cases = {"polling": "polling", "websocket": "websocket", "upgrade": ""}
    urls = [f"{url}/?transports={value}" for value in cases.values()]
    config = json.dumps({"chromium": str(CHROMIUM), "urls": urls})
    outcome = await run_json(["node", str(HERE / "js" / "sio_browser.js"), config], seconds=80)
    assert outcome.get("error") is None, outcome
    for case, result in zip(cases, outcome["results"], strict=True):
        assert result.get("error") is None, (case, result)
        assert result["pageErrors"] == [], (case, result)
        assert result["echo"] == ["a", "010203", 7], case
        assert result["ask"] == {"answer": 42}, case
        assert result["welcome"] is True, case
        assert result["sameEngine"] is True, case
        assert result["refused"] == {"message": "Not authorized", "data": {"code": 401}}, case
        assert result["transport"] == ("polling" if case == "polling" else "websocket"), case
