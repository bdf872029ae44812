"""npm ``socket.io-client`` 4.8 in Node against our Socket.IO server under hypercorn.

One script (``js/sio_client.js``) per transport setting: events with binary
attachments nested in objects acked back, a server-to-client call inside a
handler (acks both ways), a second namespace on the same engine session whose
connect handler emits before anything else, rooms with ``skip_sid``, the auth
payload, a refused connect with data, an unknown namespace.
"""

from __future__ import annotations

from typing import Any

import pytest

from trio_engineio import socketio

from .app import make_server
from .conftest import HERE, ServeApp, require_node_modules, run_json

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

TRANSPORTS: dict[str, Any] = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}


@pytest.mark.parametrize("case", list(TRANSPORTS))
async def test_socketio_client_scenarios(serve_app: ServeApp, case: str) -> None:
    require_node_modules("socket.io-client")
    sio = make_server()
    url = await serve_app(socketio.ASGIApp(sio))
    config = {"url": url, "transports": TRANSPORTS[case]}
    result = await run_json(
        ["node", str(HERE / "js" / "sio_client.js"), __import__("json").dumps(config)], seconds=40
    )
    assert result.get("error") is None, result
    assert result["echo"] == ["a", "010203", "ff", "x", 7]
    assert result["ask"] == {"answer": 42}
    assert result["welcome"] is True
    assert result["sameEngine"] is True
    assert result["joined"][1] == "r"
    assert result["roomMsg"] == "796f"
    assert result["senderGot"] is False
    assert result["refused"] == {"message": "Not authorized", "data": {"code": 401}}
    assert result["invalid"] == "Invalid namespace"
    assert result["badAuth"] == "Connection rejected by server"
    assert result["transport"] == ("polling" if case == "polling" else "websocket")
    assert result["lastEcho"] == "end"
    assert result["ok"] is True
