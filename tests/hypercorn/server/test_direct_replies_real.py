"""Direct replies over real hypercorn: a reply stuck on a client that stopped reading.

Hypercorn's trio worker shields its socket writes, so a handler writing a direct reply
to such a client stays in the write; the session must still end on time. The rest of
the direct-reply rules are checked in memory in ``tests/memory/server/test_direct_replies.py``.
"""

from __future__ import annotations

import socket

import pytest
import trio
from engine_harness import real_engine
from wire import frame, raw_websocket_session, rst

from trio_engineio.server import session as _session


async def test_a_reply_stuck_on_a_client_that_stopped_reading_does_not_hold_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real hypercorn: its socket writes are shielded, so the handler stays in the write.

    The session still times out, fires ``disconnect`` once after the handler's close
    grace and leaves the registry; when the connection finally dies (here an RST) the
    handler's write ends and every task is gone.
    """
    monkeypatch.setattr(_session, "HANDLER_CLOSE_GRACE", 0.5)
    with trio.fail_after(20):
        async with real_engine(ping_interval=0.5, ping_timeout=0.5) as eng:
            before = eng.app.active_websockets
            stream, sid = await raw_websocket_session(eng)
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            big = frame(b"4" + b"x" * 60_000)

            async def flood() -> None:
                while True:
                    await stream.send_all(big)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(flood)
                closed_at = None
                while sid in eng.server._sessions:
                    conn = eng.server._sessions[sid]
                    if conn.closed and closed_at is None:
                        closed_at = trio.current_time()
                        assert conn.lease is not None
                        assert conn.lease.replying  # stuck in a reply
                    await trio.sleep(0.01)
                assert closed_at is not None
                # It left the registry; disconnect fires right after (one await later).
                assert await eng.rec.wait_disconnect(sid, limit=1) == "ping timeout"
                assert trio.current_time() - closed_at < 0.5 + 0.5
                nursery.cancel_scope.cancel()
            assert any("still writing a reply" in m for m in eng.logs.messages())
            rst(stream)
            with trio.fail_after(3):
                while eng.app.active_websockets > before:
                    await trio.sleep(0.01)
            assert eng.rec.reasons(sid) == ["ping timeout"]  # once
