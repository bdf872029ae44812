"""Start the latency page and server on 127.0.0.1 and print the URL to open.

Run it: ``python -m examples.latency [--port 8001]`` (``--port 0`` picks a free port)
"""

from __future__ import annotations

import logging

from .._browser_demo import run_browser_demo
from .server import build_app


def main() -> None:
    """Command line entry point."""
    run_browser_demo("latency", build_app, port=8001, log_level=logging.WARNING)


if __name__ == "__main__":
    main()
