"""Start the latency page and server on 127.0.0.1 and print the URL to open.

Run it: ``python -m examples.latency [--port 8001]`` (``--port 0`` picks a free port)
"""

from __future__ import annotations

import argparse
import logging
import sys

import trio

import trio_engineio

from .._shutdown import until_signal
from .server import build_app, client_build


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="trio_engineio latency demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if not client_build().exists():
        sys.exit(f"engine.io-client browser build not found at {client_build()}: run scripts/bootstrap.sh")

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                lambda task_status: trio_engineio.serve(
                    build_app(), args.host, args.port, shutdown_trigger=until_signal, task_status=task_status
                )
            )
            print(f"latency demo running: open {binds[0]}/ in a browser (Ctrl+C to stop)", flush=True)

    trio.run(run)


if __name__ == "__main__":
    main()
