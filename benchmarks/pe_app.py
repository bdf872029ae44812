"""python-engineio's AsyncServer under the benchmark conventions, as ASGI ``app``.

Serve with ``hypercorn --worker-class asyncio benchmarks.pe_app:app`` or
``uvicorn benchmarks.pe_app:app``. python-engineio JSON-decodes text that parses
as JSON; the benchmark payloads are chosen so that none does.
"""

from __future__ import annotations

import engineio

from ._conventions import MAX_PAYLOAD, answers, ping_interval_ms, ping_timeout_ms

eio = engineio.AsyncServer(
    async_mode="asgi",
    ping_interval=ping_interval_ms() / 1000,
    ping_timeout=ping_timeout_ms() / 1000,
    max_http_buffer_size=MAX_PAYLOAD,
    cors_allowed_origins="*",
    logger=False,
)
counts: dict[str, int] = {}


@eio.on("connect")
async def connect(sid: str, environ: object) -> None:
    counts[sid] = 0


@eio.on("disconnect")
async def disconnect(sid: str, *args: object) -> None:
    counts.pop(sid, None)


@eio.on("message")
async def message(sid: str, data: str | bytes) -> None:
    counts[sid], replies = answers(data, counts.get(sid, 0))
    for reply in replies:
        await eio.send(sid, reply)


app = engineio.ASGIApp(eio)
