"""The chat room on several nodes: what one browser says, every browser sees, whatever its node.

Each node runs this app (``hypercorn --worker-class trio examples.scale_out.chat:app``)
with its node id in ``EIO_NODE_ID`` and the Redis URL in ``EIO_REDIS_URL``;
``python -m examples.scale_out`` starts them for you. Every event goes out with
``server.broadcast``: directly to the node's own sessions, through Redis to the others.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import trio_engineio

from ..chat.server import STATIC as CHAT_STATIC
from ..chat.server import client_build

STATIC = Path(__file__).parent / "static"


class ChatNode:
    """One node's part of the chat room: its server, on the bus every node shares."""

    def __init__(self, node_id: str, redis_url: str) -> None:
        self.node_id = node_id
        bus = trio_engineio.RedisBus(redis_url)
        self.server = trio_engineio.Server(handler=self.handler, node_id=node_id, bus=bus)

    async def say(self, event: dict[str, object]) -> None:
        """Send one JSON event to every browser on every node."""
        await self.server.broadcast(json.dumps({**event, "node": self.node_id}))

    async def handler(self, conn: trio_engineio.Connection) -> None:
        """One browser's session: join, relay what it says, leave."""
        name = f"guest-{conn.sid.partition('.')[2][:4]}"
        welcome = {"type": "welcome", "name": name, "node": self.node_id, "transport": conn.transport}
        await conn.send(json.dumps(welcome))
        await self.say({"type": "joined", "name": name})
        try:
            async for message in conn:
                if isinstance(message, str) and message.strip():
                    await self.say({"type": "said", "name": name, "text": message[:500]})
        finally:
            await self.say({"type": "left", "name": name})


def build_app(node_id: str, redis_url: str) -> trio_engineio.ASGIApp:
    """The chat server of node ``node_id`` and its page, as one ASGI app."""
    node = ChatNode(node_id, redis_url)
    return trio_engineio.ASGIApp(
        node.server,
        static_files={
            "/": str(CHAT_STATIC / "index.html"),
            "/chat.js": str(STATIC / "chat.js"),
            "/engine.io.js": {"filename": str(client_build()), "content_type": "application/javascript"},
        },
    )


app = build_app(
    os.environ.get("EIO_NODE_ID", "a"), os.environ.get("EIO_REDIS_URL", "redis://127.0.0.1:6379/0")
)
