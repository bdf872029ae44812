"""Helpers for the client tests: the client under test, peer processes, message exchanges."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import trio

import trio_engineio

HERE = Path(__file__).parent
JS_DIR = HERE.parent / "js"
NODE_MODULES = JS_DIR / "node_modules"

# The public names, once trio_engineio/__init__.py re-exports them; the private ones until then.
open_client = trio_engineio.open_client
Client = trio_engineio.Client

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


def open_socket_count() -> int:
    """Sockets this process holds open (Linux), to check the client leaves none behind."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def make_messages(seed: int, *, texts: int = 1000, binaries: int = 200) -> list[str | bytes]:
    """Numbered text messages, then binary ones of random sizes up to 64 KiB.

    Texts are not valid JSON, so peers that JSON-decode messages (python-engineio) echo them as is.
    """
    rng = random.Random(seed)
    messages: list[str | bytes] = [f"message #{i:04d} ünïcode ✓" for i in range(texts)]
    for i in range(binaries):
        size = rng.randint(0, 64 * 1024)
        messages.append(i.to_bytes(2, "big") + rng.randbytes(size))
    return messages


async def echo_exchange(conn: trio_engineio.ClientConnection, messages: list[str | bytes]) -> None:
    """Send every message while receiving the echoes; assert all came back intact and in order."""
    received: list[str | bytes] = []

    async def sender() -> None:
        for message in messages:
            await conn.send(message)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        for _ in messages:
            received.append(await conn.receive())
    assert len(received) == len(messages)
    for index, (got, sent) in enumerate(zip(received, messages, strict=True)):
        assert type(got) is type(sent), index
        assert got == sent, index
