"""python-engineio's AsyncClient (asyncio + aiohttp) as a peer of our server. Not a test module.

Run as ``python pyengineio_client.py '<json config>'`` with keys:

* ``url``: server base URL; ``transports``: ``["polling"]``, ``["websocket"]`` or null (default);
* ``texts``, ``binaries``, ``max_binary``, ``seed``: the message plan (numbered texts, binaries
  that start with their index, interleaved at random);
* ``in_connect``: how many messages to send from the ``connect`` handler (with the default
  transports the client runs the websocket upgrade inside ``connect()`` right after that
  handler, so these wait in its queue during the upgrade and leave over the websocket);
* ``window_count``, ``window_bytes``: while on polling, at most this many messages / wire
  bytes sent and not yet echoed (python-engineio's limits, see test_pyengineio_client.py);
* ``listen``: N: send nothing; expect the server to push N messages (``push_message``)
  and then close the session; report what arrived and the close reason;
* ``close_delay``: seconds to wait, when the server closes the session, before the
  client closes its websocket (see test_pyengineio_client.py: a hypercorn race);
* ``flush_close``: on websocket, let the CLOSE packet reach the socket before
  ``disconnect()`` closes it (see below);
* ``timeout``: seconds before giving up.

python-engineio's ``disconnect()`` queues the CLOSE packet and then closes the
websocket before its write loop has had a chance to run, so the server never sees
the CLOSE and reports "transport close" (its own AsyncServer does too). With
``flush_close`` the ``disconnect`` handler, which ``disconnect()`` awaits between
queueing the CLOSE and closing the socket, waits for the send queue to drain.

Prints one JSON line with the outcome (counts, first mismatch, transports, close reason).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any

import engineio

ALPHABET = [*list("abcdefghijklmnopqrstuvwxyz0123456789 -_.:;,!?/é€ü✓"), "🙂"]


def make_plan(texts: int, binaries: int, max_binary: int, seed: int) -> list[str | bytes]:
    """Texts ``t<i>:...`` (never valid JSON) and binaries ``<index:4 bytes><random>``."""
    rand = random.Random(seed)
    kinds = ["t"] * texts + ["b"] * binaries
    rand.shuffle(kinds)
    plan: list[str | bytes] = []
    t = b = 0
    for kind in kinds:
        if kind == "t":
            plan.append(f"t{t}:" + "".join(rand.choice(ALPHABET) for _ in range(rand.randrange(200))))
            t += 1
        else:
            size = max_binary if b == 0 else rand.randint(4, max_binary)
            plan.append(b.to_bytes(4, "big") + rand.randbytes(size - 4))
            b += 1
    return plan


def push_message(k: int) -> str | bytes:
    """The server-push pattern (the same as in test_pyengineio_client.py)."""
    if k % 6 == 5:
        return k.to_bytes(4, "big") + bytes([k & 0xFF]) * ((k * 997) % 60_000)
    return f"s{k}:" + "x" * (k % 50)


def wire_size(message: str | bytes) -> int:
    """Bytes the message takes in a polling payload."""
    if isinstance(message, bytes):
        return 2 + 4 * ((len(message) + 2) // 3)
    return 2 + len(message.encode())


def describe(message: Any) -> str:
    if isinstance(message, bytes):
        return f"binary({len(message)}) index={int.from_bytes(message[:4], 'big')}"
    return f"{type(message).__name__} {str(message)[:40]!r}"


class _Done(Exception):
    pass


async def run(config: dict[str, Any]) -> dict[str, Any]:
    if config.get("listen"):
        plan = [push_message(k) for k in range(config["listen"])]
    else:
        plan = make_plan(config["texts"], config["binaries"], config["max_binary"], config["seed"])
    transports = config.get("transports")
    window_count = config.get("window_count") or len(plan) + 1
    window_bytes = config.get("window_bytes") or 1 << 62
    eio = engineio.AsyncClient(handle_sigint=False, request_timeout=10)
    progress = asyncio.Event()
    disconnected = asyncio.Event()
    received: list[Any] = []
    result: dict[str, Any] = {
        "sent": {"text": 0, "binary": 0},
        "received": {"text": 0, "binary": 0},
        "sent_by": {},
        "mismatches": 0,
        "first_mismatch": None,
        "disconnect_reason": None,
        "timed_out": False,
    }
    state = {"next": 0, "outstanding_bytes": 0}

    def allowed(message: str | bytes, *, window: bool) -> bool:
        outstanding = state["next"] - len(received)
        if not window or outstanding == 0:
            return True
        return outstanding < window_count and state["outstanding_bytes"] + wire_size(message) <= window_bytes

    async def pump(where: str, limit: int, *, window: bool) -> None:
        while state["next"] < min(limit, len(plan)):
            message = plan[state["next"]]
            if not allowed(message, window=window):
                return
            await eio.send(message)
            state["next"] += 1
            state["outstanding_bytes"] += wire_size(message)
            result["sent"]["binary" if isinstance(message, bytes) else "text"] += 1
            result["sent_by"][where] = result["sent_by"].get(where, 0) + 1

    @eio.on("connect")
    async def on_connect() -> None:
        result["sid"] = eio.sid
        result["transport_in_connect"] = eio.transport()
        # polling-only: the write loop starts after this handler, and sends the whole queue in
        # one POST, so the window applies here too.
        await pump("connect-handler", config.get("in_connect", 0), window=transports == ["polling"])

    @eio.on("message")
    async def on_message(data: Any) -> None:  # scheduled as a task per message, in order
        index = len(received)
        received.append(data)
        result["transport_last_message"] = eio.current_transport
        expected = plan[index] if index < len(plan) else None
        result["received"]["binary" if isinstance(data, bytes) else "text"] += 1
        if data != expected or type(data) is not type(expected):
            result["mismatches"] += 1
            if result["first_mismatch"] is None:
                result["first_mismatch"] = {
                    "index": index,
                    "expected": describe(expected),
                    "got": describe(data),
                }
        if expected is not None:
            state["outstanding_bytes"] -= wire_size(expected)
        progress.set()

    @eio.on("disconnect")
    async def on_disconnect(reason: Any = None) -> None:
        result["disconnect_reason"] = None if reason is None else str(reason)
        progress.set()
        disconnected.set()
        if config.get("close_delay") and reason == eio.reason.SERVER_DISCONNECT:
            # awaited by disconnect() between the server's CLOSE and closing the socket
            await asyncio.sleep(config["close_delay"])
        if config.get("flush_close") and eio.current_transport == "websocket":
            await asyncio.wait_for(eio.queue.join(), 5)
            result["flushed_close"] = True

    started = time.monotonic()
    try:
        async with asyncio.timeout(config.get("timeout", 50)):
            await eio.connect(config["url"], transports=transports)
            result["transport_after_connect"] = eio.transport()
            if config.get("listen"):
                # Until the server closes the session. Not eio.wait(): after a CLOSE from
                # the server its write loop idles until max(pingInterval, pingTimeout) + 5 s.
                await disconnected.wait()
                raise _Done
            while len(received) < len(plan):
                progress.clear()
                await pump("after-connect", len(plan), window=eio.transport() == "polling")
                if len(received) < len(plan):
                    if eio.state != "connected":
                        break
                    await progress.wait()
            result["transport_at_end"] = eio.transport()
            await eio.disconnect()
    except _Done:
        pass
    except TimeoutError:
        result["timed_out"] = True
        result["sent_total"] = state["next"]
        result["received_total"] = len(received)
    result["duration"] = round(time.monotonic() - started, 3)
    return result


def main() -> None:
    config = json.loads(sys.argv[1])
    result = asyncio.run(run(config))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
