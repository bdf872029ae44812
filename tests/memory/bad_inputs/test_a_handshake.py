"""Bad inputs, section A: handshake and query (in memory, autojump_clock).

Each test runs inside :func:`engine_harness.engine`, which also checks the global
invariants (no exception out of the app, no 5xx, bystanders keep echoing, nothing
left behind, disconnect once, one-line logs).
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
import trio
from engine_harness import Engine, engine
from wire import asgi_http, parse_open, polling_url, websocket_url

import trio_engineio
from trio_engineio.testing import WebSocketRejected, open_websocket


async def rejected(eng: Engine, query: str | bytes, *, method: str = "GET") -> tuple[int, dict[str, Any]]:
    """A raw polling request; returns (status, JSON body) and checks the polling headers."""
    response = await asgi_http(eng.app, method, "/engine.io/", query)
    assert response.status is not None
    assert response.header(b"content-type") == b"application/json", response.headers
    assert response.header(b"cache-control") == b"no-store"
    return response.status, response.json()


async def ws_rejected(eng: Engine, query: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(WebSocketRejected) as refused:
        async with open_websocket(eng.app, "/engine.io/?" + query):
            pass
    import json

    return refused.value.status, json.loads(refused.value.body)


def no_new_session(eng: Engine) -> None:
    assert eng.attack_sessions() == []


@pytest.mark.parametrize("eio", ["", "EIO=abc&", "EIO=3&", "EIO=4&EIO=4&", "EIO=5&", "EIO=%34%00&", "EIO=&"])
async def test_a1_missing_or_invalid_eio_is_400_code_5(autojump_clock: trio.abc.Clock, eio: str) -> None:
    async with engine() as eng:
        assert await rejected(eng, f"{eio}transport=polling") == (
            400,
            {"code": 5, "message": "Unsupported protocol version"},
        )
        assert await ws_rejected(eng, f"{eio}transport=websocket") == (
            400,
            {"code": 5, "message": "Unsupported protocol version"},
        )
        no_new_session(eng)


@pytest.mark.parametrize(
    "transport",
    ["", "transport=abc&", "transport=__proto__&", "transport=constructor&", "transport=&",
     "transport=polling&transport=polling&", "transport=%FF&", "transport=POLLING&"],
)  # fmt: skip
async def test_a2_missing_or_unknown_transport_is_400_code_0(
    autojump_clock: trio.abc.Clock, transport: str
) -> None:
    async with engine() as eng:
        assert await rejected(eng, f"{transport}EIO=4") == (400, {"code": 0, "message": "Transport unknown"})
        assert await ws_rejected(eng, f"{transport}EIO=4") == (
            400,
            {"code": 0, "message": "Transport unknown"},
        )
        no_new_session(eng)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "FOO"])
async def test_a3_handshake_by_other_method_is_400_code_2(
    autojump_clock: trio.abc.Clock, method: str
) -> None:
    async with engine() as eng:
        response = await asgi_http(eng.app, method, "/engine.io/", polling_url().split("?")[1], body=b"4x")
        assert response.status == 400
        assert response.json() == {"code": 2, "message": "Bad handshake method"}
        no_new_session(eng)


async def test_a4_websocket_transport_without_upgrade_is_400_and_upgrade_on_polling_url_too(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with engine() as eng:
        response = await eng.http.get(websocket_url())
        assert response.status_code == 400
        assert response.json()["code"] == 3
        assert not response.text.startswith("0")
        sid = await eng.handshake()
        response = await eng.http.get(websocket_url(sid))  # a GET (no Upgrade) naming a session
        assert response.status_code == 400
        # an Upgrade on a polling URL (with and without a sid): refused before accept
        status, body = await ws_rejected(eng, polling_url().split("?")[1])
        assert (status, body["code"]) == (400, 3)
        status, body = await ws_rejected(eng, polling_url(sid).split("?")[1])
        assert (status, body["code"]) == (400, 3)
        # the session that was named is untouched
        assert (await eng.post(sid, "4still")).text == "ok"
        assert await eng.poll_until(sid, 1) == ["4still"]
        assert eng.attack_sessions() == [sid]


@pytest.mark.parametrize(
    "sid",
    ["unknownsid", "__proto__", "constructor", "x" * 10_000, "abc%0Adef", "abc%00def", "abc%0D%0Ainjected: 1",
     "%E2%80%AE", "a%20b", ""],
)  # fmt: skip
async def test_a5_bad_sid_is_400_code_1_without_log_injection(
    autojump_clock: trio.abc.Clock, sid: str
) -> None:
    async with engine() as eng:
        for method in ("GET", "POST"):
            status, body = await rejected(eng, f"EIO=4&transport=polling&sid={sid}", method=method)
            assert (status, body) == (400, {"code": 1, "message": "Session ID unknown"})
        status, body = await ws_rejected(eng, f"EIO=4&transport=websocket&sid={sid}")
        assert (status, body["code"]) == (400, 1)
        no_new_session(eng)
        # the harness checks every log line is one line and short; the sid is not echoed raw
        assert not any("injected" in message and "\n" in message for message in eng.logs.messages())


async def test_a5_several_sids_is_400_code_1(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        for query in (
            f"EIO=4&transport=polling&sid={sid}&sid={sid}",
            f"EIO=4&transport=polling&sid={sid}&sid=x",
        ):
            assert await rejected(eng, query) == (400, {"code": 1, "message": "Session ID unknown"})
        assert await eng.poll_until(sid, 0) == []
        assert (await eng.post(sid, "4ok")).text == "ok"


@pytest.mark.parametrize(
    ("query", "status"),
    [(b"EIO=4&transport=polling&sid=\xff\xfe", 400), (b"EIO=4&transport=polling&sid=%FF%FE", 400),
     (b"EIO=4&transport=\xff", 400), (b"EIO=\xc3\x28&transport=polling", 400),
     (b"EIO=4&transport=polling&t=" + b"x" * 100_000, 400),
     (b"EIO=4&transport=polling&" + b"a=b&" * 5000, 400),
     # unknown parameters are ignored whatever their bytes (like the `t` cache buster)
     (b"EIO=4&transport=polling&\xff=\xff", 200), (b"\xc3\x28&EIO=4&transport=polling", 200),
     (b"EIO=4&transport=polling&" + b"&" * 10_000, 200)],
)  # fmt: skip
async def test_a6_non_utf8_or_huge_query_is_400_never_500(
    autojump_clock: trio.abc.Clock, query: bytes, status: int
) -> None:
    async with engine() as eng:
        response = await asgi_http(eng.app, "GET", "/engine.io/", query)
        assert response.status == status, response
        if status == 400:
            assert response.json()["code"] in (0, 1, 3, 5)
            no_new_session(eng)
        else:
            assert response.text.startswith("0{")
        # the same query with a sid of a live session, by POST: never a 500 either
        response = await asgi_http(eng.app, "POST", "/engine.io/", query + b"&sid=x", body=b"4x")
        assert response.status == 400, response


async def test_a7_jsonp_is_400(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        for query in (
            "EIO=4&transport=polling&j=0",
            "EIO=4&transport=polling&j=",
            "j=1&EIO=4&transport=polling",
        ):
            assert await rejected(eng, query) == (400, {"code": 3, "message": "Bad request"})
        no_new_session(eng)


async def fallback(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.close", "code": 4000})
        return
    body = f"fallback {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("with_fallback", [False, True])
async def test_a8_path_variants_route_deterministically(
    autojump_clock: trio.abc.Clock, with_fallback: bool
) -> None:
    options = {"other_asgi_app": fallback} if with_fallback else {}
    async with engine(app_options=options) as eng:
        query = polling_url().split("?")[1]
        # the engine: with and without the trailing slash, and under a mount point
        for path, root_path in (
            ("/engine.io/", ""),
            ("/engine.io", ""),
            ("/mount/engine.io/", "/mount"),
            ("/mount/engine.io", "/mount"),
        ):
            response = await asgi_http(eng.app, "GET", path, query, root_path=root_path)
            assert response.status == 200, (path, root_path, response)
            assert response.text.startswith("0{")
        # everything else: the fallback app, or 404
        for path, root_path in (
            ("/", ""),
            ("/engine.iox/", ""),
            ("/engine.io/x", ""),
            ("/socket.io/", ""),
            ("/x/engine.io/", ""),
            ("/ENGINE.IO/", ""),
            ("/engine.io//", ""),
            ("/mount/other/", "/mount"),
            ("/engine.io%2F", ""),
        ):
            response = await asgi_http(eng.app, "GET", path, query, root_path=root_path)
            if with_fallback:
                assert (response.status, response.text) == (299, f"fallback {path}"), (path, response)
            else:
                assert response.status == 404, (path, response)


async def test_a8_custom_path(autojump_clock: trio.abc.Clock) -> None:
    async with engine(bystanders=False, app_options={"engineio_path": "/my/path/"}) as eng:
        query = polling_url().split("?")[1]
        assert (await asgi_http(eng.app, "GET", "/my/path/", query)).status == 200
        assert (await asgi_http(eng.app, "GET", "/my/path", query)).status == 200
        assert (await asgi_http(eng.app, "GET", "/engine.io/", query)).status == 404
        assert (await asgi_http(eng.app, "GET", "/my/", query)).status == 404


@pytest.mark.parametrize("behaviour", ["false", "refuse", "refuse-args", "slow"])
async def test_a9_connect_handler_refuses_or_is_slow_401_json(
    autojump_clock: trio.abc.Clock, behaviour: str
) -> None:
    async with engine(connect_timeout=3) as eng:
        tasks = []

        async def connect(sid: str, environ: Any) -> Any:
            tasks.append(sid)
            if sid in eng.bystander_sids or environ["QUERY_STRING"].endswith("&ok"):
                return None
            if behaviour == "false":
                return False
            if behaviour == "refuse":
                raise trio_engineio.ConnectionRefusedError("go away")
            if behaviour == "refuse-args":
                raise trio_engineio.ConnectionRefusedError("a", {"b": 1})
            await trio.sleep_forever()
            return None

        eng.server.on("connect", connect)
        expected = {
            "false": "Unauthorized",
            "refuse": "go away",
            "refuse-args": ["a", {"b": 1}],
            "slow": "Unauthorized",
        }
        for _ in range(3):
            start = trio.current_time()
            response = await eng.http.get(polling_url())
            assert (response.status_code, response.json()) == (401, {"message": expected[behaviour]})
            assert trio.current_time() - start == pytest.approx(3 if behaviour == "slow" else 0)
            with pytest.raises(WebSocketRejected) as refused:
                async with open_websocket(eng.app, websocket_url()):
                    pass
            assert refused.value.status == 401
        no_new_session(eng)
        assert eng.server.statistics().sessions_opened == 2  # the bystanders only
        assert eng.rec.disconnects == []


async def test_a9_connect_handler_raises_is_refused(autojump_clock: trio.abc.Clock) -> None:
    async with engine(handler_errors=2) as eng:

        def connect(sid: str, environ: Any) -> None:
            if environ["QUERY_STRING"].endswith("&boom"):
                raise RuntimeError("bug in connect handler")

        eng.server.on("connect", connect)
        response = await eng.http.get(polling_url() + "&boom")
        assert response.status_code in (401, 403), response.text
        assert response.headers["content-type"].startswith("application/json")
        with pytest.raises(WebSocketRejected) as refused:
            async with open_websocket(eng.app, websocket_url() + "&boom"):
                pass
        assert refused.value.status in (401, 403)
        no_new_session(eng)


async def test_a10_handshake_storm_all_expire_memory_back_to_baseline(autojump_clock: trio.abc.Clock) -> None:
    count = 2000
    async with engine(ping_interval=25, ping_timeout=20) as eng:
        query = polling_url().split("?")[1]
        sessions: weakref.WeakSet[Any] = weakref.WeakSet()
        start = trio.current_time()
        for _ in range(count):
            response = await asgi_http(eng.app, "GET", "/engine.io/", query)
            sid = parse_open(response.text)["sid"]
            sessions.add(eng.server.connection(sid))
            sessions.add(eng.server.connection(sid).core)
        assert len(eng.attack_sessions()) == count
        assert len(sessions) == 2 * count
        with trio.fail_after(25 + 20 + 1):
            while eng.attack_sessions() or len(eng.server._running) > 2:
                await trio.sleep(0.5)
        assert trio.current_time() - start <= 45 + 0.5
        closed = eng.server.statistics().sessions_closed
        assert closed["ping timeout"] == count, closed
        del response, sid
        gc.collect()
        assert len(sessions) == 0, f"{len(sessions)} session objects still alive"
