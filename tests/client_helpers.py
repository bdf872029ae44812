"""Helpers for the client tests of every layer: the client, message exchanges, sockets left open."""

from __future__ import annotations

import os
import random

import trio

import trio_engineio

open_client = trio_engineio.open_client
Client = trio_engineio.Client


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
