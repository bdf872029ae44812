"""Fixtures for the Socket.IO tests: serving an app on 127.0.0.1:0 and running peer scripts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

import trio_engineio

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
NODE_MODULES = HERE.parent / "js" / "node_modules"

ServeApp = Callable[[Any], Awaitable[str]]


@pytest.fixture
async def serve_app(nursery: trio.Nursery) -> AsyncIterator[ServeApp]:
    """``url = await serve_app(asgi_app)`` serves it with ``trio_engineio.serve`` on 127.0.0.1:0."""
    stops: list[tuple[trio.Event, trio.Event]] = []

    async def start(app: Any) -> str:
        stop, stopped = trio.Event(), trio.Event()

        async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await trio_engineio.serve(
                    app, "127.0.0.1", 0, shutdown_trigger=stop.wait, task_status=task_status
                )
            finally:
                stopped.set()

        binds = await nursery.start(run)
        stops.append((stop, stopped))
        return str(next(b for b in binds if b.startswith("http://127.0.0.1:")))

    yield start
    with trio.fail_after(15):
        for stop, stopped in stops:
            stop.set()
            await stopped.wait()


def require_node_modules(*packages: str) -> None:
    """Skip unless node and the npm packages are installed."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    for package in packages:
        if not (NODE_MODULES / package).is_dir():
            pytest.skip(f"{NODE_MODULES / package} is missing: run `npm ci` in tests/js")


async def run_json(command: list[str], *, seconds: float) -> dict[str, Any]:
    """Run a peer script; return the JSON object on the last ``{`` line of its stdout."""
    with trio.fail_after(seconds):
        completed = await trio.run_process(
            command,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ),
        )
    stdout = completed.stdout.decode(errors="replace").strip()
    stderr = completed.stderr.decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        status = f"{command[:2]} printed no result (exit {completed.returncode})"
        pytest.fail(f"{status}\n{stdout[-3000:]}\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["_exit"] = completed.returncode
    result["_stderr"] = stderr[-3000:]
    return result
