"""Client benchmark: trio_engineio's client vs python-engineio's AsyncClient.

One client, one session, ``--window`` 32-byte text messages in flight against an
echo server; prints one JSON object: messages/s and the client process's CPU per
message (``time.process_time()`` over the measured window). Run
``python -m benchmarks.client_bench --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

PAYLOAD = "a" * 32


class Meter:
    def __init__(self, warmup: float, duration: float) -> None:
        self.count = 0
        self.bad = 0
        now = time.perf_counter()
        self.start_at = now + warmup
        self.end_at = self.start_at + duration
        self.started = False
        self.c0 = self.t0 = self.p0 = 0.0

    def tick(self, data: Any) -> bool:
        """Count one echo; False once the window is over."""
        if data != PAYLOAD:
            self.bad += 1
        self.count += 1
        now = time.perf_counter()
        if not self.started and now >= self.start_at:
            self.started = True
            self.c0, self.t0, self.p0 = self.count, now, time.process_time()
        if now >= self.end_at:
            self.c1, self.t1, self.p1 = self.count, now, time.process_time()
            return False
        return True

    def result(self) -> dict[str, Any]:
        count = self.c1 - self.c0
        elapsed = self.t1 - self.t0
        return {
            "count": count,
            "rate": count / elapsed,
            "client_cpu": (self.p1 - self.p0) / elapsed,
            "client_cpu_us_per_msg": 1e6 * (self.p1 - self.p0) / count,
            "bad": self.bad,
        }


async def run_ours(a: argparse.Namespace) -> dict[str, Any]:
    import trio

    try:
        from trio_engineio import open_client
    except ImportError:  # not exported yet while the client is being finished
        from trio_engineio.client.connection import open_client

    import httpx

    meter = Meter(a.warmup, a.duration)
    # --via-httpx: a client of the caller's, so every request goes through httpx's own stack.
    http = httpx.AsyncClient() if a.via_httpx else None
    async with open_client(a.url, transports=[a.transport], http_client=http) as conn:
        for _ in range(a.window):
            await conn.send(PAYLOAD)
        while meter.tick(await conn.receive()):
            await conn.send(PAYLOAD)
        with trio.move_on_after(5):
            for _ in range(a.window - 1):
                await conn.receive()
    if http is not None:
        await http.aclose()
    return meter.result()


async def run_pe(a: argparse.Namespace) -> dict[str, Any]:
    import engineio

    client = engineio.AsyncClient()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    @client.on("message")
    async def on_message(data: Any) -> None:
        queue.put_nowait(data)

    meter = Meter(a.warmup, a.duration)
    await client.connect(a.url, transports=[a.transport])
    for _ in range(a.window):
        await client.send(PAYLOAD)
    while meter.tick(await queue.get()):
        await client.send(PAYLOAD)
    try:
        for _ in range(a.window - 1):
            await asyncio.wait_for(queue.get(), 5)
    except asyncio.TimeoutError:
        pass
    await client.disconnect()
    return meter.result()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("client", choices=["trio_engineio", "python-engineio"])
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--transport", choices=["websocket", "polling"], default="websocket")
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument(
        "--via-httpx",
        action="store_true",
        help="trio_engineio: pass an httpx.AsyncClient, so polling requests all go through httpx",
    )
    a = parser.parse_args(argv)
    if a.client == "trio_engineio":
        import trio

        result = trio.run(run_ours, a)
    else:
        result = asyncio.run(run_pe(a))
    result.update(client=a.client + ("+httpx" if a.via_httpx else ""), transport=a.transport)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
