"""Soak test: many connect/exchange/disconnect cycles and many idle sessions against one server.

Not collected by pytest (the name does not start with ``test_``). Run it with::

    python -m tests.hypercorn.bad_inputs.soak                      # 100 000 cycles, 5 000 idle websockets
    python -m tests.hypercorn.bad_inputs.soak --cycles 10000 --idle 2000
    nox -s soak -- --cycles 10000 --idle 2000

The server runs in its own process (``--serve``: an echo :class:`trio_engineio.Server`
on hypercorn's trio worker via :func:`trio_engineio.serve`, bound to 127.0.0.1:0)
and answers ``GET /soak-stats`` with its trio task count, session registry size,
running session tasks, counters and RSS. The driver (this process) then

1. runs ``--cycles`` connect / echo one message / disconnect cycles, alternating
   polling and websocket, ``--concurrency`` at a time;
2. opens ``--idle`` websocket sessions and holds them (answering PINGs) across three
   ping intervals, then checks every one is still open and closes them;

and prints task count, registry size and RSS before and after each phase, plus the
sessions dropped (cycles that failed, idle sessions the server closed). The exit
status is non-zero when something was dropped or left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import trio
import trio_websocket

RS = "\x1e"


# ----------------------------------------------------------------------------- server


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _count_tasks() -> int:
    def walk(task: trio.lowlevel.Task) -> int:
        return sum(1 + walk(child) for nursery in task.child_nurseries for child in nursery.child_tasks)

    return walk(trio.lowlevel.current_root_task())


async def _serve(args: argparse.Namespace) -> None:
    import trio_engineio

    async def echo(conn: trio_engineio.Connection) -> None:
        async for message in conn:
            await conn.send(message)

    server = trio_engineio.Server(
        handler=echo, ping_interval=args.ping_interval, ping_timeout=args.ping_timeout
    )

    async def stats_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/soak-stats":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        stats = server.statistics()
        body = json.dumps(
            {
                "tasks": _count_tasks(),
                "sessions": len(server._sessions),
                "running_sessions": stats.running_sessions,
                "opened": stats.sessions_opened,
                "closed": stats.sessions_closed,
                "buffered_messages": stats.buffered_messages,
                "handler_errors": stats.handler_errors,
                "rss_kib": _rss_kib(),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    app = trio_engineio.ASGIApp(server, other_asgi_app=stats_app)

    async def until_signalled() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                return

    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: trio_engineio.serve(
                app,
                "127.0.0.1",
                0,
                shutdown_trigger=until_signalled,
                task_status=task_status,
                backlog=4096,
            )
        )
        print(next(b for b in binds if b.startswith("http://127.0.0.1:")), flush=True)


# ----------------------------------------------------------------------------- driver


class Tally:
    def __init__(self) -> None:
        self.done = 0
        self.dropped = 0
        self.errors: dict[str, int] = {}

    def fail(self, what: str) -> None:
        self.dropped += 1
        self.errors[what] = self.errors.get(what, 0) + 1


async def _polling_cycle(http: httpx.AsyncClient, base: str, n: int) -> None:
    url = f"{base}/engine.io/?EIO=4&transport=polling"
    opened = await http.get(url)
    if opened.status_code != 200 or not opened.text.startswith("0"):
        raise RuntimeError(f"handshake {opened.status_code}")
    sid = json.loads(opened.text[1:])["sid"]
    text = f"4polling {n}"
    response = await http.post(f"{url}&sid={sid}", content=text)
    if response.text != "ok":
        raise RuntimeError(f"post {response.status_code}")
    while True:
        packets = (await http.get(f"{url}&sid={sid}")).text.split(RS)
        if "2" in packets:
            await http.post(f"{url}&sid={sid}", content="3")
        if text in packets:
            break
        if "1" in packets:
            raise RuntimeError("closed by the server")
    response = await http.post(f"{url}&sid={sid}", content="1")
    if response.text != "ok":
        raise RuntimeError(f"close {response.status_code}")


async def _websocket_cycle(ws_base: str, n: int) -> None:
    async with trio_websocket.open_websocket_url(
        f"{ws_base}/engine.io/?EIO=4&transport=websocket", connect_timeout=10, disconnect_timeout=5
    ) as ws:
        if not str(await ws.get_message()).startswith("0"):
            raise RuntimeError("no OPEN")
        text = f"4websocket {n}"
        await ws.send_message(text)
        while (frame := await ws.get_message()) != text:
            if frame == "2":
                await ws.send_message("3")
            elif frame == "1":
                raise RuntimeError("closed by the server")
        await ws.send_message("1")
        try:
            while True:
                await ws.get_message()
        except trio_websocket.ConnectionClosed:
            pass


async def _cycles(base: str, total: int, concurrency: int, tally: Tally) -> None:
    ws_base = "ws://" + base[len("http://") :]
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    counter = iter(range(total))
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), limits=limits) as http:

        async def worker() -> None:
            for n in counter:
                try:
                    with trio.fail_after(30):
                        if n % 2:
                            await _websocket_cycle(ws_base, n)
                        else:
                            await _polling_cycle(http, base, n)
                    tally.done += 1
                except (Exception, trio.TooSlowError) as exc:
                    tally.fail(type(exc).__name__ + ": " + str(exc)[:80])
                if tally.done and tally.done % 10_000 == 0:
                    rate = tally.done / (time.monotonic() - started)
                    print(f"  ... {tally.done} cycles ({rate:.0f}/s)", flush=True)

        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)


async def _idle(base: str, count: int, hold: float, tally: Tally, stats: Any) -> dict[str, Any]:
    ws_base = "ws://" + base[len("http://") :]
    alive: list[trio_websocket.WebSocketConnection] = []
    closed_early = 0
    release = trio.Event()
    peak: dict[str, Any] = {}

    async def hold_one(task_status: Any) -> None:
        nonlocal closed_early
        async with trio.open_nursery() as own:
            ws = await trio_websocket.connect_websocket_url(
                own, f"{ws_base}/engine.io/?EIO=4&transport=websocket", message_queue_size=4
            )
            await ws.get_message()
            alive.append(ws)
            task_status.started()
            lost = False
            async with trio.open_nursery() as holding:

                async def stop_on_release() -> None:
                    await release.wait()
                    holding.cancel_scope.cancel()

                holding.start_soon(stop_on_release)
                try:
                    while True:
                        frame = await ws.get_message()
                        if frame == "2":
                            await ws.send_message("3")
                        elif frame == "1":
                            lost = True
                            break
                except trio_websocket.ConnectionClosed:
                    lost = True
                holding.cancel_scope.cancel()
            if lost:
                closed_early += 1
                tally.fail("idle session closed by the server")
            else:
                await ws.send_message("1")
                with trio.move_on_after(5):
                    await ws.aclose()
            own.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        for i in range(count):
            await nursery.start(hold_one)
            if (i + 1) % 1000 == 0:
                print(f"  ... {i + 1} idle websockets open", flush=True)
        peak = await stats()
        print(f"  holding {count} idle sessions for {hold:.1f}s (three ping intervals)", flush=True)
        await trio.sleep(hold)
        peak["still_open"] = (await stats())["sessions"]
        release.set()
    return peak


async def _drive(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.hypercorn.bad_inputs.soak", "--serve",
         "--ping-interval", str(args.ping_interval), "--ping-timeout", str(args.ping_timeout)],
        stdout=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    assert process.stdout is not None
    line = b""
    with trio.fail_after(30):
        while not line.endswith(b"\n"):
            line += await process.stdout.receive_some(1)
    base = line.decode().strip()
    print(f"server pid {process.pid} at {base}", flush=True)
    failed = False
    async with httpx.AsyncClient(timeout=10) as http:

        async def stats() -> dict[str, Any]:
            return dict((await http.get(f"{base}/soak-stats")).json())

        baseline: dict[str, int] = {}

        async def settled() -> dict[str, Any]:
            """Stats once the registry is empty and the task count stopped falling (closed
            keep-alive connections take a moment to end their hypercorn tasks)."""
            current = await stats()
            with trio.move_on_after(30):
                while True:
                    idle = current["sessions"] == 0 and current["running_sessions"] == 0
                    if idle and current["tasks"] <= baseline.get("tasks", current["tasks"]):
                        break
                    await trio.sleep(0.5)
                    current = await stats()
            baseline.setdefault("tasks", current["tasks"])
            return current

        def show(label: str, s: dict[str, Any]) -> None:
            print(
                f"{label:>22}: tasks={s['tasks']} sessions={s['sessions']} running={s['running_sessions']} "
                f"rss={s['rss_kib'] / 1024:.1f} MiB opened={s['opened']} closed={s['closed']}",
                flush=True,
            )

        try:
            before = await settled()
            show("before", before)
            tally = Tally()
            started = time.monotonic()
            await _cycles(base, args.cycles, args.concurrency, tally)
            elapsed = time.monotonic() - started
            after_cycles = await settled()
            show("after cycles", after_cycles)
            print(
                f"cycles: {tally.done} ok, {tally.dropped} dropped in {elapsed:.1f}s "
                f"({args.cycles / elapsed:.0f}/s) {tally.errors or ''}",
                flush=True,
            )
            idle_tally = Tally()
            hold = 3 * args.ping_interval + 0.5
            peak = await _idle(base, args.idle, hold, idle_tally, stats)
            show("idle peak", peak)
            after_idle = await settled()
            show("after idle", after_idle)
            print(
                f"idle: {args.idle} opened, {peak['still_open']} still open after {hold:.1f}s, "
                f"{idle_tally.dropped} dropped {idle_tally.errors or ''}",
                flush=True,
            )
            leaked_tasks = after_idle["tasks"] - before["tasks"]
            print(
                f"summary: tasks {before['tasks']} -> {after_idle['tasks']}, "
                f"registry {before['sessions']} -> {after_idle['sessions']}, "
                f"RSS {before['rss_kib'] / 1024:.1f} -> {after_cycles['rss_kib'] / 1024:.1f} (after cycles) "
                f"-> {after_idle['rss_kib'] / 1024:.1f} MiB, "
                f"sessions dropped {tally.dropped + idle_tally.dropped}",
                flush=True,
            )
            failed = bool(tally.dropped or idle_tally.dropped or after_idle["sessions"] or leaked_tasks > 0)
        finally:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(20):
                await process.wait()
            if process.returncode is None:
                process.kill()
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.hypercorn.bad_inputs.soak", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cycles", type=int, default=100_000, help="connect/exchange/disconnect cycles")
    parser.add_argument("--idle", type=int, default=5_000, help="concurrent idle websocket sessions")
    parser.add_argument("--concurrency", type=int, default=32, help="cycles running at once")
    parser.add_argument("--ping-interval", type=float, default=5.0, help="server pingInterval (s)")
    parser.add_argument("--ping-timeout", type=float, default=5.0, help="server pingTimeout (s)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        trio.run(_serve, args)
        return 0
    return trio.run(_drive, args)


if __name__ == "__main__":
    sys.exit(main())
