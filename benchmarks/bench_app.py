"""trio_engineio under the benchmark conventions (see ``_conventions``), as ASGI ``app``.

Serve with ``hypercorn --worker-class trio benchmarks.bench_app:app``.
``EIO_BENCH_STYLE=events`` uses the python-engineio style API (``@server.on``)
instead of the trio-style connection handler.
"""

from __future__ import annotations

import os

import trio_engineio

from . import _debug
from ._conventions import MAX_PAYLOAD, parse_push, ping_interval_ms, ping_timeout_ms

STYLE = os.environ.get("EIO_BENCH_STYLE", "trio")


async def handler(conn: trio_engineio.Connection) -> None:
    counted = 0
    async for message in conn:
        if isinstance(message, str) and message:
            first = message[0]
            if first == "~":
                counted += 1
                continue
            if message == "?":
                await conn.send(f"={counted}")
                continue
            if first == "!":
                push = parse_push(message)
                if push is not None:
                    payload = "x" * push[1]
                    for _ in range(push[0]):
                        await conn.send(payload)
                    continue
            if first == "#" and _debug.ENABLED:
                await conn.send(_debug.census())
                continue
        await conn.send(message)


server = trio_engineio.Server(
    handler=handler if STYLE == "trio" else None,
    ping_interval=ping_interval_ms() / 1000,
    ping_timeout=ping_timeout_ms() / 1000,
    max_http_buffer_size=MAX_PAYLOAD,
    cors_allowed_origins="*",
)

if STYLE != "trio":
    counts: dict[str, int] = {}

    @server.on("connect")
    async def connect(sid: str, environ: object) -> None:
        counts[sid] = 0

    @server.on("disconnect")
    async def disconnect(sid: str, reason: str) -> None:
        counts.pop(sid, None)

    @server.on("message")
    async def message(sid: str, data: str | bytes) -> None:
        if isinstance(data, str) and data:
            if data[0] == "~":
                counts[sid] = counts.get(sid, 0) + 1
                return
            if data == "?":
                await server.send(sid, f"={counts.get(sid, 0)}")
                return
            if data[0] == "!":
                push = parse_push(data)
                if push is not None:
                    payload = "x" * push[1]
                    for _ in range(push[0]):
                        await server.send(sid, payload)
                    return
        await server.send(sid, data)


app = trio_engineio.ASGIApp(server)
