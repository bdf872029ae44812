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
        self.reader = Reader.NOBODY
        self.writer = Writer.NOBODY
        #: When the backstop may read if no task pulls meanwhile.
        self.handover_at = -math.inf
        #: A message was handed to the handler: its next send() may reply directly.
        self.reply_due = False
        self._backstop_scope: trio.CancelScope | None = None

    def __repr__(self) -> str:
        return f"<SocketLease reader={self.reader.value} writer={self.writer.value} attached={self.attached}>"

    # ------------------------------------------------------------- reading
    @property
    def can_pull(self) -> bool:
        """True when a handler's task may read frames itself."""
        return self._pull is not None and self.attached

    def begin_pull(self) -> bool:
        """A task in ``receive()`` wants to read; True if it may (it is now the reader).

        False while another task pulls. If the backstop is reading it is asked
        to stop, and the puller waits while :meth:`handing_over` is True.
        """
        if not self.can_pull:
            return False
        if self.reader is Reader.NOBODY:
            self.reader = Reader.HANDLER
            return True
        if self.reader is Reader.BACKSTOP:
            self.reader = Reader.HANDING_OVER
            self.stop_backstop()
            return True
        return False

    @property
    def handing_over(self) -> bool:
        """True while a puller waits for the backstop read to let go."""
        return self.reader is Reader.HANDING_OVER

    def pull(self) -> Awaitable[None]:
        """Read the next frame(s) in the calling task (only after :meth:`begin_pull`)."""
        assert self._pull is not None
        assert self.reader is Reader.HANDLER
        return self._pull()

    def end_pull(self) -> None:
        """The puller stopped (read, cancelled or woken): the socket is free again.

        A puller cancelled while waiting for the hand-over leaves the backstop
        reading.
        """
        if self.reader is Reader.HANDING_OVER:
            self.reader = Reader.BACKSTOP
        elif self.reader is Reader.HANDLER:
            self.reader = Reader.NOBODY

    def pulled(self, now: float) -> float | None:
        """``receive()`` returned after reading the socket: when the backstop may read next.

        ``None`` when there is nothing to book (the socket was given back).
        """
        if not self.can_pull:
            return None
        self.handover_at = now + self.handover_delay
        return self.handover_at

    def backstop_due(self, now: float, *, queue_full: bool, handler_done: bool) -> bool:
        """True when the request task should read frames itself."""
        if self.reader is not Reader.NOBODY or not self.attached or queue_full:
            return False
        if self._pull is None or handler_done:
            return True
        return now >= self.handover_at

    def pending_handover(self, now: float) -> float | None:
        """A future moment the backstop will be due at, if nobody reads now; else ``None``."""
        if self._pull is None or self.reader is not Reader.NOBODY or self.handover_at <= now:
            return None
        return self.handover_at

    def begin_backstop(self, scope: trio.CancelScope) -> None:
        """The request task starts a backstop read under ``scope`` (cancelled to stop it)."""
        assert self.reader is Reader.NOBODY, self.reader
        self.reader = Reader.BACKSTOP
        self._backstop_scope = scope

    def stop_backstop(self) -> None:
        """Ask a backstop read to stop (any change of the session does)."""
        if self._backstop_scope is not None:
            self._backstop_scope.cancel()

    def end_backstop(self) -> bool:
        """The backstop read is over; True if a puller waits to take over (wake it)."""
        self._backstop_scope = None
        if self.reader is Reader.HANDING_OVER:
            self.reader = Reader.HANDLER
            return True
        self.reader = Reader.NOBODY
        return False

    # ------------------------------------------------------------- writing
    def allow_replies(self, write_reply: Callable[[Message], Awaitable[None]]) -> None:
        """Let a handler's send() write its reply with ``write_reply`` (only where pulls are possible)."""
        if self._pull is not None:
            self._write_reply = write_reply

    def message_taken(self) -> None:
        """``receive()`` handed a message to the handler: its next send() is a reply."""
        self.reply_due = True

    def take_reply_slot(self, *, queued: bool) -> bool:
        """A send(): True if it may write its message directly (then it must call :meth:`write_reply`).

        Only the first send after a received message, when the socket is still
        lent, nobody writes and nothing is ``queued`` ahead of it.
        """
        if not self.reply_due:
            return False
        self.reply_due = False
        return self._write_reply is not None and self.attached and self.writer is Writer.NOBODY and not queued

    def write_reply(self, message: Message) -> Awaitable[None]:
        """Write one message in the calling task (after :meth:`take_reply_slot`)."""
        assert self._write_reply is not None
        return self._write_reply(message)

    def begin_reply(self) -> None:
        """The reply's write starts."""
        self.writer = Writer.REPLY

    def end_reply(self) -> bool:
        """The reply's write is over; True if a task waits for it (wake it)."""
        awaited = self.writer is Writer.REPLY_AWAITED
        self.writer = Writer.NOBODY
        return awaited

    @property
    def replying(self) -> bool:
        """True while a handler's task writes a reply."""
        return self.writer is Writer.REPLY or self.writer is Writer.REPLY_AWAITED

    def await_reply(self) -> bool:
        """True if a reply is being written: the caller waits for the session to change.

        :meth:`end_reply` then reports that somebody waits.
        """
        if not self.replying:
            return False
        self.writer = Writer.REPLY_AWAITED
        return True

    def begin_write(self) -> None:
        """The request task starts writing a batch (the writer must be idle)."""
        assert self.writer is Writer.NOBODY, self.writer
        self.writer = Writer.TRANSPORT

    def end_write(self) -> None:
        """The request task's batch is written."""
        self.writer = Writer.NOBODY

    @property
    def writer_idle(self) -> bool:
        """True when nobody writes."""
        return self.writer is Writer.NOBODY

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
