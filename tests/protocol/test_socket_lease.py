"""The websocket's hand-over rules (server/socket_lease.py), synchronously and without I/O.

Each test walks the lease through one rule: who may read, when the backstop is
due, who may write, and what detaching does. The randomized stress tests in
test_websocket_reading.py and test_direct_replies.py drive the same rules over
the real transport.
"""

from __future__ import annotations

from collections.abc import Awaitable

import pytest
import trio
import trio.lowlevel

from trio_engineio.server.socket_lease import Reader, SocketLease, Writer

DELAY = 0.05


class Socket:
    """What a transport lends: counts pulls, interrupts and replies (never awaited here)."""

    def __init__(self) -> None:
        self.pulls = 0
        self.interrupts = 0
        self.replies: list[str | bytes] = []

    def pull(self) -> Awaitable[None]:
        self.pulls += 1
        return nothing()

    def interrupt(self) -> None:
        self.interrupts += 1

    def write_reply(self, message: str | bytes) -> Awaitable[None]:
        self.replies.append(message)
        return nothing()


async def nothing() -> None:
    """What the lent callables return: a coroutine the tests close unrun."""


def lent(*, replies: bool = True) -> tuple[SocketLease, Socket]:
    socket = Socket()
    lease = SocketLease(pull=socket.pull, interrupt=socket.interrupt, handover_delay=DELAY)
    if replies:
        lease.allow_replies(socket.write_reply)
    return lease, socket


def drain(awaitable: Awaitable[None]) -> None:
    """Close a coroutine the lease handed out without running it."""
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


# ----------------------------------------------------------------- reading
def test_a_puller_reads_and_gives_the_socket_back() -> None:
    lease, socket = lent()
    pull = lease.begin_pull()
    assert pull is not None
    assert lease.reader is Reader.HANDLER
    drain(pull())
    assert socket.pulls == 1
    lease.end_pull()
    assert lease.reader is Reader.NOBODY


def test_a_second_puller_waits_for_the_first() -> None:
    lease, _ = lent()
    assert lease.begin_pull()
    assert not lease.begin_pull()
    lease.end_pull()
    assert lease.begin_pull()


def test_a_puller_takes_over_from_the_backstop() -> None:
    lease, _ = lent()
    scope = trio.CancelScope()
    lease.begin_backstop(scope)
    assert lease.reader is Reader.BACKSTOP
    assert lease.begin_pull()
    assert scope.cancel_called, "the backstop is asked to stop"
    assert lease.reader is Reader.HANDING_OVER
    assert not lease.begin_pull(), "a third task waits too"
    assert lease.end_backstop(), "the puller is to be woken"
    assert lease.reader is Reader.HANDLER


def test_a_puller_cancelled_during_the_hand_over_leaves_the_backstop_reading() -> None:
    lease, _ = lent()
    lease.begin_backstop(trio.CancelScope())
    assert lease.begin_pull()
    lease.end_pull()
    assert lease.reader is Reader.BACKSTOP
    assert not lease.end_backstop(), "nobody waits any more"
    assert lease.reader is Reader.NOBODY


def test_without_a_shared_receive_only_the_request_task_reads() -> None:
    lease = SocketLease(handover_delay=DELAY)
    assert not lease.can_pull
    assert not lease.begin_pull()
    assert lease.backstop_due(0.0, queue_full=False, handler_done=False)
    assert lease.pulled(0.0) is None
    assert lease.pending_handover(0.0) is None


# ---------------------------------------------------------------- backstop
def test_the_backstop_is_due_a_delay_after_the_last_pull() -> None:
    lease, _ = lent()
    assert lease.pulled(10.0) == pytest.approx(10.0 + DELAY)
    assert not lease.backstop_due(10.0, queue_full=False, handler_done=False)
    assert lease.pending_handover(10.0) == pytest.approx(10.0 + DELAY)
    assert lease.backstop_due(10.0 + DELAY, queue_full=False, handler_done=False)
    assert lease.pending_handover(10.0 + DELAY) is None, "already due: nothing to book"


def test_the_backstop_is_never_due_while_somebody_reads() -> None:
    lease, _ = lent()
    lease.begin_pull()
    assert not lease.backstop_due(1e9, queue_full=False, handler_done=True)
    assert lease.pending_handover(-1.0) is None
    lease.end_pull()
    lease.begin_backstop(trio.CancelScope())
    assert not lease.backstop_due(1e9, queue_full=False, handler_done=True)


def test_the_backstop_waits_while_the_handlers_queue_is_full() -> None:
    lease, _ = lent()
    assert not lease.backstop_due(1e9, queue_full=True, handler_done=False)


def test_the_backstop_reads_at_once_for_a_handler_that_returned() -> None:
    lease, _ = lent()
    lease.pulled(10.0)
    assert lease.backstop_due(10.0, queue_full=False, handler_done=True)


def test_stopping_a_backstop_cancels_only_a_running_one() -> None:
    lease, _ = lent()
    lease.stop_backstop()  # nothing to stop
    scope = trio.CancelScope()
    lease.begin_backstop(scope)
    lease.stop_backstop()
    assert scope.cancel_called
    lease.end_backstop()
    later = trio.CancelScope()
    lease.begin_backstop(later)
    lease.end_backstop()
    lease.stop_backstop()

    async def not_cancelled() -> bool:  # an unentered scope reads the clock
        return not later.cancel_called

    assert trio.run(not_cancelled), "an ended backstop's scope is forgotten"


# ----------------------------------------------------------------- writing
def test_only_the_first_send_after_a_received_message_replies_directly() -> None:
    lease, socket = lent()
    assert not lease.reply_due, "nothing was received"
    lease.reply_due = True
    write = lease.take_reply_slot(queued=False)
    assert write is not None
    drain(write("pong"))
    assert socket.replies == ["pong"]
    assert not lease.reply_due, "the second send is queued"


def test_a_reply_never_overtakes_queued_packets() -> None:
    lease, _ = lent()
    lease.reply_due = True
    assert lease.take_reply_slot(queued=True) is None
    assert not lease.reply_due, "the chance is used up"


def test_a_reply_waits_for_the_transports_write() -> None:
    lease, _ = lent()
    lease.begin_write()
    lease.reply_due = True
    assert lease.take_reply_slot(queued=False) is None
    lease.end_write()
    assert lease.writer_idle


def test_replies_are_off_unless_allowed() -> None:
    lease, _ = lent(replies=False)
    lease.reply_due = True
    assert lease.take_reply_slot(queued=False) is None
    plain = SocketLease(handover_delay=DELAY)
    plain.allow_replies(Socket().write_reply)
    plain.reply_due = True
    assert plain.take_reply_slot(queued=False) is None, "no replies where pulls are impossible"


def start_reply(lease: SocketLease) -> None:
    """What a handler's send() does after receive() handed it a message."""
    lease.reply_due = True
    assert lease.take_reply_slot(queued=False) is not None


def test_the_transport_waits_for_a_reply_and_is_told_when_it_ends() -> None:
    lease, _ = lent()
    assert not lease.await_reply(), "no reply in progress"
    start_reply(lease)
    assert lease.writer is Writer.REPLY
    assert lease.replying
    assert not lease.writer_idle
    assert lease.await_reply()
    assert lease.writer is Writer.REPLY_AWAITED
    assert lease.end_reply(), "somebody waits: wake them"
    assert lease.writer_idle
    start_reply(lease)
    assert not lease.end_reply(), "nobody waited"


def test_the_transport_never_writes_over_a_reply() -> None:
    lease, _ = lent()
    start_reply(lease)
    with pytest.raises(AssertionError):
        lease.begin_write()


# ---------------------------------------------------------------- lifetime
def test_detaching_wakes_the_puller_and_ends_pulls_and_replies() -> None:
    lease, socket = lent()
    lease.begin_pull()
    lease.reply_due = True
    lease.detach()
    assert socket.interrupts == 1
    assert not lease.attached
    assert not lease.can_pull
    lease.end_pull()
    assert not lease.begin_pull()
    assert lease.take_reply_slot(queued=False) is None
    assert not lease.backstop_due(1e9, queue_full=False, handler_done=True)
    assert lease.pulled(0.0) is None
    lease.interrupt()
    assert socket.interrupts == 1, "the transport's callables are dropped"


def test_a_close_interrupts_a_blocked_puller_without_detaching() -> None:
    lease, socket = lent()
    lease.interrupt()
    assert socket.interrupts == 1
    assert lease.attached
