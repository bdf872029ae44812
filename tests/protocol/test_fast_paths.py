"""The protocol's fast paths give what the general codec and core give, without the objects.

``message_in_frame``/``encode_message_frame`` against ``decode_frame``/``encode_frame``,
``ServerSession.receive_frame``/``message_in_frame`` against ``receive_packet``, and
``HandshakeTemplate`` against ``Handshake.encode``; plus the vocabulary both cores share.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_engineio.protocol import (
    ClientSession,
    CloseReason,
    Handshake,
    HandshakeTemplate,
    MessageReceived,
    Packet,
    PacketType,
    ParseError,
    PingReceived,
    PongReceived,
    ServerSession,
    SessionClosed,
    decode_frame,
    encode_frame,
    encode_message_frame,
    message_in_frame,
    message_size,
)
from trio_engineio.protocol.query import SID_CHARS

messages = st.one_of(st.text(), st.binary())
frames = st.one_of(st.text(), st.binary())


@given(messages)
def test_encode_message_frame_is_encode_frame(data: str | bytes) -> None:
    assert encode_message_frame(data) == encode_frame(Packet(PacketType.MESSAGE, data))


@given(frames)
def test_message_in_frame_agrees_with_decode_frame(frame: str | bytes) -> None:
    try:
        packet = decode_frame(frame)
    except ParseError:
        assert message_in_frame(frame) is None
        return
    expected = packet.data if packet.type is PacketType.MESSAGE else None
    assert message_in_frame(frame) == expected


@given(messages)
def test_message_size_is_the_utf8_size(data: str | bytes) -> None:
    expected = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    assert message_size(data) == expected


def opened_client(transport: str = "polling", max_payload: int = 1000) -> ClientSession:
    handshake = Handshake("sid", (), ping_interval_ms=25000, ping_timeout_ms=20000, max_payload=max_payload)
    client = ClientSession()
    client.receive_handshake([Packet(PacketType.OPEN, handshake.encode())], transport=transport, now=0.0)
    return client


def server_session(now: float = 0.0) -> ServerSession:
    return ServerSession("sid", transport="websocket", now=now, ping_interval=25, ping_timeout=20)


def test_the_server_takes_a_pong_frame_like_a_pong_packet() -> None:
    fast, slow = server_session(), server_session()
    for s in (fast, slow):
        s.handle_timeout(25.0)  # the PING goes out
    assert fast.receive_frame("3", 30.0) == [PongReceived(30.0)]
    assert slow.receive_packet(Packet(PacketType.PONG), 30.0) == PongReceived(30.0)
    assert fast.next_deadline() == slow.next_deadline() == 55.0
    assert fast.receive_frame("3", 31.0) == [], "an unsolicited PONG is ignored"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("4hello", [MessageReceived("hello")]),
        (b"\x00\x01", [MessageReceived(b"\x00\x01")]),
        ("6", []),
        ("1", [SessionClosed(server_session().close(CloseReason.CLIENT_DISCONNECT).info)]),
    ],
)
def test_receive_frame_is_decode_then_receive_packet(frame: str | bytes, expected: list[object]) -> None:
    assert server_session().receive_frame(frame, 1.0) == expected


def test_receive_frame_refuses_what_is_not_a_packet() -> None:
    with pytest.raises(ParseError):
        server_session().receive_frame("", 1.0)
    with pytest.raises(ParseError):
        server_session().receive_frame("9x", 1.0)


def test_a_closed_session_takes_no_frame() -> None:
    s = server_session()
    s.close(CloseReason.SERVER_DISCONNECT)
    assert s.message_in_frame("4hello") is None
    assert s.receive_frame("4hello", 1.0) == []
    assert s.receive_frame("garbage that is no packet", 1.0) == []


def test_the_server_takes_a_polling_payload() -> None:
    s = ServerSession("sid", transport="polling", now=0.0)
    assert s.receive_payload(b"4a\x1e4b", 1.0) == [MessageReceived("a"), MessageReceived("b")]
    with pytest.raises(ParseError):
        s.receive_payload(b"", 1.0)


@given(st.text(alphabet=sorted(SID_CHARS), min_size=1, max_size=40) | st.text(min_size=1, max_size=10))
def test_the_handshake_template_renders_what_handshake_encode_gives(sid: str) -> None:
    handshake = Handshake(
        sid=sid, upgrades=("websocket",), ping_interval_ms=25000, ping_timeout_ms=20000, max_payload=1000
    )
    rendered = HandshakeTemplate(handshake).encode(sid)
    assert json.loads(rendered) == json.loads(handshake.encode())
    assert Handshake.decode(rendered) == handshake


# ------------------------------------------------------ one vocabulary
def test_both_cores_speak_of_pending_requests_and_end_get_returns_events() -> None:
    server = ServerSession("sid", transport="polling", now=0.0)
    client = opened_client(max_payload=1000)
    assert not server.get_pending
    assert not client.get_pending
    server.begin_get()
    client.begin_get()
    assert server.get_pending
    assert client.get_pending
    assert server.end_get() == []
    assert client.end_get() == []
    assert not server.get_pending
    assert not client.get_pending
    assert client.get_in_flight is False, "the old name still answers"


def test_a_ping_arriving_at_the_client_is_a_ping_event() -> None:
    client = opened_client(transport="websocket")
    assert client.receive_frame("2", 10.0) == [PingReceived(10.0)]


@given(st.lists(messages, max_size=20))
def test_both_cores_count_buffered_bytes_as_message_data(batch: list[str | bytes]) -> None:
    server = ServerSession("sid", transport="websocket", now=0.0)
    client = opened_client(max_payload=100000000)
    for data in batch:
        if isinstance(data, str):
            try:
                data.encode("utf-8")
            except UnicodeEncodeError:
                continue
            if "\x1e" in data:
                continue
        server.send_message(data)
        client.send_message(data)
    assert server.buffered_bytes == client.buffered_bytes
    assert server.buffered_messages == client.buffered_messages


@given(frames)
def test_the_cores_message_fast_path_is_the_codecs(frame: str | bytes) -> None:
    assert server_session().message_in_frame(frame) == message_in_frame(frame)
