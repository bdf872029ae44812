"""A neutral Socket.IO v5 load generator: raw websocket frames, no Socket.IO library.

It reuses :mod:`benchmarks.loadgen`'s websocket protocol (its own HTTP/1.1 upgrade and
RFC 6455 framing on asyncio) and writes the Socket.IO packets by hand, so it costs
little CPU and favours none of the servers (ours, python-socketio, npm socket.io). The
servers answer the events described in ``benchmarks/sio_app.py``.

Scenarios (one per run, the result is one JSON object on stdout; the server's CPU and
RSS come from ``/proc/<server-pid>``):

* ``echo``: ``--sessions`` sockets each keep one ``echo`` event in flight; the server
  emits it back. Counts round trips.
* ``call``: the same with acknowledgements: ``call`` with an ack id, answered by ACK.
* ``fanout``: ``--sessions`` sockets (1,000) connect and idle for ``--idle`` seconds
  (server RSS before and after: memory per idle socket), then one of them asks for
  ``fanout`` of ``--batch`` broadcasts at a time and waits until every socket has every
  broadcast and the ack came back, in a loop. Counts deliveries (events received).

``python -m benchmarks.sio_loadgen echo --port 8000 --server-pid <pid>``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from .loadgen import WS, close_all, drain, measure, proc_rss, text_message

SIO_TARGET = "/socket.io/?EIO=4&transport=websocket"


class SioWS(WS):
    """One Engine.IO websocket session at ``/socket.io/``."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.transport.write(
            (
                f"GET {SIO_TARGET} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )


async def open_socket(port: int, timeout: float = 30.0) -> SioWS:
    """An Engine.IO session with the ``/`` namespace connected (CONNECT answered)."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: SioWS(port), "127.0.0.1", port)
    await asyncio.wait_for(proto.opened, timeout)
    connected: asyncio.Future[str] = loop.create_future()

    def on_connect(data: str | bytes) -> None:
        if isinstance(data, str) and data.startswith("0") and not connected.done():
            connected.set_result(data)

    proto.on_message = on_connect
    proto.send_frame(text_message("0"))
    reply = await asyncio.wait_for(connected, timeout)
    if not reply.startswith('0{"sid"'):
        raise ConnectionError(f"CONNECT refused: {reply[:100]}")
    return proto


async def open_sockets(port: int, count: int, concurrency: int = 50) -> list[SioWS]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> SioWS:
        async with semaphore:
            return await open_socket(port)

    return list(await asyncio.gather(*(one() for _ in range(count))))


def event(name: str, *args: Any, ack_id: int | None = None) -> bytes:
    """The websocket frame of an EVENT packet (``4`` + ``2[id]["name", ...]``)."""
    body = json.dumps([name, *args], separators=(",", ":"))
    return text_message(f"2{'' if ack_id is None else ack_id}{body}")


async def echo(a: argparse.Namespace) -> dict[str, Any]:
    """Closed-loop ``echo`` events, one in flight per socket."""
    clients = await open_sockets(a.port, a.sessions)
    payload = "a" * a.size
    frame = event("echo", payload)
    expected = json.dumps(["echo", payload], separators=(",", ":"))
    state = {"count": 0, "bad": 0, "outstanding": 0, "running": True}
    for client in clients:

        def on_message(data: str | bytes, client: SioWS = client) -> None:
            if not isinstance(data, str) or data[0] != "2":
                return
            if data[1:].replace(" ", "") != expected:
                state["bad"] += 1
            state["count"] += 1
            if state["running"]:
                client.transport.write(frame)
            else:
                state["outstanding"] -= 1

        client.on_message = on_message
        state["outstanding"] += 1
        client.transport.write(frame)
    result = await measure(a.server_pid, lambda: state["count"], a.warmup, a.duration)
    state["running"] = False
    result["lost"] = await drain(lambda: state["outstanding"])
    result["bad"] = state["bad"]
    await close_all(list(clients))
    return result


async def call(a: argparse.Namespace) -> dict[str, Any]:
    """Closed-loop acknowledged ``call`` events, one in flight per socket."""
    clients = await open_sockets(a.port, a.sessions)
    payload = "a" * a.size
    expected = json.dumps([payload], separators=(",", ":"))
    state = {"count": 0, "bad": 0, "outstanding": 0, "running": True}
    for client in clients:
        next_id = [0]

        def send(client: SioWS = client, next_id: list[int] = next_id) -> None:
            client.transport.write(event("call", payload, ack_id=next_id[0]))

        def on_message(data: str | bytes, next_id: list[int] = next_id, send: Any = send) -> None:
            if not isinstance(data, str) or data[0] != "3":
                return
            prefix = f"3{next_id[0]}"
            if not data.startswith(prefix) or data[len(prefix) :].replace(" ", "") != expected:
                state["bad"] += 1
            state["count"] += 1
            next_id[0] += 1
            if state["running"]:
                send()
            else:
                state["outstanding"] -= 1

        client.on_message = on_message
        state["outstanding"] += 1
        send()
    result = await measure(a.server_pid, lambda: state["count"], a.warmup, a.duration)
    state["running"] = False
    result["lost"] = await drain(lambda: state["outstanding"])
    result["bad"] = state["bad"]
    await close_all(list(clients))
    return result


async def fanout(a: argparse.Namespace) -> dict[str, Any]:
    """Memory per idle socket, then closed-loop broadcasts to every socket."""
    await close_all(list(await open_sockets(a.port, 20)))  # warm the server's connect path
    await asyncio.sleep(1)
    rss0 = proc_rss(a.server_pid)
    started = time.perf_counter()
    clients = await open_sockets(a.port, a.sessions)
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(a.idle)
    rss1 = proc_rss(a.server_pid)
    expected = json.dumps(["b", "x" * a.size], separators=(",", ":"))
    state = {"count": 0, "bad": 0, "acks": 0}
    for client in clients[1:]:

        def on_broadcast(data: str | bytes) -> None:
            if isinstance(data, str) and data[0] == "2":
                if data[1:].replace(" ", "") != expected:
                    state["bad"] += 1
                state["count"] += 1

        client.on_message = on_broadcast
    trigger = clients[0]

    def on_trigger(data: str | bytes) -> None:
        if isinstance(data, str):
            if data[0] == "2":
                state["count"] += 1
            elif data[0] == "3":
                state["acks"] += 1

    trigger.on_message = on_trigger
    running = True

    async def loop() -> None:
        rounds = 0
        while running:
            trigger.transport.write(event("fanout", a.batch, a.size, ack_id=rounds))
            rounds += 1
            want = rounds * a.batch * len(clients)
            deadline = time.perf_counter() + 30
            while (state["count"] < want or state["acks"] < rounds) and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            if state["count"] < want:
                raise RuntimeError(f"fanout: {want - state['count']} deliveries missing after 30 s")

    driver = asyncio.ensure_future(loop())
    result = await measure(a.server_pid, lambda: state["count"], a.warmup, a.duration)
    running = False
    await driver
    result.update(
        bad=state["bad"],
        sessions=a.sessions,
        connect_seconds=connect_seconds,
        rss_per_socket=(rss1 - rss0) / a.sessions,
        broadcasts_per_s=result["rate"] / len(clients),
    )
    for client in clients:
        client.transport.abort()
    return result


SCENARIOS = {"echo": echo, "call": call, "fanout": fanout}


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True, help="read its CPU and RSS from /proc")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--size", type=int, default=32, help="event payload, characters")
    parser.add_argument("--batch", type=int, default=10, help="broadcasts per fanout request")
    parser.add_argument("--idle", type=float, default=3.0, help="fanout: seconds idle before RSS is read")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    a = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # plain asyncio works too, with more generator CPU
        runner = asyncio.run
    result = runner(SCENARIOS[a.scenario](a))
    result["scenario"] = a.scenario
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
