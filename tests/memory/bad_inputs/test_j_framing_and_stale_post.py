"""Bad inputs I3 (a stale polling request after an upgrade) and I4 (Content-Length with
Transfer-Encoding), in memory on autojump_clock; over real hypercorn in
``tests/hypercorn/bad_inputs/test_j_real_framing_and_stale_post.py``.

I3 decision: the session leaves long-polling when the upgrade completes (``5`` on the
probing websocket), as the reference discards its polling transport then. A POST still
being read at that moment is detached: its body (received or not) is dropped, it is
answered 400 at once, and nothing that happens to it afterwards (reset, stall, the rest
of its body) touches the session. Until ``5`` the session is still on polling (the
client may abandon the upgrade), so a failing POST closes it (core tests pin that).

I4 decision: a request with both framing headers is refused with 400 and
``Connection: close`` before any routing (engine.io, websockets, static files, 404s and
``other_asgi_app`` alike): the smuggled request behind it is never parsed.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from engine_harness import Engine, engine
from wire import (
    RawResponse,
    asgi_http,
    asgi_websocket,
    http_scope,
    polling_url,
    websocket_url,
    ws_close_code,
    ws_receive,
    ws_scope,
)

from trio_engineio.testing import TestWebSocket, open_websocket

TEXT = (b"content-type", b"text/plain;charset=UTF-8")


def query(sid: str) -> str:
    return polling_url(sid).split("?")[1]


# ---------------------------------------------------------------------------- I3 helpers


@dataclass
class HeldPost:
    """A POST whose body the test feeds by hand, as hypercorn's trio worker does.

    The app's ``receive`` is the bound ``receive`` of a memory channel (hypercorn's
    shape, see ``_http.shared_channel``); ``plain`` wraps it so the app cannot see the
    channel (any other ASGI server).
    """

    plain: bool
    response: RawResponse = field(default_factory=RawResponse)
    answered: trio.Event = field(default_factory=trio.Event)

    def __post_init__(self) -> None:
        self.to_app, self.from_client = trio.open_memory_channel[dict[str, Any]](10)

    async def run(self, app: Any, sid: str, first: bytes, *, task_status: Any) -> None:
        scope = http_scope("POST", "/engine.io/", query(sid), [TEXT, (b"content-length", b"100")])
        self.to_app.send_nowait({"type": "http.request", "body": first, "more_body": True})
        receive: Any = self.from_client.receive
        if self.plain:
            channel = self.from_client

            async def receive() -> MutableMapping[str, Any]:
                return await channel.receive()

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.response.status = int(message["status"])
            elif message["type"] == "http.response.body":
                self.response.body += message.get("body", b"")
                if not message.get("more_body", False):
                    self.answered.set()

        task_status.started()
        await app(scope, receive, send)

    def reset(self) -> None:
        self.to_app.send_nowait({"type": "http.disconnect"})

    def rest_of_body(self) -> None:
        self.to_app.send_nowait({"type": "http.request", "body": b"x" * 92, "more_body": False})


async def wait_post_pending(eng: Engine, sid: str) -> None:
    with trio.fail_after(5):
        while not eng.server.connection(sid).core.post_pending:
            await trio.sleep(0.01)


async def upgrade(eng: Engine, sid: str, ws: TestWebSocket) -> None:
    await ws.send("5")
    with trio.fail_after(5):
        while eng.server.transport(sid) != "websocket":
            await trio.sleep(0.01)


async def echo(ws: TestWebSocket, text: str) -> None:
    await ws.send("4" + text)
    assert await ws_receive(ws) == "4" + text


# ------------------------------------------------------------------------------------ I3


@pytest.mark.parametrize("plain", [False, True], ids=["hypercorn-channel", "plain-receive"])
@pytest.mark.parametrize("then", ["stalls", "resets", "completes"])
@pytest.mark.parametrize("arrives", ["before the upgrade", "during the upgrade"])
async def test_i3_stale_post_after_the_upgrade_leaves_the_session_alone(
    autojump_clock: trio.abc.Clock, arrives: str, then: str, plain: bool
) -> None:
    async with engine(ping_interval=25, ping_timeout=5) as eng:
        sid = await eng.handshake()
        rejected = eng.server.statistics().requests_rejected
        post = HeldPost(plain)
        async with trio.open_nursery() as nursery, open_websocket(eng.app, websocket_url(sid)) as ws:
            if arrives == "before the upgrade":
                await nursery.start(post.run, eng.app, sid, b"4partial")
                await wait_post_pending(eng, sid)
            await ws.send("2probe")
            assert await ws.receive() == "3probe"
            if arrives == "during the upgrade":
                await nursery.start(post.run, eng.app, sid, b"4partial")
                await wait_post_pending(eng, sid)
            await upgrade(eng, sid, ws)
            # Detached at the upgrade: answered at once, its partial body dropped.
            with trio.fail_after(0.5):
                await post.answered.wait()
            assert post.response.status == 400
            assert post.response.json() == {"code": 3, "message": "Bad request"}
            assert eng.server.statistics().requests_rejected == rejected + 1
            if then == "resets":
                post.reset()
            elif then == "completes":
                post.rest_of_body()
            await echo(ws, "after the upgrade")
            await trio.sleep(6)  # past the POST's timeout (ping_timeout)
            await echo(ws, "after the POST's timeout")
            assert eng.rec.reasons(sid) == []
            assert eng.server.transport(sid) == "websocket"
            await ws.send("1")
            _code, frames = await ws_close_code(ws)
            assert "1" not in frames  # the server never closed the session
        assert await eng.rec.wait_disconnect(sid) == "client disconnect"
        assert eng.rec.of(sid) == ["after the upgrade", "after the POST's timeout"]


async def test_i3_get_aborted_as_the_upgrade_completes_leaves_the_session_alone(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A GET pending at ``2probe`` is answered with a NOOP; its client may be gone by then.

    The window between the GET's wake-up and its look for a disconnect is held open
    here: the ASGI server reports the disconnect only once the upgrade is complete.
    """
    async with engine() as eng:
        sid = await eng.handshake()
        response = RawResponse()
        looks = 0

        async def receive() -> dict[str, Any]:
            nonlocal looks
            looks += 1
            if looks == 1:  # the GET's watcher: the client is still there
                await trio.sleep_forever()
            with trio.CancelScope(shield=True):
                while eng.server.transport(sid) != "websocket":
                    await trio.sleep(0.01)
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response.status = int(message["status"])

        async with trio.open_nursery() as nursery, open_websocket(eng.app, websocket_url(sid)) as ws:
            nursery.start_soon(eng.app, http_scope("GET", "/engine.io/", query(sid)), receive, send)
            with trio.fail_after(5):
                while not eng.server.connection(sid).core.get_pending:
                    await trio.sleep(0.01)
            await ws.send("2probe")
            assert await ws.receive() == "3probe"
            await upgrade(eng, sid, ws)
            with trio.fail_after(5):
                while eng.server.connection(sid).core.get_pending:
                    await trio.sleep(0.01)
            assert response.status is None  # nobody to answer
            await echo(ws, "after the upgrade")
            assert eng.rec.reasons(sid) == []
            await ws.send("1")
            await ws_close_code(ws)
        assert await eng.rec.wait_disconnect(sid) == "client disconnect"


# ------------------------------------------------------------------------------------ I4

BOTH = [(b"Content-Length", b"4"), (b"Transfer-Encoding", b"chunked")]


def framing_refusals(eng: Engine) -> list[str]:
    return [m for m in eng.logs.messages() if "Content-Length with Transfer-Encoding" in m]


@pytest.mark.parametrize(
    ("method", "path", "what"),
    [
        ("POST", "/engine.io/", "polling POST"),
        ("GET", "/engine.io/", "handshake"),
        ("OPTIONS", "/engine.io/", "preflight"),
        ("GET", "/static.txt", "static file"),
        ("POST", "/nothing", "404"),
        ("POST", "/other", "other app"),
    ],
)
@pytest.mark.parametrize("http_version", ["1.1", "1.0", "2"])
async def test_i4_content_length_with_transfer_encoding_is_400_and_closes_on_every_http_path(
    autojump_clock: trio.abc.Clock, tmp_path: Any, method: str, path: str, what: str, http_version: str
) -> None:
    static = tmp_path / "static.txt"
    static.write_text("static")
    other_calls: list[str] = []

    async def other(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        other_calls.append(scope["path"])
        await asgi_send_ok(send)

    options = {"static_files": {"/static.txt": str(static)}, "other_asgi_app": other}
    async with engine(app_options=options) as eng:
        sid = await eng.handshake()
        opened = eng.server.statistics().sessions_opened
        rejected = eng.server.statistics().requests_rejected
        q = (
            query(sid)
            if what == "polling POST"
            else ("EIO=4&transport=polling" if path == "/engine.io/" else "")
        )
        response = await asgi_http(
            eng.app, method, path, q, [TEXT, *BOTH], [b"4evil"], http_version=http_version
        )
        assert response.status == 400
        assert response.json() == {"code": 3, "message": "Bad request"}
        assert response.header(b"connection") == (b"close" if http_version != "2" else None)
        assert response.chunks_read == 1  # read to its end and dropped
        assert eng.server.statistics().requests_rejected == rejected + 1
        assert eng.server.statistics().sessions_opened == opened
        assert len(framing_refusals(eng)) == 1, eng.logs.messages()
        assert other_calls == []
        # Refused before it reached a session: the session carries on.
        assert (await eng.post(sid, "4still")).text == "ok"
        assert await eng.rec.wait_messages(sid, 1) == ["still"]
        assert (await eng.post(sid, "1")).text == "ok"
        # The same request with one framing header is served as usual.
        headers = [TEXT, BOTH[1]]
        fine = await asgi_http(eng.app, "GET", "/static.txt", "", headers, http_version=http_version)
        assert (fine.status, fine.body) == (200, b"static")
        assert (await asgi_http(eng.app, "GET", "/other", "", headers)).status == 200


@pytest.mark.parametrize("body", ["stalls", "oversized"])
async def test_i4_body_behind_both_framing_headers_is_read_only_within_the_post_limits(
    autojump_clock: trio.abc.Clock, body: str
) -> None:
    async with engine(ping_timeout=5, max_http_buffer_size=1000) as eng:
        start = trio.current_time()
        chunks = [b"x" * 600] * (1 if body == "stalls" else 10)
        response = await asgi_http(
            eng.app, "POST", "/nothing", "", BOTH, chunks, stall=True, http_version="1.1"
        )
        assert response.status == 400
        assert response.header(b"connection") == b"close"
        if body == "stalls":
            assert trio.current_time() - start == pytest.approx(5)
        else:
            assert trio.current_time() - start < 0.1
            assert response.chunks_read == 2  # stopped once over max_http_buffer_size
        assert len(framing_refusals(eng)) == 1


async def asgi_send_ok(send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"other"})


@pytest.mark.parametrize("path", ["/engine.io/", "/other", "/nothing"])
async def test_i4_websocket_request_with_both_framing_headers_is_400_and_closes(
    autojump_clock: trio.abc.Clock, path: str
) -> None:
    other_calls: list[str] = []

    async def other(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        other_calls.append(scope["path"])
        await receive()
        await send({"type": "websocket.accept"})

    options = {"other_asgi_app": other} if path == "/other" else {}
    async with engine(app_options=options) as eng:
        rejected = eng.server.statistics().requests_rejected
        opened = eng.server.statistics().sessions_opened
        q = "EIO=4&transport=websocket" if path == "/engine.io/" else ""
        sent = await asgi_websocket(eng.app, ws_scope(path, q, BOTH), [{"type": "websocket.connect"}])
        assert sent[0]["type"] == "websocket.http.response.start", sent
        assert sent[0]["status"] == 400
        assert (b"connection", b"close") in sent[0]["headers"]
        assert [m["type"] for m in sent[1:]] == ["websocket.http.response.body"]
        assert eng.server.statistics().requests_rejected == rejected + 1
        assert eng.server.statistics().sessions_opened == opened
        assert len(framing_refusals(eng)) == 1, eng.logs.messages()
        assert other_calls == []
