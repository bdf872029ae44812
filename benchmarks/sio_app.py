"""The Socket.IO benchmark application on trio_engineio (``hypercorn --worker-class trio``).

Every Socket.IO benchmark server (this one, ``sio_pysio_app.py`` for python-socketio and
``sio_node_server.js`` for npm socket.io) answers the same events on ``/``:

* ``echo`` (data): emits ``echo`` with the same data back to the sender;
* ``call`` (data) with an ack id: acknowledges with the same data;
* ``fanout`` (n, size) with an ack id: emits ``b`` with ``"x" * size`` to every socket of
  the namespace ``n`` times (one broadcast each), then acknowledges with ``n``.

Heartbeats come from ``EIO_PING_INTERVAL_MS`` / ``EIO_PING_TIMEOUT_MS`` (25 s / 20 s).
"""

from __future__ import annotations

from trio_engineio import socketio

from ._conventions import MAX_PAYLOAD, ping_interval_ms, ping_timeout_ms

sio = socketio.Server(
    ping_interval=ping_interval_ms() / 1000,
    ping_timeout=ping_timeout_ms() / 1000,
    max_http_buffer_size=MAX_PAYLOAD,
    cors_allowed_origins="*",
)


@sio.event
async def echo(sid: str, data: object) -> None:
    await sio.emit("echo", data, to=sid)


@sio.event
def call(sid: str, data: object) -> object:
    return data


@sio.event
async def fanout(sid: str, n: int, size: int) -> int:
    payload = "x" * size
    for _ in range(n):
        await sio.emit("b", payload)
    return n


app = socketio.ASGIApp(sio)
