"""Start the Socket.IO chat demo on 127.0.0.1 and print the URL to open.

Run it: ``python -m examples.socketio_chat [--port 8001]`` (``--port 0`` picks a free port).
"""

from __future__ import annotations

import logging
import sys

from .._browser_demo import run_browser_demo
from .server import build_app, client_build


def main() -> None:
    """Command line entry point."""
    if not client_build().exists():
        sys.exit(f"socket.io-client browser build not found at {client_build()}: run scripts/bootstrap.sh")
    run_browser_demo("socketio_chat", build_app, port=8001, log_level=logging.INFO)


if __name__ == "__main__":
    main()
