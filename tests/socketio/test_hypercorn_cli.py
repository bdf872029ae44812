"""Our Socket.IO server under the real ``hypercorn --worker-class trio app:app`` command line.

The engine starts from the ASGI lifespan in hypercorn's worker process; npm
``socket.io-client`` then runs its whole scenario script with the upgrade.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from conftest import HERE, require_node_modules, run_json

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(port: int, process: trio.Process) -> None:
    while True:
        assert process.returncode is None, f"hypercorn exited early with {process.returncode}"
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            await trio.sleep(0.1)
        else:
            await stream.aclose()
            return


async def test_under_hypercorn_cli(tmp_path: Path) -> None:
    require_node_modules("socket.io-client")
    hypercorn = Path(sys.executable).with_name("hypercorn")
    if not hypercorn.exists():
        found = shutil.which("hypercorn")
        if found is None:
            pytest.skip("the hypercorn command is not installed")
        hypercorn = Path(found)
    port = free_port()
    log = tmp_path / "hypercorn.log"
    command = [str(hypercorn), "--worker-class", "trio", "app:app", "--bind", f"127.0.0.1:{port}"]
    with log.open("wb") as output:
        process = await trio.lowlevel.open_process(
            command,
            cwd=HERE,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with trio.fail_after(20):
            await wait_listening(port, process)
        config = json.dumps({"url": f"http://127.0.0.1:{port}", "transports": None})
        result = await run_json(["node", str(HERE / "js" / "sio_client.js"), config], seconds=40)
        assert result.get("error") is None, (result, log.read_text())
        assert result["transport"] == "websocket"
        assert result["echo"] == ["a", "010203", "ff", "x", 7]
        assert result["ok"] is True
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(10):
                await process.wait()
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
