"""The sans-I/O client session: handshake, heartbeat, POST splitting, upgrade, close."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_engineio.protocol import (
    ClientSession,
    ClientState,
    ClientUpgradeState,
    CloseInfo,
    CloseReason,
    HandshakeError,
    LocalProtocolError,
    MessageReceived,
    Packet,
    PacketType,
    PingReceived,
    ProbeAnswered,
    ServerSession,
    SessionClosed,
    UpgradeAborted,
    UpgradeCompleted,
    decode_payload,
    encode_payload,
    frame_size,
)


def open_packet(**overrides: object) -> Packet:
    body: dict[str, object] = {
        "sid": "abc",
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1000,
    }
    body.update(overrides)
    return Packet(PacketType.OPEN, json.dumps(body))


def opened(transport: str = "polling", now: float = 0.0, **overrides: object) -> ClientSession:
    session = ClientSession()
    assert session.receive_handshake([open_packet(**overrides)], transport=transport, now=now) == []
    return session


# ------------------------------------------------------------------ handshake
def test_handshake_sets_sid_transport_and_watchdog() -> None:
    session = opened(now=100.0)
    assert session.state is ClientState.OPEN
    assert session.sid == "abc"
    assert session.transport == "polling"
    assert session.max_payload == 1000
    assert session.heartbeat_timeout == 45.0
    assert session.next_deadline() == 145.0


def test_handshake_payload_with_trailing_message() -> None:
    session = ClientSession()
    body = encode_payload([open_packet(), Packet(PacketType.MESSAGE, "hi")])
    events = session.receive_handshake_payload(body, now=0.0)
    assert events == [MessageReceived("hi")]


@pytest.mark.parametrize(
    "packets",
    [
        [],
        [Packet(PacketType.MESSAGE, "0{}")],
        [Packet(PacketType.OPEN, "not json")],
        [Packet(PacketType.OPEN, '{"sid":"a","pingInterval":"25000","pingTimeout":1}')],
        [Packet(PacketType.OPEN, '{"pingInterval":1,"pingTimeout":1}')],
    ],
)
def test_h1_bad_handshake_raises_and_closes(packets: list[Packet]) -> None:
    session = ClientSession()
    with pytest.raises(HandshakeError):
        session.receive_handshake(packets, transport="polling", now=0.0)
    assert session.closed
    assert session.close_info is not None
    assert session.close_info.reason is CloseReason.PARSE_ERROR
    assert session.take_final_packets() == []  # never opened: nothing to tell the server


def test_h1_bad_handshake_bodies() -> None:
    for body in (b"", b"4hello", b"\xff\xfe", b"b!!!"):
        with pytest.raises(HandshakeError):
            ClientSession().receive_handshake_payload(body, now=0.0)
    with pytest.raises(HandshakeError):
        ClientSession().receive_handshake_frame("", now=0.0)
    with pytest.raises(HandshakeError):
        ClientSession().receive_handshake_frame(b"\x00binary", now=0.0)


# ------------------------------------------------------------------ heartbeat
def test_ping_is_answered_and_resets_watchdog() -> None:
    session = opened(now=0.0)
    events = session.receive_packets([Packet(PacketType.PING)], now=10.0)
    assert events == [PingReceived(10.0)]
    assert session.next_deadline() == 55.0
    assert session.next_post_batch() == [Packet(PacketType.PONG)]


def test_h2_no_ping_means_ping_timeout() -> None:
    session = opened(now=0.0)
    assert session.handle_timeout(44.999) == []
    events = session.handle_timeout(45.0)
    assert len(events) == 1
    assert isinstance(events[0], SessionClosed)
    assert events[0].info.reason is CloseReason.PING_TIMEOUT
    assert session.next_deadline() == float("inf")
    assert session.take_final_packets() == []  # server is gone: no CLOSE to send


def test_pong_noop_ignored_close_ends_session() -> None:
    session = opened()
    events = session.receive_packets(
        [
            Packet(PacketType.PONG),
            Packet(PacketType.NOOP),
            Packet(PacketType.MESSAGE, b"\x01"),
            Packet(PacketType.CLOSE),
            Packet(PacketType.MESSAGE, "after close"),
        ],
        now=1.0,
    )
    assert events[0] == MessageReceived(b"\x01")
    assert isinstance(events[1], SessionClosed)
    assert events[1].info.reason is CloseReason.SERVER_DISCONNECT
    assert len(events) == 2


@pytest.mark.parametrize("packet_type", [PacketType.OPEN, PacketType.UPGRADE])
def test_wrong_direction_packets_close_with_transport_error(packet_type: PacketType) -> None:
    session = opened()
    (event,) = session.receive_packets([Packet(packet_type)], now=1.0)
    assert isinstance(event, SessionClosed)
    assert event.info.reason is CloseReason.TRANSPORT_ERROR
    assert session.take_final_packets() == [Packet(PacketType.CLOSE)]


def test_parse_error_delivers_nothing_and_sends_close() -> None:
    session = opened()
    session.send_message("queued")
    (event,) = session.receive_payload(b"4ok\x1eabc", now=1.0)
    assert isinstance(event, SessionClosed)
    assert event.info.reason is CloseReason.PARSE_ERROR
    assert session.take_final_packets() == [Packet(PacketType.CLOSE)]
    (event,) = opened(transport="websocket").receive_frame("9", now=1.0)
    assert isinstance(event, SessionClosed)


# ----------------------------------------------------------- POST splitting
def payload_size(packets: list[Packet]) -> int:
    return len(encode_payload(packets))


def test_h5_post_batches_split_by_bytes_exactly() -> None:
    session = opened(maxPayload=100)
    for i in range(30):
        session.send_message(f"{i:08d}")  # 9 bytes each as a packet, 10 with the separator
    batch = session.next_post_batch()
    # 10 packets take 10 * 9 + 9 separators = 99 bytes; an 11th would make 109.
    assert len(batch) == 10
    assert payload_size(batch) == 99
    assert session.next_post_batch() == []  # one POST in flight at most
    session.post_done()
    assert len(session.next_post_batch()) == 10


def test_max_packets_per_post() -> None:
    session = ClientSession(max_packets_per_post=16)
    session.receive_handshake([open_packet()], transport="polling", now=0.0)
    for i in range(40):
        session.send_message(str(i))
    sizes = []
    while batch := session.next_post_batch():
        sizes.append(len(batch))
        session.post_done()
    assert sizes == [16, 16, 8]
    with pytest.raises(ValueError):
        ClientSession(max_packets_per_post=0)


def test_h5_binary_growth_counted() -> None:
    session = opened(maxPayload=100)
    session.send_message(b"x" * 72)  # b + 96 base64 chars = 97 bytes
    session.send_message(b"y")  # b + 4 = 5 bytes: 97 + 1 + 5 > 100
    batch = session.next_post_batch()
    assert batch == [Packet(PacketType.MESSAGE, b"x" * 72)]
    assert payload_size(batch) == 97
    session.post_done()
    assert session.next_post_batch() == [Packet(PacketType.MESSAGE, b"y")]


def test_message_that_can_never_fit_is_refused() -> None:
    session = opened(maxPayload=100)
    session.send_message("x" * 99)  # 100 bytes with the type digit: fits exactly
    with pytest.raises(ValueError, match="maxPayload"):
        session.send_message("x" * 100)
    with pytest.raises(ValueError, match="maxPayload"):
        session.send_message(b"x" * 74)  # 1 + 100 base64 chars
    with pytest.raises(ValueError, match="UTF-8"):
        session.send_message("\ud800")
    with pytest.raises(ValueError, match="record separator"):
        session.send_message("a\x1eb")
    ws = opened(transport="websocket", maxPayload=100)
    ws.send_message("a\x1eb")
    ws.send_message(b"x" * 100)  # raw on a websocket
    assert frame_size(Packet(PacketType.MESSAGE, "é")) == 3


@given(
    st.lists(
        st.one_of(
            st.text(st.characters(exclude_characters="\x1e", exclude_categories=("Cs",)), max_size=60),
            st.binary(max_size=60),
        ),
        min_size=1,
        max_size=80,
    ),
    st.integers(min_value=241, max_value=700),  # a 60-char text takes up to 241 bytes
)
def test_h5_batches_never_exceed_max_payload_and_keep_order(
    messages: list[str | bytes], max_payload: int
) -> None:
    session = opened(maxPayload=max_payload)
    for message in messages:
        session.send_message(message)
    received: list[str | bytes] = []
    while session.has_outgoing():
        batch = session.next_post_batch()
        assert batch
        body = encode_payload(batch)
        assert len(body) <= max_payload
        received.extend(p.data for p in decode_payload(body))
        session.post_done()
    assert received == messages
    assert session.buffered_bytes == 0
    assert session.buffered_messages == 0


def test_buffer_accounting() -> None:
    session = opened()
    session.send_message("abc")
    session.send_message(b"abc")
    assert session.buffered_messages == 2
    assert session.buffered_bytes == 3 + 3, "message data, as the server core counts"
    session.next_post_batch()
    assert (session.buffered_messages, session.buffered_bytes) == (0, 0)


# -------------------------------------------------------------------- polling
def test_one_get_at_a_time() -> None:
    session = opened()
    assert session.may_poll()
    session.begin_get()
    assert not session.may_poll()
    with pytest.raises(LocalProtocolError):
        session.begin_get()
    session.end_get()
    assert session.may_poll()


# -------------------------------------------------------------------- upgrade
def test_upgrade_happy_path_keeps_order() -> None:
    session = opened()
    assert session.can_upgrade
    probe = session.start_upgrade(now=1.0)
    assert probe == Packet(PacketType.PING, "probe")
    assert session.upgrade_deadline == 11.0
    session.begin_get()
    session.send_message("one")
    post = session.next_post_batch()
    assert post == [Packet(PacketType.MESSAGE, "one")]
    event = session.receive_probe_frame("3probe", now=2.0)
    assert event == ProbeAnswered(Packet(PacketType.UPGRADE))
    # paused: no new GET/POST, but those in flight finish
    assert not session.may_poll()
    session.send_message("two")
    assert not session.polling_paused
    session.post_done()
    assert session.next_post_batch() == []
    assert session.receive_payload(b"6\x1e4late", now=2.5) == [MessageReceived("late")]
    session.end_get()
    assert session.polling_paused
    assert session.finish_upgrade() == UpgradeCompleted()
    assert session.transport == "websocket"
    assert session.take_websocket_packets() == [
        Packet(PacketType.UPGRADE),
        Packet(PacketType.MESSAGE, "two"),
    ]
    assert not session.can_upgrade


@pytest.mark.parametrize("answer", ["3wrong", "4hello", "", b"\x00"])
def test_h7_bad_probe_answer_aborts_and_stays_on_polling(answer: str | bytes) -> None:
    session = opened()
    session.start_upgrade(now=0.0)
    session.send_message("kept")
    event = session.receive_probe_frame(answer, now=1.0)
    assert isinstance(event, UpgradeAborted)
    assert session.upgrade_state is ClientUpgradeState.FAILED
    assert session.transport == "polling"
    assert not session.can_upgrade  # no second attempt
    assert session.next_post_batch() == [Packet(PacketType.MESSAGE, "kept")]


def test_h7_upgrade_timeout_after_probe_resumes_polling() -> None:
    session = opened()
    session.start_upgrade(now=0.0)
    session.begin_get()
    session.receive_probe_frame("3probe", now=1.0)
    session.send_message("kept")
    assert session.next_post_batch() == []
    assert session.handle_timeout(9.0) == []
    (event,) = session.handle_timeout(10.0)
    assert isinstance(event, UpgradeAborted)
    session.end_get()
    assert session.may_poll()
    assert session.next_post_batch() == [Packet(PacketType.MESSAGE, "kept")]


def test_upgrade_not_offered() -> None:
    session = opened(upgrades=[])
    assert not session.can_upgrade
    with pytest.raises(LocalProtocolError):
        session.start_upgrade(now=0.0)


# ---------------------------------------------------------------------- close
def test_local_close_flushes_queue_then_close() -> None:
    session = opened()
    session.send_message("a")
    event = session.close(CloseReason.CLIENT_DISCONNECT)
    assert event.info.reason is CloseReason.CLIENT_DISCONNECT
    assert session.close(CloseReason.PING_TIMEOUT).info.reason is CloseReason.CLIENT_DISCONNECT
    with pytest.raises(LocalProtocolError):
        session.send_message("b")
    assert session.next_post_batch() == [Packet(PacketType.MESSAGE, "a"), Packet(PacketType.CLOSE)]
    assert session.close_sent
    session.post_done()
    assert session.next_post_batch() == []
    assert session.take_final_packets() == []


def test_take_final_packets_after_close() -> None:
    session = opened(transport="websocket")
    session.send_message("a")
    session.close(CloseReason.CLIENT_DISCONNECT)
    assert session.take_final_packets() == [Packet(PacketType.MESSAGE, "a"), Packet(PacketType.CLOSE)]
    assert session.take_final_packets() == []


# ------------------------------------------------ client against server session
def test_client_and_server_sessions_talk() -> None:
    """h11's ConnectionPair idea: both state machines, a fake clock, polling."""
    now = 0.0
    server = ServerSession("sid1", transport="polling", now=now, ping_interval=1, ping_timeout=1)
    client = ClientSession()
    client.receive_handshake_payload(b"0" + server.handshake.encode().encode(), now=now)
    for i in range(5):
        client.send_message(f"m{i}")
    body = encode_payload(client.next_post_batch())
    client.post_done()
    server.begin_post()
    events = server.receive_packets(decode_payload(body), now)
    server.end_post()
    assert [e.data for e in events if isinstance(e, MessageReceived)] == [f"m{i}" for i in range(5)]
    for step in range(1, 20):
        now = step * 0.5
        server.handle_timeout(now)
        client.handle_timeout(now)
        if server.poll_ready():
            server.begin_get()
            client_events = client.receive_payload(encode_payload(server.take_poll_payload()), now)
            server.end_get()
            assert not any(isinstance(e, SessionClosed) for e in client_events)
        batch = client.next_post_batch()
        if batch:
            server.begin_post()
            server.receive_packets(decode_payload(encode_payload(batch)), now)
            server.end_post()
            client.post_done()
    assert not server.closed
    assert not client.closed
    assert server.last_pong_at is not None


# ------------------------------------------- a refused POST racing the server's CLOSE
def test_post_failure_is_held_until_the_get_and_close_wins() -> None:
    session = opened()
    session.begin_get()
    session.receive_payload(b"2", now=1.0)  # PING -> PONG queued
    session.end_get()
    session.begin_get()
    assert session.next_post_batch() == [Packet(PacketType.PONG)]
    session.post_done()
    refused = CloseInfo(CloseReason.TRANSPORT_ERROR, "POST answered HTTP 400")
    assert session.post_failed(refused, now=2.0) == []
    assert not session.closed
    assert session.held_failure == refused
    assert session.next_deadline() == 2.0 + session.failure_grace
    events = session.receive_payload(b"1", now=2.5)  # the GET brings the server's CLOSE
    assert events == [SessionClosed(CloseInfo(CloseReason.SERVER_DISCONNECT))]
    assert session.end_get() == []
    assert session.close_info == CloseInfo(CloseReason.SERVER_DISCONNECT)
    assert session.take_final_packets() == []  # nothing is sent after the server's CLOSE


def test_post_failure_held_before_the_next_get_starts() -> None:
    session = opened()
    refused = CloseInfo(CloseReason.TRANSPORT_ERROR, "POST answered HTTP 400")
    assert session.post_failed(refused, now=1.0) == []  # no GET yet: the next one may bring CLOSE
    session.begin_get()
    session.receive_payload(b"6", now=1.1)  # no CLOSE in it
    assert session.end_get() == [SessionClosed(refused)]
    assert session.close_info == refused


def test_post_failure_held_at_most_the_grace() -> None:
    session = opened()
    session.begin_get()
    refused = CloseInfo(CloseReason.TRANSPORT_ERROR, "POST answered HTTP 400")
    session.post_failed(refused, now=10.0)
    assert session.handle_timeout(10.0 + session.failure_grace - 0.001) == []
    assert session.handle_timeout(10.0 + session.failure_grace) == [SessionClosed(refused)]
    assert session.end_get() == []  # the GET's late end changes nothing


def test_failure_after_close_never_changes_the_reason() -> None:
    session = opened()
    session.begin_get()
    session.receive_payload(b"1", now=1.0)
    assert session.post_failed(CloseInfo(CloseReason.TRANSPORT_ERROR, "400"), now=1.0) == []
    assert session.close_info == CloseInfo(CloseReason.SERVER_DISCONNECT)


def test_post_failure_on_websocket_closes_at_once() -> None:
    session = opened(transport="websocket")
    info = CloseInfo(CloseReason.TRANSPORT_CLOSE, "gone")
    assert session.post_failed(info, now=1.0) == [SessionClosed(info)]
