"""python-socketio's ``AsyncClient`` meets our server's features (``test_interop_features.py``'s
server): a pattern namespace, the server's ``emit(callback=)`` answered by a handler's return
value, ``emit(callback=)`` of its own, a volatile emit, and disconnecting/disconnect.

Usage: ``python pysio_features.py '{"url": ..., "transports": [...] | null}'``; prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import socketio


async def main(config: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    asked: asyncio.Future[Any] = loop.create_future()
    ticked: asyncio.Future[Any] = loop.create_future()
    moved: asyncio.Future[Any] = loop.create_future()
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("ask", namespace="/game-42")
    async def ask(question: str) -> tuple[str, int]:
        asked.set_result(question)
        return question + "!", 2

    @sio.on("tick", namespace="/game-42")
    async def tick(value: int) -> None:
        ticked.set_result(value)

    await sio.connect(config["url"], namespaces=["/game-42"], transports=config["transports"], wait_timeout=5)
    result["asked"] = await asyncio.wait_for(asked, 5)
    await sio.emit("move", "e4", namespace="/game-42", callback=lambda *args: moved.set_result(list(args)))
    result["move"] = await asyncio.wait_for(moved, 5)
    result["tick"] = await asyncio.wait_for(ticked, 5)
    result["report"] = await sio.call("report", namespace="/game-42", timeout=5)
    await sio.disconnect()

    refused = socketio.AsyncClient(reconnection=False)
    try:
        await refused.connect(
            config["url"], namespaces=["/game-x"], transports=config["transports"], wait_timeout=5
        )
        result["refused"] = "connected"
    except socketio.exceptions.ConnectionError as error:
        result["refused"] = str(error)
    result["ok"] = True
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
