"""The client side of one Engine.IO session, as a sans-I/O state machine.

Everything the client must decide lives here: the handshake, the heartbeat
watchdog (the server is gone when no PING arrives within
``pingInterval + pingTimeout``), the outgoing buffer and its split into POST
bodies that never exceed the server's ``maxPayload``, the one-GET/one-POST
rule, the polling -> websocket upgrade steps and the close reason. The I/O
driver only moves bytes, sleeps until :meth:`ClientSession.next_deadline` and
passes the current time in as ``now``.

Upgrade, seen from the client::

    NONE --start_upgrade()--> PROBING   (send 2probe on the new websocket)
    PROBING --3probe--------> PROBED    (no new GET/POST; wait for the ones in flight)
    PROBED --finish_upgrade()-> DONE    (5 goes first on the websocket, then the queue)
    PROBING/PROBED --failure or timeout--> FAILED  (stay on polling, no second attempt)

A failed POST on polling does not close the session at once
(:meth:`ClientSession.post_failed`): when the server closes a session it
answers the pending (or next) GET with CLOSE and refuses later requests (HTTP
400), and the two answers race. The failure is held until a GET ends after it
(the one in flight, or the next one) or ``failure_grace`` seconds pass; a
CLOSE in that GET wins ("server disconnect"), otherwise the POST's failure
becomes the close reason. A failure after the session closed never changes
its reason (the first reason wins).
"""

from __future__ import annotations

import enum
import math
from collections import deque

from .errors import HandshakeError, LocalProtocolError, ParseError
from .events import (
    Event,
    MessageReceived,
    PingReceived,
    ProbeAnswered,
    SessionClosed,
    UpgradeAborted,
    UpgradeCompleted,
)
from .handshake import Handshake
from .packets import (
    RECORD_SEPARATOR,
    Packet,
    PacketType,
    decode_frame,
    decode_payload,
    encoded_payload_size,
    message_size,
)
from .reasons import CloseInfo, CloseReason

__all__ = ["ClientSession", "ClientState", "ClientUpgradeState", "frame_size"]

_PONG = Packet(PacketType.PONG)
_CLOSE = Packet(PacketType.CLOSE)
_UPGRADE = Packet(PacketType.UPGRADE)
_PROBE = "probe"

#: Close reasons after which the client still tells the server with a CLOSE packet.
_SEND_CLOSE_FOR = frozenset(
    {
        CloseReason.CLIENT_DISCONNECT,
        CloseReason.PARSE_ERROR,
        CloseReason.PAYLOAD_TOO_LARGE,
        CloseReason.TRANSPORT_ERROR,
    }
)


class ClientState(enum.Enum):
    """Life of a client session."""

    #: Waiting for the server's OPEN packet.
    OPENING = "opening"
    #: Handshake done; messages flow.
    OPEN = "open"
    #: Closed for good; :attr:`ClientSession.close_info` says why.
    CLOSED = "closed"


class ClientUpgradeState(enum.Enum):
    """Progress of the client's polling -> websocket upgrade."""

    #: No upgrade attempted (yet).
    NONE = "none"
    #: ``2probe`` sent on the new websocket; waiting for ``3probe``.
    PROBING = "probing"
    #: ``3probe`` received; polling is pausing (no new requests).
    PROBED = "probed"
    #: The session runs on the websocket.
    DONE = "done"
    #: The attempt failed; the session stays on polling and never tries again.
    FAILED = "failed"


def frame_size(packet: Packet) -> int:
    """Bytes ``packet`` takes as one websocket frame's payload."""
    data = packet.data
    if isinstance(data, bytes):
        return len(data)
    if data.isascii():
        return 1 + len(data)
    return 1 + len(data.encode("utf-8"))


class ClientSession:
    """State of one Engine.IO session, seen from the client.

    ``upgrade_timeout`` (seconds) bounds an upgrade attempt from
    :meth:`start_upgrade` to :meth:`finish_upgrade`. ``max_packets_per_post``
    (default: no limit) also caps the packet count of a POST, for servers
    that refuse long payloads (python-engineio decodes at most 16 packets
    per payload). Create one per
    connection attempt, feed it the handshake with :meth:`receive_handshake`,
    then packets with :meth:`receive_packets` / :meth:`receive_payload` /
    :meth:`receive_frame`.
    """

    def __init__(
        self,
        *,
        upgrade_timeout: float = 10.0,
        max_packets_per_post: int | None = None,
        failure_grace: float = 2.0,
    ) -> None:
        if max_packets_per_post is not None and max_packets_per_post < 1:
            raise ValueError("max_packets_per_post must be at least 1")
        self.failure_grace = failure_grace
        self.max_packets_per_post = max_packets_per_post
        self.state = ClientState.OPENING
        self.upgrade_state = ClientUpgradeState.NONE
        self.handshake: Handshake | None = None
        self.transport: str | None = None
        self.close_info: CloseInfo | None = None
        self.upgrade_timeout = upgrade_timeout
        self.upgrade_deadline = math.inf
        self.last_ping_at: float | None = None
        self.buffered_messages = 0
        self.buffered_bytes = 0
        self._outgoing: deque[Packet] = deque()
        self._ping_deadline = math.inf
        self._get_pending = False
        self._post_pending = False
        self._close_sent = False
        self._held_failure: CloseInfo | None = None
        self._held_deadline = math.inf

    # ----------------------------------------------------------------- queries
    @property
    def sid(self) -> str | None:
        """The session id from the handshake (``None`` before it)."""
        return self.handshake.sid if self.handshake is not None else None

    @property
    def closed(self) -> bool:
        """True once the session has a close reason."""
        return self.state is ClientState.CLOSED

    @property
    def max_payload(self) -> int:
        """The server's maxPayload: no POST body or websocket frame may exceed it."""
        if self.handshake is None:
            raise LocalProtocolError("no handshake yet")
        return self.handshake.max_payload

    @property
    def heartbeat_timeout(self) -> float:
        """Seconds without a PING after which the server counts as gone."""
        if self.handshake is None:
            raise LocalProtocolError("no handshake yet")
        return (self.handshake.ping_interval_ms + self.handshake.ping_timeout_ms) / 1000

    @property
    def ping_deadline(self) -> float:
        """When the server counts as gone unless a PING arrives first."""
        return self._ping_deadline

    @property
    def can_upgrade(self) -> bool:
        """True when an upgrade to websocket may start now."""
        return (
            self.state is ClientState.OPEN
            and self.transport == "polling"
            and self.upgrade_state is ClientUpgradeState.NONE
            and self.handshake is not None
            and "websocket" in self.handshake.upgrades
        )

    @property
    def upgrading(self) -> bool:
        """True while a probe websocket is open but not yet switched to."""
        return self.upgrade_state in (ClientUpgradeState.PROBING, ClientUpgradeState.PROBED)

    @property
    def get_pending(self) -> bool:
        """True while a long-poll GET is running (the server core's name)."""
        return self._get_pending

    @property
    def post_pending(self) -> bool:
        """True while a POST is running (the server core's name)."""
        return self._post_pending

    #: Deprecated alias of :attr:`get_pending`.
    get_in_flight = get_pending
    #: Deprecated alias of :attr:`post_pending`.
    post_in_flight = post_pending

    @property
    def polling_paused(self) -> bool:
        """True once ``3probe`` arrived and no GET or POST is in flight any more."""
        return (
            self.upgrade_state is ClientUpgradeState.PROBED
            and not self._get_pending
            and not self._post_pending
        )

    @property
    def close_sent(self) -> bool:
        """True once the final CLOSE packet was handed to a transport."""
        return self._close_sent

    def next_deadline(self) -> float:
        """When :meth:`handle_timeout` must next be called (``inf``: never)."""
        if self.closed:
            return math.inf
        return min(self._ping_deadline, self.upgrade_deadline, self._held_deadline)

    @property
    def held_failure(self) -> CloseInfo | None:
        """A POST failure waiting for the in-flight GET (see :meth:`post_failed`)."""
        return self._held_failure

    # --------------------------------------------------------------- handshake
    def receive_handshake(self, packets: list[Packet], *, transport: str, now: float) -> list[Event]:
        """Feed the first packets from the server: an OPEN, maybe followed by more.

        Raises :class:`HandshakeError` if the first packet is not a usable
        OPEN (the session is then closed with "parse error"). Returns the
        events of any packets after the OPEN.
        """
        if self.state is not ClientState.OPENING:
            raise LocalProtocolError("handshake already received")
        if transport not in ("polling", "websocket"):
            raise LocalProtocolError(f"unknown transport {transport!r}")
        if not packets or packets[0].type is not PacketType.OPEN or packets[0].is_binary:
            got = packets[0].type.name if packets else "nothing"
            self.close(CloseReason.PARSE_ERROR, f"expected an OPEN packet, got {got}")
            raise HandshakeError(f"expected an OPEN packet, got {got}")
        try:
            handshake = Handshake.decode(str(packets[0].data))
        except HandshakeError as exc:
            self.close(CloseReason.PARSE_ERROR, str(exc))
            raise
        self.handshake = handshake
        self.transport = transport
        self.state = ClientState.OPEN
        self._ping_deadline = now + self.heartbeat_timeout
        return self.receive_packets(packets[1:], now)

    def receive_handshake_payload(self, body: bytes | str, *, now: float) -> list[Event]:
        """Decode a polling handshake body and feed it (see :meth:`receive_handshake`)."""
        try:
            packets = decode_payload(body)
        except ParseError as exc:
            self.close(CloseReason.PARSE_ERROR, f"handshake: {exc}")
            raise HandshakeError(f"handshake response is not a valid payload: {exc}") from exc
        return self.receive_handshake(packets, transport="polling", now=now)

    def receive_handshake_frame(self, frame: str | bytes, *, now: float) -> list[Event]:
        """Decode the first websocket frame and feed it (see :meth:`receive_handshake`)."""
        try:
            packet = decode_frame(frame)
        except ParseError as exc:
            self.close(CloseReason.PARSE_ERROR, f"handshake: {exc}")
            raise HandshakeError(f"first websocket frame is not a packet: {exc}") from exc
        return self.receive_handshake([packet], transport="websocket", now=now)

    # ---------------------------------------------------------------- outgoing
    def send_message(self, data: str | bytes) -> None:
        """Queue an application message for the server.

        Raises :class:`LocalProtocolError` when the session is not open, and
        :class:`ValueError` when the message could never be delivered because
        it alone exceeds the server's maxPayload on the current transport
        (polling counts base64 growth), or when it is text containing the
        record separator ``\\x1e`` while on polling (a payload cannot carry it).
        """
        if self.state is not ClientState.OPEN:
            raise LocalProtocolError(f"session is not open ({self.close_info or self.state.value})")
        packet = Packet(PacketType.MESSAGE, data)
        if self.transport == "polling" and isinstance(data, str) and RECORD_SEPARATOR in data:
            # A polling payload cannot carry it: the server would split the message in two.
            raise ValueError(
                "a text message containing the record separator \\x1e cannot be sent over polling"
            )
        try:
            size = self.packet_size(packet)
        except UnicodeEncodeError as exc:
            raise ValueError(f"text message is not encodable as UTF-8 (lone surrogate?): {exc}") from None
        if size > self.max_payload:
            raise ValueError(
                f"message takes {size} bytes on {self.transport}, above the server's maxPayload"
                f" of {self.max_payload}"
            )
        self._outgoing.append(packet)
        self.buffered_messages += 1
        self.buffered_bytes += message_size(data)

    def packet_size(self, packet: Packet) -> int:
        """Bytes ``packet`` takes on the current transport (a polling upgrade may still fail)."""
        if self.transport == "websocket":
            return frame_size(packet)
        return encoded_payload_size(packet)

    def has_outgoing(self) -> bool:
        """True when packets are waiting to be sent."""
        return bool(self._outgoing)

    def may_post(self) -> bool:
        """True when :meth:`next_post_batch` would return packets now."""
        return (
            self.transport == "polling"
            and not self._post_pending
            and bool(self._outgoing)
            and self.upgrade_state is not ClientUpgradeState.PROBED
            and not (self.closed and self._close_sent)
        )

    def next_post_batch(self) -> list[Packet]:
        """Take the packets for the next POST, or ``[]`` if none may start now.

        A POST may start when the session runs on polling, no POST is in
        flight and polling is not paused for an upgrade. The batch is the
        longest prefix of the queue whose payload (packets plus one separator
        byte between them) fits in the server's maxPayload (and holds at most
        ``max_packets_per_post`` packets). Call
        :meth:`post_done` when the POST is over.
        """
        if not self.may_post():
            return []
        limit = self.max_payload
        count_limit = self.max_packets_per_post or math.inf
        batch: list[Packet] = []
        total = 0
        while self._outgoing and len(batch) < count_limit:
            packet = self._outgoing[0]
            size = encoded_payload_size(packet) + (1 if batch else 0)
            if batch and total + size > limit:
                break
            batch.append(self._outgoing.popleft())
            total += size
        self._account_taken(batch)
        self._post_pending = True
        return batch

    def post_done(self) -> None:
        """The running POST is over (answered or failed)."""
        self._post_pending = False

    def post_failed(self, info: CloseInfo, now: float) -> list[Event]:
        """A POST failed (refused with an HTTP error status, or the connection broke).

        If the session is already closed nothing changes. On polling the
        failure is held: the GET in flight (or the next one, which may start
        later than this POST ended) may carry the server's CLOSE, which
        explains the refusal and must win. :meth:`end_get` (a GET is over
        without a CLOSE) or :meth:`handle_timeout` after ``failure_grace``
        seconds then closes the session with ``info``. Otherwise (websocket)
        it closes now.
        """
        if self.closed:
            return []
        if self.transport == "polling":
            if self._held_failure is None:
                self._held_failure = info
                self._held_deadline = now + self.failure_grace
            return []
        return [self.close(info.reason, info.description)]

    def _release_held_failure(self) -> list[Event]:
        held, self._held_failure = self._held_failure, None
        self._held_deadline = math.inf
        if held is None or self.closed:
            return []
        return [self.close(held.reason, held.description)]

    def take_websocket_packets(self) -> list[Packet]:
        """Take every queued packet, in order, for the websocket writer."""
        if self.transport != "websocket" or (self.closed and self._close_sent):
            return []
        packets = list(self._outgoing)
        self._outgoing.clear()
        self._account_taken(packets)
        return packets

    def take_final_packets(self) -> list[Packet]:
        """After a close: take what is still queued (ending with CLOSE, if one is due)."""
        if not self.closed or self._close_sent:
            return []
        packets = list(self._outgoing)
        self._outgoing.clear()
        self._account_taken(packets)
        return packets

    def _account_taken(self, packets: list[Packet]) -> None:
        for packet in packets:
            if packet.type is PacketType.MESSAGE:
                self.buffered_messages -= 1
                self.buffered_bytes -= message_size(packet.data)
            elif packet.type is PacketType.CLOSE:
                self._close_sent = True
        if not self._outgoing:
            self.buffered_messages = 0
            self.buffered_bytes = 0

    # ----------------------------------------------------------------- polling
    def may_poll(self) -> bool:
        """True when a long-poll GET may start now."""
        return (
            self.state is ClientState.OPEN
            and self.transport == "polling"
            and not self._get_pending
            and self.upgrade_state is not ClientUpgradeState.PROBED
        )

    def begin_get(self) -> None:
        """A long-poll GET starts; raise :class:`LocalProtocolError` if one may not."""
        if not self.may_poll():
            raise LocalProtocolError("a GET may not start now")
        self._get_pending = True

    def end_get(self) -> list[Event]:
        """The long-poll GET is over (answered, failed or cancelled).

        Feed the GET's body (:meth:`receive_payload`) before calling this: a
        POST failure held for this GET (:meth:`post_failed`) closes the session
        now unless the body carried the server's CLOSE.
        """
        self._get_pending = False
        return self._release_held_failure()

    # ---------------------------------------------------------------- incoming
    def receive_payload(self, body: bytes | str, now: float) -> list[Event]:
        """Decode a long-poll response body and feed its packets.

        An undecodable body closes the session with "parse error" and delivers
        nothing from it.
        """
        if self.closed:
            return []
        try:
            packets = decode_payload(body)
        except ParseError as exc:
            return [self.close(CloseReason.PARSE_ERROR, str(exc))]
        return self.receive_packets(packets, now)

    def receive_frame(self, frame: str | bytes, now: float) -> list[Event]:
        """Decode one websocket frame from the main transport and feed it."""
        if self.closed:
            return []
        try:
            packet = decode_frame(frame)
        except ParseError as exc:
            return [self.close(CloseReason.PARSE_ERROR, str(exc))]
        return self.receive_packets([packet], now)

    def receive_packets(self, packets: list[Packet], now: float) -> list[Event]:
        """Feed decoded packets from the main transport, in order.

        PING is answered with PONG and resets the watchdog; CLOSE ends the
        session ("server disconnect"); PONG and NOOP are ignored; OPEN or
        UPGRADE from the server end it ("transport error"). Packets after a
        close are dropped.
        """
        if self.state is ClientState.OPENING:
            raise LocalProtocolError("receive_handshake() first")
        events: list[Event] = []
        for packet in packets:
            if self.closed:
                break
            packet_type = packet.type
            if packet_type is PacketType.MESSAGE:
                events.append(MessageReceived(packet.data))
            elif packet_type is PacketType.PING:
                self._outgoing.append(_PONG)
                self.last_ping_at = now
                self._ping_deadline = now + self.heartbeat_timeout
                events.append(PingReceived(now))
            elif packet_type is PacketType.CLOSE:
                events.append(self.close(CloseReason.SERVER_DISCONNECT))
            elif packet_type in (PacketType.PONG, PacketType.NOOP):
                continue
            else:
                events.append(
                    self.close(
                        CloseReason.TRANSPORT_ERROR,
                        f"unexpected {packet_type.name} packet from server",
                    )
                )
        return events

    # --------------------------------------------------------------- heartbeat
    def handle_timeout(self, now: float) -> list[Event]:
        """Act on deadlines that have passed: server gone, upgrade too slow."""
        events: list[Event] = []
        if self.closed:
            return events
        if now >= self._held_deadline:
            return self._release_held_failure()
        if now >= self._ping_deadline:
            assert self.handshake is not None
            events.append(
                self.close(
                    CloseReason.PING_TIMEOUT,
                    f"no PING from the server for {self.heartbeat_timeout:g} s",
                )
            )
            return events
        if now >= self.upgrade_deadline and self.upgrading:
            events.append(self.abort_upgrade("upgrade timed out"))
        return events

    # ----------------------------------------------------------------- upgrade
    def start_upgrade(self, now: float) -> Packet:
        """Begin the upgrade: returns the ``2probe`` packet for the new websocket."""
        if not self.can_upgrade:
            raise LocalProtocolError("an upgrade may not start now")
        self.upgrade_state = ClientUpgradeState.PROBING
        self.upgrade_deadline = now + self.upgrade_timeout
        return Packet(PacketType.PING, _PROBE)

    def receive_probe_frame(self, frame: str | bytes, now: float) -> Event:
        """Feed a frame that arrived on the probing websocket.

        ``3probe`` moves to PROBED and returns :class:`ProbeAnswered` whose
        ``reply`` (the UPGRADE packet) is sent once :attr:`polling_paused`;
        anything else aborts the upgrade.
        """
        if self.upgrade_state is not ClientUpgradeState.PROBING or self.closed:
            raise LocalProtocolError("no probe under way")
        try:
            packet = decode_frame(frame)
        except ParseError as exc:
            return self.abort_upgrade(f"probe answer is not a packet: {exc}")
        if packet.type is PacketType.PONG and packet.data == _PROBE:
            self.upgrade_state = ClientUpgradeState.PROBED
            return ProbeAnswered(_UPGRADE)
        return self.abort_upgrade(f"expected 3probe, got {packet.type.name}")

    def finish_upgrade(self) -> UpgradeCompleted:
        """Switch to the websocket once polling is paused.

        The UPGRADE packet goes to the front of the queue, so the websocket
        writer sends ``5`` first and then everything not yet POSTed, in order.
        """
        if not self.polling_paused or self.closed:
            raise LocalProtocolError("polling is not paused after a probe")
        self.upgrade_state = ClientUpgradeState.DONE
        self.upgrade_deadline = math.inf
        self.transport = "websocket"
        self._outgoing.appendleft(_UPGRADE)
        return UpgradeCompleted()

    def abort_upgrade(self, description: str) -> UpgradeAborted:
        """Give up the upgrade: polling resumes and no second attempt is made."""
        if self.upgrading:
            self.upgrade_state = ClientUpgradeState.FAILED
            self.upgrade_deadline = math.inf
        return UpgradeAborted(description)

    # ------------------------------------------------------------------- close
    def close(self, reason: CloseReason, description: str = "") -> SessionClosed:
        """Close the session (idempotent: the first reason wins).

        A client-side close keeps what is queued and appends a CLOSE packet,
        so messages sent before it still go out. After a local error (parse
        error, oversized input, protocol violation) the queue is dropped and
        CLOSE is sent to tell the server. After the server's CLOSE, a ping
        timeout or a dead transport nothing more is sent.
        """
        if self.close_info is not None:
            return SessionClosed(self.close_info)
        opened = self.state is ClientState.OPEN
        self.state = ClientState.CLOSED
        self.close_info = CloseInfo(reason, description)
        self.upgrade_deadline = math.inf
        self._ping_deadline = math.inf
        self._held_failure = None
        self._held_deadline = math.inf
        if self.upgrading:
            self.upgrade_state = ClientUpgradeState.FAILED
        if reason is not CloseReason.CLIENT_DISCONNECT:
            self._outgoing.clear()
            self.buffered_messages = 0
            self.buffered_bytes = 0
        if opened and reason in _SEND_CLOSE_FOR:
            self._outgoing.append(_CLOSE)
        else:
            self._close_sent = True  # nothing to send: the final flush is a no-op
            self._outgoing.clear()
        return SessionClosed(self.close_info)
