"""python-engineio's AsyncServer as an echo peer, under uvicorn, for the client interop tests.

Run as ``python pyengineio_server.py [--ping-interval S] [--ping-timeout S] [--max-payload N]
[--transports polling,websocket]``: binds 127.0.0.1 on a free port, prints the port as the
first stdout line, echoes every message, and exits when stdin closes. Not a test module.

Peer limits this echo inherits (documented in tests/peers/servers/test_pyengineio_server.py):
python-engineio JSON-decodes text messages (``"1"`` would come back as ``1``), and its
payload decoder refuses more than 16 packets per polling payload.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

import engineio
import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ping-interval", type=float, default=25.0)
    parser.add_argument("--ping-timeout", type=float, default=20.0)
    parser.add_argument("--max-payload", type=int, default=1_000_000)
    parser.add_argument("--transports", default="polling,websocket")
    args = parser.parse_args()

    eio = engineio.AsyncServer(
        async_mode="asgi",
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        max_http_buffer_size=args.max_payload,
        transports=args.transports.split(","),
    )

    @eio.on("message")
    async def message(sid: str, data: object) -> None:
        await eio.send(sid, data)

    app = engineio.ASGIApp(eio)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", ws="wsproto", lifespan="off")
    server = uvicorn.Server(config)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stdin_closed = asyncio.Event()

        def watch_stdin() -> None:
            sys.stdin.read()
            loop.call_soon_threadsafe(stdin_closed.set)

        loop.run_in_executor(None, watch_stdin)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if serving.done():
                serving.result()  # startup failed: raise its error
                return
            await asyncio.sleep(0.01)
        print(sock.getsockname()[1], flush=True)
        await stdin_closed.wait()
        server.should_exit = True
        await serving

    asyncio.run(run())


if __name__ == "__main__":
    main()
