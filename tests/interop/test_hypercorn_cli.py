"""Our echo server under the real hypercorn command line, with no extra flags.

``hypercorn --worker-class trio examples.echo_server:app --bind 127.0.0.1:PORT``
runs as a subprocess (its default single worker is a spawned child process, so
the engine starts from the ASGI lifespan of that child); the JavaScript
``engine.io-client`` then does the full exchange with the websocket upgrade.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from .conftest import REPO, free_port, require_node_modules, run_node

pytestmark = pytest.mark.interop


def hypercorn_command() -> str:
    beside = Path(sys.executable).with_name("hypercorn")
    if beside.exists():
        return str(beside)
    found = shutil.which("hypercorn")
    if found is None:
        pytest.skip("the hypercorn command is not installed")
    return found


async def wait_listening(port: int, process: trio.Process) -> None:
    while True:
        if process.returncode is not None:
            raise AssertionError(f"hypercorn exited early with {process.returncode}")
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            await trio.sleep(0.1)
        else:
            await stream.aclose()
            return


async def stop(process: trio.Process) -> None:
    """SIGTERM (hypercorn's graceful shutdown), then SIGKILL to its process group."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(10):
            await process.wait()
    if process.returncode is None:
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def test_echo_server_under_hypercorn_cli(tmp_path: Path) -> None:
    require_node_modules("engine.io-client")
    port = free_port()
    log = tmp_path / "hypercorn.log"
    command = [
        hypercorn_command(),
        "--worker-class",
        "trio",
        "examples.echo_server:app",
        "--bind",
        f"127.0.0.1:{port}",
    ]
    with log.open("wb") as output:
        process = await trio.lowlevel.open_process(
            command,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its worker child goes with it on SIGKILL
        )
    try:
        with trio.fail_after(20):
            await wait_listening(port, process)
        config = {
            "url": f"http://127.0.0.1:{port}",
            "texts": 1000,
            "binaries": 200,
            "maxBinary": 64 * 1024,
            "seed": 42,
            "window": 400_000,
            "phases": {"open": 250, "tick": 100, "upgrading": 150, "upgrade": 150},
            "timeoutMs": 50_000,
        }
        result = await run_node("echo_client.js", config, seconds=60)
    finally:
        with trio.CancelScope(shield=True):
            await stop(process)
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
