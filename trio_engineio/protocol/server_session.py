"""The server side of one Engine.IO session, as a sans-I/O state machine.

Every rule about what a session may do next lives here: the outgoing buffer,
the heartbeat deadlines, the one-GET/one-POST rule of long-polling, the upgrade
steps and the close reason. The I/O drivers only move bytes and sleep until
:meth:`ServerSession.next_deadline`. Time is always passed in (``now``).
"""

from __future__ import annotations

import enum
import math

from .errors import LocalProtocolError, RemoteProtocolError, TransportTaken
from .events import (
    Event,
    MessageReceived,
    PongReceived,
    ProbeAnswered,
    SessionClosed,
    UpgradeAborted,
    UpgradeCompleted,
)
from .handshake import Handshake, seconds_to_ms
from .packets import (
    RECORD_SEPARATOR,
    Packet,
    PacketType,
    decode_frame,
    decode_payload,
    message_size,
)
from .reasons import CloseInfo, CloseReason

__all__ = ["ServerSession", "SessionState", "UpgradeState"]

_PING = Packet(PacketType.PING)
_CLOSE = Packet(PacketType.CLOSE)
_NOOP = Packet(PacketType.NOOP)
_PROBE = "probe"


class SessionState(enum.Enum):
    """Life of a session: OPEN until something closes it, then CLOSED for good."""

    OPEN = "open"
    CLOSED = "closed"


class UpgradeState(enum.Enum):
    """Progress of a polling -> websocket upgrade."""

    #: No upgrade under way.
    NONE = "none"
    #: A websocket is attached; waiting for ``2probe``.
    PROBING = "probing"
    #: ``3probe`` sent; polling is paused; waiting for ``5``.
    PROBED = "probed"
    #: The session runs on the websocket.
    DONE = "done"


# The members as module globals for the methods below (some run for every message):
# Python 3.11 reads ``SessionState.OPEN`` about ten times slower than a global.
_S_CLOSED = SessionState.CLOSED
_S_OPEN = SessionState.OPEN
_U_DONE = UpgradeState.DONE
_U_NONE = UpgradeState.NONE
_U_PROBED = UpgradeState.PROBED
_U_PROBING = UpgradeState.PROBING


class ServerSession:
    """State of one session, seen from the server.

    ``ping_interval``, ``ping_timeout`` and ``ping_grace`` are seconds: the
    server sends PING every ``ping_interval`` after the last PONG and closes the
    session with "ping timeout" ``ping_timeout + ping_grace`` after a PING that
    got no answer. The grace is added to the advertised pingInterval (as
    python-engineio does), so clients wait that much longer for PINGs too.
    """

    __slots__ = (
        "__weakref__",
        "_final_packets_sent",
        "_get_pending",
        "_next_ping_at",
        "_noop_due",
        "_outgoing",
        "_pong_deadline",
        "_post_pending",
        "buffered_bytes",
        "buffered_messages",
        "close_info",
        "created_at",
        "last_pong_at",
        "max_payload",
        "ping_grace",
        "ping_interval",
        "ping_timeout",
        "sid",
        "state",
        "transport",
        "upgrade_deadline",
        "upgrade_state",
        "upgrade_timeout",
        "upgrades",
    )

    def __init__(
        self,
        sid: str,
        *,
        transport: str,
        now: float,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        ping_grace: float = 0.0,
        max_payload: int = 1_000_000,
        upgrade_timeout: float = 10.0,
        upgrades: tuple[str, ...] = ("websocket",),
    ) -> None:
        if transport not in ("polling", "websocket"):
            raise ValueError(f"unknown transport {transport!r}")
        self.sid = sid
        self.transport = transport
        self.state = _S_OPEN
        self.upgrade_state = _U_NONE
        self.close_info: CloseInfo | None = None
        self.created_at = now
        self.last_pong_at: float | None = None
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.ping_grace = ping_grace
        self.max_payload = max_payload
        self.upgrade_timeout = upgrade_timeout
        self.upgrades = upgrades if transport == "polling" else ()
        self.upgrade_deadline = math.inf
        self._outgoing: list[Packet] = []
        self.buffered_messages = 0
        self.buffered_bytes = 0
        self._next_ping_at = now + ping_interval
        self._pong_deadline = math.inf
        self._get_pending = False
        self._post_pending = False
        self._noop_due = False
        self._final_packets_sent = False

    # ----------------------------------------------------------------- queries
    @property
    def handshake(self) -> Handshake:
        """What the OPEN packet announces to the client."""
        return Handshake(
            sid=self.sid,
            upgrades=self.upgrades,
            ping_interval_ms=seconds_to_ms(self.ping_interval + self.ping_grace),
            ping_timeout_ms=seconds_to_ms(self.ping_timeout),
            max_payload=self.max_payload,
        )

    @property
    def closed(self) -> bool:
        """True once the session has a close reason."""
        return self.state is _S_CLOSED

    @property
    def get_pending(self) -> bool:
        """True while a long-poll GET is attached."""
        return self._get_pending

    @property
    def post_pending(self) -> bool:
        """True while a POST is being read."""
        return self._post_pending

    @property
    def upgrading(self) -> bool:
        """True while a websocket is probing or probed but not yet switched to."""
        return self.upgrade_state in (_U_PROBING, _U_PROBED)

    @property
    def left_polling(self) -> bool:
        """True once an upgrade has moved the session from long-polling to a websocket.

        From the ``5`` on, a GET or POST still attached belongs to a transport the
        session has left (the reference server discards its polling transport at
        that moment): a POST whose body is not read in full by then is dropped, and
        failures of either no longer concern the session (see
        :meth:`polling_request_failed`). During the upgrade the session is still on
        polling: the client may yet abandon the upgrade.
        """
        return self.upgrade_state is _U_DONE

    def next_deadline(self) -> float:
        """When :meth:`handle_timeout` must next be called (``inf``: never)."""
        if self.closed:
            return math.inf
        return min(self._next_ping_at, self._pong_deadline, self.upgrade_deadline)

    # ---------------------------------------------------------------- outgoing
    def send_message(self, data: str | bytes) -> None:
        """Queue an application message for the client.

        Raises ``ValueError`` for text containing the record separator
        ``\\x1e`` while the session is on long-polling: the payload format has no
        escape for it, so the client would see it split into other packets.
        """
        if self.closed:
            raise LocalProtocolError(f"session is closed ({self.close_info})")
        packet = Packet(PacketType.MESSAGE, data)
        if isinstance(data, str) and self.transport == "polling" and RECORD_SEPARATOR in data:
            raise ValueError("text containing \\x1e cannot be sent over long-polling")
        self._outgoing.append(packet)
        self.buffered_messages += 1
        self.buffered_bytes += message_size(data)

    def has_outgoing(self) -> bool:
        """True when a writer has packets to take."""
        return bool(self._outgoing)

    def take_outgoing(self) -> list[Packet]:
        """Take every queued packet (websocket writer)."""
        packets = self._outgoing
        self._outgoing = []
        self.buffered_messages = 0
        self.buffered_bytes = 0
        return packets

    def return_outgoing(self, packets: list[Packet]) -> None:
        """Put back packets a writer took but never wrote, ahead of any queued since."""
        if not packets:
            return
        self._outgoing[:0] = packets
        for packet in packets:
            if packet.type is PacketType.MESSAGE:
                self.buffered_messages += 1
                self.buffered_bytes += message_size(packet.data)

    # ----------------------------------------------------------------- polling
    def begin_get(self) -> None:
        """A long-poll GET arrives.

        Raises :class:`RemoteProtocolError` if polling is not allowed now: after
        an upgrade, or when another GET is pending (that one closes the
        session with "transport error"; the pending GET is then answered
        with a CLOSE packet).
        """
        if self.closed:
            if self._final_packets_sent or self._get_pending:
                raise RemoteProtocolError("session is closed")
        elif self.transport != "polling":
            raise RemoteProtocolError("session was upgraded to websocket")
        elif self._get_pending:
            self.close(CloseReason.TRANSPORT_ERROR, "overlapping GET requests")
            raise RemoteProtocolError("overlapping GET requests")
        self._get_pending = True

    def poll_ready(self) -> bool:
        """True when the pending GET can be answered now.

        While an upgrade is probed every GET is answered at once with a NOOP:
        the client's last poll may reach the server after its ``2probe``.
        """
        return bool(self._outgoing) or self._noop_due or self.closed or self.upgrade_state is _U_PROBED

    def take_poll_payload(self) -> list[Packet]:
        """The packets that answer the pending GET (never empty when ready).

        While an upgrade is probed the answer is a NOOP and the queue is kept
        for the websocket. After a close the answer is the final packets: the
        queue plus CLOSE for a server-side close, a NOOP for a client close,
        CLOSE otherwise.
        """
        if self.closed:
            self._final_packets_sent = True
            return self.take_outgoing()
        if self._noop_due or self.upgrade_state is _U_PROBED:
            self._noop_due = False
            return [_NOOP]
        return self.take_outgoing()

    def end_get(self) -> list[Event]:
        """The pending GET is finished (answered or abandoned); nothing follows from it here.

        Returns events as the client core's ``end_get()`` does (always none on
        this side).
        """
        self._get_pending = False
        return []

    def begin_post(self) -> None:
        """A POST with packets arrives; refuse it if one is already running."""
        if self.closed:
            raise RemoteProtocolError("session is closed")
        if self.transport != "polling":
            raise RemoteProtocolError("session was upgraded to websocket")
        if self._post_pending:
            self.close(CloseReason.TRANSPORT_ERROR, "overlapping POST requests")
            raise RemoteProtocolError("overlapping POST requests")
        self._post_pending = True

    def end_post(self) -> None:
        """The running POST is finished."""
        self._post_pending = False

    def polling_request_failed(self, reason: CloseReason, description: str = "") -> SessionClosed | None:
        """A long-poll GET or a POST failed: aborted, timed out, too large or unreadable.

        While the session is on polling (during an upgrade too) that is a failure
        of its transport, and packets may have been lost: the session closes with
        ``reason``. Once it has :attr:`left_polling` the request belonged to the
        transport it left: nothing changes and ``None`` is returned.
        """
        if self.left_polling:
            return None
        return self.close(reason, description)

    @property
    def final_packets_sent(self) -> bool:
        """True once a closed session's last packets were handed to a transport."""
        return self._final_packets_sent

    def mark_final_packets_sent(self) -> None:
        """Record that the last packets went out (the websocket writer's path)."""
        self._final_packets_sent = True

    # ---------------------------------------------------------------- incoming
    def receive_packets(self, packets: list[Packet], now: float) -> list[Event]:
        """Feed packets from the client's main transport, in order.

        Returns the events they cause. A CLOSE or a packet the client may not
        send closes the session; packets after it are dropped.
        """
        events: list[Event] = []
        for packet in packets:
            if self.closed:
                break
            event = self._receive_one(packet, now)
            if event is not None:
                events.append(event)
        return events

    def receive_packet(self, packet: Packet, now: float) -> Event | None:
        """Feed one packet from the client's main transport."""
        if self.closed:
            return None
        return self._receive_one(packet, now)

    def receive_payload(self, body: bytes | str, now: float) -> list[Event]:
        """Feed a long-polling POST body; :class:`ParseError` if it is not a payload."""
        return self.receive_packets(decode_payload(body), now)

    def receive_frame(self, frame: str | bytes, now: float) -> list[Event]:
        """Feed one websocket frame; :class:`ParseError` if it is not a packet.

        A PONG (one per heartbeat) is taken without making a packet object.
        """
        if self.closed:
            return []
        event = self._receive_pong(now) if frame == "3" else self._receive_one(decode_frame(frame), now)
        return [] if event is None else [event]

    def message_in_frame(self, frame: str | bytes) -> str | bytes | None:
        """The message a websocket frame carries, if it is a MESSAGE the session takes now.

        ``None`` for any other frame (feed those to :meth:`receive_frame`). A
        message changes no state, so the driver may hand it to the application
        at once: the fast path for the frame a session receives most.
        """
        if self.state is _S_CLOSED:
            return None
        # packets.message_in_frame, inlined: this runs for every message received.
        if isinstance(frame, str):
            return frame[1:] if frame[:1] == "4" else None
        return frame

    def _receive_one(self, packet: Packet, now: float) -> Event | None:
        packet_type = packet.type
        if packet_type is PacketType.MESSAGE:
            return MessageReceived(packet.data)
        if packet_type is PacketType.PONG:
            return self._receive_pong(now)
        if packet_type is PacketType.NOOP:
            return None
        if packet_type is PacketType.CLOSE:
            return self.close(CloseReason.CLIENT_DISCONNECT)
        return self.close(
            CloseReason.TRANSPORT_ERROR,
            f"unexpected {packet_type.name} packet from client",
        )

    def _receive_pong(self, now: float) -> PongReceived | None:
        if self._pong_deadline == math.inf:
            return None  # unsolicited or repeated PONG: ignored, no timer
        self._pong_deadline = math.inf
        self._next_ping_at = now + self.ping_interval
        self.last_pong_at = now
        return PongReceived(now)

    # --------------------------------------------------------------- heartbeat
    def handle_timeout(self, now: float) -> list[Event]:
        """Act on deadlines that have passed: send PING, time out, abandon upgrade."""
        events: list[Event] = []
        if self.closed:
            return events
        if now >= self.upgrade_deadline and self.upgrading:
            events.append(self.abort_upgrade("upgrade timed out"))
        if now >= self._pong_deadline:
            events.append(self.close(CloseReason.PING_TIMEOUT))
            return events
        if now >= self._next_ping_at:
            self._outgoing.append(_PING)
            # Counted from when the PING was due, not from a late wake-up: the reference
            # closes a silent session at pingInterval + pingTimeout exactly.
            self._pong_deadline = self._next_ping_at + self.ping_timeout + self.ping_grace
            self._next_ping_at = math.inf
            if now >= self._pong_deadline:
                events.append(self.close(CloseReason.PING_TIMEOUT))
        return events

    # ----------------------------------------------------------------- upgrade
    def start_upgrade(self, now: float) -> None:
        """A websocket with this sid arrived; it may now probe.

        Raises :class:`TransportTaken` if the session already is on a websocket
        or another upgrade is under way (the new socket is to be accepted and
        closed), :class:`RemoteProtocolError` if it is closed or was not offered
        upgrades (the request is to be refused).
        """
        if self.closed:
            raise RemoteProtocolError("session is closed")
        if self.transport != "polling" or self.upgrade_state is _U_DONE:
            raise TransportTaken("session already upgraded")
        if "websocket" not in self.upgrades:
            raise RemoteProtocolError("upgrades are not offered to this session")
        if self.upgrading:
            raise TransportTaken("another upgrade is under way")
        self.upgrade_state = _U_PROBING
        self.upgrade_deadline = now + self.upgrade_timeout

    def receive_upgrade_packet(self, packet: Packet, now: float) -> Event:
        """Feed a packet that arrived on the probing websocket.

        ``2probe`` is answered with ``3probe`` (and a pending GET with NOOP);
        ``5`` after a probe completes the upgrade; anything else aborts it.
        """
        if not self.upgrading or self.closed:
            raise LocalProtocolError("no upgrade under way")
        if self.upgrade_state is _U_PROBING:
            if packet.type is PacketType.PING and packet.data == _PROBE:
                self.upgrade_state = _U_PROBED
                if self._get_pending:
                    self._noop_due = True
                return ProbeAnswered(Packet(PacketType.PONG, _PROBE))
            return self.abort_upgrade(f"expected 2probe, got {packet.type.name}")
        if packet.type is PacketType.UPGRADE:
            self.upgrade_state = _U_DONE
            self.transport = "websocket"
            self.upgrade_deadline = math.inf
            self._noop_due = self._get_pending
            return UpgradeCompleted()
        return self.abort_upgrade(f"expected 5 (upgrade), got {packet.type.name}")

    def abort_upgrade(self, description: str) -> UpgradeAborted:
        """Give up an upgrade: the session carries on over polling."""
        if self.upgrading:
            self.upgrade_state = _U_NONE
            self.upgrade_deadline = math.inf
            self._noop_due = False
        return UpgradeAborted(description)

    # ------------------------------------------------------------------- close
    def close(self, reason: CloseReason, description: str = "") -> SessionClosed:
        """Close the session (idempotent: the first reason wins).

        A server-side close (``SERVER_DISCONNECT``/``SERVER_SHUTDOWN``) keeps the
        queue and appends a CLOSE packet, so the client gets what was sent
        before. A client close leaves a NOOP to release a pending GET. Any
        other close drops the queue and leaves a CLOSE packet.
        """
        if self.close_info is not None:
            return SessionClosed(self.close_info)
        self.state = _S_CLOSED
        self.close_info = CloseInfo(reason, description)
        self.upgrade_deadline = math.inf
        if self.upgrading:
            self.upgrade_state = _U_NONE
        if reason in (CloseReason.SERVER_DISCONNECT, CloseReason.SERVER_SHUTDOWN):
            self._outgoing.append(_CLOSE)
        else:
            self._outgoing.clear()
            self._outgoing.append(_NOOP if reason is CloseReason.CLIENT_DISCONNECT else _CLOSE)
        self.buffered_messages = 0
        self.buffered_bytes = 0
        return SessionClosed(self.close_info)
