"""The Socket.IO v5 packet codec: wire examples, round trips and hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_engineio.socketio.protocol import (
    MAX_ACK_ID,
    MAX_ATTACHMENTS,
    AttachmentError,
    Decoder,
    InvalidAckId,
    InvalidJSON,
    InvalidNamespace,
    InvalidPayload,
    LimitExceeded,
    Packet,
    PacketType,
    UnknownPacketType,
    encode,
)

T = PacketType


def decode_all(messages: list[str | bytes], decoder: Decoder | None = None) -> list[Packet]:
    decoder = decoder or Decoder()
    packets = []
    for message in messages:
        packet = decoder.feed(message)
        if packet is not None:
            packets.append(packet)
    return packets


@pytest.mark.parametrize(
    ("wire", "packet"),
    [
        ("0", Packet(T.CONNECT)),
        ('0/admin,{"token":"123"}', Packet(T.CONNECT, "/admin", {"token": "123"})),
        ('0{"sid":"wZX3oN0bSVIhsaknAAAI"}', Packet(T.CONNECT, data={"sid": "wZX3oN0bSVIhsaknAAAI"})),
        ('2["foo"]', Packet(T.EVENT, data=["foo"])),
        ('2/admin,12["foo"]', Packet(T.EVENT, "/admin", ["foo"], 12)),
        ('3/admin,12["bar"]', Packet(T.ACK, "/admin", ["bar"], 12)),
        ('4{"message":"Not authorized"}', Packet(T.CONNECT_ERROR, data={"message": "Not authorized"})),
        ("1/admin,", Packet(T.DISCONNECT, "/admin")),
        ("1", Packet(T.DISCONNECT)),
        ("30[]", Packet(T.ACK, data=[], id=0)),
    ],
)
def test_reference_examples_both_ways(wire: str, packet: Packet) -> None:
    assert decode_all([wire]) == [packet]
    assert encode(packet) == [wire]


def test_binary_event_with_nested_attachments() -> None:
    packet = Packet(T.EVENT, "/x", ["baz", {"a": [b"\x01", {"b": bytearray(b"\x02")}]}, b"\x03"], 7)
    messages = encode(packet)
    assert messages == [
        '53-/x,7["baz",{"a":[{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]},'
        '{"_placeholder":true,"num":2}]',
        b"\x01",
        b"\x02",
        b"\x03",
    ]
    decoder = Decoder()
    assert decoder.feed(messages[0]) is None
    assert decoder.waiting_for_attachments == 3
    assert decoder.feed(messages[1]) is None
    assert decoder.feed(messages[2]) is None
    decoded = decoder.feed(messages[3])
    assert decoded == Packet(T.BINARY_EVENT, "/x", ["baz", {"a": [b"\x01", {"b": b"\x02"}]}, b"\x03"], 7)
    assert decoder.waiting_for_attachments == 0


def test_binary_ack_and_tuple_args() -> None:
    messages = encode(Packet(T.ACK, data=(b"xy", "z"), id=3))
    assert messages == ['61-3[{"_placeholder":true,"num":0},"z"]', b"xy"]
    assert decode_all(messages) == [Packet(T.BINARY_ACK, data=[b"xy", "z"], id=3)]


def test_binary_type_without_bytes_is_sent_as_text() -> None:
    assert encode(Packet(T.BINARY_EVENT, data=["a", 1])) == ['2["a",1]']


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5) | st.binary(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)


@given(
    name=st.text(min_size=1, max_size=8),
    args=st.lists(json_values, max_size=4),
    namespace=st.sampled_from(["/", "/a", "/chat/room"]),
    ack_id=st.none() | st.integers(0, MAX_ACK_ID),
)
def test_event_round_trip(name: str, args: list[Any], namespace: str, ack_id: int | None) -> None:
    packet = Packet(T.EVENT, namespace, [name, *args], ack_id)
    binary_values = len(encode(packet, max_attachments=None)) - 1
    if binary_values > Decoder().max_attachments:
        # More binary values than a decoder takes: the encoder refuses to send the packet.
        with pytest.raises(ValueError, match="binary values in one packet"):
            encode(packet)
        return
    [packet] = decode_all(encode(packet))
    assert packet.is_event
    assert packet.namespace == namespace
    assert packet.id == ack_id
    assert packet.data == [name, *args]


@given(st.text(max_size=30))
def test_arbitrary_text_raises_only_protocol_errors(text: str) -> None:
    from trio_engineio.socketio.protocol import ProtocolError

    try:
        Decoder().feed(text)
    except ProtocolError:
        pass


# ------------------------------------------------------------------ hostile input
@pytest.mark.parametrize(
    ("wire", "error"),
    [
        ("", UnknownPacketType),
        ("7", UnknownPacketType),
        ("x[]", UnknownPacketType),
        ('2["foo"', InvalidJSON),
        ("2{bad}", InvalidJSON),
        ("2" + "[" * 100_000 + "]" * 100_000, InvalidJSON),
        ('2{"a":1}', InvalidPayload),
        ("2[]", InvalidPayload),
        ("2", InvalidPayload),
        ("2[1]", InvalidPayload),
        ('2[["x"]]', InvalidPayload),
        ('3"x"', InvalidPayload),
        ("3[]", InvalidAckId),
        ('2123456789012345678901["x"]', InvalidAckId),
        ('29007199254740992["x"]', InvalidAckId),
        ('0"auth"', InvalidPayload),
        ("1{}", InvalidPayload),
        ("4[]", InvalidPayload),
        ('5["x"]', AttachmentError),
        ('5a-["x"]', AttachmentError),
        ('511-["x"]', LimitExceeded),
        ('59999999999999-["x"]', AttachmentError),
        ("2/" + "a" * 300 + ',["x"]', InvalidNamespace),
    ],
)
def test_hostile_text(wire: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        Decoder().feed(wire)


def test_huge_but_valid_ack_id_is_accepted() -> None:
    assert decode_all([f'2{MAX_ACK_ID}["x"]'])[0].id == MAX_ACK_ID


def test_binary_message_with_nothing_pending() -> None:
    with pytest.raises(AttachmentError, match="no binary packet pending"):
        Decoder().feed(b"\x00")


def test_too_few_attachments_then_text() -> None:
    decoder = Decoder()
    decoder.feed('52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    decoder.feed(b"a")
    with pytest.raises(AttachmentError, match="1 binary attachment"):
        decoder.feed('2["next"]')


@pytest.mark.parametrize("num", ["1", "-1", '"0"', "0.5", "null", "true"])
def test_placeholder_out_of_range(num: str) -> None:
    decoder = Decoder()
    decoder.feed('51-["x",{"_placeholder":true,"num":' + num + "}]")
    with pytest.raises(AttachmentError, match="out of range"):
        decoder.feed(b"a")


def test_placeholder_nested_absurdly_deep() -> None:
    decoder = Decoder()
    decoder.feed('51-["x",' + "[" * 200 + '{"_placeholder":true,"num":0}' + "]" * 200 + "]")
    with pytest.raises(LimitExceeded, match="nested deeper"):
        decoder.feed(b"a")


def test_size_limit_counts_attachments() -> None:
    decoder = Decoder(max_bytes=100)
    decoder.feed('52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    decoder.feed(b"a" * 10)
    with pytest.raises(LimitExceeded, match="100 bytes"):
        decoder.feed(b"a" * 50)
    with pytest.raises(LimitExceeded):
        Decoder(max_bytes=10).feed('2["' + "a" * 20 + '"]')


def test_zero_attachments_binary_completes_at_once() -> None:
    assert decode_all(['50-["x",1]']) == [Packet(T.BINARY_EVENT, data=["x", 1])]


def test_encode_refuses_more_attachments_than_a_decoder_takes() -> None:
    ten = Packet(T.EVENT, data=["x", *[bytes([i]) for i in range(MAX_ATTACHMENTS)]])
    assert decode_all(encode(ten)) == [Packet(T.BINARY_EVENT, data=ten.data)]
    eleven = Packet(T.ACK, data=[{"k": [b"a"] * (MAX_ATTACHMENTS + 1)}], id=3)
    with pytest.raises(ValueError, match="11 binary values in one packet"):
        encode(eleven)
    unlimited = encode(eleven, max_attachments=None)
    with pytest.raises(LimitExceeded):  # what a peer would have done with it
        decode_all(unlimited)
    assert len(encode(eleven, max_attachments=11)) == 12


def test_encode_refuses_bad_packets() -> None:
    with pytest.raises(ValueError):
        encode(Packet(T.EVENT, data=[]))
    with pytest.raises(ValueError):
        encode(Packet(T.EVENT, data=[1]))
    with pytest.raises(ValueError):
        encode(Packet(T.EVENT, data=["x"], id=-1))
    with pytest.raises(ValueError):
        encode(Packet(T.EVENT, "no-slash", ["x"]))
    deep: Any = b"x"
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        encode(Packet(T.EVENT, data=["x", deep]))
