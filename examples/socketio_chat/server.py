"""The Socket.IO chat room: rooms, acks and broadcasts with :mod:`trio_engineio.socketio`.

Run it:  ``python -m examples.socketio_chat`` (then open the printed URL in two windows)
or:      ``hypercorn --worker-class trio examples.socketio_chat.server:app``
The page loads the browser build of ``socket.io-client`` from the npm package installed
by ``scripts/bootstrap.sh`` (set ``SOCKETIO_CLIENT_JS`` to use another copy).

Events: the client sends ``say(text)`` (acked with the number of listeners) and
``switch(room)``; the server emits ``said({name, text})``, ``joined`` and ``left``
(also when someone goes away: the ``disconnecting`` event) to the room.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trio_engineio import socketio

STATIC = Path(__file__).parent / "static"
REPO = Path(__file__).resolve().parents[2]
ROOMS = ("lobby", "trio", "random")


def client_build() -> Path:
    """Where the browser build of socket.io-client is (from npm, not vendored)."""
    configured = os.environ.get("SOCKETIO_CLIENT_JS")
    if configured:
        return Path(configured)
    return REPO / "tests" / "js" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"


def build_server(**options: Any) -> socketio.Server:
    """The chat's Socket.IO server (options go to :class:`trio_engineio.socketio.Server`)."""
    sio = socketio.Server(**options)

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        name = str((auth or {}).get("name") or f"guest-{sid[:4]}")[:30]
        await sio.save_session(sid, {"name": name, "room": ROOMS[0]})
        await sio.enter_room(sid, ROOMS[0])
        await sio.emit("welcome", {"name": name, "rooms": list(ROOMS), "room": ROOMS[0]}, to=sid)
        await sio.emit("joined", {"name": name, "room": ROOMS[0]}, room=ROOMS[0])

    @sio.event
    async def say(sid: str, text: Any) -> int:
        session = await sio.get_session(sid)
        if not isinstance(text, str) or not text.strip():
            return 0
        room = session["room"]
        await sio.emit("said", {"name": session["name"], "text": text[:500]}, room=room)
        return len(sio.participants(room))

    @sio.event
    async def switch(sid: str, room: Any) -> str:
        async with sio.session(sid) as session:
            if room not in ROOMS or room == session["room"]:
                return str(session["room"])
            await sio.leave_room(sid, session["room"])
            await sio.emit("left", {"name": session["name"], "room": session["room"]}, room=session["room"])
            session["room"] = room
            await sio.enter_room(sid, room)
            await sio.emit("joined", {"name": session["name"], "room": room}, room=room)
            return str(room)

    @sio.event
    async def disconnecting(sid: str, reason: str) -> None:
        # Still in its room (``disconnect`` comes after the socket left its rooms).
        session = await sio.get_session(sid)
        for room in sio.rooms(sid)[1:]:
            await sio.emit("left", {"name": session["name"], "room": room}, room=room, skip_sid=sid)

    return sio


def build_app(**options: Any) -> socketio.ASGIApp:
    """The chat server and its page as one ASGI app."""
    return socketio.ASGIApp(
        build_server(**options),
        static_files={
            "/": str(STATIC / "index.html"),
            "/chat.js": str(STATIC / "chat.js"),
            "/socket.io.js": {"filename": str(client_build()), "content_type": "application/javascript"},
        },
    )


app = build_app()
