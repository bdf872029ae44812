"""Our echo server under the real hypercorn command line, with no extra flags.

``hypercorn --worker-class trio examples.echo_server:app --bind 127.0.0.1:PORT``
runs as a subprocess (its default single worker is a spawned child process, so
the engine starts from the ASGI lifespan of that child); the JavaScript
``engine.io-client`` then does the full exchange with the websocket upgrade.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypercorn_cli import run_hypercorn_cli

from ..where import REPO
from .conftest import require_node_modules, run_node

pytestmark = pytest.mark.interop


async def test_echo_server_under_hypercorn_cli(tmp_path: Path) -> None:
    require_node_modules("engine.io-client")
    log = tmp_path / "hypercorn.log"
    async with run_hypercorn_cli("examples.echo_server:app", cwd=REPO, log=log) as served:
        config = {
            "url": served.url,
            "texts": 1000,
            "binaries": 200,
            "maxBinary": 64 * 1024,
            "seed": 42,
            "window": 400_000,
            "phases": {"open": 250, "tick": 100, "upgrading": 150, "upgrade": 150},
            "timeoutMs": 50_000,
        }
        result = await run_node("echo_client.js", config, seconds=60)
    port, process = served.port, served.process
    text = log.read_text(errors="replace")
    assert not result["timedOut"], result
    assert result["mismatches"] == 0, result["firstMismatch"]
    assert result["received"] == {"text": 1000, "binary": 200}
    assert result["upgraded"], result
    assert result["transportAtClose"] == "websocket"
    assert result["closeReason"] == "forced close"
    assert f"Running on http://127.0.0.1:{port}" in text
    assert "Traceback" not in text, text
    assert process.returncode == 0, text
