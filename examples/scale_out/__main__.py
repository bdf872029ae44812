"""Scale out in one command: Redis, N chat nodes and nginx routing by sid, on this machine.

Run it: ``python -m examples.scale_out [--nodes 2] [--port 8080]`` (``--port 0`` picks a
free port for nginx; the nodes and Redis always get free ports), then open the printed
URL in two browser windows: nginx sends each new session to a node in turn (the status
line says which), and what one window says the other sees, across nodes, through
``server.broadcast`` and Redis. Needs ``redis-server`` and ``nginx`` (``scripts/bootstrap.sh``
installs them). Ctrl+C or SIGTERM stops everything; the files (nginx.conf, logs) are in a
temporary directory, printed at startup and removed at exit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import trio

from .._shutdown import until_signal
from ..chat.server import client_build
from .deploy import free_port, open_deployment, open_redis

NODE_NAMES = "abcdefghijklmnopqrstuvwxyz"
REPO = Path(__file__).resolve().parents[2]


async def run(nodes: int, port: int, directory: Path) -> None:
    """Start Redis, the nodes and nginx; print the URL; wait for Ctrl+C or SIGTERM."""
    node_ids = list(NODE_NAMES[:nodes])
    async with (
        open_redis(directory) as redis_url,
        open_deployment(
            "examples.scale_out.chat:app",
            node_ids,
            redis_url=redis_url,
            directory=directory,
            listen_port=port or free_port(),
            pythonpath=[str(REPO)],
        ) as deployment,
    ):
        print(
            f"scale-out chat running: open {deployment.url}/ in two browser windows (Ctrl+C to stop)",
            flush=True,
        )
        for node_id, url in deployment.nodes.items():
            print(f"  node {node_id}: {url} (log {directory / f'node-{node_id}.log'})", flush=True)
        print(f"  redis: {redis_url}; nginx config and logs in {directory}", flush=True)
        await until_signal()


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="trio_engineio scale-out chat demo")
    parser.add_argument("--nodes", type=int, default=2, help="how many server processes (1 to 26)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port (0: a free one)")
    args = parser.parse_args()
    if not 1 <= args.nodes <= len(NODE_NAMES):
        parser.error("--nodes must be between 1 and 26")
    if not client_build().exists():
        sys.exit(f"engine.io-client browser build not found at {client_build()}: run scripts/bootstrap.sh")
    with tempfile.TemporaryDirectory(prefix="trio-engineio-scale-out-") as directory:
        try:
            trio.run(run, args.nodes, args.port, Path(directory))
        except RuntimeError as exc:  # a missing binary, a process that failed to start
            sys.exit(str(exc))


if __name__ == "__main__":
    main()
