"""python-socketio's ``AsyncServer`` answering the Socket.IO benchmark events (see ``sio_app.py``).

Serve with ``uvicorn benchmarks.sio_pysio_app:app`` (``python -m benchmarks.socketio_bench``
uses the asyncio loop, h11 and wsproto: the pure-Python stack hypercorn also uses).
"""

from __future__ import annotations

import socketio

from ._conventions import MAX_PAYLOAD, ping_interval_ms, ping_timeout_ms

sio = socketio.AsyncServer(
    async_mode="asgi",
    ping_interval=ping_interval_ms() / 1000,
    ping_timeout=ping_timeout_ms() / 1000,
    max_http_buffer_size=MAX_PAYLOAD,
    cors_allowed_origins="*",
    logger=False,
    engineio_logger=False,
)


@sio.event
async def echo(sid: str, data: object) -> None:
    await sio.emit("echo", data, to=sid)


@sio.event
async def call(sid: str, data: object) -> object:
    return data


@sio.event
async def fanout(sid: str, n: int, size: int) -> int:
    payload = "x" * size
    for _ in range(n):
        await sio.emit("b", payload)
    return n


app = socketio.ASGIApp(sio)
