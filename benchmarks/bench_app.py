"""trio_engineio under the benchmark conventions (see ``_conventions``), as ASGI ``app``.

Serve with ``hypercorn --worker-class trio benchmarks.bench_app:app``.
``EIO_BENCH_STYLE=events`` uses the python-engineio style API (``@server.on``)
instead of the trio-style connection handler.
"""

from __future__ import annotations

import os

import trio_engineio

from ._conventions import MAX_PAYLOAD, answers, ping_interval_ms, ping_timeout_ms

STYLE = os.environ.get("EIO_BENCH_STYLE", "trio")


async def handler(conn: trio_engineio.Connection) -> None:
    counted = 0
    async for message in conn:
        counted, replies = answers(message, counted)
        for reply in replies:
            await conn.send(reply)


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
        counts[sid], replies = answers(data, counts.get(sid, 0))
        for reply in replies:
            await server.send(sid, reply)


app = trio_engineio.ASGIApp(server)
