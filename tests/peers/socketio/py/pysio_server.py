"""python-socketio's ``AsyncServer`` under uvicorn with the behaviour of ``app.py``, for our client's tests.

Binds 127.0.0.1 on a free port, prints ``{"port": N}`` as the first stdout line,
exits when stdin closes. Not a test module.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from typing import Any

import socketio
import uvicorn


def build() -> Any:
    sio = socketio.AsyncServer(async_mode="asgi", ping_interval=5, ping_timeout=5)

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> bool:
        return bool(auth == {"token": "ok"})

    @sio.event
    async def echo(sid: str, *args: Any) -> Any:
        return args

    @sio.event
    async def ask(sid: str, q: Any) -> Any:
        return await sio.call("question", q, to=sid, timeout=10)

    @sio.event
    async def kick(sid: str) -> None:
        await sio.disconnect(sid)

    @sio.event
    async def drop(sid: str) -> None:
        await sio.eio.disconnect(sio.manager.eio_sid_from_sid(sid, "/"))

    for namespace in ("/", "/chat"):

        async def join(sid: str, room: str, namespace: str = namespace) -> list[str]:
            await sio.enter_room(sid, room, namespace=namespace)
            return list(sio.rooms(sid, namespace=namespace))

        async def to_room(sid: str, room: str, data: Any, namespace: str = namespace) -> None:
            await sio.emit("room_msg", data, room=room, skip_sid=sid, namespace=namespace)

        sio.on("join", join, namespace=namespace)
        sio.on("to_room", to_room, namespace=namespace)

    @sio.on("connect", namespace="/chat")
    async def chat_connect(sid: str, environ: Any, auth: Any) -> None:
        await sio.emit("welcome", {"sid": sid}, to=sid, namespace="/chat")

    @sio.on("connect", namespace="/private")
    async def private_connect(sid: str, environ: Any, auth: Any) -> None:
        raise socketio.exceptions.ConnectionRefusedError("Not authorized", {"code": 401})

    return socketio.ASGIApp(sio)


async def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # before the port is announced: no refused connection while uvicorn starts
    config = uvicorn.Config(build(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main())
