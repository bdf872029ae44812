"""Hypothesis fuzzing of the ASGI layer, in memory, against live sessions.

Random methods, paths, query strings, headers and bodies (polling), and websocket
frames in random order on new, upgrading and upgraded sockets, interleaved with
polling requests of the same session. Every example runs in a fresh
:func:`engine_harness.engine` (bystanders echoing, no 5xx, nothing escapes the app,
nothing left behind). Budget: the ``fast`` profile (60 examples per target) in the
default run, ``HYPOTHESIS_PROFILE=long`` (5000) for ``nox -s fuzz``.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
from engine_harness import Engine, engine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire import RS, asgi_http, polling_url, websocket_url

from trio_engineio.testing import TestWebSocket, WebSocketClosed, WebSocketRejected, open_websocket

pytestmark = pytest.mark.fuzz

ALLOWED_STATUSES = {200, 204, 400, 401, 403, 404, 408, 413}
FUZZ_SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# -------------------------------------------------------------------------- strategies

packet_text = st.one_of(
    st.sampled_from(["1", "2", "3", "5", "6", "0", "2probe", "3probe", "4", "b", "bAQID", "b!!!", "abc", ""]),
    st.builds(lambda t, d: t + d, st.sampled_from("0123456789bx"), st.text(max_size=20)),
)
payload = st.one_of(
    st.lists(packet_text, max_size=6).map(lambda ps: RS.join(ps).encode("utf-8", "surrogatepass")),
    st.binary(max_size=64),
)
raw_bytes = st.binary(max_size=24)
query_value = st.one_of(
    st.sampled_from([b"4", b"3", b"polling", b"websocket", b"", b"%00", b"%FF"]), raw_bytes
)
header_name = st.one_of(
    st.sampled_from(
        [
            b"origin",
            b"content-type",
            b"content-length",
            b"accept-encoding",
            b"cookie",
            b"host",
            b"x-forwarded-host",
            b"x-forwarded-proto",
            b"transfer-encoding",
            b"access-control-request-headers",
        ]
    ),
    st.binary(min_size=1, max_size=12),
)
header_value = st.one_of(
    st.sampled_from(
        [
            b"http://testserver",
            b"null",
            b"https://evil",
            b"application/octet-stream",
            b"text/plain",
            b"gzip;q=0",
            b"*",
            b"-1",
            b"99999999999",
            b"io=abc",
            b"",
        ]
    ),
    raw_bytes,
)


@st.composite
def http_request(draw: Any) -> dict[str, Any]:
    parts: list[bytes] = []
    for key in (b"EIO", b"transport", b"sid", b"j", b"t"):
        choice = draw(st.sampled_from(["good", "absent", "fuzz", "twice"]))
        if choice == "absent":
            continue
        good = {b"EIO": b"4", b"transport": b"polling", b"sid": b"@LIVE", b"j": b"0", b"t": b"x"}[key]
        value = good if choice in ("good", "twice") else draw(query_value)
        parts.append(key + b"=" + value)
        if choice == "twice":
            parts.append(key + b"=" + good)
    parts += draw(st.lists(raw_bytes, max_size=2))
    if draw(st.booleans()):
        parts = draw(st.permutations(parts))
    return {
        "method": draw(
            st.sampled_from(["GET", "GET", "POST", "POST", "OPTIONS", "PUT", "DELETE", "HEAD", "X"])
        ),
        "path": draw(st.sampled_from(["/engine.io/", "/engine.io", "/", "/engine.io/x", "/socket.io/"])),
        "query": b"&".join(parts),
        "headers": draw(st.lists(st.tuples(header_name, header_value), max_size=4)),
        "body": draw(st.lists(payload, max_size=3)),
        "concurrent": draw(st.booleans()),
        "abort": draw(st.booleans()),
    }


async def run_request(eng: Engine, live: list[str], request: dict[str, Any], index: int) -> None:
    query = request["query"]
    if b"@LIVE" in query:
        sid = live[index % len(live)] if live else "nosuchsid"
        query = query.replace(b"@LIVE", sid.encode())
    gone = trio.Event()
    with trio.move_on_after(30):  # a long-poll of a live session waits for its PING
        async with trio.open_nursery() as nursery:
            if request["abort"]:
                nursery.start_soon(_set_later, gone, 0.5)
            response = await asgi_http(
                eng.app,
                request["method"],
                request["path"],
                query,
                request["headers"],
                request["body"] or b"",
                disconnect=gone,
            )
            nursery.cancel_scope.cancel()
        if response.status is not None:
            assert response.status in ALLOWED_STATUSES, (request, response)


async def _set_later(event: trio.Event, delay: float) -> None:
    await trio.sleep(delay)
    event.set()


@FUZZ_SETTINGS
@given(requests=st.lists(http_request(), min_size=1, max_size=6))
async def test_fuzz_polling_requests_against_live_sessions(
    autojump_clock: trio.abc.Clock, requests: list[Any]
) -> None:
    async with engine() as eng:
        live = [await eng.handshake() for _ in range(2)]
        async with trio.open_nursery() as nursery:
            for index, request in enumerate(requests):
                if request["concurrent"]:
                    nursery.start_soon(run_request, eng, live, request, index)
                else:
                    await run_request(eng, live, request, index)


# ------------------------------------------------------------------ websocket frames

frame = st.one_of(packet_text, st.binary(max_size=32), st.text(max_size=40))
action = st.one_of(
    st.tuples(st.just("frame"), st.integers(0, 2), frame),
    st.tuples(st.just("close"), st.integers(0, 2), st.none()),
    st.tuples(st.just("post"), st.integers(0, 2), payload),
    st.tuples(st.just("get"), st.integers(0, 2), st.none()),
    st.tuples(st.just("wait"), st.integers(0, 2), st.sampled_from([0.1, 1.0, 12.0])),
    st.tuples(st.just("server-send"), st.integers(0, 2), st.text(max_size=10)),
)


async def _drain(ws: TestWebSocket) -> None:
    try:
        while True:
            await ws.receive()
    except (WebSocketClosed, trio.EndOfChannel):
        pass


async def _socket(eng: Engine, url: str, inbox: trio.MemoryReceiveChannel[Any], task_status: Any) -> None:
    try:
        async with open_websocket(eng.app, url) as ws, trio.open_nursery() as nursery:
            nursery.start_soon(_drain, ws)
            task_status.started()
            async for item in inbox:
                if item is None:
                    await ws.close()
                    break
                await ws.send(item)
            nursery.cancel_scope.cancel()
    except WebSocketRejected as rejected:
        status: int | None = rejected.status
    else:
        status = None
    if status is not None:
        task_status.started()
        assert status in ALLOWED_STATUSES, status


@FUZZ_SETTINGS
@given(script=st.lists(action, min_size=1, max_size=12))
async def test_fuzz_websocket_frames_and_polling_in_random_order(
    autojump_clock: trio.abc.Clock, script: list[Any]
) -> None:
    """Socket 0: a new websocket session; 1: an upgrade of a polling session; 2: another upgrade of it."""
    async with engine(upgrade_timeout=5, ping_interval=10, ping_timeout=5) as eng:
        polling_sid = await eng.handshake()
        urls = [websocket_url(), websocket_url(polling_sid), websocket_url(polling_sid)]
        inboxes: list[trio.MemorySendChannel[Any] | None] = [None, None, None]
        async with trio.open_nursery() as nursery:
            for kind, target, data in script:
                if kind in ("frame", "close"):
                    if inboxes[target] is None:
                        send, receive = trio.open_memory_channel[Any](100)
                        inboxes[target] = send
                        await nursery.start(_socket, eng, urls[target], receive)
                    inbox = inboxes[target]
                    assert inbox is not None
                    try:
                        await inbox.send(data)
                    except trio.BrokenResourceError:
                        pass  # the socket is gone already
                elif kind == "post":
                    nursery.start_soon(_request, eng, "POST", polling_sid, data)
                elif kind == "get":
                    nursery.start_soon(_request, eng, "GET", polling_sid, b"")
                elif kind == "wait":
                    await trio.sleep(data)
                elif RS in data:  # an application error, refused at once on a polling session
                    try:
                        await eng.server.send(polling_sid, data)
                    except ValueError:
                        pass
                else:
                    await eng.server.send(polling_sid, data)  # unknown or closed: logged, ignored
                await trio.lowlevel.checkpoint()
            await trio.sleep(1)
            for inbox in inboxes:
                if inbox is not None:
                    await inbox.aclose()
            nursery.cancel_scope.deadline = trio.current_time() + 40


async def _request(eng: Engine, method: str, sid: str, body: bytes) -> None:
    with trio.move_on_after(30):
        response = await asgi_http(eng.app, method, "/engine.io/", polling_url(sid).split("?")[1], body=body)
        assert response.status in ALLOWED_STATUSES, response


@FUZZ_SETTINGS
@given(data=st.data())
async def test_fuzz_handshake_then_any_post_body(autojump_clock: trio.abc.Clock, data: Any) -> None:
    """A live session gets one arbitrary POST body: 200 and delivered, or 4xx and closed. Nothing else."""
    async with engine(echo=False) as eng:
        sid = await eng.handshake()
        body = data.draw(payload)
        response = await asgi_http(eng.app, "POST", "/engine.io/", polling_url(sid).split("?")[1], body=body)
        assert response.status in (200, 400, 413), response
        if response.status != 200:
            reason = await eng.rec.wait_disconnect(sid)
            assert reason in ("parse error", "transport error"), reason
            assert eng.rec.of(sid) == []
