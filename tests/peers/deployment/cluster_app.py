"""The app every node of the deployment tests runs: an echo server on a Redis bus.

``hypercorn --worker-class trio peers.deployment.cluster_app:app`` with ``EIO_NODE_ID`` and
``EIO_REDIS_URL`` set (see ``examples/scale_out/deploy.py``). Every message is echoed
exactly, except text commands:

* ``"!send <sid> <text>"``: ``server.send(sid, text)`` (the sid may be on any node);
* ``"!broadcast <text>"``: ``server.broadcast(text)``;
* ``"!node"``: answers ``"node <node id>"``.

``GET /stats`` answers the server's statistics as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio_engineio

NODE_ID = os.environ["EIO_NODE_ID"]
bus = trio_engineio.RedisBus(os.environ["EIO_REDIS_URL"], reconnect_backoff=(0.05, 0.5))
server = trio_engineio.Server(node_id=NODE_ID, bus=bus, ping_interval=5, ping_timeout=5)


async def message(sid: str, data: str | bytes) -> None:
    """Echo, or run a command."""
    if isinstance(data, str) and data.startswith("!"):
        command, _, rest = data[1:].partition(" ")
        if command == "send":
            target, _, text = rest.partition(" ")
            await server.send(target, text)
        elif command == "broadcast":
            await server.broadcast(rest)
        elif command == "node":
            await server.send(sid, f"node {NODE_ID}")
        return
    await server.send(sid, data)


server.on("message", message)


async def stats(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[Any], Awaitable[None]],
) -> None:
    """``GET /stats``: the statistics of this node's server."""
    if scope["type"] != "http":
        return
    body = json.dumps({"node_id": NODE_ID, **dataclasses.asdict(server.statistics())}).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = trio_engineio.ASGIApp(server, other_asgi_app=stats)
