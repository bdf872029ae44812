"""Fixtures for the client against real servers: npm engine.io and python-engineio in subprocesses.

The npm packages live in ``tests/js/node_modules`` (``npm ci`` in tests/js); ``js/echo_server.js``
finds them by path. Tests skip when a peer is missing.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
import trio

from ..where import NODE_MODULES

HERE = Path(__file__).parent
JS_DIR = HERE / "js"
PY_DIR = HERE / "py"

PeerFactory = Callable[..., AbstractAsyncContextManager[str]]


@asynccontextmanager
async def run_peer(command: list[str], *, cwd: Path | None = None) -> AsyncIterator[str]:
    """Run a peer server that prints its port first; yield its base URL; stop it afterwards.

    Closing the peer's stdin asks it to exit; it is killed if it has not within 5 s.
    """
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        data = b""
        with trio.fail_after(20):
            while b"\n" not in data:
                chunk = await process.stdout.receive_some()
                if not chunk:
                    raise RuntimeError(f"peer {command!r} exited before printing its port")
                data += chunk
        port = int(data.split(b"\n", 1)[0])
        yield f"http://127.0.0.1:{port}"
    finally:
        with trio.CancelScope(shield=True):
            await process.stdin.aclose()
            with trio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.stdout.aclose()


@pytest.fixture
def js_server() -> PeerFactory:
    """``async with js_server("--ping-interval", "300") as url`` runs js/echo_server.js."""
    if not (NODE_MODULES / "engine.io").is_dir():
        pytest.skip(
            "tests/js/node_modules is missing: run `npm ci` in tests/js to enable the JS interop tests"
        )

    def start(*args: str) -> AbstractAsyncContextManager[str]:
        return run_peer(["node", str(JS_DIR / "echo_server.js"), *args], cwd=JS_DIR)

    return start


@pytest.fixture
def py_server() -> PeerFactory:
    """``async with py_server() as url`` runs python-engineio's AsyncServer under uvicorn."""
    pytest.importorskip("engineio")
    pytest.importorskip("uvicorn")

    def start(*args: str) -> AbstractAsyncContextManager[str]:
        return run_peer([sys.executable, str(PY_DIR / "pyengineio_server.py"), *args])

    return start
