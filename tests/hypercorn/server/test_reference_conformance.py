"""Three behaviours measured against the JavaScript ``engine.io`` 6.6 server (issue 13).

Each runs against ``hypercorn --worker-class trio reference_app:app`` in a process
of its own on 127.0.0.1 (as the comparison did: in one process with the client,
trio's scheduler hides the races), 50 attempts, and every attempt must behave as
the reference does:

1. a silent polling session is gone at pingInterval + pingTimeout after the
   handshake: a GET sent 500 ms after the handshake answer gets 400;
2. frames the upgrading websocket delivered before a polling request of the
   same session are applied before that request is answered: ``2probe`` and
   ``5`` on the websocket, then a GET, get ``3probe`` on the websocket, 400 for
   the GET, and the websocket carries the session;
3. a second websocket for an upgraded or upgrading session is accepted and
   closed with 1008 and a reason, and the first one keeps working.

The exact instants of the heartbeat are checked with the autojump clock in memory
(``test_ping_never_early_and_timeout_on_the_dot`` in
``tests/memory/server/test_heartbeat_scheduler.py``) and on the session core
(``test_pong_deadline_counts_from_the_pings_due_time`` in ``tests/protocol/test_server_session.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio
import trio_websocket
from hypercorn_cli import run_hypercorn_cli
from wire import Endpoint, handshake, open_ws, ws_closed_code, ws_messages

ATTEMPTS = 50
#: Attempts run at the same time (each with its own session and sockets).
AT_ONCE = 10


HERE = Path(__file__).parent


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[Endpoint]:
    """``reference_app:app`` under the hypercorn command line; its log must show no traceback."""
    log = tmp_path / "hypercorn.log"
    async with run_hypercorn_cli("reference_app:app", cwd=HERE, log=log) as served:
        yield Endpoint(served.url)
    assert "Traceback" not in log.read_text(errors="replace")


async def attempts(run: object) -> None:
    assert callable(run)
    for first in range(0, ATTEMPTS, AT_ONCE):
        async with trio.open_nursery() as nursery:
            for index in range(first, first + AT_ONCE):
                nursery.start_soon(run, index)


@pytest.mark.timeout(60)
async def test_silent_polling_session_is_gone_500_ms_after_the_handshake(endpoint: Endpoint) -> None:
    statuses: list[int] = []

    async def attempt(index: int) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            sid, _ = await handshake(http, endpoint)
            answered = trio.current_time()
            await trio.sleep_until(answered + 0.5)
            response = await http.get(endpoint.polling(sid))
            statuses.append(response.status_code)

    with trio.fail_after(40):
        await attempts(attempt)
    assert statuses == [400] * ATTEMPTS


@pytest.mark.timeout(60)
async def test_polling_request_after_upgrade_frames_sees_the_upgrade(endpoint: Endpoint) -> None:
    outcomes: list[tuple[int, list[str | bytes]]] = []

    async def attempt(index: int) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            sid, _ = await handshake(http, endpoint)
            async with open_ws(endpoint.websocket(sid)) as ws:
                await ws.send_message("2probe")
                await ws.send_message("5")
                response = await http.get(endpoint.polling(sid))
                await ws.send_message(f"4hello {index}")
                # PINGs are answered and left out (a loaded machine may take past pingInterval).
                frames: list[str | bytes] = []
                while f"4hello {index}" not in frames:
                    frame = await ws.get_message()
                    if frame == "2":
                        await ws.send_message("3")
                    else:
                        frames.append(frame)
                outcomes.append((response.status_code, frames))

    with trio.fail_after(40):
        await attempts(attempt)
    expected = [(400, ["3probe", f"4hello {i}"]) for i in range(ATTEMPTS)]
    assert sorted(outcomes, key=lambda o: int(str(o[1][-1]).split()[-1])) == expected


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stage", ["upgraded", "upgrading"])
async def test_second_websocket_is_accepted_then_closed_1008(endpoint: Endpoint, stage: str) -> None:
    closes: list[tuple[int | None, str]] = []

    async def attempt(index: int) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            sid, _ = await handshake(http, endpoint)
            async with open_ws(endpoint.websocket(sid)) as first:
                await first.send_message("2probe")
                assert await first.get_message() == "3probe"
                if stage == "upgraded":
                    await first.send_message("5")
                async with open_ws(endpoint.websocket(sid)) as second:
                    try:
                        await second.get_message()
                    except trio_websocket.ConnectionClosed as closed:
                        closes.append((closed.reason.code, closed.reason.reason or ""))
                if stage == "upgrading":
                    await first.send_message("5")
                await first.send_message(f"4hello {index}")
                assert await ws_messages(first, 1) == [f"4hello {index}"]
                await first.send_message("1")
                await ws_closed_code(first)

    with trio.fail_after(40):
        await attempts(attempt)
    assert len(closes) == ATTEMPTS
    assert {code for code, _ in closes} == {1008}
    assert all(reason for _, reason in closes)


@pytest.mark.timeout(30)
async def test_websocket_with_unknown_or_closed_sid_stays_a_400(endpoint: Endpoint) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        sid, _ = await handshake(http, endpoint)
        response = await http.post(endpoint.polling(sid), content=b"1")  # the client closes it
        assert response.status_code == 200
        for target in (sid, "unknown-sid"):
            with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
                async with open_ws(endpoint.websocket(target)):
                    pass
            assert rejected.value.status_code == 400
