"""The server session state machine (protocol/server_session.py), driven by a fake clock.

``now`` is a plain float: no event loop, no sleeping.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_engineio.protocol import (
    CloseInfo,
    CloseReason,
    LocalProtocolError,
    MessageReceived,
    Packet,
    PacketType,
    PongReceived,
    ProbeAnswered,
    RemoteProtocolError,
    ServerSession,
    SessionClosed,
    SessionState,
    UpgradeAborted,
    UpgradeCompleted,
    UpgradeState,
    decode_payload,
    encode_frame,
)

PING = Packet(PacketType.PING)
PONG = Packet(PacketType.PONG)
CLOSE = Packet(PacketType.CLOSE)
NOOP = Packet(PacketType.NOOP)
UPGRADE = Packet(PacketType.UPGRADE)
PROBE = Packet(PacketType.PING, "probe")


def msg(data: str | bytes) -> Packet:
    return Packet(PacketType.MESSAGE, data)


def make(transport: str = "polling", **kwargs: Any) -> ServerSession:
    options: dict[str, Any] = {"now": 0.0, "ping_interval": 25.0, "ping_timeout": 20.0, **kwargs}
    return ServerSession("sid1", transport=transport, **options)


def probed(session: ServerSession, now: float = 1.0) -> ServerSession:
    session.start_upgrade(now)
    assert session.receive_upgrade_packet(PROBE, now) == ProbeAnswered(Packet(PacketType.PONG, "probe"))
    return session


def poll(session: ServerSession) -> list[Packet]:
    """One complete long-poll GET that must be answerable at once."""
    session.begin_get()
    assert session.poll_ready()
    payload = session.take_poll_payload()
    session.end_get()
    return payload


def closed_with(session: ServerSession, reason: CloseReason) -> bool:
    return session.closed and session.close_info is not None and session.close_info.reason is reason


# ------------------------------------------------------------- construction
def test_new_session_is_open_on_its_transport() -> None:
    s = make()
    assert s.state is SessionState.OPEN
    assert not s.closed
    assert s.transport == "polling"
    assert s.upgrade_state is UpgradeState.NONE
    assert s.close_info is None
    assert s.last_pong_at is None
    assert not s.has_outgoing()


def test_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError):
        make("webtransport")


def test_polling_session_offers_websocket_upgrade() -> None:
    hs = make().handshake
    assert hs.sid == "sid1"
    assert hs.upgrades == ("websocket",)
    assert (hs.ping_interval_ms, hs.ping_timeout_ms, hs.max_payload) == (25000, 20000, 1_000_000)


def test_websocket_session_offers_no_upgrades() -> None:
    assert make("websocket").handshake.upgrades == ()
    assert '"upgrades":[]' in make("websocket").handshake.encode()


def test_upgrades_can_be_disabled() -> None:
    assert make(upgrades=()).handshake.upgrades == ()


# ---------------------------------------------------------------- heartbeat
def test_first_ping_is_due_exactly_at_ping_interval() -> None:
    s = make(now=100.0)
    assert s.next_deadline() == 125.0
    assert s.handle_timeout(124.999) == []
    assert not s.has_outgoing()
    assert s.handle_timeout(125.0) == []
    assert s.take_outgoing() == [PING]


def test_ping_answers_a_pending_get() -> None:
    s = make()
    s.begin_get()
    assert not s.poll_ready()
    s.handle_timeout(25.0)
    assert s.poll_ready()
    assert s.take_poll_payload() == [PING]


def test_next_deadline_after_ping_is_the_pong_deadline() -> None:
    s = make(ping_grace=5.0)
    s.handle_timeout(25.0)
    assert s.next_deadline() == 25.0 + 20.0 + 5.0


def test_pong_resets_the_heartbeat() -> None:
    s = make()
    s.handle_timeout(25.0)
    s.take_outgoing()
    assert s.receive_packet(PONG, 30.0) == PongReceived(30.0)
    assert s.last_pong_at == 30.0
    assert s.next_deadline() == 55.0
    assert s.handle_timeout(54.9) == []
    assert not s.has_outgoing()
    s.handle_timeout(55.0)
    assert s.take_outgoing() == [PING]
    assert not s.closed


def test_d1_pong_with_data_is_a_pong() -> None:
    s = make()
    s.handle_timeout(25.0)
    assert s.receive_packet(Packet(PacketType.PONG, "whatever"), 26.0) == PongReceived(26.0)


def test_heartbeat_keeps_going_over_many_rounds() -> None:
    s = make()
    now = 0.0
    for _ in range(100):
        now = s.next_deadline()
        s.handle_timeout(now)
        assert s.take_outgoing() == [PING]
        now += 1.0
        assert s.receive_packets([PONG], now) == [PongReceived(now)]
    assert s.next_deadline() == now + 25.0
    assert not s.closed


@pytest.mark.parametrize("grace", [0.0, 5.0])
def test_d2_no_pong_closes_with_ping_timeout_exactly_at_deadline(grace: float) -> None:
    s = make(ping_grace=grace)
    s.handle_timeout(25.0)
    deadline = 25.0 + 20.0 + grace
    assert s.next_deadline() == deadline
    assert s.handle_timeout(math.nextafter(deadline, 0)) == []
    assert not s.closed
    assert s.handle_timeout(deadline) == [SessionClosed(CloseInfo(CloseReason.PING_TIMEOUT))]
    assert closed_with(s, CloseReason.PING_TIMEOUT)
    assert str(s.close_info) == "ping timeout"
    assert s.next_deadline() == math.inf


def test_d2_ping_timeout_answers_pending_get_with_close() -> None:
    s = make()
    s.begin_get()
    s.handle_timeout(25.0)
    s.take_poll_payload()
    s.end_get()
    s.send_message("lost")
    s.begin_get()
    s.handle_timeout(45.0)
    assert s.poll_ready()
    assert s.take_poll_payload() == [CLOSE]


def test_d1_unsolicited_pong_is_ignored_and_sets_no_timer() -> None:
    s = make()
    assert s.receive_packet(PONG, 10.0) is None
    assert s.receive_packets([PONG] * 100, 11.0) == []
    assert s.next_deadline() == 25.0
    assert s.last_pong_at is None
    assert not s.has_outgoing()


def test_d1_duplicate_pongs_are_ignored_and_do_not_move_the_next_ping() -> None:
    s = make()
    s.handle_timeout(25.0)
    assert s.receive_packets([PONG, PONG, PONG], 30.0) == [PongReceived(30.0)]
    assert s.receive_packets([PONG] * 1000, 40.0) == []
    assert s.next_deadline() == 55.0
    assert s.last_pong_at == 30.0


def test_d4_advertised_ping_interval_includes_grace() -> None:
    hs = make(ping_interval=25.0, ping_timeout=20.0, ping_grace=5.0).handshake
    assert hs.ping_interval_ms == 30000
    assert hs.ping_timeout_ms == 20000


def test_d4_fractional_intervals_are_advertised_and_kept() -> None:
    s = make(ping_interval=0.5, ping_timeout=0.3, ping_grace=0.1)
    assert (s.handshake.ping_interval_ms, s.handshake.ping_timeout_ms) == (600, 300)
    assert s.next_deadline() == 0.5
    s.handle_timeout(0.5)
    assert s.take_outgoing() == [PING]
    assert s.next_deadline() == pytest.approx(0.9)
    s.handle_timeout(0.89)
    assert not s.closed
    s.handle_timeout(0.9)
    assert closed_with(s, CloseReason.PING_TIMEOUT)


def test_next_deadline_includes_upgrade_timeout() -> None:
    s = make(upgrade_timeout=10.0)
    s.start_upgrade(1.0)
    assert s.next_deadline() == 11.0
    s.receive_upgrade_packet(PROBE, 2.0)
    assert s.next_deadline() == 11.0
    s.receive_upgrade_packet(UPGRADE, 3.0)
    assert s.next_deadline() == 25.0


def test_next_deadline_is_infinite_once_closed() -> None:
    s = make()
    s.close(CloseReason.SERVER_DISCONNECT)
    assert s.next_deadline() == math.inf
    assert s.handle_timeout(1e9) == []


# ---------------------------------------------------------- outgoing queue
def test_messages_go_out_in_order_with_buffer_counts() -> None:
    s = make()
    s.send_message("ab")
    s.send_message(b"xyz")
    assert (s.buffered_messages, s.buffered_bytes) == (2, 5)
    assert s.has_outgoing()
    assert poll(s) == [msg("ab"), msg(b"xyz")]
    assert (s.buffered_messages, s.buffered_bytes) == (0, 0)
    assert not s.has_outgoing()


def test_g1_buffered_bytes_counts_utf8_bytes_of_text() -> None:
    s = make()
    s.send_message("\U0001f600" * 10)
    assert s.buffered_bytes == 40


def test_text_with_record_separator_is_refused_on_polling() -> None:
    s = make()
    with pytest.raises(ValueError):
        s.send_message("a\x1e4injected")
    assert not s.has_outgoing()


def test_text_with_record_separator_goes_through_on_websocket() -> None:
    s = make("websocket")
    s.send_message("a\x1e4b")
    assert [encode_frame(p) for p in s.take_outgoing()] == ["4a\x1e4b"]


def test_get_without_anything_to_send_waits() -> None:
    s = make()
    s.begin_get()
    assert s.get_pending
    assert not s.poll_ready()
    s.send_message("x")
    assert s.poll_ready()
    assert s.take_poll_payload() == [msg("x")]
    s.end_get()
    assert not s.get_pending


def test_send_after_close_raises_local_protocol_error() -> None:
    s = make()
    s.close(CloseReason.SERVER_DISCONNECT)
    with pytest.raises(LocalProtocolError):
        s.send_message("late")


# ------------------------------------------------------- one GET, one POST
def test_c1_second_get_closes_with_transport_error_and_first_get_gets_close() -> None:
    s = make()
    s.send_message("queued")
    s.begin_get()
    with pytest.raises(RemoteProtocolError):
        s.begin_get()
    assert closed_with(s, CloseReason.TRANSPORT_ERROR)
    # The first GET is still attached and is answered with CLOSE.
    assert s.poll_ready()
    assert s.take_poll_payload() == [CLOSE]
    s.end_get()
    assert s.final_packets_sent
    with pytest.raises(RemoteProtocolError):
        s.begin_get()


def test_sequential_gets_are_fine() -> None:
    s = make()
    for i in range(3):
        s.send_message(str(i))
        assert poll(s) == [msg(str(i))]
    assert not s.closed


def test_b10_second_post_closes_with_transport_error() -> None:
    s = make()
    s.begin_post()
    with pytest.raises(RemoteProtocolError):
        s.begin_post()
    assert closed_with(s, CloseReason.TRANSPORT_ERROR)


def test_sequential_posts_are_fine() -> None:
    s = make()
    for i in range(3):
        s.begin_post()
        assert s.receive_packets([msg(str(i))], 1.0) == [MessageReceived(str(i))]
        s.end_post()
    assert not s.closed


def test_get_and_post_may_overlap() -> None:
    s = make()
    s.begin_get()
    s.begin_post()
    assert s.receive_packets([msg("x")], 1.0) == [MessageReceived("x")]
    s.end_post()
    assert not s.closed


def test_b11_post_to_closed_session_is_refused() -> None:
    s = make()
    s.close(CloseReason.CLIENT_DISCONNECT)
    with pytest.raises(RemoteProtocolError):
        s.begin_post()


def test_closed_session_answers_one_get_with_its_final_packets_then_refuses() -> None:
    s = make()
    s.send_message("bye")
    s.close(CloseReason.SERVER_DISCONNECT)
    assert poll(s) == [msg("bye"), CLOSE]
    with pytest.raises(RemoteProtocolError):
        s.begin_get()


# ---------------------------------------------------------------- incoming
def test_messages_are_delivered_in_order() -> None:
    s = make()
    events = s.receive_packets(decode_payload(b"4a\x1ebAQI=\x1e4\xc3\xa9"), 1.0)
    assert events == [MessageReceived("a"), MessageReceived(b"\x01\x02"), MessageReceived("é")]


def test_b9_thousand_messages_in_one_payload_delivered_in_order() -> None:
    s = make()
    events = s.receive_packets(decode_payload("\x1e".join(f"4{i}" for i in range(1000))), 1.0)
    assert events == [MessageReceived(str(i)) for i in range(1000)]


def test_b6_noop_from_client_is_ignored() -> None:
    s = make()
    assert s.receive_packets([NOOP, msg("a"), NOOP], 1.0) == [MessageReceived("a")]
    assert not s.closed


def test_b7_close_alone_closes_with_client_disconnect_and_pending_get_gets_noop() -> None:
    s = make()
    s.send_message("dropped")
    s.begin_get()
    assert s.receive_packets([CLOSE], 1.0) == [SessionClosed(CloseInfo(CloseReason.CLIENT_DISCONNECT))]
    assert closed_with(s, CloseReason.CLIENT_DISCONNECT)
    assert s.poll_ready()
    assert s.take_poll_payload() == [NOOP]


def test_b7_close_mid_payload_drops_the_packets_after_it() -> None:
    s = make()
    events = s.receive_packets(decode_payload("4a\x1e1\x1e4b"), 1.0)
    assert events == [MessageReceived("a"), SessionClosed(CloseInfo(CloseReason.CLIENT_DISCONNECT))]


def test_packets_after_close_are_ignored() -> None:
    s = make()
    s.receive_packet(CLOSE, 1.0)
    assert s.receive_packet(msg("late"), 2.0) is None
    assert s.receive_packets([msg("late")], 2.0) == []


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(PING, id="PING"),
        pytest.param(PROBE, id="PING-probe"),
        pytest.param(Packet(PacketType.OPEN), id="OPEN"),
        pytest.param(UPGRADE, id="UPGRADE"),
    ],
)
@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_b6_wrong_direction_packet_closes_with_transport_error(packet: Packet, transport: str) -> None:
    s = make(transport)
    events = s.receive_packets([msg("before"), packet, msg("after")], 1.0)
    assert events[0] == MessageReceived("before")
    assert len(events) == 2
    assert isinstance(events[1], SessionClosed)
    assert events[1].info.reason is CloseReason.TRANSPORT_ERROR
    assert closed_with(s, CloseReason.TRANSPORT_ERROR)


def test_b5_parse_error_close_drops_queue_and_answers_get_with_close() -> None:
    # The driver decodes; on ParseError it closes the session with PARSE_ERROR.
    s = make()
    s.send_message("dropped")
    s.begin_get()
    assert s.close(CloseReason.PARSE_ERROR, "packet 0: unknown packet type 'a'") == SessionClosed(
        CloseInfo(CloseReason.PARSE_ERROR, "packet 0: unknown packet type 'a'")
    )
    assert str(s.close_info) == "parse error: packet 0: unknown packet type 'a'"
    assert s.take_poll_payload() == [CLOSE]


# -------------------------------------------------------------------- close
@pytest.mark.parametrize("reason", [CloseReason.SERVER_DISCONNECT, CloseReason.SERVER_SHUTDOWN])
def test_server_close_keeps_queued_messages_then_close(reason: CloseReason) -> None:
    s = make()
    s.send_message("a")
    s.send_message(b"b")
    s.close(reason)
    assert s.take_poll_payload() == [msg("a"), msg(b"b"), CLOSE]


def test_server_close_on_websocket_hands_final_packets_to_the_writer() -> None:
    s = make("websocket")
    s.send_message("a")
    s.close(CloseReason.SERVER_DISCONNECT)
    assert s.take_outgoing() == [msg("a"), CLOSE]
    s.mark_final_packets_sent()
    assert s.final_packets_sent


@pytest.mark.parametrize(
    "reason", [CloseReason.TRANSPORT_CLOSE, CloseReason.TRANSPORT_ERROR, CloseReason.PING_TIMEOUT]
)
def test_error_close_drops_queue_and_leaves_close(reason: CloseReason) -> None:
    s = make()
    s.send_message("a")
    s.close(reason)
    assert s.take_outgoing() == [CLOSE]


def test_close_is_idempotent_and_the_first_reason_wins() -> None:
    s = make()
    first = s.close(CloseReason.CLIENT_DISCONNECT)
    second = s.close(CloseReason.PING_TIMEOUT, "later")
    assert first == second == SessionClosed(CloseInfo(CloseReason.CLIENT_DISCONNECT))
    assert closed_with(s, CloseReason.CLIENT_DISCONNECT)
    assert s.take_outgoing() == [NOOP]


# ------------------------------------------------------------------ upgrade
def test_upgrade_happy_path_with_pending_get() -> None:
    s = make()
    s.begin_get()
    s.start_upgrade(1.0)
    assert s.upgrading
    assert s.upgrade_state is UpgradeState.PROBING
    event = s.receive_upgrade_packet(PROBE, 1.5)
    assert isinstance(event, ProbeAnswered)
    assert encode_frame(event.reply) == "3probe"
    assert s.upgrade_state is UpgradeState.PROBED  # type: ignore[comparison-overlap]
    # The pending GET is released with a NOOP so the client can pause polling.
    assert s.poll_ready()
    assert s.take_poll_payload() == [NOOP]
    s.end_get()
    assert s.receive_upgrade_packet(UPGRADE, 2.0) == UpgradeCompleted()
    assert s.transport == "websocket"
    assert s.upgrade_state is UpgradeState.DONE
    assert not s.upgrading
    assert not s.closed


def test_e3_get_arriving_while_probed_is_answered_at_once() -> None:
    # The client's last poll can reach the server after its 2probe; holding it
    # would stall the upgrade (the client waits for that poll before sending 5).
    s = probed(make())
    s.send_message("kept for the websocket")
    s.begin_get()
    assert s.poll_ready()
    assert s.take_poll_payload() == [NOOP]
    s.end_get()
    s.receive_upgrade_packet(UPGRADE, 2.0)
    assert s.take_outgoing() == [msg("kept for the websocket")]


def test_polling_while_probed_gets_noop_and_keeps_the_queue() -> None:
    s = probed(make())
    s.send_message("kept")
    assert poll(s) == [NOOP]
    assert s.take_outgoing() == [msg("kept")]


def test_after_upgrade_polling_requests_are_refused() -> None:
    s = probed(make())
    s.receive_upgrade_packet(UPGRADE, 2.0)
    with pytest.raises(RemoteProtocolError):
        s.begin_get()
    with pytest.raises(RemoteProtocolError):
        s.begin_post()


@pytest.mark.parametrize("stage", ["polling", "probing", "probed"])
def test_i3_polling_request_failure_closes_the_session_until_the_upgrade_completes(stage: str) -> None:
    s = make()
    if stage == "probing":
        s.start_upgrade(1.0)
    elif stage == "probed":
        probed(s)
    s.begin_post()
    assert not s.left_polling
    event = s.polling_request_failed(CloseReason.TRANSPORT_ERROR, "POST body not received in time")
    assert event == SessionClosed(CloseInfo(CloseReason.TRANSPORT_ERROR, "POST body not received in time"))
    assert closed_with(s, CloseReason.TRANSPORT_ERROR)
    assert not s.upgrading


@pytest.mark.parametrize(
    "reason", [CloseReason.TRANSPORT_ERROR, CloseReason.TRANSPORT_CLOSE, CloseReason.PARSE_ERROR]
)
def test_i3_polling_request_failure_after_the_upgrade_leaves_the_session_alone(reason: CloseReason) -> None:
    # The reference discards its polling transport at the 5: a POST or GET still
    # attached then belongs to a transport the session has left.
    s = make()
    s.begin_post()
    s.begin_get()
    probed(s)
    assert s.take_poll_payload() == [NOOP]
    assert s.receive_upgrade_packet(UPGRADE, 2.0) == UpgradeCompleted()
    assert s.left_polling
    s.send_message("for the websocket")
    assert s.polling_request_failed(reason, "POST request aborted by the client") is None
    assert s.polling_request_failed(reason, "long-poll request aborted by the client") is None
    s.end_post()
    s.end_get()
    assert not s.closed
    assert s.transport == "websocket"
    assert s.take_outgoing() == [msg("for the websocket")]
    # ...and the session still closes for its own reasons.
    assert s.receive_packet(CLOSE, 3.0) == SessionClosed(CloseInfo(CloseReason.CLIENT_DISCONNECT))


def test_i3_abandoned_upgrade_stays_on_polling() -> None:
    s = probed(make())
    s.abort_upgrade("socket closed during the upgrade")
    assert not s.left_polling
    assert s.polling_request_failed(CloseReason.TRANSPORT_CLOSE) is not None
    assert s.closed


def test_i3_a_session_opened_on_websocket_never_left_polling() -> None:
    assert not make("websocket").left_polling


def test_after_upgrade_heartbeat_goes_to_the_websocket_writer() -> None:
    s = probed(make())
    s.receive_upgrade_packet(UPGRADE, 2.0)
    s.handle_timeout(25.0)
    assert s.take_outgoing() == [PING]
    assert s.receive_packet(PONG, 26.0) == PongReceived(26.0)


def test_nothing_lost_or_reordered_across_the_upgrade() -> None:
    s = make()
    s.send_message("before")
    s.start_upgrade(1.0)
    s.send_message(b"probing")
    s.receive_upgrade_packet(PROBE, 1.5)
    s.send_message("probed")
    assert poll(s) == [NOOP]
    s.send_message("probed after noop")
    assert s.receive_upgrade_packet(UPGRADE, 2.0) == UpgradeCompleted()
    s.send_message("after")
    assert s.take_outgoing() == [
        msg("before"),
        msg(b"probing"),
        msg("probed"),
        msg("probed after noop"),
        msg("after"),
    ]


# Text with the record separator cannot go over polling (send_message refuses it).
messages = st.lists(st.text(max_size=3).filter(lambda t: "\x1e" not in t) | st.binary(max_size=3), max_size=4)


@given(
    before=messages,
    probing=messages,
    probed_=messages,
    after=messages,
    poll_while_probing=st.booleans(),
    poll_while_probed=st.booleans(),
)
def test_upgrade_delivers_every_message_once_in_order(
    before: list[str | bytes],
    probing: list[str | bytes],
    probed_: list[str | bytes],
    after: list[str | bytes],
    poll_while_probing: bool,
    poll_while_probed: bool,
) -> None:
    s = make()
    delivered: list[Packet] = []

    def send_all(batch: list[str | bytes]) -> None:
        for data in batch:
            s.send_message(data)

    send_all(before)
    s.start_upgrade(1.0)
    send_all(probing)
    if poll_while_probing:
        s.begin_get()  # answered now if there is something, else held until the probe
        if s.poll_ready():
            delivered += s.take_poll_payload()
            s.end_get()
    s.receive_upgrade_packet(PROBE, 1.5)
    if s.get_pending:
        assert s.poll_ready()
        assert s.take_poll_payload() == [NOOP]
        s.end_get()
    send_all(probed_)
    if poll_while_probed:
        s.begin_get()  # answered with NOOP now if there is something, else at the upgrade
        if s.poll_ready():
            assert s.take_poll_payload() == [NOOP]
            s.end_get()
    s.receive_upgrade_packet(UPGRADE, 2.0)
    if s.get_pending:
        assert s.poll_ready()
        assert s.take_poll_payload() == [NOOP]
        s.end_get()
    send_all(after)
    delivered += s.take_outgoing()
    assert delivered == [msg(d) for d in before + probing + probed_ + after]


def test_e4_upgrade_before_probe_aborts_and_polling_continues() -> None:
    s = make()
    s.start_upgrade(1.0)
    s.send_message("queued")
    event = s.receive_upgrade_packet(UPGRADE, 1.5)
    assert isinstance(event, UpgradeAborted)
    assert s.upgrade_state is UpgradeState.NONE
    assert s.transport == "polling"
    assert not s.closed
    assert s.next_deadline() == 25.0
    assert poll(s) == [msg("queued")]


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(PING, id="PING-without-probe"),
        pytest.param(Packet(PacketType.PING, "probe2"), id="PING-probe2"),
        pytest.param(msg("probe"), id="MESSAGE-probe"),
        pytest.param(msg(b"2probe"), id="binary"),
        pytest.param(Packet(PacketType.PONG, "probe"), id="PONG-probe"),
        pytest.param(CLOSE, id="CLOSE"),
    ],
)
def test_e3_wrong_first_packet_on_probing_socket_aborts_upgrade(packet: Packet) -> None:
    s = make()
    s.start_upgrade(1.0)
    assert isinstance(s.receive_upgrade_packet(packet, 1.5), UpgradeAborted)
    assert s.upgrade_state is UpgradeState.NONE
    assert not s.closed


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(PROBE, id="second-2probe"),
        pytest.param(msg("garbage"), id="MESSAGE"),
        pytest.param(PING, id="PING"),
        pytest.param(NOOP, id="NOOP"),
    ],
)
def test_e3_e4_wrong_packet_after_probe_aborts_and_polling_resumes(packet: Packet) -> None:
    s = make()
    s.begin_get()
    probed(s)
    s.send_message("queued during probe")
    assert isinstance(s.receive_upgrade_packet(packet, 2.0), UpgradeAborted)
    assert s.upgrade_state is UpgradeState.NONE
    assert s.transport == "polling"
    assert not s.closed
    # The pending GET now carries the queued message instead of a NOOP.
    assert s.poll_ready()
    assert s.take_poll_payload() == [msg("queued during probe")]


def test_e5_second_upgrade_while_one_runs_is_refused_and_leaves_the_first_alone() -> None:
    s = make(upgrade_timeout=10.0)
    s.start_upgrade(1.0)
    with pytest.raises(RemoteProtocolError):
        s.start_upgrade(2.0)
    assert s.upgrade_state is UpgradeState.PROBING
    assert s.next_deadline() == 11.0
    s.receive_upgrade_packet(PROBE, 3.0)
    with pytest.raises(RemoteProtocolError):
        s.start_upgrade(4.0)
    assert s.receive_upgrade_packet(UPGRADE, 5.0) == UpgradeCompleted()


def test_e5_upgrade_after_upgrade_is_refused() -> None:
    s = probed(make())
    s.receive_upgrade_packet(UPGRADE, 2.0)
    with pytest.raises(RemoteProtocolError):
        s.start_upgrade(3.0)
    assert s.transport == "websocket"
    assert not s.closed


def test_e4_upgrade_packet_again_after_upgrade_is_a_local_error() -> None:
    # After UpgradeCompleted the websocket is the main transport: the driver must
    # feed receive_packet, where a second `5` is a wrong-direction packet.
    s = probed(make())
    s.receive_upgrade_packet(UPGRADE, 2.0)
    with pytest.raises(LocalProtocolError):
        s.receive_upgrade_packet(UPGRADE, 2.5)
    s.receive_packet(UPGRADE, 2.5)
    assert closed_with(s, CloseReason.TRANSPORT_ERROR)


@pytest.mark.parametrize(
    "session",
    [
        pytest.param(lambda: make("websocket"), id="websocket-session"),
        pytest.param(lambda: make(upgrades=()), id="upgrades-disabled"),
    ],
)
def test_e6_upgrade_not_offered_is_refused(session: Any) -> None:
    s = session()
    with pytest.raises(RemoteProtocolError):
        s.start_upgrade(1.0)
    assert s.upgrade_state is UpgradeState.NONE


def test_upgrade_of_closed_session_is_refused() -> None:
    s = make()
    s.close(CloseReason.SERVER_DISCONNECT)
    with pytest.raises(RemoteProtocolError):
        s.start_upgrade(1.0)


def test_upgrade_packet_without_upgrade_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        make().receive_upgrade_packet(PROBE, 1.0)


@pytest.mark.parametrize("probe_sent", [False, True])
def test_e3_upgrade_timeout_aborts_and_polling_keeps_the_queued_messages(probe_sent: bool) -> None:
    s = make(upgrade_timeout=10.0)
    s.send_message("one")
    s.start_upgrade(1.0)
    if probe_sent:
        s.receive_upgrade_packet(PROBE, 2.0)
    s.send_message("two")
    assert s.handle_timeout(10.999) == []
    assert s.upgrading
    events = s.handle_timeout(11.0)
    assert len(events) == 1
    assert isinstance(events[0], UpgradeAborted)
    assert s.upgrade_state is UpgradeState.NONE
    assert s.next_deadline() == 25.0
    assert poll(s) == [msg("one"), msg("two")]
    s.begin_post()
    assert s.receive_packets([msg("hi")], 12.0) == [MessageReceived("hi")]
    assert not s.closed


def test_e3_upgrade_can_be_retried_after_an_abort() -> None:
    s = make()
    s.start_upgrade(1.0)
    s.abort_upgrade("socket closed")
    probed(s, 2.0)
    assert s.receive_upgrade_packet(UPGRADE, 3.0) == UpgradeCompleted()


def test_e3_abort_upgrade_when_none_runs_is_harmless() -> None:
    s = make()
    assert s.abort_upgrade("nothing") == UpgradeAborted("nothing")
    assert s.upgrade_state is UpgradeState.NONE


def test_upgrade_timeout_and_ping_timeout_at_once() -> None:
    s = make(ping_interval=1.0, ping_timeout=1.0, upgrade_timeout=10.0)
    s.start_upgrade(0.5)
    s.handle_timeout(1.0)  # PING queued, held back while probing
    events = s.handle_timeout(20.0)
    assert [type(e) for e in events] == [UpgradeAborted, SessionClosed]
    assert closed_with(s, CloseReason.PING_TIMEOUT)


def test_close_during_upgrade_ends_the_upgrade() -> None:
    s = probed(make())
    s.close(CloseReason.SERVER_DISCONNECT)
    assert s.upgrade_state is UpgradeState.NONE
    assert not s.upgrading
    assert s.next_deadline() == math.inf


def test_client_close_while_probed_releases_the_get() -> None:
    s = make()
    s.begin_get()
    probed(s)
    s.receive_packet(CLOSE, 2.0)
    assert closed_with(s, CloseReason.CLIENT_DISCONNECT)
    assert s.take_poll_payload() == [NOOP]


# ---------------------------------------------------------- aborted GETs
def test_c2_get_abandoned_before_taking_loses_nothing() -> None:
    s = make()
    s.begin_get()
    s.send_message("a")
    s.end_get()  # the client went away before the payload was taken
    s.send_message("b")
    assert poll(s) == [msg("a"), msg("b")]


def test_c1_second_get_on_closed_session_is_refused() -> None:
    s = make()
    s.send_message("bye")
    s.begin_get()
    s.close(CloseReason.SERVER_DISCONNECT)
    with pytest.raises(RemoteProtocolError):
        s.begin_get()
    assert s.take_poll_payload() == [msg("bye"), CLOSE]


def test_poll_payload_of_a_ready_get_is_never_empty() -> None:
    s = make()
    s.begin_get()
    s.close(CloseReason.TRANSPORT_CLOSE)
    assert s.poll_ready()
    assert s.take_poll_payload() == [CLOSE]


def test_pong_deadline_counts_from_the_pings_due_time() -> None:
    """A PING that goes out late (the session was busy) does not move the PONG deadline later."""
    core = ServerSession("s", transport="polling", ping_interval=0.3, ping_timeout=0.2, now=0.0)
    core.handle_timeout(0.35)  # the PING was due at 0.3 and goes out 50 ms late
    assert core.next_deadline() == pytest.approx(0.5)
