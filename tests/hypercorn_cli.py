"""``hypercorn --worker-class trio module:app`` as a subprocess, for tests of the command line users run.

:func:`run_hypercorn_cli` binds a free 127.0.0.1 port, waits until it accepts
connections, yields the process and its port, and stops it afterwards: SIGTERM
(hypercorn's graceful shutdown), then SIGKILL to its process group (its worker is
a child process). The process's output goes to ``log``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hypercorn_command() -> str:
    """The ``hypercorn`` beside this Python, or on PATH; skips the test if there is none."""
    beside = Path(sys.executable).with_name("hypercorn")
    if beside.exists():
        return str(beside)
    found = shutil.which("hypercorn")
    if found is None:
        pytest.skip("the hypercorn command is not installed")
    return found


@dataclass
class HypercornProcess:
    """The running command line: its process and the port it listens on."""

    process: trio.Process
    port: int

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def run_hypercorn_cli(
    app: str, *, cwd: Path, log: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[HypercornProcess]:
    """Serve ``app`` (``module:attribute``, imported from ``cwd``) with the trio worker."""
    port = free_port()
    command = [hypercorn_command(), "--worker-class", "trio", app, "--bind", f"127.0.0.1:{port}"]
    with log.open("wb") as output:
        process = await trio.lowlevel.open_process(
            command,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its worker child goes with it on SIGKILL
        )
    try:
        with trio.fail_after(20):
            while True:
                assert process.returncode is None, f"hypercorn exited early with {process.returncode}"
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                except OSError:
                    await trio.sleep(0.05)
                else:
                    await stream.aclose()
                    break
        yield HypercornProcess(process, port)
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                with trio.move_on_after(10):
                    await process.wait()
            if process.returncode is None:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
