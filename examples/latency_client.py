"""Measure Engine.IO round-trip times from Python: send pings one at a time, print each RTT.

Run it:  ``python -m examples.latency_client`` (with ``python -m examples.latency`` running)
Options: ``--url http://127.0.0.1:8001`` (any echo server works, e.g. ``examples.echo_server``
on port 5000), ``--count 20``, ``--interval 0.1`` (seconds between pings),
``--transport polling|websocket`` (default: polling, then the websocket upgrade).
"""

from __future__ import annotations

import argparse
import math

import trio

import trio_engineio


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (the same rule the latency page uses)."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def measure(url: str, *, count: int, interval: float, transports: list[str] | None) -> list[float]:
    """Return ``count`` round-trip times in seconds, printing each as it arrives."""
    rtts: list[float] = []
    async with trio_engineio.open_client(url, transports=transports) as conn:
        for n in range(count):
            started = trio.current_time()  # monotonic; the same clock trio's timeouts use
            await conn.send(f"ping {n}")
            reply = await conn.receive()
            rtt = trio.current_time() - started
            if reply != f"ping {n}":
                raise RuntimeError(f"expected the echo of ping {n}, got {reply!r}")
            rtts.append(rtt)
            print(f"ping {n:>4}: {rtt * 1000:8.2f} ms  ({conn.transport})", flush=True)
            await trio.sleep(interval)
    return rtts


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--transport", choices=["polling", "websocket"], default=None)
    args = parser.parse_args()
    transports = [args.transport] if args.transport else None
    try:
        rtts = trio.run(
            lambda: measure(args.url, count=args.count, interval=args.interval, transports=transports)
        )
    except trio_engineio.EngineIOConnectionError as exc:
        raise SystemExit(f"could not connect to {args.url}: {exc}") from None
    ordered = [rtt * 1000 for rtt in sorted(rtts)]
    print(
        f"{len(rtts)} round trips: min {ordered[0]:.2f} ms, p50 {percentile(ordered, 50):.2f} ms,"
        f" p99 {percentile(ordered, 99):.2f} ms, max {ordered[-1]:.2f} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
