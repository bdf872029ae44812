"""Who reads and who writes a session's websocket, moment by moment.

Where the ASGI server's ``receive`` is a channel any task may read
(``hypercorn_adapter.request_channel``), three parties share one socket:

- a handler task waiting in ``Connection.receive()`` reads the next frame
  itself (it *pulls*): no hand-off between a reader task and the handler;
- the transport's request task reads as a *backstop* when no task has pulled
  for :attr:`SocketLease.handover_delay`, so PONGs, the client's CLOSE and
  messages for a busy handler are still taken in;
- the first ``send()`` after ``receive()`` returned writes its *reply* to the
  socket itself when nothing else is queued, while the request task writes
  everything else.

:class:`SocketLease` decides who may do what, with named states and no I/O:
the transport that owns the socket lends it (``pull``, ``write_reply`` and
``interrupt`` are its callables) and every party asks the lease before it
reads or writes. The rules, each tested synchronously:

- one reader at a time: a task that wants to pull while the backstop reads
  asks it to stop (:meth:`~SocketLease.begin_pull` cancels the backstop's
  scope) and takes over when it has (:meth:`~SocketLease.end_backstop`);
  a second puller waits for the first;
- the backstop is due only when nobody reads, the handler's queue has room,
  and no task has pulled for the hand-over delay (at once when the server
  cannot share the socket or the handler has returned);
- one writer at a time: a reply is written directly only when the writer is
  idle and nothing is queued ahead of it (order is kept), and the transport
  waits for a reply in progress before it writes.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable

import trio

__all__ = ["Reader", "SocketLease", "Writer"]

Message = str | bytes


class Reader(enum.Enum):
    """Who reads the websocket's frames now."""

    #: Nobody: frames wait in the socket.
    NOBODY = "nobody"
    #: A task in ``Connection.receive()`` pulls the next frame.
    HANDLER = "handler"
    #: The request task reads as a backstop.
    BACKSTOP = "backstop"
    #: A task in ``receive()`` waits for the backstop read to let go.
    HANDING_OVER = "handing over"


class Writer(enum.Enum):
    """Who writes to the websocket now."""

    #: Nobody.
    NOBODY = "nobody"
    #: The request task writes a batch of queued packets.
    TRANSPORT = "transport"
    #: A handler's task writes its reply.
    REPLY = "reply"
    #: A handler's task writes its reply and another task waits for it to end.
    REPLY_AWAITED = "reply awaited"


# The members as module globals for the methods below, which run for every message:
# Python 3.11 reads ``Reader.NOBODY`` about ten times slower than a global.
_NOBODY = Reader.NOBODY
_HANDLER = Reader.HANDLER
_BACKSTOP = Reader.BACKSTOP
_HANDING_OVER = Reader.HANDING_OVER
_IDLE = Writer.NOBODY
_TRANSPORT = Writer.TRANSPORT
_REPLY = Writer.REPLY
_REPLY_AWAITED = Writer.REPLY_AWAITED


class SocketLease:
    """The shared use of one session's websocket (see the module docstring).

    ``pull`` reads the next frame(s) in the calling task and applies them to
    the session; ``None`` when the ASGI server's ``receive`` cannot be shared
    (only the request task reads then). ``interrupt`` wakes a task blocked in
    ``pull`` (called at the close and when the socket is given back).
    Direct replies are off until :meth:`allow_replies`. ``handover_delay`` is how long after a pull the
    backstop waits before it reads.
    """

    __slots__ = (
        "_backstop_scope",
        "_interrupt",
        "_pull",
        "_write_reply",
        "attached",
        "handover_at",
        "handover_delay",
        "reader",
        "reply_due",
        "writer",
    )

    def __init__(
        self,
        *,
        pull: Callable[[], Awaitable[None]] | None = None,
        interrupt: Callable[[], None] | None = None,
        handover_delay: float = 0.05,
    ) -> None:
        self._pull = pull
        self._interrupt = interrupt
        self._write_reply: Callable[[Message], Awaitable[None]] | None = None
        self.handover_delay = handover_delay
        #: False once the transport took the socket back (its request is over).
        self.attached = True
        self.reader = _NOBODY
        self.writer = _IDLE
        #: When the backstop may read if no task pulls meanwhile.
        self.handover_at = -math.inf
        #: Set by ``receive()`` when it hands a message to the handler: the next
        #: send() may reply directly (see :meth:`take_reply_slot`).
        self.reply_due = False
        self._backstop_scope: trio.CancelScope | None = None

    def __repr__(self) -> str:
        return f"<SocketLease reader={self.reader.value} writer={self.writer.value} attached={self.attached}>"

    # ------------------------------------------------------------- reading
    @property
    def can_pull(self) -> bool:
        """True when a handler's task may read frames itself."""
        return self._pull is not None and self.attached

    def begin_pull(self) -> Callable[[], Awaitable[None]] | None:
        """A task in ``receive()`` wants to read: the function it awaits to read, or ``None``.

        ``None`` while another task pulls (or the socket cannot be pulled). If
        the backstop is reading it is asked to stop, and the puller waits while
        :attr:`reader` is ``Reader.HANDING_OVER`` before it reads.
        """
        pull = self._pull
        if pull is None or not self.attached:
            return None
        if self.reader is _NOBODY:
            self.reader = _HANDLER
            return pull
        if self.reader is _BACKSTOP:
            self.reader = _HANDING_OVER
            self.stop_backstop()
            return pull
        return None

    def end_pull(self, now: float | None = None) -> float | None:
        """The puller stopped (read, cancelled or woken): the socket is free again.

        A puller cancelled while waiting for the hand-over leaves the backstop
        reading. With ``now`` (it read the socket) it returns when the backstop
        may read next, as :meth:`pulled` does; ``None`` otherwise.
        """
        if self.reader is _HANDING_OVER:
            self.reader = _BACKSTOP
        elif self.reader is _HANDLER:
            self.reader = _NOBODY
        if now is None or self._pull is None or not self.attached:
            return None
        self.handover_at = now + self.handover_delay
        return self.handover_at

    def pulled(self, now: float) -> float | None:
        """As if a task had just read: when the backstop may read next (``None``: nothing to book).

        A newly lent socket starts so, to give a handler already waiting in
        ``receive()`` the delay to come and read before the backstop does.
        """
        if self._pull is None or not self.attached:
            return None
        self.handover_at = now + self.handover_delay
        return self.handover_at

    def backstop_due(self, now: float, *, queue_full: bool, handler_done: bool) -> bool:
        """True when the request task should read frames itself."""
        if self.reader is not _NOBODY or not self.attached or queue_full:
            return False
        if self._pull is None or handler_done:
            return True
        return now >= self.handover_at

    def pending_handover(self, now: float) -> float | None:
        """A future moment the backstop will be due at, if nobody reads now; else ``None``."""
        if self._pull is None or self.reader is not _NOBODY or self.handover_at <= now:
            return None
        return self.handover_at

    def begin_backstop(self, scope: trio.CancelScope) -> None:
        """The request task starts a backstop read under ``scope`` (cancelled to stop it)."""
        assert self.reader is _NOBODY, self.reader
        self.reader = _BACKSTOP
        self._backstop_scope = scope

    def stop_backstop(self) -> None:
        """Ask a backstop read to stop (any change of the session does)."""
        if self._backstop_scope is not None:
            self._backstop_scope.cancel()

    def end_backstop(self) -> bool:
        """The backstop read is over; True if a puller waits to take over (wake it)."""
        self._backstop_scope = None
        if self.reader is _HANDING_OVER:
            self.reader = _HANDLER
            return True
        self.reader = _NOBODY
        return False

    # ------------------------------------------------------------- writing
    def allow_replies(self, write_reply: Callable[[Message], Awaitable[None]]) -> None:
        """Let a handler's send() write its reply with ``write_reply`` (only where pulls are possible)."""
        if self._pull is not None:
            self._write_reply = write_reply

    def take_reply_slot(self, *, queued: bool) -> Callable[[Message], Awaitable[None]] | None:
        """A send() after :attr:`reply_due` was set: how to write its message directly, or ``None``.

        Only the first send after a received message may, when the socket is
        still lent, nobody writes and nothing is ``queued`` ahead of it; the
        chance is used up either way. The caller awaits the returned writer with
        its message in its own task: the writer is now ``Writer.REPLY`` until
        that write calls :meth:`end_reply`.
        """
        self.reply_due = False
        if self.writer is _IDLE and not queued and self.attached:
            write_reply = self._write_reply
            if write_reply is not None:
                self.writer = _REPLY
            return write_reply
        return None

    def end_reply(self) -> bool:
        """The reply's write is over; True if a task waits for it (wake it)."""
        awaited = self.writer is _REPLY_AWAITED
        self.writer = _IDLE
        return awaited

    @property
    def replying(self) -> bool:
        """True while a handler's task writes a reply."""
        return self.writer is _REPLY or self.writer is _REPLY_AWAITED

    def await_reply(self) -> bool:
        """True if a reply is being written: the caller waits for the session to change.

        :meth:`end_reply` then reports that somebody waits.
        """
        if not self.replying:
            return False
        self.writer = _REPLY_AWAITED
        return True

    def begin_write(self) -> None:
        """The request task starts writing a batch (the writer must be idle)."""
        assert self.writer is _IDLE, self.writer
        self.writer = _TRANSPORT

    def end_write(self) -> None:
        """The request task's batch is written."""
        self.writer = _IDLE

    @property
    def writer_idle(self) -> bool:
        """True when nobody writes."""
        return self.writer is _IDLE

    # ----------------------------------------------------------- lifetime
    def interrupt(self) -> None:
        """Wake a task blocked in :meth:`pull` (the session closed)."""
        if self._interrupt is not None:
            self._interrupt()

    def detach(self) -> None:
        """The transport takes the socket back: no more pulls or replies; wake a puller."""
        self.interrupt()
        self.attached = False
        self._pull = None
        self._interrupt = None
        self._write_reply = None
