"""Fixtures for the client tests: real peers (JavaScript engine.io, python-engineio) in subprocesses."""

from __future__ import annotations

import sys
from contextlib import AbstractAsyncContextManager

import pytest
from client_helpers import HERE, JS_DIR, NODE_MODULES, PeerFactory, run_peer
from trio.testing import MockClock


@pytest.fixture
def js_server() -> PeerFactory:
    """``async with js_server("--ping-interval", "300") as url`` runs tests/js/echo_server.js."""
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
        return run_peer([sys.executable, str(HERE / "pyengineio_echo.py"), *args])

    return start


@pytest.fixture
def io_clock() -> MockClock:
    """A MockClock that jumps only after 50 ms of real idleness.

    For timer tests over real loopback sockets: the clock cannot jump while bytes are in
    flight, yet heartbeat and upgrade timeouts cost (almost) no wall time.
    """
    return MockClock(autojump_threshold=0.05)
