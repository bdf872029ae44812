"""Helpers shared by the bus tests: an inbox for a node's deliveries, waiting for a condition."""

from __future__ import annotations

from collections.abc import Callable

import trio

from trio_engineio.bus import BusMessage

#: How long a helper waits before failing the test (virtual seconds under autojump_clock).
WAIT_CAP = 30


class Inbox:
    """A node's ``deliver`` callback that keeps what it gets, in order."""

    def __init__(self) -> None:
        self.messages: list[BusMessage] = []
        self._lot = trio.lowlevel.ParkingLot()

    def __call__(self, message: BusMessage) -> None:
        self.messages.append(message)
        self._lot.unpark_all()

    async def wait_for(self, count: int) -> list[BusMessage]:
        """Wait until at least ``count`` messages arrived (at most ``WAIT_CAP``); all of them so far."""
        with trio.fail_after(WAIT_CAP):
            while len(self.messages) < count:
                await self._lot.park()
        return self.messages

    def take(self) -> list[BusMessage]:
        """What arrived so far, emptying the inbox."""
        messages, self.messages = self.messages, []
        return messages


async def until(predicate: Callable[[], bool], step: float = 0.005) -> None:
    """Wait until ``predicate()`` is true (polled every ``step`` seconds), at most ``WAIT_CAP``."""
    with trio.fail_after(WAIT_CAP):
        while not predicate():
            await trio.sleep(step)
