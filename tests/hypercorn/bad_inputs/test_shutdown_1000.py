"""G3 at scale over real hypercorn: 1000 sessions, graceful shutdown through serve()'s trigger.

500 polling sessions each with a pending long-poll GET (httpx) and 500 websocket
sessions (trio-websocket, reading until closed). Firing ``shutdown_trigger`` must
close every session, run each ``disconnect`` handler exactly once with "server
shutdown", answer every pending GET and websocket with a CLOSE packet, and let
``serve()`` return within hypercorn's graceful timeout.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import trio
import trio_websocket
from engine_harness import GuardedApp, assert_empty, capture_logs, count_tasks
from wire import parse_open, polling_url, websocket_url

import trio_engineio

POLLING_SESSIONS = 500
WEBSOCKET_SESSIONS = 500
GRACEFUL_TIMEOUT = 3.0


class GuardedASGIApp(trio_engineio.ASGIApp):
    """An ASGIApp (so serve() closes the sessions first) that records escaping exceptions."""

    def __init__(self, server: trio_engineio.Server) -> None:
        super().__init__(server)
        self.guard = GuardedApp(super().__call__)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.guard(scope, receive, send)


async def test_g3_graceful_shutdown_of_1000_sessions_via_serve_trigger() -> None:
    server = trio_engineio.Server(ping_interval=60, ping_timeout=60)
    disconnects: Counter[str] = Counter()
    reasons: set[str] = set()

    @server.on("disconnect")
    def disconnect(sid: str, reason: str) -> None:
        disconnects[sid] += 1
        reasons.add(str(reason))

    app = GuardedASGIApp(server)
    stop = trio.Event()
    stopped = trio.Event()
    polled: list[str] = []
    ws_results: list[tuple[int | None, list[Any]]] = []
    tasks_before = count_tasks()
    with trio.fail_after(30):
        async with capture_logs() as logs, trio.open_nursery() as nursery:

            async def run(task_status: Any) -> None:
                try:
                    await trio_engineio.serve(
                        app,
                        "127.0.0.1",
                        0,
                        shutdown_trigger=stop.wait,
                        task_status=task_status,
                        graceful_timeout=GRACEFUL_TIMEOUT,
                        backlog=2048,
                    )
                finally:
                    stopped.set()

            binds = await nursery.start(run)
            base = next(b for b in binds if b.startswith("http://127.0.0.1:"))
            limits = httpx.Limits(max_connections=POLLING_SESSIONS + 50, max_keepalive_connections=0)
            async with httpx.AsyncClient(timeout=httpx.Timeout(20.0), limits=limits) as http:
                # polling sessions, each with a pending GET
                sids: list[str] = []
                for _ in range(POLLING_SESSIONS):
                    sids.append(str(parse_open((await http.get(base + polling_url())).text)["sid"]))

                async def pending_get(sid: str) -> None:
                    polled.append((await http.get(base + polling_url(sid))).text)

                for sid in sids:
                    nursery.start_soon(pending_get, sid)

                # websocket sessions, reading until the server closes them
                async def websocket(task_status: Any) -> None:
                    url = "ws://" + base[len("http://") :] + websocket_url()
                    frames: list[Any] = []
                    async with trio.open_nursery() as own:
                        ws = await trio_websocket.connect_websocket_url(own, url, message_queue_size=10)
                        sids.append(str(parse_open(await ws.get_message())["sid"]))
                        task_status.started()
                        try:
                            while True:
                                frames.append(await ws.get_message())
                        except trio_websocket.ConnectionClosed as closed:
                            ws_results.append((closed.reason.code, frames))

                for _ in range(WEBSOCKET_SESSIONS):
                    await nursery.start(websocket)
                with trio.fail_after(10):
                    while sum(c.core.get_pending for c in server.connections()) < POLLING_SESSIONS:
                        await trio.sleep(0.05)
                stats = server.statistics()
                assert stats.sessions == POLLING_SESSIONS + WEBSOCKET_SESSIONS, stats
                assert stats.sessions_by_transport == {
                    "polling": POLLING_SESSIONS,
                    "websocket": WEBSOCKET_SESSIONS,
                }

                start = time.monotonic()
                stop.set()
                await stopped.wait()
                elapsed = time.monotonic() - start
                with trio.fail_after(5):
                    while len(polled) < POLLING_SESSIONS or len(ws_results) < WEBSOCKET_SESSIONS:
                        await trio.sleep(0.05)
    assert elapsed < GRACEFUL_TIMEOUT + 1.0, f"shutdown took {elapsed:.2f}s"
    assert len(sids) == POLLING_SESSIONS + WEBSOCKET_SESSIONS
    assert set(disconnects) == set(sids), len(set(sids) - set(disconnects))
    assert set(disconnects.values()) == {1}, "a disconnect handler ran twice"
    assert reasons == {"server shutdown"}
    assert Counter(polled) == Counter({"1": POLLING_SESSIONS})
    assert {code for code, _ in ws_results} <= {1000, 1001}, Counter(code for code, _ in ws_results)
    assert {tuple(frames) for _, frames in ws_results} == {("1",)}
    assert_empty(server)
    assert count_tasks() == tasks_before
    app.guard.check()
    logs.check()
    print(f"\n1000-session graceful shutdown: {elapsed:.2f}s")
