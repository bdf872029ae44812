"""What the bus costs: cross-node send latency and broadcast throughput against the local path.

``python -m benchmarks.scale_out [--samples 2000] [--clients 20] [--broadcasts 300]``

Starts a ``redis-server`` (free port, persistence off) and, in this one process, two
servers ``a`` and ``b`` on one :class:`~trio_engineio.RedisBus`, each served by hypercorn's
trio worker on 127.0.0.1; our client connects websocket sessions to node ``b``. Then:

* **send latency**: one session on ``b``; ``server.send(sid, ...)`` is called on ``b``
  (local) or on ``a`` (through Redis), one message at a time, and the time until the
  client has it is recorded (median, p90, p99, in microseconds);
* **broadcast throughput**: ``--clients`` sessions on ``b``; ``--broadcasts`` messages are
  broadcast from ``b`` (local) or from ``a`` (through Redis) as fast as ``broadcast``
  returns, and the time until every client has every message gives deliveries per second;
* **idle cost**: a server with a bus and one without, idle for ``--idle`` seconds: the
  process CPU time each costs, and what the bus holds open on Redis.

Everything (servers, clients) shares one process and one core of the machine, so the
absolute figures are pessimistic; the local/bus ratios are what to read. Prints a JSON
object and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import trio

import trio_engineio
from examples.scale_out.deploy import open_redis


@asynccontextmanager
async def serving(server: trio_engineio.Server) -> AsyncIterator[str]:
    """Serve ``server`` on a free port for the block; yields its URL."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: trio_engineio.serve(
                trio_engineio.ASGIApp(server),
                "127.0.0.1",
                0,
                shutdown_trigger=stop.wait,
                task_status=task_status,
            )
        )
        try:
            yield binds[0]
        finally:
            stop.set()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_us": round(statistics.median(ordered) * 1e6, 1),
        "p90_us": round(ordered[int(len(ordered) * 0.9)] * 1e6, 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] * 1e6, 1),
    }


async def send_latency(
    sender: trio_engineio.Server, conn: trio_engineio.ClientConnection, samples: int
) -> list[float]:
    assert conn.sid is not None
    results = []
    for i in range(samples + 50):
        started = time.perf_counter()
        await sender.send(conn.sid, f"m{i}")
        with trio.fail_after(10):
            assert await conn.receive() == f"m{i}"
        if i >= 50:  # warm-up
            results.append(time.perf_counter() - started)
    return results


async def broadcast_rate(
    sender: trio_engineio.Server, conns: list[trio_engineio.ClientConnection], broadcasts: int
) -> float:
    """Deliveries per second: every client gets every broadcast."""

    async def drain(conn: trio_engineio.ClientConnection) -> None:
        for _ in range(broadcasts):
            await conn.receive()

    started = time.perf_counter()
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for conn in conns:
                nursery.start_soon(drain, conn)
            for i in range(broadcasts):
                await sender.broadcast(f"b{i}")
                if i % 20 == 19:
                    await trio.lowlevel.checkpoint()  # let the clients read
    return len(conns) * broadcasts / (time.perf_counter() - started)


async def idle_cpu(server: trio_engineio.Server, seconds: float) -> float:
    """Process CPU seconds per wall second while ``server`` runs and does nothing."""
    async with server:
        await trio.sleep(0.5)
        cpu, wall = time.process_time(), time.perf_counter()
        await trio.sleep(seconds)
        return (time.process_time() - cpu) / (time.perf_counter() - wall)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        async with open_redis(Path(directory)) as redis_url, AsyncExitStack() as stack:
            bus = trio_engineio.RedisBus(redis_url, buffer_size=100_000)
            a = trio_engineio.Server(node_id="a", bus=bus, max_buffered_messages=100_000)
            b = trio_engineio.Server(node_id="b", bus=bus, max_buffered_messages=100_000)
            await stack.enter_async_context(serving(a))
            url_b = await stack.enter_async_context(serving(b))
            conns = [
                await stack.enter_async_context(trio_engineio.open_client(url_b, transports=["websocket"]))
                for _ in range(args.clients)
            ]
            result: dict[str, Any] = {"samples": args.samples, "clients": args.clients}
            result["send_local"] = percentiles(await send_latency(b, conns[0], args.samples))
            result["send_bus"] = percentiles(await send_latency(a, conns[0], args.samples))
            result["broadcast_local_per_s"] = round(await broadcast_rate(b, conns, args.broadcasts))
            result["broadcast_bus_per_s"] = round(await broadcast_rate(a, conns, args.broadcasts))
            result["bus_statistics"] = {
                "a": vars(a.statistics().bus) if a.statistics().bus else None,
                "b_undeliverable": b.statistics().undeliverable,
            }
        result["idle_cpu_without_bus"] = round(
            await idle_cpu(trio_engineio.Server(node_id="c"), args.idle), 5
        )
        async with open_redis(Path(directory)) as redis_url:
            bus = trio_engineio.RedisBus(redis_url)
            result["idle_cpu_with_bus"] = round(
                await idle_cpu(trio_engineio.Server(node_id="c", bus=bus), args.idle), 5
            )
    return result


def table(result: dict[str, Any]) -> str:
    local, bus = result["send_local"], result["send_bus"]
    rows = [
        "| | local | through Redis |",
        "|---|---|---|",
        f"| send latency, median (µs) | {local['median_us']} | {bus['median_us']} |",
        f"| send latency, p90 (µs) | {local['p90_us']} | {bus['p90_us']} |",
        f"| send latency, p99 (µs) | {local['p99_us']} | {bus['p99_us']} |",
        f"| broadcast, deliveries/s ({result['clients']} sessions) "
        f"| {result['broadcast_local_per_s']} | {result['broadcast_bus_per_s']} |",
        f"| idle server, CPU share | {result['idle_cpu_without_bus']} (no bus) "
        f"| {result['idle_cpu_with_bus']} |",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--broadcasts", type=int, default=300)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idling measured")
    args = parser.parse_args(argv)
    result = trio.run(run, args)
    print(json.dumps(result))
    print(table(result))


if __name__ == "__main__":
    main()
