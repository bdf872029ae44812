"""The graceful-shutdown trigger the example servers pass to ``trio_engineio.serve``."""

from __future__ import annotations

import signal

import trio


async def until_signal() -> None:
    """Return on the first SIGINT (Ctrl+C) or SIGTERM, saying which one arrived."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            print(f"{signal.Signals(signum).name}: shutting down", flush=True)
            return
