"""Fixtures for tests that need a real Redis: ``redis_server`` (reusable from any trio test).

``redis_server`` starts Debian's ``redis-server`` as a plain child process on a free
loopback port, with persistence off and its files (log) in the test's temporary directory,
and stops it after the test. The test can stop and restart it (same port) to make an
outage::

    async def test_something(redis_server: RedisServer) -> None:
        bus = trio_engineio.RedisBus(redis_server.url)
        ...
        await redis_server.stop()     # connections drop, new ones are refused
        await redis_server.start()    # back on the same port, empty

The test is skipped if ``redis-server`` is not installed (``scripts/bootstrap.sh``
installs it). To use it in another package under ``tests/peers/``, import it into that
package's ``conftest.py``::

    from ..redis_bus.conftest import RedisServer, redis_server  # noqa: F401 (a fixture)
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

__all__ = ["RedisServer", "free_port", "redis_server"]

#: How long redis-server may take to start accepting connections, or to stop.
STARTUP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _redis_server_binary() -> str | None:
    return shutil.which("redis-server") or next(
        (path for path in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if Path(path).exists()),
        None,
    )


class RedisServer:
    """A ``redis-server`` child process on ``127.0.0.1:port`` (see the module docstring)."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.log_path = directory / "redis.log"
        self._process: trio.Process | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the process was started and not stopped."""
        return self._process is not None

    async def start(self) -> None:
        """Start the server and return once it answers ``PING``."""
        assert self._process is None, "already running"
        self._process = await trio.lowlevel.open_process(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.log_path),
            ],
            stdin=None,
        )
        with trio.fail_after(STARTUP_TIMEOUT):
            while not await self._answers_ping():
                if self._process.poll() is not None:
                    raise RuntimeError(f"redis-server exited: see {self.log_path}")
                await trio.sleep(0.01)

    async def _answers_ping(self) -> bool:
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", self.port)
        except OSError:
            return False
        async with stream:
            await stream.send_all(b"PING\r\n")
            try:
                return (await stream.receive_some(64)).startswith(b"+PONG")
            except trio.BrokenResourceError:
                return False

    async def stop(self) -> None:
        """Stop the server (SIGTERM) and wait for it to exit; connections to it drop."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        with trio.move_on_after(STARTUP_TIMEOUT):
            await process.wait()
            return
        process.kill()
        await process.wait()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A running :class:`RedisServer`, stopped after the test."""
    binary = _redis_server_binary()
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/bootstrap.sh installs it)")
    server = RedisServer(binary, tmp_path)
    await server.start()
    try:
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await server.stop()
