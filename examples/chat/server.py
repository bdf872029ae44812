"""The chat room: every text a browser sends is broadcast to everyone connected.

Run it:  ``python -m examples.chat`` (then open the printed URL)
or:      ``hypercorn --worker-class trio examples.chat.server:app``
The page loads the browser build of ``engine.io-client`` from the npm package
installed by ``scripts/bootstrap.sh`` (set ``ENGINEIO_CLIENT_JS`` to use another copy).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import trio_engineio

STATIC = Path(__file__).parent / "static"
REPO = Path(__file__).resolve().parents[2]
_CLIENT_BUILD_CANDIDATES = (
    REPO / "tests" / "js" / "node_modules" / "engine.io-client" / "dist" / "engine.io.min.js",
    REPO / "node_modules" / "engine.io-client" / "dist" / "engine.io.min.js",
)


def client_build() -> Path:
    """Where the browser build of engine.io-client is (from npm, not vendored)."""
    configured = os.environ.get("ENGINEIO_CLIENT_JS")
    if configured:
        return Path(configured)
    for candidate in _CLIENT_BUILD_CANDIDATES:
        if candidate.exists():
            return candidate
    return _CLIENT_BUILD_CANDIDATES[0]


class ChatRoom:
    """Everyone connected, and how to reach them all."""

    def __init__(self) -> None:
        self.members: dict[str, trio_engineio.Connection] = {}

    async def broadcast(self, event: dict[str, object]) -> None:
        """Send one JSON event to every member (members that left are skipped)."""
        text = json.dumps(event)
        for conn in list(self.members.values()):
            try:
                await conn.send(text)
            except trio_engineio.ConnectionClosed:
                pass

    async def handler(self, conn: trio_engineio.Connection) -> None:
        """One browser's session: join, relay what it says, leave."""
        name = f"guest-{conn.sid[:4]}"
        self.members[conn.sid] = conn
        try:
            await conn.send(json.dumps({"type": "welcome", "name": name, "transport": conn.transport}))
            await self.broadcast({"type": "joined", "name": name, "members": len(self.members)})
            async for message in conn:
                if isinstance(message, str) and message.strip():
                    await self.broadcast({"type": "said", "name": name, "text": message[:500]})
        finally:
            self.members.pop(conn.sid, None)
            await self.broadcast({"type": "left", "name": name, "members": len(self.members)})


def build_app(**server_options: object) -> trio_engineio.ASGIApp:
    """The chat server and its page as one ASGI app."""
    room = ChatRoom()
    server = trio_engineio.Server(handler=room.handler, **server_options)  # type: ignore[arg-type]
    return trio_engineio.ASGIApp(
        server,
        static_files={
            "/": str(STATIC / "index.html"),
            "/chat.js": str(STATIC / "chat.js"),
            "/engine.io.js": {"filename": str(client_build()), "content_type": "application/javascript"},
        },
    )


app = build_app()
