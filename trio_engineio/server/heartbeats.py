"""One task that keeps every session's heartbeat deadlines.

A session's next deadline (send a PING, give up waiting for the PONG, abandon
an upgrade, start reading for a busy handler) comes from its sans-I/O core.
Instead of a sleeping task per session, the server keeps the deadlines in
slots of ``SLOT`` seconds and one task that wakes at the earliest slot: an
idle session costs one entry in a slot, and sessions due in the same slot
share one wake-up.
"""

from __future__ import annotations

import heapq
import math
from typing import Protocol

import trio

__all__ = ["SLOT", "Booked", "HeartbeatScheduler"]


class Booked(Protocol):
    """What the scheduler books: a session, which keeps its own booking."""

    #: The slot it is booked in (``None``: not booked), written only by the scheduler.
    booking: int | None
    #: When that slot is served (``inf``: not booked), written only by the scheduler.
    booked_deadline: float

    def on_deadline(self, now: float) -> None:
        """Its booked deadline has come."""


#: Deadlines are served in slots of this many seconds: sessions due within one slot
#: share one wake-up of the scheduler (a PING may go out up to this much late). One
#: millisecond: a client cannot observe the lateness (the reference server is as
#: exact), and a request that finds a deadline passed applies it at once anyway
#: (``Server._session_for_request``).
SLOT = 0.001


class HeartbeatScheduler:
    """Sessions booked by slot, and a heap of the slots that have any, served by :meth:`run`.

    A session is in at most one slot (``conn.booking`` is its index): moving it
    earlier or dropping it takes it out of its slot at once, so nothing stale
    piles up and a closed session is never kept alive by the scheduler.
    """

    def __init__(self) -> None:
        # slot index -> the sessions booked in it (a dict: insertion order, fired in order)
        self._slots: dict[int, dict[Booked, None]] = {}
        self._heap: list[int] = []
        # The scope run() sleeps in: an earlier slot moves its deadline (no task switch).
        self._sleep: trio.CancelScope | None = None

    def schedule(self, conn: Booked, deadline: float) -> None:
        """Make sure ``conn`` is woken at ``deadline`` (at most one ``SLOT`` later)."""
        if deadline == math.inf:
            return
        index = math.ceil(deadline / SLOT)
        if index * SLOT < deadline:  # float rounding: never wake a session before its deadline
            index += 1
        at = index * SLOT
        if at >= conn.booked_deadline:
            return
        self.drop(conn)
        members = self._slots.get(index)
        if members is None:
            members = self._slots[index] = {}
            heapq.heappush(self._heap, index)
            sleep = self._sleep
            if sleep is not None and at < sleep.deadline:
                sleep.deadline = at
        members[conn] = None
        conn.booking = index
        conn.booked_deadline = at

    def drop(self, conn: Booked) -> None:
        """Forget ``conn``'s booking (it closed, or a new one replaces it)."""
        index = conn.booking
        if index is not None:
            members = self._slots.get(index)
            if members is not None:
                members.pop(conn, None)
                if not members:
                    del self._slots[index]  # its heap entry finds nothing when due
            conn.booking = None
        conn.booked_deadline = math.inf

    async def run(self) -> None:
        """Serve deadlines until cancelled."""
        heap = self._heap
        try:
            while True:
                with trio.CancelScope(deadline=heap[0] * SLOT if heap else math.inf) as sleep:
                    self._sleep = sleep
                    await trio.sleep_forever()
                self._sleep = None
                now = trio.current_time()
                while heap and heap[0] * SLOT <= now:
                    self._fire(heapq.heappop(heap), now)
        finally:
            self._sleep = None

    def _fire(self, index: int, now: float) -> None:
        # A helper, so that no local variable of the long-lived run() frame
        # keeps the last connection alive.
        members = self._slots.pop(index, None)
        if not members:
            return
        for conn in members:
            conn.booking = None
            conn.booked_deadline = math.inf
        for conn in members:
            conn.on_deadline(now)
