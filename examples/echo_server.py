"""An Engine.IO echo server: every message comes back to its sender unchanged.

Run it:  ``python -m examples.echo_server --port 5000`` (from the repository root)
or:      ``hypercorn --worker-class trio examples.echo_server:app --bind 127.0.0.1:5000``
Then:    ``python -m examples.echo_client hello world``

Ping settings come from ``--ping-interval``/``--ping-timeout`` (seconds) or the
``EIO_PING_INTERVAL``/``EIO_PING_TIMEOUT`` environment variables, so tests can
run it with short heartbeats. ``--port 0`` picks a free port; the first line
printed is the URL. Ctrl+C or SIGTERM shuts down gracefully: every client gets
a CLOSE packet ("server shutdown") before the process exits.
"""

from __future__ import annotations

import argparse
import logging
import os

import trio

import trio_engineio

from ._shutdown import until_signal


async def echo(conn: trio_engineio.Connection) -> None:
    """Send every message back; the session ends when the client leaves."""
    async for message in conn:
        await conn.send(message)


def build_app(ping_interval: float = 25.0, ping_timeout: float = 20.0) -> trio_engineio.ASGIApp:
    """The echo server as an ASGI app (CORS open so any page may try it)."""
    server = trio_engineio.Server(
        handler=echo,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        cors_allowed_origins="*",
    )
    return trio_engineio.ASGIApp(server)


app = build_app(
    float(os.environ.get("EIO_PING_INTERVAL", "25")),
    float(os.environ.get("EIO_PING_TIMEOUT", "20")),
)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--ping-interval", type=float, default=float(os.environ.get("EIO_PING_INTERVAL", "25"))
    )
    parser.add_argument("--ping-timeout", type=float, default=float(os.environ.get("EIO_PING_TIMEOUT", "20")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        echo_app = build_app(args.ping_interval, args.ping_timeout)
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                lambda task_status: trio_engineio.serve(
                    echo_app, args.host, args.port, shutdown_trigger=until_signal, task_status=task_status
                )
            )
            print(f"echo server listening on {binds[0]}/engine.io/", flush=True)

    trio.run(run)


if __name__ == "__main__":
    main()
