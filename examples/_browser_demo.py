"""The command line shared by the browser demos (``python -m examples.chat``, ``examples.latency``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

import trio

import trio_engineio

from ._shutdown import until_signal
from .chat.server import client_build


def run_browser_demo(
    name: str, build_app: Callable[[], trio_engineio.ASGIApp], *, port: int, log_level: int
) -> None:
    """Parse ``--host``/``--port``, serve ``build_app()`` until Ctrl+C/SIGTERM, print the URL."""
    parser = argparse.ArgumentParser(description=f"trio_engineio {name} demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    args = parser.parse_args()
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(message)s")
    if not client_build().exists():
        sys.exit(f"engine.io-client browser build not found at {client_build()}: run scripts/bootstrap.sh")

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                lambda task_status: trio_engineio.serve(
                    build_app(), args.host, args.port, shutdown_trigger=until_signal, task_status=task_status
                )
            )
            print(f"{name} demo running: open {binds[0]}/ in a browser (Ctrl+C to stop)", flush=True)

    trio.run(run)
