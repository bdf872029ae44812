"""Bad inputs, sections F (origin, CORS, cookies, headers) and G (resources), in memory."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import trio
import trio.testing
from engine_harness import GuardedApp, assert_empty, capture_logs, count_tasks, engine
from wire import (
    RS,
    Recorder,
    asgi_http,
    asgi_websocket,
    parse_open,
    polling_url,
    websocket_url,
    ws_close_code,
    ws_scope,
)

import trio_engineio
from trio_engineio.testing import open_test_client, open_websocket

HANDSHAKE = polling_url().split("?")[1]
WS_HANDSHAKE = websocket_url().split("?")[1]


def query(sid: str) -> str:
    return polling_url(sid).split("?")[1]


async def ws_status(
    app: Any, headers: list[tuple[bytes, bytes]], *, scheme: str = "ws", host: bytes = b"testserver"
) -> Any:
    """The first thing the app answers a websocket handshake with: 'accept' or the HTTP status."""
    sent = await asgi_websocket(
        app,
        ws_scope(query=WS_HANDSHAKE, headers=headers, scheme=scheme, host=host),
        [{"type": "websocket.connect"}],
    )
    first = sent[0]
    if first["type"] == "websocket.accept":
        return "accept"
    assert first["type"] == "websocket.http.response.start", first
    return first["status"]


# ---------------------------------------------------------------------------------- F


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        b"null",
        b"http://testserver.evil",
        b"https://testserver",
        b"http://testserver:81",
    ],
)
async def test_f1_cross_site_and_null_origin_refused_by_default(
    autojump_clock: trio.abc.Clock, origin: bytes
) -> None:
    async with engine() as eng:
        response = await asgi_http(eng.app, "GET", "/engine.io/", HANDSHAKE, [(b"origin", origin)])
        assert (response.status, response.json()["code"]) == (403, 4)
        assert response.header(b"access-control-allow-origin") is None
        assert await ws_status(eng.app, [(b"origin", origin)]) == 403
        # a live session cannot be driven from that origin either
        sid = await eng.handshake()
        for method in ("GET", "POST"):
            response = await asgi_http(
                eng.app, method, "/engine.io/", query(sid), [(b"origin", origin)], b"4evil"
            )
            assert response.status == 403
        assert eng.rec.of(sid) == []
        assert (await eng.post(sid, "4mine")).text == "ok"
        assert await eng.poll_until(sid, 1) == ["4mine"]
        assert eng.attack_sessions() == [sid]


@pytest.mark.parametrize(
    ("scheme", "host", "origin", "accepted"),
    [
        ("https", b"app.example", b"https://app.example", True),
        ("https", b"app.example:443", b"https://app.example", True),
        ("https", b"app.example", b"https://APP.example:443", True),
        ("https", b"app.example", b"http://app.example", False),
        ("http", b"app.example:8080", b"http://app.example:8080", True),
        ("http", b"app.example", b"https://app.example", False),
    ],
)
async def test_f2_same_origin_uses_the_scope_scheme_and_host(
    autojump_clock: trio.abc.Clock, scheme: str, host: bytes, origin: bytes, accepted: bool
) -> None:
    async with engine() as eng:
        response = await asgi_http(
            eng.app, "GET", "/engine.io/", HANDSHAKE, [(b"origin", origin)], scheme=scheme, host=host
        )
        assert response.status == (200 if accepted else 403), response
        ws_scheme = {"https": "wss", "http": "ws"}[scheme]
        assert await ws_status(eng.app, [(b"origin", origin)], scheme=ws_scheme, host=host) == (
            "accept" if accepted else 403
        )


async def test_f3_forwarded_headers_ignored_without_a_trusted_proxy(autojump_clock: trio.abc.Clock) -> None:
    forwarded = [(b"x-forwarded-host", b"proxy.example"), (b"x-forwarded-proto", b"https")]
    async with engine() as eng:
        response = await asgi_http(
            eng.app, "GET", "/engine.io/", HANDSHAKE, [(b"origin", b"https://proxy.example"), *forwarded]
        )
        assert response.status == 403
        response = await asgi_http(
            eng.app, "GET", "/engine.io/", HANDSHAKE, [(b"origin", b"http://testserver"), *forwarded]
        )
        assert response.status == 200
    async with engine(trust_forwarded_headers=True) as eng:
        response = await asgi_http(
            eng.app, "GET", "/engine.io/", HANDSHAKE, [(b"origin", b"https://proxy.example"), *forwarded]
        )
        assert response.status == 200


@pytest.mark.parametrize(
    "origin",
    [
        b"http://test\x01server",
        b"http://testserver\x7f",
        b"http://test server",
        b"",
        b"http://testserver\r\nx: y",
        b"\x00",
        b"http://\xc3\xa9.example",
    ],
)
async def test_f4_origin_with_control_characters_is_400(
    autojump_clock: trio.abc.Clock, origin: bytes
) -> None:
    async with engine(cors_allowed_origins="*") as eng:
        response = await asgi_http(eng.app, "GET", "/engine.io/", HANDSHAKE, [(b"origin", origin)])
        assert (response.status, response.json()["code"]) == (400, 3)
        assert await ws_status(eng.app, [(b"origin", origin)]) == 400
        assert eng.attack_sessions() == []


async def test_f5_preflight_from_a_refused_origin_and_no_blind_reflection(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with engine(cors_allowed_origins=["https://good.example"]) as eng:
        evil = [
            (b"origin", b"https://evil.example"),
            (b"access-control-request-method", b"POST"),
            (b"access-control-request-headers", b"x-custom"),
        ]
        response = await asgi_http(eng.app, "OPTIONS", "/engine.io/", HANDSHAKE, evil)
        assert response.status == 403
        assert not [k for k, _ in response.headers if k.startswith(b"access-control-")], response.headers
        good = [(b"origin", b"https://good.example"), (b"access-control-request-method", b"POST")]
        for requested, reflected in (
            (b"content-type, x-token", True),
            (b"x-a\r\nset-cookie: a=b", False),
            (b"x:y", False),
            (b"a" * 600, False),
            (b"x-\xff", False),
        ):
            response = await asgi_http(
                eng.app,
                "OPTIONS",
                "/engine.io/",
                HANDSHAKE,
                [*good, (b"access-control-request-headers", requested)],
            )
            assert response.status == 204
            assert response.header(b"access-control-allow-origin") == b"https://good.example"
            assert (response.header(b"access-control-allow-headers") == requested) is reflected, requested
            assert not any(b"\r" in v or b"\n" in v for _, v in response.headers)


async def test_f6_cookie_defaults_and_attribute_validation(autojump_clock: trio.abc.Clock) -> None:
    async with engine(cookie="io") as eng:
        response = await eng.http.get(polling_url())
        sid = parse_open(response.text)["sid"]
        assert response.headers["set-cookie"] == f"io={sid}; Path=/; HttpOnly; SameSite=Lax"
        async with open_websocket(eng.app, websocket_url()) as ws:
            ws_sid = parse_open(await ws.receive())["sid"]
            cookies = [v for k, v in ws.accept_headers if k.lower() == b"set-cookie"]
            assert cookies == [f"io={ws_sid}; Path=/; HttpOnly; SameSite=Lax".encode()]
            await ws.send("1")
            await ws_close_code(ws)
    for bad in (
        {"name": "io;x"},
        {"path": "/;x"},
        {"domain": "a\r\nb"},
        {"samesite": "Lax\n"},
        {"path": "/\x00"},
        {"name": "io,x"},
        {"secure": "yes; HttpOnly"},
    ):
        with pytest.raises(ValueError, match="cookie attribute"):
            trio_engineio.Server(cookie=bad)


async def test_f7_every_polling_response_carries_no_store_and_nosniff(autojump_clock: trio.abc.Clock) -> None:
    async with engine(max_http_buffer_size=40, cors_allowed_origins=["https://good.example"]) as eng:
        sid = await eng.handshake()
        responses = [
            await asgi_http(eng.app, "GET", "/engine.io/", HANDSHAKE),  # 200 handshake
            await asgi_http(eng.app, "POST", "/engine.io/", query(sid), body=b"4x"),  # 200 ok
            await asgi_http(eng.app, "GET", "/engine.io/", query(sid)),  # 200 poll
            await asgi_http(eng.app, "GET", "/engine.io/", "EIO=3&transport=polling"),  # 400
            await asgi_http(eng.app, "GET", "/engine.io/", HANDSHAKE, [(b"origin", b"https://x")]),  # 403
            await asgi_http(
                eng.app, "OPTIONS", "/engine.io/", HANDSHAKE, [(b"origin", b"https://good.example")]
            ),
            await asgi_http(eng.app, "POST", "/engine.io/", query(sid), body=b"4" + b"x" * 50),  # 413
        ]
        assert [r.status for r in responses] == [200, 200, 200, 400, 403, 204, 413]
        for response in responses:
            assert response.header(b"cache-control") == b"no-store", response
            assert response.header(b"x-content-type-options") == b"nosniff", response


async def test_f7_refused_handshake_401_carries_no_store_and_nosniff(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        eng.server.on("connect", lambda sid, environ: sid in eng.bystander_sids)
        response = await asgi_http(eng.app, "GET", "/engine.io/", HANDSHAKE)
        assert response.status == 401
        assert response.header(b"cache-control") == b"no-store"
        assert response.header(b"x-content-type-options") == b"nosniff"


# ---------------------------------------------------------------------------------- G


async def test_g1_client_that_never_polls_bounded_buffer_then_ping_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Policy: backpressure. ``send`` waits while the buffer is over its limits; the close releases it."""
    async with engine(
        max_buffered_messages=50, max_buffered_bytes=1000, ping_interval=5, ping_timeout=5
    ) as eng:
        sid = await eng.handshake()
        conn = eng.server.connection(sid)
        sent = 0
        finished = trio.Event()

        async def flood() -> None:
            nonlocal sent
            for _ in range(10_000):
                await eng.server.send(sid, "x" * 90)  # logged and dropped once closed
                sent += 1
            finished.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            await trio.sleep(1)
            assert sent == 12  # 12 * 90 >= 1000: the byte limit holds before the count limit
            assert conn.buffered_bytes < 1000 + 90
            assert eng.server.statistics().buffered_messages == 12
            await eng.rec.wait_disconnect(sid)
            assert eng.rec.reasons(sid) == ["ping timeout"]
            with trio.fail_after(1):
                await finished.wait()  # the blocked sender was released
        with pytest.raises(trio_engineio.ConnectionClosed):
            await conn.send("late")


async def test_g1_count_limit_holds_for_small_messages(autojump_clock: trio.abc.Clock) -> None:
    async with engine(max_buffered_messages=50, ping_interval=5, ping_timeout=5) as eng:
        sid = await eng.handshake()
        with trio.move_on_after(1):
            for _ in range(1000):
                await eng.server.send(sid, "x")
        assert eng.server.connection(sid).buffered_messages == 50
        packets = await eng.poll_until(sid, 50)
        assert packets == ["4x"] * 50


async def test_g2_disconnect_of_an_idle_polling_client_returns_promptly(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with engine() as eng:
        sids = [await eng.handshake() for _ in range(5)]
        start = trio.current_time()
        wall = time.monotonic()
        for sid in sids:
            await eng.server.disconnect(sid)
        assert trio.current_time() == start
        assert time.monotonic() - wall < 0.5
        for sid in sids:
            assert await eng.rec.wait_disconnect(sid) == "server disconnect"
            await eng.wait_gone(sid)
        assert trio.current_time() - start <= 2.5  # the grace for a final GET, then gone
        assert (await eng.get(sids[0])).status_code == 400


async def test_g2_disconnect_while_a_get_is_pending(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        got: list[str] = []
        async with trio.open_nursery() as nursery:

            async def pending() -> None:
                got.append((await eng.get(sid)).text)

            nursery.start_soon(pending)
            with trio.fail_after(5):
                while not eng.server.connection(sid).core.get_pending:
                    await trio.sleep(0.01)
            await eng.server.send(sid, "bye")
            await eng.server.disconnect(sid)
        assert got in (["4bye\x1e1"], ["4bye"])
        if got == ["4bye"]:
            assert (await eng.get(sid)).text == "1"
        assert await eng.rec.wait_disconnect(sid) == "server disconnect"


async def _g3_sessions(app: Any, http: Any, nursery: trio.Nursery, results: dict[str, Any]) -> list[str]:
    """Open 10 polling sessions (5 with a pending GET) and 10 websockets that read until closed."""
    sids: list[str] = []
    for i in range(10):
        response = await http.get(polling_url())
        sid = parse_open(response.text)["sid"]
        sids.append(sid)
        if i % 2:

            async def pending(sid: str = sid) -> None:
                results[sid] = (await http.get(polling_url(sid))).text

            nursery.start_soon(pending)

    async def websocket(task_status: Any) -> None:
        async with open_websocket(app, websocket_url()) as ws:
            sid = parse_open(await ws.receive())["sid"]
            sids.append(sid)
            task_status.started()
            results[sid] = await ws_close_code(ws)

    for _ in range(10):
        await nursery.start(websocket)
    await trio.sleep(0.1)
    return sids


@pytest.mark.parametrize(
    "how",
    [
        "async-with",
        pytest.param(
            "cancel-run",
        ),
        "lifespan",
    ],
)
async def test_g3_shutdown_closes_everything_once_and_never_swallows_cancel(
    autojump_clock: trio.abc.Clock, how: str
) -> None:
    server = trio_engineio.Server()
    rec = Recorder(server)
    app = GuardedApp(trio_engineio.ASGIApp(server))
    results: dict[str, Any] = {}
    tasks_before = count_tasks()
    reached_after_run = False
    async with capture_logs() as logs, open_test_client(app) as http, trio.open_nursery() as clients:
        if how == "async-with":
            async with server:
                sids = await _g3_sessions(app, http, clients, results)
                start = trio.current_time()
        elif how == "cancel-run":
            with trio.CancelScope() as cancel:
                async with trio.open_nursery() as nursery:
                    await nursery.start(server.run)
                    sids = await _g3_sessions(app, http, clients, results)
                    start = trio.current_time()
                    cancel.cancel()
                    await trio.sleep_forever()
                reached_after_run = True  # Cancelled swallowed somewhere below
            assert cancel.cancelled_caught
        else:
            to_app, from_test = trio.open_memory_channel[dict[str, Any]](10)
            to_test, from_app = trio.open_memory_channel[dict[str, Any]](10)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    app, {"type": "lifespan", "asgi": {"version": "3.0"}}, from_test.receive, to_test.send
                )
                await to_app.send({"type": "lifespan.startup"})
                assert (await from_app.receive())["type"] == "lifespan.startup.complete"
                sids = await _g3_sessions(app, http, clients, results)
                start = trio.current_time()
                await to_app.send({"type": "lifespan.shutdown"})
                assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"
        assert trio.current_time() - start <= server.options.shutdown_timeout * 2
    assert not reached_after_run
    assert sorted(sid for sid, _ in rec.disconnects) == sorted(sids)
    assert {str(reason) for _, reason in rec.disconnects} == {"server shutdown"}
    rec.check_once()
    pending = [results[sid] for sid in sids[:10] if sid in results]
    assert len(pending) == 5
    assert set(pending) == {"1"}
    for sid in sids[10:]:
        code, frames = results[sid]
        assert code in (1000, 1001)
        assert frames in (["1"], []), frames
    assert_empty(server)
    assert count_tasks() == tasks_before
    app.check()
    logs.check()
    assert (await asgi_http(app, "GET", "/engine.io/", HANDSHAKE)).status == 503


async def test_g4_handler_raises_or_blocks_logged_with_sid_others_unaffected(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with engine(handler_errors=2) as eng:
        order: dict[str, list[str]] = {}
        inside: dict[str, int] = {}

        async def message(sid: str, data: Any) -> None:
            if sid in eng.bystander_sids:
                await eng.server.send(sid, data)
                return
            inside[sid] = inside.get(sid, 0) + 1
            assert inside[sid] == 1, "two messages of one session in the handler at once"
            try:
                order.setdefault(sid, []).append(data)
                if data == "boom":
                    raise RuntimeError("boom")
                if data == "block":
                    await trio.sleep(30)
                await trio.sleep(0.1)
            finally:
                inside[sid] -= 1

        eng.server.on("message", message)
        bad = await eng.handshake()
        slow = await eng.handshake()
        assert (await eng.post(bad, RS.join(["4boom", "41", "4boom", "42"]))).text == "ok"
        assert (await eng.post(slow, RS.join(["4block", "4a", "4b"]))).text == "ok"
        await eng.check_bystanders(3)
        with trio.fail_after(60):
            while len(order.get(slow, [])) < 3 or len(order.get(bad, [])) < 4:
                await trio.sleep(0.5)
        assert order[bad] == ["boom", "1", "boom", "2"]
        assert order[slow] == ["block", "a", "b"]
        failures = [r for r in eng.logs.records if r.exc_info and "message handler failed" in r.getMessage()]
        assert len(failures) == 2
        assert all(bad in r.getMessage() for r in failures)
        assert eng.rec.reasons(bad) == []


async def test_g4_handler_concurrency_is_bounded(autojump_clock: trio.abc.Clock) -> None:
    async with engine(bystanders=False, max_concurrent_handlers=3) as eng:
        release = trio.Event()
        running = 0
        peak = 0

        async def message(sid: str, data: Any) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

        eng.server.on("message", message)
        sids = [await eng.handshake() for _ in range(8)]
        for sid in sids:
            assert (await eng.post(sid, "4go")).text == "ok"
        await trio.sleep(1)
        assert (running, peak) == (3, 3)
        release.set()
        await trio.sleep(1)
        assert (running, peak) == (0, 3)


async def test_g5_handler_sends_disconnects_self_other_and_after_close(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with engine() as eng:
        results: list[Any] = []
        victim = await eng.handshake()
        actor = await eng.handshake()

        async def message(sid: str, data: Any) -> None:
            if sid in eng.bystander_sids:
                await eng.server.send(sid, data)
                return
            if data == "kill other":
                await eng.server.disconnect(victim)
                await eng.server.send(victim, "to the dead")  # logged, no exception
                results.append("other done")
            elif data == "self":
                await eng.server.send(sid, "bye")
                await eng.server.disconnect(sid)
                await eng.server.send(sid, "after close")  # logged, no exception
                conn = eng.server._sessions.get(sid)
                if conn is not None:
                    with pytest.raises(trio_engineio.ConnectionClosed):
                        await conn.send("after close")
                results.append("self done")

        eng.server.on("message", message)
        assert (await eng.post(actor, "4kill other")).text == "ok"
        assert await eng.rec.wait_disconnect(victim) == "server disconnect"
        assert (await eng.post(actor, "4self")).text == "ok"
        assert await eng.poll_until(actor, 2) == ["4bye", "1"]
        assert await eng.rec.wait_disconnect(actor) == "server disconnect"
        assert results == ["other done", "self done"]


SCALE = int(os.environ.get("BAD_INPUTS_SESSIONS", "2000"))


class StepCounter(trio.abc.Instrument):
    """Counts task steps; cancels ``scope`` once over ``limit`` (a busy loop)."""

    def __init__(self, scope: trio.CancelScope, limit: int) -> None:
        self.scope = scope
        self.limit = limit
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1
        if self.steps > self.limit:
            self.scope.cancel()


async def test_g6_many_sessions_disconnected_at_once_registry_empty_no_busy_loop(
    autojump_clock: trio.abc.Clock,
) -> None:
    """``BAD_INPUTS_SESSIONS`` sessions (default 2000; the 10 000 of row G6 with =10000)."""
    timings: dict[int, float] = {}
    async with engine(ping_interval=100, ping_timeout=100) as eng:
        for count in (SCALE // 4, SCALE):
            for _ in range(count):
                response = await asgi_http(eng.app, "GET", "/engine.io/", HANDSHAKE)
                assert response.status == 200
            assert len(eng.attack_sessions()) == count
            start = time.perf_counter()
            for sid in eng.attack_sessions():
                await eng.server.disconnect(sid)
            with trio.fail_after(10):
                while eng.attack_sessions() or len(eng.server._running) > 2:
                    await trio.sleep(0.1)
            timings[count] = time.perf_counter() - start
        # 4x the sessions may cost a bit more than 4x, never 16x (O(n^2))
        assert timings[SCALE] < 10 * timings[SCALE // 4] + 0.5, timings
        with trio.CancelScope() as scope:
            counter = StepCounter(scope, limit=100_000)
            trio.lowlevel.add_instrument(counter)
            try:
                await trio.sleep(10)  # only the bystanders should run
            finally:
                trio.lowlevel.remove_instrument(counter)
        assert not scope.cancelled_caught, f"busy loop: {counter.steps} task steps in 10 idle seconds"
        assert counter.steps < 2000, counter.steps


async def test_g5_send_after_close_is_still_a_checkpoint(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        conn = eng.server.connection(sid)
        assert (await eng.post(sid, "1")).text == "ok"
        await eng.rec.wait_disconnect(sid)
        with trio.testing.assert_checkpoints():
            await eng.server.send(sid, "x")  # unknown by now
        with trio.testing.assert_checkpoints(), pytest.raises(trio_engineio.ConnectionClosed):
            await conn.send("x")
