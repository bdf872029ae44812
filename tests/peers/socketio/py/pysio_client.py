"""python-socketio's ``AsyncClient`` (asyncio, aiohttp) against our Socket.IO server (``app.py``).

Usage: ``python pysio_client.py '{"url": ..., "transports": [...] | null}'``; prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import socketio


async def main(config: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    sio = socketio.AsyncClient(reconnection=False)
    welcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @sio.on("question")
    async def question(q: int) -> dict[str, int]:
        return {"answer": q * 2}

    @sio.on("welcome", namespace="/chat")
    async def on_welcome(data: Any) -> None:
        welcome.set_result(data)

    await sio.connect(
        config["url"],
        auth={"token": "ok"},
        namespaces=["/", "/chat"],
        transports=config["transports"],
        wait_timeout=5,
    )
    result["transport"] = sio.transport()
    echoed = await sio.call("echo", ("a", {"bin": b"\x01\x02", "list": [b"\xff"]}, 7), timeout=5)
    result["echo"] = [echoed[0], echoed[1]["bin"].hex(), echoed[1]["list"][0].hex(), echoed[2]]
    result["ask"] = await sio.call("ask", 21, timeout=5)
    result["welcome"] = (await asyncio.wait_for(welcome, 5))["sid"] == sio.get_sid("/chat")
    result["joined"] = await sio.call("join", "r", namespace="/chat", timeout=5)
    await sio.disconnect()

    refused = socketio.AsyncClient(reconnection=False)

    @refused.event
    async def connect_error(data: Any) -> None:
        result["connect_error"] = data

    try:
        await refused.connect(
            config["url"], auth={"token": "no"}, transports=config["transports"], wait_timeout=5
        )
        result["refused"] = "connected"
    except socketio.exceptions.ConnectionError as error:
        result["refused"] = str(error)
    result["ok"] = True
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
