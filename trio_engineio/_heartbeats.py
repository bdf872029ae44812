"""One task that keeps every session's heartbeat deadlines.

A session's next deadline (send a PING, give up waiting for the PONG, abandon
an upgrade) comes from its sans-I/O core. Instead of a sleeping task per
session, the server keeps one heap of deadlines and one task that wakes at
the earliest: idle sessions then cost a heap entry, not a task.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from ._session import Connection

__all__ = ["HeartbeatScheduler"]


#: Deadlines are served in slots of this many seconds: sessions due within one slot
#: share one wake-up of the scheduler (a PING may go out up to this much late).
SLOT = 0.01


class _Booking:
    """A heap entry's link to its connection; cut when the booking is replaced or dropped."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn: Connection | None = conn


class HeartbeatScheduler:
    """A heap of ``(deadline, seq, booking)`` served by :meth:`run`.

    Entries are never removed early: a replaced or dropped booking just loses
    its connection, so the heap never keeps a closed session alive.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Booking]] = []
        self._counter = itertools.count()
        # The scope run() sleeps in: an earlier booking moves its deadline (no task switch).
        self._sleep: trio.CancelScope | None = None

    def schedule(self, conn: Connection, deadline: float) -> None:
        """Make sure ``conn`` is woken at ``deadline`` (at most one ``SLOT`` later)."""
        if deadline == math.inf:
            return
        slot = math.ceil(deadline / SLOT) * SLOT
        if slot < deadline:  # float rounding: never wake a session before its deadline
            slot += SLOT
        deadline = slot
        if deadline >= conn._booked_deadline:
            return
        self.drop(conn)
        booking = _Booking(conn)
        conn._booking = booking
        conn._booked_deadline = deadline
        heapq.heappush(self._heap, (deadline, next(self._counter), booking))
        sleep = self._sleep
        if sleep is not None and deadline < sleep.deadline:
            sleep.deadline = deadline

    def drop(self, conn: Connection) -> None:
        """Forget ``conn``'s booking (it closed, or a new one replaces it)."""
        booking = conn._booking
        if booking is not None:
            booking.conn = None
            conn._booking = None
        conn._booked_deadline = math.inf

    async def run(self) -> None:
        """Serve deadlines until cancelled."""
        heap = self._heap
        try:
            while True:
                with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as sleep:
                    self._sleep = sleep
                    await trio.sleep_forever()
                self._sleep = None
                now = trio.current_time()
                while heap and heap[0][0] <= now:
                    self._fire(heapq.heappop(heap)[2], now)
        finally:
            self._sleep = None

    def _fire(self, booking: _Booking, now: float) -> None:
        # A helper, so that no local variable of the long-lived run() frame
        # keeps the last connection alive.
        conn = booking.conn
        if conn is not None:
            self.drop(conn)
            conn._on_deadline(now)
