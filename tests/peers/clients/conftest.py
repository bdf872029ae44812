"""Fixtures for the interop tests: our server in-process, real peers in subprocesses.

* ``echo_server(**options)`` serves an echo :class:`trio_engineio.Server` with
  ``serve_app`` (tests/loopback.py) on ``127.0.0.1:0`` inside the test's nursery and
  records, per session, what the handlers saw (transport, message counts, the
  disconnect reason).
* ``run_json(command, seconds=...)`` runs a peer script (Node or Python) that
  prints one JSON line with its outcome, and returns that dict.

The npm packages live in ``tests/js/node_modules`` (``npm ci`` in tests/js);
the Node scripts in ``tests/peers/clients/js`` find them by path. Tests skip when a
peer is missing (no node_modules, no chromium, no python-engineio/aiohttp).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from loopback import ServeApp

import trio_engineio

from ..where import NODE_MODULES

HERE = Path(__file__).parent
JS_DIR = HERE / "js"
PY_DIR = HERE / "py"


@dataclass
class SessionRecord:
    """What the server's handlers saw of one session."""

    sid: str
    transport_at_connect: str
    transports_seen: list[str] = field(default_factory=list)
    texts: int = 0
    binaries: int = 0
    bytes: int = 0
    disconnect_reason: str | None = None
    disconnected: trio.Event = field(default_factory=trio.Event)

    def saw(self, transport: str) -> None:
        if not self.transports_seen or self.transports_seen[-1] != transport:
            self.transports_seen.append(transport)


class RecordingApp(trio_engineio.ASGIApp):
    """An :class:`ASGIApp` that remembers the status of every response it sent.

    ``responses`` gets ``(kind, method, status)``: ``("http", "GET", 200)``, and for
    websockets ``("websocket", "GET", 101)`` on accept or the status of a refusal
    (403 when closed before accept, as hypercorn answers, or the status of a
    ``websocket.http.response``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.responses: list[tuple[str, str, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await super().__call__(scope, receive, send)
            return
        method = scope.get("method", "GET")
        answered = False

        async def recording_send(message: dict[str, Any]) -> None:
            nonlocal answered
            event = message["type"]
            if not answered:
                status = None
                if event in ("http.response.start", "websocket.http.response.start"):
                    status = message["status"]
                elif event == "websocket.accept":
                    status = 101
                elif event == "websocket.close":
                    status = 403
                if status is not None:
                    answered = True
                    self.responses.append((kind, method, status))
            await send(message)

        await super().__call__(scope, receive, recording_send)


@dataclass
class Served:
    """One served echo server and its sessions."""

    server: trio_engineio.Server
    app: RecordingApp
    url: str
    sessions: dict[str, SessionRecord] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def disconnect_reason(self, sid: str, seconds: float = 10) -> str:
        """Wait for the disconnect handler of ``sid``; return its reason."""
        record = self.sessions[sid]
        with trio.fail_after(seconds):
            await record.disconnected.wait()
        assert record.disconnect_reason is not None
        return record.disconnect_reason


StartServer = Callable[..., Awaitable[Served]]


@pytest.fixture
async def echo_server(serve_app: ServeApp) -> StartServer:
    """A factory: ``served = await echo_server(**server_options)``.

    ``static_files`` goes to :class:`ASGIApp`; everything else to :class:`Server`.
    Every message is echoed with ``server.send`` from the python-engineio-style
    ``message`` handler. Teardown shuts the server down gracefully.
    """

    async def start(*, static_files: Any = None, **options: Any) -> Served:
        server = trio_engineio.Server(**options)
        app = RecordingApp(server, static_files=static_files)
        served = Served(server, app, "")

        def connect(sid: str, environ: Any) -> None:
            served.sessions[sid] = SessionRecord(sid, server.transport(sid))

        async def message(sid: str, data: str | bytes) -> None:
            record = served.sessions[sid]
            record.saw(server.transport(sid))
            if isinstance(data, bytes):
                record.binaries += 1
            else:
                record.texts += 1
            record.bytes += len(data)
            await server.send(sid, data)

        def disconnect(sid: str, reason: str) -> None:
            record = served.sessions[sid]
            record.disconnect_reason = reason
            record.disconnected.set()

        server.on("connect", connect)
        server.on("message", message)
        server.on("disconnect", disconnect)
        served.url = await serve_app(app)
        return served

    return start


def require_node_modules(*packages: str) -> None:
    """Skip unless node and the npm packages are installed."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    for package in packages:
        if not (NODE_MODULES / package).is_dir():
            pytest.skip(f"{NODE_MODULES / package} is missing: run `npm ci` in tests/js")


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (for peers that need one up front)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_json(
    command: list[str], *, seconds: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run a peer script; return the JSON object on the last line of its stdout.

    The process is killed after ``seconds`` (the test then fails with
    ``trio.TooSlowError``). A missing or unparsable result fails the test with
    the script's stderr.
    """
    full_env = dict(os.environ, **(env or {}))
    with trio.fail_after(seconds):
        completed = await trio.run_process(
            command,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=full_env,
            stdin=subprocess.DEVNULL,
        )
    stdout = completed.stdout.decode(errors="replace").strip()
    stderr = completed.stderr.decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        pytest.fail(
            f"{command[:2]} printed no result (exit {completed.returncode})\n"
            f"stdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    result["_exit"] = completed.returncode
    result["_stderr"] = stderr[-3000:]
    return result


async def run_node(script: str, config: dict[str, Any], *, seconds: float) -> dict[str, Any]:
    """Run ``tests/peers/clients/js/<script>`` with ``config`` as its JSON argument."""
    return await run_json(["node", str(JS_DIR / script), json.dumps(config)], seconds=seconds)
