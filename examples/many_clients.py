"""Many clients under one nursery, all cancelled together by one timeout.

Run it:  ``python -m examples.many_clients --clients 5 --seconds 3``
(with ``python -m examples.echo_server`` running; ``--url`` points elsewhere).

Each client opens its own session and sends a message every ``--every`` seconds
until ``trio.move_on_after(seconds)`` cancels the nursery they all run in. Trio
cancellation reaches every task; each ``async with open_client(...)`` block then
closes its session on the way out (CLOSE packet, bounded by ``close_timeout``,
shielded) so the server sees "client disconnect" for every one of them, and no
task outlives the nursery. A client that fails to connect is reported without
stopping the others.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import trio

import trio_engineio


@dataclass
class Tally:
    """What one client did before it was cancelled."""

    name: str
    sent: int = 0
    echoed: int = 0
    transport: str | None = None
    error: str | None = None
    close_reason: str | None = None


async def chatter(url: str, tally: Tally, every: float) -> None:
    """One client: send forever (until cancelled), count the echoes."""
    try:
        async with trio_engineio.open_client(url) as conn, trio.open_nursery() as nursery:

            async def count_echoes() -> None:
                async for _ in conn:
                    tally.echoed += 1

            nursery.start_soon(count_echoes)
            while True:
                await conn.send(f"{tally.name} says {tally.sent}")
                tally.sent += 1
                tally.transport = conn.transport
                await trio.sleep(every)
        # Not reached: the loop only ends by cancellation (or the server closing the session).
    except trio_engineio.EngineIOConnectionError as exc:
        tally.error = str(exc)  # this client could not connect; the others go on
    except trio_engineio.ConnectionClosed as closed:
        tally.error = f"server closed the session: {closed.reason}"
    finally:
        # On cancellation, open_client's block has already sent CLOSE by the time we get here.
        if "conn" in locals():
            tally.close_reason = conn.close_reason


async def run(url: str, clients: int, seconds: float, every: float) -> list[Tally]:
    """Start ``clients`` chatters in one nursery; cancel them all after ``seconds``."""
    tallies = [Tally(f"client-{i}") for i in range(clients)]
    started = trio.current_time()
    with trio.move_on_after(seconds) as timeout:
        async with trio.open_nursery() as nursery:
            for tally in tallies:
                nursery.start_soon(chatter, url, tally, every)
    # The nursery has exited: every client task and every connection task has finished.
    elapsed = trio.current_time() - started
    how = "timeout cancelled the nursery" if timeout.cancelled_caught else "all clients ended"
    print(f"{how} after {elapsed:.2f} s", flush=True)
    return tallies


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--every", type=float, default=0.1, help="seconds between messages")
    args = parser.parse_args()
    tallies = trio.run(run, args.url, args.clients, args.seconds, args.every)
    for tally in tallies:
        if tally.error is not None:
            print(f"{tally.name}: failed: {tally.error}", flush=True)
        else:
            print(
                f"{tally.name}: sent {tally.sent}, echoed {tally.echoed}, over {tally.transport},"
                f" closed: {tally.close_reason}",
                flush=True,
            )
    if any(tally.error for tally in tallies):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
