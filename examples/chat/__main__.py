"""Start the chat demo on 127.0.0.1 and print the URL to open.

Run it: ``python -m examples.chat [--port 8000]`` (``--port 0`` picks a free port),
or ``bash scripts/demo.sh``, which installs what is missing first.
Ctrl+C or SIGTERM shuts down gracefully: every page gets a CLOSE packet.
"""

from __future__ import annotations

import logging

from .._browser_demo import run_browser_demo
from .server import build_app


def main() -> None:
    """Command line entry point."""
    run_browser_demo("chat", build_app, port=8000, log_level=logging.INFO)


if __name__ == "__main__":
    main()
