"""Run a scale-out deployment on this machine: trio_engineio nodes behind nginx, on a Redis bus.

Each node is ``hypercorn --worker-class trio APP`` in its own process, with its node id in
``EIO_NODE_ID`` and the Redis URL in ``EIO_REDIS_URL``; nginx, configured from
``nginx.conf.template`` (the configuration the how-to shows), routes requests by their
``sid``. Everything listens on free 127.0.0.1 ports and keeps its files (logs, pid,
nginx's temporary files) in one directory. Used by ``python -m examples.scale_out`` and
by the tests in ``tests/peers/deployment/``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

__all__ = [
    "TEMPLATE",
    "Deployment",
    "Service",
    "find_binary",
    "free_port",
    "open_deployment",
    "open_redis",
    "render_nginx_conf",
]

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
#: How long a process may take to listen on its port, or to stop.
STARTUP_TIMEOUT = 20.0


def find_binary(name: str) -> str | None:
    """The path of ``name`` (looking in /usr/sbin too, where Debian puts nginx), or ``None``."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def render_nginx_conf(nodes: Mapping[str, str], *, listen: str, prefix: Path) -> str:
    """``nginx.conf.template`` for ``nodes`` (node id -> ``host:port``), listening on ``listen``."""
    text = TEMPLATE.read_text()
    replacements = {
        "@PREFIX@": str(prefix),
        "@LISTEN@": listen,
        "@ALL_NODES@": "\n".join(f"        server {address};" for address in nodes.values()),
        "@UPSTREAMS@": "\n".join(
            f"    upstream node_{node_id} {{ server {address}; }}" for node_id, address in nodes.items()
        ),
        "@NODE_MAP@": "\n".join(f"        ~^{node_id}\\. node_{node_id};" for node_id in nodes),
    }
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return text


@dataclass
class Service:
    """One child process (a node, nginx, Redis), its port and its log file."""

    name: str
    port: int
    process: trio.Process
    log: Path

    async def wait_listening(self, seconds: float = STARTUP_TIMEOUT) -> None:
        """Return once the port accepts connections; ``RuntimeError`` if the process exits."""
        with trio.fail_after(seconds):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({self.process.returncode}): {self.tail()}")
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", self.port)
                except OSError:
                    await trio.sleep(0.02)
                    continue
                await stream.aclose()
                return

    async def stop(self, sig: int = signal.SIGTERM, seconds: float = STARTUP_TIMEOUT) -> int:
        """Send ``sig`` and wait for the exit status (SIGKILL after ``seconds``)."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
            with trio.move_on_after(seconds):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
        return await self.process.wait()

    def tail(self, characters: int = 3000) -> str:
        """The end of the log file."""
        try:
            return self.log.read_text(errors="replace")[-characters:]
        except OSError:
            return ""


async def _spawn(
    name: str, port: int, command: list[str], log: Path, env: Mapping[str, str] | None = None
) -> Service:
    with log.open("ab") as out:
        process = await trio.lowlevel.open_process(
            command, stdin=None, stdout=out, stderr=out, env=None if env is None else dict(env)
        )
    return Service(name, port, process, log)


@asynccontextmanager
async def _running(service: Service) -> AsyncIterator[Service]:
    try:
        await service.wait_listening()
        yield service
    finally:
        with trio.CancelScope(shield=True):
            await service.stop()


@asynccontextmanager
async def open_redis(directory: Path) -> AsyncIterator[str]:
    """A ``redis-server`` on a free port (persistence off) for the block; yields its URL."""
    binary = find_binary("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/bootstrap.sh installs it)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(directory)]
    async with _running(await _spawn("redis", port, command, directory / "redis.log")):
        yield f"redis://127.0.0.1:{port}/0"


@dataclass
class Deployment:
    """A running deployment: nginx in front, the nodes behind it."""

    #: nginx's URL: what clients connect to.
    url: str
    #: Each node's own URL (behind nginx), by node id.
    nodes: dict[str, str]
    #: The processes, by name (``"nginx"``, ``"node a"``…).
    services: dict[str, Service]
    directory: Path

    @property
    def access_log(self) -> Path:
        """nginx's access log: ``... "GET /engine.io/?... HTTP/1.1" 200 upstream=HOST:PORT sid=a.xyz``."""
        return self.directory / "access.log"


@asynccontextmanager
async def open_deployment(
    app: str,
    node_ids: Sequence[str],
    *,
    redis_url: str,
    directory: Path,
    env: Mapping[str, str] | None = None,
    pythonpath: Sequence[str] = (),
    listen_port: int | None = None,
) -> AsyncIterator[Deployment]:
    """Start one hypercorn process per node serving ``app`` (``module:attribute``), then nginx.

    ``env`` adds environment variables for the nodes, ``pythonpath`` directories to import
    ``app`` from; nginx listens on ``listen_port`` (default: a free port). Leaving the
    block stops nginx, then the nodes (SIGTERM: graceful).
    """
    nginx = find_binary("nginx")
    if nginx is None:
        raise RuntimeError("nginx is not installed (scripts/bootstrap.sh installs it)")
    await trio.Path(directory).mkdir(parents=True, exist_ok=True)
    ports = {node_id: free_port() for node_id in node_ids}
    path = os.pathsep.join([*pythonpath, os.environ.get("PYTHONPATH", "")]).strip(os.pathsep)
    base_env = {**os.environ, **(env or {}), "EIO_REDIS_URL": redis_url, "PYTHONPATH": path}
    async with AsyncExitStack() as stack:
        nodes: list[Service] = []
        for node_id, port in ports.items():
            command = [sys.executable, "-m", "hypercorn", "--worker-class", "trio"]
            command += ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", app]
            node_env = {**base_env, "EIO_NODE_ID": node_id}
            nodes.append(
                await _spawn(f"node {node_id}", port, command, directory / f"node-{node_id}.log", node_env)
            )
        for service in nodes:
            await stack.enter_async_context(_running(service))
        listen_port = listen_port or free_port()
        conf = directory / "nginx.conf"
        addresses = {node_id: f"127.0.0.1:{port}" for node_id, port in ports.items()}
        conf.write_text(render_nginx_conf(addresses, listen=f"127.0.0.1:{listen_port}", prefix=directory))
        command = [nginx, "-e", str(directory / "error.log"), "-c", str(conf), "-p", str(directory)]
        front = await _spawn("nginx", listen_port, command, directory / "nginx.out")
        await stack.enter_async_context(_running(front))
        yield Deployment(
            url=f"http://127.0.0.1:{listen_port}",
            nodes={node_id: f"http://{address}" for node_id, address in addresses.items()},
            services={"nginx": front, **{s.name: s for s in nodes}},
            directory=directory,
        )
