"""Our Socket.IO server under the real ``hypercorn --worker-class trio app:app`` command line.

The engine starts from the ASGI lifespan in hypercorn's worker process; npm
``socket.io-client`` then runs its whole scenario script with the upgrade.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypercorn_cli import run_hypercorn_cli

from .conftest import HERE, require_node_modules, run_json

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


async def test_under_hypercorn_cli(tmp_path: Path) -> None:
    require_node_modules("socket.io-client")
    async with run_hypercorn_cli("app:app", cwd=HERE, log=tmp_path / "hypercorn.log") as served:
        config = json.dumps({"url": served.url, "transports": None})
        result = await run_json(["node", str(HERE / "js" / "sio_client.js"), config], seconds=40)
        assert result.get("error") is None, (result, (tmp_path / "hypercorn.log").read_text())
        assert result["transport"] == "websocket"
        assert result["echo"] == ["a", "010203", "ff", "x", 7]
        assert result["ok"] is True
