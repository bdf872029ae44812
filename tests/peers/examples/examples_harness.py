"""Helpers for the example tests: run each example as its docstring says (``python -m examples.NAME``).

* ``start_example(module, *args)`` starts a server example on ``--port 0`` as a
  subprocess, waits for the first line it prints (which carries the URL) and
  returns a :class:`RunningExample`. Teardown sends SIGTERM (the examples' graceful
  shutdown trigger) and checks that the process exited with status 0.
* ``run_example(module, *args, seconds=...)`` runs a client example to completion
  and returns its exit status and output.

Every wait has a time cap; a stuck example fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from ..where import CHROMIUM, NODE_MODULES, REPO

#: Short heartbeats so nothing in these tests waits for a 25 s ping.
FAST_PINGS = {"EIO_PING_INTERVAL": "2", "EIO_PING_TIMEOUT": "2"}


@dataclass
class RunningExample:
    """A server example running in a subprocess."""

    process: trio.Process
    first_line: str
    log: Path

    @property
    def url(self) -> str:
        """The base URL the example printed (``http://127.0.0.1:PORT``)."""
        match = re.search(r"http://[\w.\[\]:]+", self.first_line)
        assert match, self.first_line
        return match.group(0)

    async def stop(self, seconds: float = 15) -> int:
        """SIGTERM, then wait for the exit status (SIGKILL after ``seconds``)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(seconds):
                await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"example did not stop on SIGTERM within {seconds} s\n{self.log.read_text()[-3000:]}")
        return self.process.returncode


@dataclass
class Finished:
    """A client example that ran to completion."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


StartExample = Callable[..., Awaitable[RunningExample]]
RunExample = Callable[..., Awaitable[Finished]]


def example_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra or {}))
    env.pop("PYTHONPATH", None)
    return env


async def read_line(stream: trio.abc.ReceiveStream, process: trio.Process, log: Path) -> str:
    data = b""
    while b"\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk:
            output = await trio.Path(log).read_text()
            pytest.fail(f"example exited ({process.returncode}) before printing its URL\n{output}")
        data += chunk
    return data.split(b"\n", 1)[0].decode()


@pytest.fixture
async def start_example(tmp_path: Path) -> AsyncIterator[StartExample]:
    started: list[RunningExample] = []

    async def start(module: str, *args: str, env: dict[str, str] | None = None) -> RunningExample:
        log = tmp_path / f"{module}.{len(started)}.log"
        with log.open("wb") as stderr:
            process = await trio.lowlevel.open_process(
                [sys.executable, "-m", module, "--port", "0", *args],
                cwd=REPO,
                env=example_env(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        assert process.stdout is not None
        try:
            with trio.fail_after(20):
                first = await read_line(process.stdout, process, log)
        except BaseException:
            process.kill()
            await process.wait()
            raise
        running = RunningExample(process, first, log)
        started.append(running)
        return running

    yield start
    with trio.CancelScope(shield=True):
        for running in started:
            code = await running.stop()
            assert code == 0, f"{running.process.args} exited with {code}\n{running.log.read_text()[-3000:]}"
            if running.process.stdout is not None:
                await running.process.stdout.aclose()


@pytest.fixture
def run_example() -> RunExample:
    async def run(module: str, *args: str, seconds: float, env: dict[str, str] | None = None) -> Finished:
        with trio.fail_after(seconds):
            completed = await trio.run_process(
                [sys.executable, "-m", module, *args],
                cwd=REPO,
                env=example_env(env),
                stdin=subprocess.DEVNULL,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        return Finished(
            completed.returncode,
            completed.stdout.decode(errors="replace"),
            completed.stderr.decode(errors="replace"),
        )

    return run


def require_browser() -> None:
    """Skip unless node, playwright-core, engine.io-client and chromium are installed."""
    import shutil

    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    for package in ("playwright-core", "engine.io-client"):
        if not (NODE_MODULES / package).is_dir():
            pytest.skip(f"{NODE_MODULES / package} is missing: run scripts/bootstrap.sh")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
