"""The shared heartbeat scheduler: deadlines served on a SLOT grid, never early.

Sessions whose deadlines fall in the same slot share one wake-up of the
scheduler task; a session is never woken before its deadline (float rounding
included) and at most one slot after it; an earlier booking re-arms the
sleeping scheduler without waking it; a replaced or dropped booking never fires.
"""

from __future__ import annotations

import math
import random

import trio
import trio.testing
from wire import parse_open, polling_url

import trio_engineio
from trio_engineio.server.heartbeats import SLOT, HeartbeatScheduler
from trio_engineio.testing import open_test_client


class FakeConn:
    """What the scheduler needs of a session (heartbeats.Booked): its booking slots and ``on_deadline``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.booking: int | None = None
        self.booked_deadline = math.inf
        self.fired: list[float] = []

    def on_deadline(self, now: float) -> None:
        self.fired.append(now)


class CountSteps(trio.abc.Instrument):
    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.steps += 1


async def test_deadlines_fire_on_the_slot_grid_never_early(autojump_clock: trio.abc.Clock) -> None:
    scheduler = HeartbeatScheduler()
    rng = random.Random(7)
    base = trio.current_time()
    conns = [FakeConn(f"c{i}") for i in range(300)]
    deadlines = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scheduler.run)
        await trio.testing.wait_all_tasks_blocked()
        for conn in conns:
            # Values that are multiples of SLOT in decimal but not in binary floating point, too.
            deadline = base + rng.choice([0.07, 0.29, 0.3, 1.1, 2.675]) + rng.randrange(0, 50) * 0.001
            deadlines[conn.name] = deadline
            scheduler.schedule(conn, deadline)  # type: ignore[arg-type]
        await trio.sleep(4)
        nursery.cancel_scope.cancel()
    for conn in conns:
        assert len(conn.fired) == 1, conn.name
        late = conn.fired[0] - deadlines[conn.name]
        assert 0 <= late <= SLOT + 1e-9, (conn.name, late)


async def test_sessions_due_in_one_slot_share_one_wake_up(autojump_clock: trio.abc.Clock) -> None:
    scheduler = HeartbeatScheduler()
    conns = [FakeConn(f"c{i}") for i in range(50)]
    async with trio.open_nursery() as nursery:
        task_holder: list[trio.lowlevel.Task] = []

        async def run() -> None:
            task_holder.append(trio.lowlevel.current_task())
            await scheduler.run()

        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        counter = CountSteps(task_holder[0])
        trio.lowlevel.add_instrument(counter)
        start = trio.current_time()
        # Fifty deadlines inside one slot.
        slot_start = math.ceil((start + 1) / SLOT) * SLOT
        for i, conn in enumerate(conns):
            scheduler.schedule(conn, slot_start + SLOT / 100 * (i + 1))  # type: ignore[arg-type]
        await trio.sleep(2)
        trio.lowlevel.remove_instrument(counter)
        nursery.cancel_scope.cancel()
    assert all(len(conn.fired) == 1 for conn in conns)
    assert len({conn.fired[0] for conn in conns}) == 1
    # Earlier bookings moved the sleeping scheduler's deadline without waking it:
    # one step for the wake-up that served all fifty.
    assert counter.steps == 1


async def test_replaced_and_dropped_bookings_do_not_fire(autojump_clock: trio.abc.Clock) -> None:
    scheduler = HeartbeatScheduler()
    moved, dropped, later = FakeConn("moved"), FakeConn("dropped"), FakeConn("later")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scheduler.run)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        scheduler.schedule(moved, start + 5)  # type: ignore[arg-type]
        scheduler.schedule(moved, start + 1)  # type: ignore[arg-type]  # earlier: replaces
        scheduler.schedule(later, start + 1)  # type: ignore[arg-type]
        scheduler.schedule(later, start + 3)  # type: ignore[arg-type]  # later: kept at 1
        scheduler.schedule(dropped, start + 2)  # type: ignore[arg-type]
        scheduler.drop(dropped)  # type: ignore[arg-type]
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert [round(t - start, 6) for t in moved.fired] == [1.0]
    assert [round(t - start, 6) for t in later.fired] == [1.0]
    assert dropped.fired == []


async def test_a_session_is_in_one_slot_and_moved_bookings_leave_nothing(
    autojump_clock: trio.abc.Clock,
) -> None:
    scheduler = HeartbeatScheduler()
    conns = [FakeConn(f"c{i}") for i in range(20)]
    start = trio.current_time()
    for step in range(50):  # every session booked earlier and earlier (PONGs moving the timer)
        for conn in conns:
            scheduler.schedule(conn, start + 100 - step)  # type: ignore[arg-type]
    assert sum(len(members) for members in scheduler._slots.values()) == 20
    assert len(scheduler._slots) == 1
    for conn in conns:
        scheduler.drop(conn)  # type: ignore[arg-type]
    assert scheduler._slots == {}


async def test_ping_never_early_and_timeout_on_the_dot(autojump_clock: trio.testing.MockClock) -> None:
    """PING at exactly pingInterval; the close at exactly the PING's due time + pingTimeout."""
    server = trio_engineio.Server(ping_interval=0.3, ping_timeout=0.2)
    closed_at: list[float] = []
    server.on("disconnect", lambda sid, reason: closed_at.append(trio.current_time()))
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        await trio.sleep(0.0137)  # off any round number of milliseconds
        response = await http.get(polling_url())
        opened = trio.current_time()
        sid = parse_open(response.text)["sid"]
        response = await http.get(polling_url(sid))
        assert response.text == "2"
        pinged = trio.current_time()
        assert 0.3 <= pinged - opened <= 0.3 + 0.002
        # No PONG: gone at the PING's due time + pingTimeout, within 2 ms.
        await trio.sleep(1)
        assert closed_at
        assert 0.5 <= closed_at[0] - opened <= 0.5 + 0.002
