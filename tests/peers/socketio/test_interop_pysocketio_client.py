"""python-socketio 5.x ``AsyncClient`` (a subprocess, asyncio + aiohttp) against our server under hypercorn.

Events with binary attachments acked back, a server-to-client call inside a
handler, two namespaces on one engine session (the second's connect handler
emits first), rooms, the auth payload and a refused connect.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from trio_engineio import socketio

from .app import make_server
from .conftest import HERE, ServeApp, run_json

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

TRANSPORTS: dict[str, Any] = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}


@pytest.mark.parametrize("case", list(TRANSPORTS))
async def test_python_socketio_client(serve_app: ServeApp, case: str) -> None:
    pytest.importorskip("socketio")
    pytest.importorskip("aiohttp")
    sio = make_server()
    url = await serve_app(socketio.ASGIApp(sio))
    config = json.dumps({"url": url, "transports": TRANSPORTS[case]})
    result = await run_json([sys.executable, str(HERE / "py" / "pysio_client.py"), config], seconds=40)
    assert result["_exit"] == 0, result
    assert result["transport"] == ("polling" if case == "polling" else "websocket")
    assert result["echo"] == ["a", "0102", "ff", 7]
    assert result["ask"] == {"answer": 42}
    assert result["welcome"] is True
    assert result["joined"][1] == "r"
    assert "failed to connect" in result["refused"]
    assert result["connect_error"] == {"message": "Connection rejected by server"}
    assert result["ok"] is True
