"""Bad inputs, sections D (heartbeat) and E (websocket and upgrade), in memory on autojump_clock."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from engine_harness import Engine, engine
from wire import RS, asgi_websocket, parse_open, websocket_url, ws_close_code, ws_scope

import trio_engineio
from trio_engineio.server.heartbeats import SLOT
from trio_engineio.testing import TestWebSocket, WebSocketClosed, WebSocketRejected, open_websocket


async def ws_sid(ws: TestWebSocket) -> str:
    return str(parse_open(await ws.receive())["sid"])


# ---------------------------------------------------------------------------------- D


def heartbeats(server: trio_engineio.Server) -> int:
    """How many live heartbeat bookings the server holds (at most one per session)."""
    return sum(len(members) for members in server._host.heartbeats._slots.values())


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_d1_pong_flood_unsolicited_and_with_data_keep_one_timer(
    autojump_clock: trio.abc.Clock, transport: str
) -> None:
    async with engine(ping_interval=10, ping_timeout=5) as eng:
        start = trio.current_time()
        flood = ["3"] * 300 + ["3data", "3probe", "3" + "x" * 100]
        if transport == "polling":
            sid = await eng.handshake()
            assert (await eng.post(sid, RS.join(flood))).text == "ok"
            assert heartbeats(eng.server) == 3, "a PONG booked a second timer"
            assert (await eng.get(sid)).text == "2"
            assert trio.current_time() - start == pytest.approx(10)
            # the real answer, then another flood: the next PING is one interval after the answer
            assert (await eng.post(sid, RS.join(["3", *flood]))).text == "ok"
            assert (await eng.get(sid)).text == "2"
            assert trio.current_time() - start == pytest.approx(20)
            got = await eng.rec.wait_disconnect(sid)
            assert got == "ping timeout"
            assert trio.current_time() - start == pytest.approx(25)
        else:
            async with open_websocket(eng.app, websocket_url()) as ws:
                sid = await ws_sid(ws)
                for packet in flood:
                    await ws.send(packet)
                assert await ws.receive() == "2"
                assert heartbeats(eng.server) == 3, "a PONG booked a second timer"
                assert trio.current_time() - start == pytest.approx(10)
                for packet in ["3", *flood]:
                    await ws.send(packet)
                assert await ws.receive() == "2"
                assert trio.current_time() - start == pytest.approx(20)
                _code, frames = await ws_close_code(ws)
                assert frames == ["1"]
            got = await eng.rec.wait_disconnect(sid)
            assert got == "ping timeout"
            assert trio.current_time() - start == pytest.approx(25)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_d2_no_pong_closes_with_ping_timeout_on_time(
    autojump_clock: trio.abc.Clock, transport: str
) -> None:
    async with engine(ping_interval=6, ping_timeout=4) as eng:
        trio.current_time()
        if transport == "polling":
            sid = await eng.handshake()
            assert (await eng.get(sid)).text == "2"
            assert (await eng.get(sid)).text == "1"  # the pending GET learns of the close
        else:
            async with open_websocket(eng.app, websocket_url()) as ws:
                sid = await ws_sid(ws)
                assert await ws.receive() == "2"
                _code, frames = await ws_close_code(ws)
                assert frames == ["1"]
        await eng.assert_closed(sid, "ping timeout")
        assert eng.rec.reasons(sid)[0].description == ""
        assert eng.server.statistics().sessions_closed["ping timeout"] == 1


async def test_d3_blocking_handler_does_not_stall_heartbeats(autojump_clock: trio.abc.Clock) -> None:
    """A handler that never returns only stalls its own session's messages, in order."""
    async with engine(ping_interval=3, ping_timeout=2) as eng:
        release = trio.Event()
        seen: list[str] = []

        async def message(sid: str, data: Any) -> None:
            if sid in eng.bystander_sids:
                await eng.server.send(sid, data)
                return
            seen.append(data)
            if data == "block":
                await release.wait()
            if data == "cpu":
                # the documented guidance: CPU work goes to a thread, never in the event loop
                await trio.to_thread.run_sync(sum, range(200_000))

        eng.server.on("message", message)
        sid = await eng.handshake()
        assert (await eng.post(sid, RS.join(["4block", "4next", "4cpu", "4last"]))).text == "ok"
        # three ping intervals: the blocked session still answers PINGs, the bystanders echo
        for _ in range(3):
            assert (await eng.get(sid)).text == "2"
            assert (await eng.post(sid, "3")).text == "ok"
        assert seen == ["block"]
        assert eng.rec.reasons(sid) == []
        release.set()
        # Keep answering PINGs meanwhile: the virtual clock jumps a ping interval whenever the
        # loop waits for the thread running "cpu", so the bound is in virtual time, generous
        # enough for a thread slowed by a busy machine (each jump costs ~1 ms of wall time).
        with trio.fail_after(3600):
            while len(seen) < 4:
                assert (await eng.get(sid)).text == "2"
                assert (await eng.post(sid, "3")).text == "ok"
        assert seen == ["block", "next", "cpu", "last"]  # one at a time, in order
        assert eng.rec.reasons(sid) == []


@pytest.mark.parametrize(
    ("interval", "pong_timeout", "ms"),
    [
        (0.5, 0.25, (500, 250)),
        (0.25, 0.125, (250, 125)),
        pytest.param(
            1,
            5,
            (1000, 5000),
        ),
    ],
)
async def test_d4_fractional_intervals_advertised_in_ms_match_the_real_interval(
    autojump_clock: trio.abc.Clock, interval: float, pong_timeout: float, ms: tuple[int, int]
) -> None:
    async with engine(bystanders=False, ping_interval=interval, ping_timeout=pong_timeout) as eng:
        response = await eng.http.get("/engine.io/?EIO=4&transport=polling")
        info = parse_open(response.text)
        assert (info["pingInterval"], info["pingTimeout"]) == ms
        async with open_websocket(eng.app, websocket_url()) as ws:
            last = trio.current_time()
            opened = parse_open(await ws.receive())
            assert (opened["pingInterval"], opened["pingTimeout"]) == ms
            for _ in range(3):
                assert await ws.receive() == "2"
                # The heartbeat scheduler serves deadlines on a SLOT grid: never early, at most SLOT late.
                assert interval - 1e-9 <= trio.current_time() - last <= interval + SLOT + 1e-9
                await trio.sleep(interval / 4)  # answering takes a while: the next PING counts from the PONG
                await ws.send("3")
                last = trio.current_time()
            await ws.send("1")
            await ws_close_code(ws)


# ---------------------------------------------------------------------------------- E


@pytest.mark.parametrize("frame", ["abc", "", "b!!!", "9", "7x", " 4a", "\x004"])
async def test_e1_invalid_text_frame_closes_at_once_with_parse_error(
    autojump_clock: trio.abc.Clock, frame: str
) -> None:
    async with engine() as eng:
        async with open_websocket(eng.app, websocket_url()) as ws:
            sid = await ws_sid(ws)
            await ws.send("4before")
            assert await ws.receive() == "4before"
            start = trio.current_time()
            await ws.send(frame)
            await ws.send("4after")
            code, frames = await ws_close_code(ws)
            assert trio.current_time() == start
            assert code == 1002
            assert frames in ([], ["1"])
        await eng.assert_closed(sid, "parse error")
        assert eng.rec.of(sid) == ["before"]


@pytest.mark.parametrize("frame", ["4" + "x" * 100, b"\x00" * 101, "4" + "é" * 60])
async def test_e2_frame_over_max_payload_closes_1009(
    autojump_clock: trio.abc.Clock, frame: str | bytes
) -> None:
    async with engine(max_http_buffer_size=100) as eng:
        async with open_websocket(eng.app, websocket_url()) as ws:
            sid = await ws_sid(ws)
            await ws.send("4" + "y" * 99)  # exactly at the limit: fine
            assert await ws.receive() == "4" + "y" * 99
            await ws.send(frame)
            code, frames = await ws_close_code(ws)
            assert code == 1009
            assert frames in ([], ["1"])
        await eng.assert_closed(sid, "transport error", "payload too large")


async def start_probe(eng: Engine, sid: str, ws: TestWebSocket) -> None:
    await ws.send("2probe")
    assert await ws.receive() == "3probe"


@pytest.mark.parametrize(
    "scenario", ["no probe", "probe then nothing", "probe then garbage", "closed mid-upgrade"]
)
async def test_e3_abandoned_upgrade_keeps_polling_and_delivers_queue(
    autojump_clock: trio.abc.Clock, scenario: str
) -> None:
    async with engine(upgrade_timeout=10, ping_interval=25, ping_timeout=20, echo=False) as eng:
        sid = await eng.handshake()
        pending: list[str] = []
        async with trio.open_nursery() as nursery, open_websocket(eng.app, websocket_url(sid)) as ws:
            start = trio.current_time()

            async def pending_get() -> None:
                pending.append((await eng.get(sid)).text)

            nursery.start_soon(pending_get)
            await eng.rec.wait_get_pending(sid)
            if scenario != "no probe":
                await start_probe(eng, sid, ws)
                assert eng.server.statistics().upgrades_in_progress == 1
            await eng.server.send(sid, "queued during the upgrade")
            await eng.post(sid, "4client during the upgrade")
            if scenario == "probe then garbage":
                await ws.send("abc")
            if scenario == "closed mid-upgrade":
                await ws.close()
            else:
                code, frames = await ws_close_code(ws)
                assert frames == []
                assert code in (1000, 1002)
            expected = 10 if scenario in ("no probe", "probe then nothing") else 0
            with trio.fail_after(15):
                while eng.server.statistics().upgrades_in_progress:
                    await trio.sleep(0.01)
            assert trio.current_time() - start == pytest.approx(expected, abs=0.05)
        assert eng.server.transport(sid) == "polling"
        got = pending + await eng.poll_until(sid, 1) if pending == ["6"] else pending
        assert [p for p in got if p != "6"] == ["4queued during the upgrade"]
        assert await eng.rec.wait_messages(sid, 1) == ["client during the upgrade"]
        assert eng.rec.reasons(sid) == []
        assert (await eng.post(sid, "4still")).text == "ok"
        assert await eng.rec.wait_messages(sid, 2) == ["client during the upgrade", "still"]


@pytest.mark.parametrize(
    "frames", [["5"], ["2probe", "2probe"], ["5", "5"], ["2probe", "4x"], ["2probe", "3"]]
)
async def test_e4_out_of_order_upgrade_packets_close_only_the_probing_socket(
    autojump_clock: trio.abc.Clock, frames: list[str]
) -> None:
    async with engine(echo=False) as eng:
        sid = await eng.handshake()
        async with open_websocket(eng.app, websocket_url(sid)) as ws:
            for frame in frames:
                await ws.send(frame)
            code, got = await ws_close_code(ws)
            assert code == 1002
            assert got == (["3probe"] if frames[0] == "2probe" else [])
        assert eng.server.transport(sid) == "polling"
        assert eng.server.statistics().upgrades_in_progress == 0
        assert (await eng.post(sid, "4still")).text == "ok"
        assert await eng.rec.wait_messages(sid, 1) == ["still"]
        assert eng.rec.reasons(sid) == []


async def test_e4_second_upgrade_packet_after_the_upgrade_is_a_transport_error(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Decision: once upgraded, ``5`` on the websocket is a wrong-direction packet (as B6)."""
    async with engine() as eng:
        sid = await eng.handshake()
        async with open_websocket(eng.app, websocket_url(sid)) as ws:
            await start_probe(eng, sid, ws)
            await ws.send("5")
            await ws.send("5")
            _code, frames = await ws_close_code(ws)
            assert frames == ["1"]
        await eng.assert_closed(sid, "transport error", "unexpected UPGRADE packet from client")


async def second_websocket_close(eng: Any, sid: str) -> tuple[int, str]:
    """Open another websocket for ``sid``; it must be accepted, then closed: its code and reason."""
    async with open_websocket(eng.app, websocket_url(sid)) as second:
        with pytest.raises(WebSocketClosed) as closed:
            await second.receive()
    return closed.value.code, closed.value.reason


async def test_e5_second_websocket_with_the_same_sid_is_closed_1008_session_untouched(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with engine() as eng:
        sid = await eng.handshake()
        async with open_websocket(eng.app, websocket_url(sid)) as ws:
            await start_probe(eng, sid, ws)
            for _ in range(2):  # during the upgrade
                assert await second_websocket_close(eng, sid) == (1008, "another upgrade is under way")
            await ws.send("5")
            assert await second_websocket_close(eng, sid) == (1008, "session already upgraded")  # after it
            await ws.send("4ok")
            assert await ws.receive() == "4ok"
            assert eng.server.transport(sid) == "websocket"
            await ws.send("1")
            await ws_close_code(ws)
        await eng.assert_closed(sid, "client disconnect")


async def test_e6_upgrade_with_unknown_sid_or_upgrades_disabled_rejected_before_accept(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with engine(allow_upgrades=False) as eng:
        for sid, code in (("unknown", 1), ("__proto__", 1), ("x" * 300, 1)):
            with pytest.raises(WebSocketRejected) as refused:
                async with open_websocket(eng.app, websocket_url(sid)):
                    pass
            assert (refused.value.status, json.loads(refused.value.body)["code"]) == (400, code)
        sid = await eng.handshake()
        with pytest.raises(WebSocketRejected) as refused:
            async with open_websocket(eng.app, websocket_url(sid)):
                pass
        assert (refused.value.status, json.loads(refused.value.body)["code"]) == (400, 3)
        assert (await eng.post(sid, "4fine")).text == "ok"
        assert await eng.poll_until(sid, 1) == ["4fine"]


async def test_e6_polling_only_server_refuses_websocket_before_accept(autojump_clock: trio.abc.Clock) -> None:
    async with engine(bystanders=False, transports=["polling"]) as eng:
        sid = await eng.handshake()
        for target in (websocket_url(), websocket_url(sid)):
            with pytest.raises(WebSocketRejected) as refused:
                async with open_websocket(eng.app, target):
                    pass
            assert (refused.value.status, json.loads(refused.value.body)["code"]) == (400, 0)


async def test_e8_client_that_never_reads_is_bounded_and_the_writer_exits(
    autojump_clock: trio.abc.Clock,
) -> None:
    """In memory: the peer's socket accepts 5 frames, then blocks forever (a full TCP window)."""
    async with engine(ping_interval=5, ping_timeout=5, max_buffered_messages=10) as eng:
        sent: list[dict[str, Any]] = []
        returned = trio.Event()

        async def receive() -> dict[str, Any]:
            if not sent:
                return {"type": "websocket.connect"}
            await trio.sleep_forever()
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if len(sent) > 5:
                await trio.sleep_forever()

        async def run() -> None:
            await eng.app(ws_scope(query=websocket_url().split("?")[1]), receive, send)
            returned.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            with trio.fail_after(5):
                while len(sent) < 2:
                    await trio.sleep(0.01)
            sid = parse_open(sent[1]["text"])["sid"]
            blocked_sends = 0

            async def flood() -> None:
                nonlocal blocked_sends
                for i in range(100):
                    await eng.server.send(sid, f"m{i}")
                    blocked_sends = i

            nursery.start_soon(flood)
            await trio.sleep(1)
            stats = eng.server.statistics()
            assert stats.buffered_messages <= 10, stats
            await eng.rec.wait_disconnect(sid)
            assert eng.rec.reasons(sid) == ["ping timeout"]
            with trio.fail_after(30):
                await returned.wait()  # the request task (the writer) exits
        assert blocked_sends < 100


async def test_e9_disconnect_as_first_event_returns_quietly(autojump_clock: trio.abc.Clock) -> None:
    async with engine() as eng:
        for query in (websocket_url(), websocket_url("unknown"), "EIO=3&transport=websocket"):
            sent = await asgi_websocket(
                eng.app,
                ws_scope(query=query.split("?")[-1]),
                [{"type": "websocket.disconnect", "code": 1006}],
            )
            assert sent == []
        assert eng.attack_sessions() == []


async def test_e9_closed_socket_during_accept_is_quiet(autojump_clock: trio.abc.Clock) -> None:
    """The peer is gone before the OPEN packet reaches it: the session closes, nothing escapes."""
    async with engine() as eng:
        sent = await asgi_websocket(
            eng.app, ws_scope(query=websocket_url().split("?")[1]), [{"type": "websocket.connect"}]
        )
        assert sent[0]["type"] == "websocket.accept"
        sid = parse_open(sent[1]["text"])["sid"]
        await eng.assert_closed(sid, "transport close")
