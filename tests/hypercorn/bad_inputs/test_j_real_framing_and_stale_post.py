"""Bad inputs I3 (a stale polling request after an upgrade) and I4 (Content-Length with
Transfer-Encoding) over real hypercorn, byte by byte on raw TCP.

The decisions, and the same rows in memory, are in
``tests/memory/bad_inputs/test_j_framing_and_stale_post.py``.
"""

from __future__ import annotations

import pytest
import trio
from engine_harness import RealEngine, real_engine
from wire import frame, read_to_eof, read_until, rst, ws_request

QUICK = 15


def partial_post(eng: RealEngine, sid: str) -> bytes:
    return (
        f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{eng.port}\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 100\r\n\r\n4partial"
    ).encode()


@pytest.mark.parametrize("then", ["rst", "stall"])
@pytest.mark.parametrize("arrives", ["before the upgrade", "during the upgrade"])
async def test_i3_real_stale_post_reset_or_stalled_after_the_upgrade_session_survives(
    arrives: str, then: str
) -> None:
    ping_timeout = 1.0
    with trio.fail_after(QUICK):
        async with real_engine(ping_interval=5, ping_timeout=ping_timeout) as eng:
            sid = await eng.handshake()
            post = await trio.open_tcp_stream(eng.host, eng.port)
            ws = await trio.open_tcp_stream(eng.host, eng.port)
            async with post, ws:

                async def send_post() -> None:
                    await post.send_all(partial_post(eng, sid))
                    with trio.fail_after(5):
                        while not eng.server.connection(sid).core.post_pending:
                            await trio.sleep(0.005)

                if arrives == "before the upgrade":
                    await send_post()
                await ws.send_all(ws_request(eng, f"EIO=4&transport=websocket&sid={sid}"))
                received = await read_until(ws, b"\r\n\r\n")
                assert received.startswith(b"HTTP/1.1 101"), received
                await ws.send_all(frame(b"2probe"))
                assert b"3probe" in await read_until(ws, b"3probe")
                if arrives == "during the upgrade":
                    await send_post()
                await ws.send_all(frame(b"5"))
                with trio.fail_after(5):
                    while eng.server.transport(sid) != "websocket":
                        await trio.sleep(0.005)
                if then == "rst":
                    rst(post)
                else:
                    # Detached at the upgrade: answered at once, and hypercorn closes the
                    # connection (its body was not complete).
                    with trio.fail_after(ping_timeout / 2):
                        answer = await read_to_eof(post)
                    assert answer.startswith(b"HTTP/1.1 400"), answer
                    assert answer.endswith(b'{"code": 3, "message": "Bad request"}'), answer
                    await trio.sleep(ping_timeout + 0.2)  # past the stalled POST's timeout
                await ws.send_all(frame(b"4still here"))
                received = await read_until(ws, b"4still here")
                assert b"4still here" in received, received
                assert eng.rec.reasons(sid) == []
                assert eng.server.transport(sid) == "websocket"
                await ws.send_all(frame(b"1"))
                reason = await eng.rec.wait_disconnect(sid, limit=5)
                assert reason == "client disconnect", (reason, reason.description)
            assert eng.rec.of(sid) == ["still here"]


def smuggling_request(eng: RealEngine, target: str, hidden: bytes) -> bytes:
    """A request framed two ways: by Content-Length (4 bytes) and by its one chunk.

    For a websocket only the head: hypercorn answers bytes after an upgrade request
    itself (400) before the app accepts it, and would never read them as a request.
    """
    if target == "websocket":
        head = ws_request(eng, "EIO=4&transport=websocket").removesuffix(b"\r\n")
        return head + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
    request_line = "POST /nothing HTTP/1.1\r\n" if target == "404" else f"POST {target} HTTP/1.1\r\n"
    head = (
        request_line + f"Host: 127.0.0.1:{eng.port}\r\nContent-Type: text/plain;charset=UTF-8\r\n"
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head.encode() + b"5\r\n4evil\r\n0\r\n\r\n" + hidden


@pytest.mark.parametrize(
    ("target", "split"),
    [("polling POST", False), ("polling POST", True), ("404", False), ("404", True), ("websocket", False)],
)
async def test_i4_real_smuggled_request_behind_cl_and_te_is_never_executed(target: str, split: bool) -> None:
    """``split``: the last chunk and the hidden request come once the app waits for them."""
    with trio.fail_after(QUICK):
        async with real_engine() as eng:
            sid = await eng.handshake()
            url = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
            hidden = (
                f"POST {url} HTTP/1.1\r\nHost: 127.0.0.1:{eng.port}\r\n"
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 9\r\n\r\n4smuggled"
            ).encode()
            rejected = eng.server.statistics().requests_rejected
            stream = await trio.open_tcp_stream(eng.host, eng.port)
            async with stream:
                data = smuggling_request(eng, url if target == "polling POST" else target, hidden)
                if split:
                    first, last = data.split(b"0\r\n\r\n", 1)
                    await stream.send_all(first)
                    await trio.sleep(0.05)
                    data = b"0\r\n\r\n" + last
                await stream.send_all(data)
                with trio.fail_after(3):
                    answer = await read_to_eof(stream)  # EOF: hypercorn closed the connection
            assert answer.startswith(b"HTTP/1.1 400"), answer
            assert answer.count(b"HTTP/1.1") == 1, answer
            assert b"\r\nconnection: close\r\n" in answer.lower(), answer
            assert eng.server.statistics().requests_rejected == rejected + 1
            assert eng.rec.of(sid) == []  # neither the chunk nor the hidden request
            # The session was not touched: it still works.
            assert (await eng.http.post(eng.polling(sid), content="4alive")).text == "ok"
            assert await eng.rec.wait_messages(sid, 1, limit=5) == ["alive"]
            assert (await eng.http.post(eng.polling(sid), content="1")).text == "ok"
