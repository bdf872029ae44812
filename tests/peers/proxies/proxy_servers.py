"""Real proxies for the client tests: Debian's tinyproxy (HTTP) and microsocks (SOCKS5).

Each runs as a plain process on a free loopback port with its log in a file, so a
test can prove its traffic went through the proxy. ``scripts/bootstrap.sh``
installs both; without them the tests that need them skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio


@dataclass
class RunningProxy:
    """A proxy process: its URL (with credentials when it wants them) and its log."""

    url: str
    port: int
    log_path: Path

    def log(self) -> str:
        """The proxy's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/bootstrap.sh installs it)")
    return path


async def _wait_listening(port: int, process: trio.Process, name: str) -> None:
    with trio.fail_after(10):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}")
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.02)
                continue
            await stream.aclose()
            return


@asynccontextmanager
async def _process(command: list[str], port: int, name: str, output: Path) -> AsyncIterator[None]:
    with output.open("wb") as sink:
        process = await trio.lowlevel.open_process(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        await _wait_listening(port, process, name)
        yield
    finally:
        with trio.CancelScope(shield=True):
            process.terminate()
            with trio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


@asynccontextmanager
async def run_tinyproxy(
    tmp_path: Path, *, auth: tuple[str, str] | None = None, with_credentials: bool = True
) -> AsyncIterator[RunningProxy]:
    """tinyproxy on 127.0.0.1 (CONNECT to any port allowed); ``auth`` turns on BasicAuth.

    The URL carries the credentials unless ``with_credentials`` is False.
    """
    binary = _binary("tinyproxy")
    port = free_port()
    log_path = tmp_path / f"tinyproxy-{port}.log"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 60",
        f'LogFile "{log_path}"',
        "LogLevel Info",
        "MaxClients 50",
        "Allow 127.0.0.1",
    ]
    if auth is not None:
        lines.append(f"BasicAuth {auth[0]} {auth[1]}")
    conf = tmp_path / f"tinyproxy-{port}.conf"
    conf.write_text("\n".join(lines) + "\n")
    userinfo = f"{auth[0]}:{auth[1]}@" if auth is not None and with_credentials else ""
    async with _process([binary, "-d", "-c", str(conf)], port, "tinyproxy", tmp_path / "tinyproxy.out"):
        yield RunningProxy(f"http://{userinfo}127.0.0.1:{port}", port, log_path)


@asynccontextmanager
async def run_microsocks(
    tmp_path: Path, *, auth: tuple[str, str] | None = None, url_auth: tuple[str, str] | None = None
) -> AsyncIterator[RunningProxy]:
    """microsocks on 127.0.0.1; ``auth`` requires username/password, ``url_auth`` goes in the URL."""
    binary = _binary("microsocks")
    port = free_port()
    log_path = tmp_path / f"microsocks-{port}.log"
    command = [binary, "-i", "127.0.0.1", "-p", str(port)]
    if auth is not None:
        command += ["-u", auth[0], "-P", auth[1]]
    userinfo = f"{url_auth[0]}:{url_auth[1]}@" if url_auth is not None else ""
    async with _process(command, port, "microsocks", log_path):
        yield RunningProxy(f"socks5://{userinfo}127.0.0.1:{port}", port, log_path)
