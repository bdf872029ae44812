"""The Socket.IO application the interop peers (npm socket.io-client, python-socketio) talk to.

* ``/``: ``connect`` wants ``auth == {"token": "ok"}`` (``False`` otherwise);
  ``echo`` acks its arguments back; ``ask`` calls the client's ``question``
  and acks with the client's answer; ``join`` enters a room; ``to_room``
  emits ``room_msg`` to a room but the sender.
* ``/chat``: accepts everyone; ``join`` / ``to_room`` as on ``/``; greets
  with ``welcome`` from its connect handler.
* ``/private``: refuses with ``ConnectionRefusedError("Not authorized", {"code": 401})``.
"""

from __future__ import annotations

from typing import Any

from trio_engineio import socketio


def make_server(**options: Any) -> socketio.Server:
    options.setdefault("ping_interval", 5)
    options.setdefault("ping_timeout", 5)
    sio = socketio.Server(**options)

    @sio.event
    def connect(sid: str, environ: Any, auth: Any) -> bool:
        return bool(auth == {"token": "ok"})

    @sio.event
    def echo(sid: str, *args: Any) -> Any:
        return args

    @sio.event
    async def ask(sid: str, question: Any) -> Any:
        return await sio.call("question", question, to=sid, timeout=10)

    @sio.event
    async def kick(sid: str) -> None:
        await sio.disconnect(sid)

    @sio.event
    async def drop(sid: str) -> None:
        await sio.engine_connection(sid).aclose()

    for namespace in ("/", "/chat"):

        async def join(sid: str, room: str, namespace: str = namespace) -> list[str]:
            await sio.enter_room(sid, room, namespace=namespace)
            return sio.rooms(sid, namespace=namespace)

        async def to_room(sid: str, room: str, data: Any, namespace: str = namespace) -> None:
            await sio.emit("room_msg", data, room=room, skip_sid=sid, namespace=namespace)

        sio.on("join", join, namespace=namespace)
        sio.on("to_room", to_room, namespace=namespace)

    @sio.on("connect", namespace="/chat")
    async def chat_connect(sid: str, environ: Any) -> None:
        await sio.emit("welcome", {"sid": sid}, to=sid, namespace="/chat")

    @sio.on("connect", namespace="/private")
    def private_connect(sid: str, environ: Any, auth: Any) -> None:
        raise socketio.ConnectionRefusedError("Not authorized", {"code": 401})

    return sio


sio = make_server()
#: For ``hypercorn --worker-class trio app:app``.
app = socketio.ASGIApp(sio)
