"""Packets, websocket frames and long-polling payloads (protocol/packets.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_engineio.protocol import (
    RECORD_SEPARATOR,
    Packet,
    PacketType,
    ParseError,
    decode_frame,
    decode_payload,
    encode_frame,
    encode_payload,
    encoded_payload_size,
)

# Any unicode text that UTF-8 can encode (no lone surrogates: no peer can send them),
# with astral characters made likely.
ASTRAL = "\U0001f600\U00010348\U0010fffd"
texts = st.text(st.characters(codec="utf-8") | st.sampled_from(ASTRAL))
# Polling payloads cannot carry the separator inside a text packet (base64 protects binary).
payload_texts = st.text(
    st.characters(codec="utf-8", exclude_characters=RECORD_SEPARATOR) | st.sampled_from(ASTRAL)
)
binaries = st.binary() | st.binary().map(lambda b: b + b"\x1e" + b)

text_packets = st.builds(Packet, st.sampled_from(PacketType), texts)
payload_text_packets = st.builds(Packet, st.sampled_from(PacketType), payload_texts)
binary_packets = st.builds(Packet, st.just(PacketType.MESSAGE), binaries)
payload_packets = payload_text_packets | binary_packets

# Strings built from payload grammar pieces reach the decoder's branches far more
# often than uniformly random text.
grammar_soup = st.lists(
    st.sampled_from(
        ["0", "1", "2", "3", "4", "5", "6", "7", "9", "b", "a", "=", "AAAA", "QQ", "\x1e", "é", "!"]
    ),
    max_size=12,
).map("".join)


# --------------------------------------------------------------- round trips
@given(text_packets)
def test_text_frame_round_trip(packet: Packet) -> None:
    frame = encode_frame(packet)
    assert isinstance(frame, str)
    assert isinstance(packet.data, str)
    assert frame == str(int(packet.type)) + packet.data
    assert decode_frame(frame) == packet


@given(binaries)
def test_binary_frame_is_sent_as_is_and_round_trips(data: bytes) -> None:
    packet = Packet(PacketType.MESSAGE, data)
    frame = encode_frame(packet)
    assert frame == data
    assert isinstance(frame, bytes)
    assert decode_frame(frame) == packet


@given(st.lists(payload_packets, min_size=1, max_size=8))
def test_payload_round_trip_mixing_text_and_binary(packets: list[Packet]) -> None:
    body = encode_payload(packets)
    assert isinstance(body, bytes)
    assert decode_payload(body) == packets
    assert decode_payload(body.decode("utf-8")) == packets


def test_payload_with_separator_inside_binary_data_round_trips() -> None:
    packets = [
        Packet(PacketType.MESSAGE, b"\x1e"),
        Packet(PacketType.MESSAGE, "\U0001f600"),
        Packet(PacketType.MESSAGE, b"a\x1eb\x1e"),
    ]
    body = encode_payload(packets)
    assert body.count(b"\x1e") == 2
    assert decode_payload(body) == packets


def test_binary_message_is_b_plus_base64_in_a_payload() -> None:
    assert encode_payload([Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")]) == b"bAQIDBA=="
    assert encode_payload([Packet(PacketType.MESSAGE, b"")]) == b"b"
    assert decode_payload(b"b") == [Packet(PacketType.MESSAGE, b"")]


def test_payload_joins_packets_with_record_separator() -> None:
    packets = [Packet(PacketType.MESSAGE, "hello"), Packet(PacketType.PING), Packet(PacketType.NOOP)]
    assert encode_payload(packets) == b"4hello\x1e2\x1e6"


def test_unicode_payload_is_utf8_encoded() -> None:
    packet = Packet(PacketType.MESSAGE, "é\U0001f600")
    assert encode_payload([packet]) == "4é\U0001f600".encode()
    assert decode_payload("4é\U0001f600".encode()) == [packet]


# ------------------------------------------------------------- payload sizes
@given(payload_packets)
def test_encoded_payload_size_is_exact_byte_count(packet: Packet) -> None:
    assert encoded_payload_size(packet) == len(encode_payload([packet]))


@given(st.lists(payload_packets, min_size=1, max_size=8))
def test_payload_size_is_sum_of_packet_sizes_plus_separators(packets: list[Packet]) -> None:
    expected = sum(map(encoded_payload_size, packets)) + len(packets) - 1
    assert len(encode_payload(packets)) == expected


@pytest.mark.parametrize(
    ("packet", "size"),
    [
        (Packet(PacketType.MESSAGE, ""), 1),
        (Packet(PacketType.MESSAGE, "abc"), 4),
        (Packet(PacketType.MESSAGE, "é"), 3),
        (Packet(PacketType.MESSAGE, "\U0001f600"), 5),
        (Packet(PacketType.MESSAGE, b""), 1),
        (Packet(PacketType.MESSAGE, b"a"), 5),
        (Packet(PacketType.MESSAGE, b"abc"), 5),
        (Packet(PacketType.MESSAGE, b"abcd"), 9),
        (Packet(PacketType.PING, "probe"), 6),
    ],
)
def test_encoded_payload_size_examples(packet: Packet, size: int) -> None:
    assert encoded_payload_size(packet) == size == len(encode_payload([packet]))


# --------------------------------------------------- decoders never blow up
@given(st.binary())
def test_any_bytes_into_decode_payload_gives_packets_or_parse_error(body: bytes) -> None:
    try:
        packets = decode_payload(body)
    except ParseError:
        return
    assert packets
    assert all(isinstance(p, Packet) for p in packets)


@given(texts | grammar_soup)
def test_any_str_into_decode_payload_gives_packets_or_parse_error(body: str) -> None:
    try:
        packets = decode_payload(body)
    except ParseError:
        return
    assert packets
    assert all(isinstance(p, Packet) for p in packets)


@given(texts | grammar_soup)
def test_any_str_into_decode_frame_gives_a_packet_or_parse_error(frame: str) -> None:
    try:
        packet = decode_frame(frame)
    except ParseError:
        return
    assert encode_frame(packet) == frame


@given(st.binary())
def test_any_bytes_into_decode_frame_is_a_binary_message(frame: bytes) -> None:
    assert decode_frame(frame) == Packet(PacketType.MESSAGE, frame)


@given(grammar_soup)
def test_decoded_payload_reencodes_to_the_same_body(body: str) -> None:
    try:
        packets = decode_payload(body)
    except ParseError:
        return
    assert encode_payload(packets) == body.encode("utf-8")


# ------------------------------------------------------ specific bad inputs
@pytest.mark.parametrize(
    "body",
    [
        pytest.param("abc", id="abc"),
        pytest.param("9x", id="9x"),
        pytest.param("7", id="7"),
        pytest.param("", id="empty"),
        pytest.param("4a\x1e\x1e4b", id="empty-packet-between-separators"),
        pytest.param("4a\x1e", id="trailing-separator"),
        pytest.param("\x1e4a", id="leading-separator"),
        pytest.param("4a\x1eabc", id="bad-packet-after-good-one"),
        pytest.param(b"4\xff", id="invalid-utf8"),
        pytest.param(b"4a\x1e4\xc3", id="truncated-utf8"),
        pytest.param(b"\xed\xa0\x80", id="utf8-encoded-surrogate"),
    ],
)
def test_b5_invalid_payload_is_parse_error(body: str | bytes) -> None:
    with pytest.raises(ParseError):
        decode_payload(body)


def test_b5_bad_packet_anywhere_yields_no_packets() -> None:
    # Validation is all-or-nothing: the caller never sees the packets before it.
    with pytest.raises(ParseError, match="packet 2"):
        decode_payload("4a\x1e4b\x1e9x\x1e4c")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("b!!!", id="b!!!"),
        pytest.param("bé", id="b-non-ascii-str"),
        pytest.param("b\U0001f600", id="b-astral"),
        pytest.param("b\u00e9".encode(), id="b-non-ascii-bytes"),
        pytest.param("bQQ", id="missing-padding"),
        pytest.param("bQ", id="truncated"),
        pytest.param("bQQ==\n", id="trailing-newline"),
        pytest.param("bQ Q==", id="inner-space"),
        pytest.param("bQQ==QQ==", id="data-after-padding"),
        pytest.param("b0000=", id="excess-padding"),
        pytest.param("bQQ===", id="triple-padding"),
        pytest.param("bQR==", id="non-zero-pad-bits"),
        pytest.param("bQUJ=", id="non-zero-pad-bits-2"),
        pytest.param("b-_8=", id="urlsafe-alphabet"),
        pytest.param("4a\x1eb!!!", id="second-packet"),
    ],
)
def test_b8_binary_packet_with_invalid_base64_is_parse_error(body: str | bytes) -> None:
    with pytest.raises(ParseError):
        decode_payload(body)


@pytest.mark.parametrize("frame", ["abc", "", "b!!!", "9x", "7", "\x1e"])
def test_e1_invalid_text_frame_is_parse_error(frame: str) -> None:
    with pytest.raises(ParseError):
        decode_frame(frame)


def test_b9_thousand_small_packets_decode_in_order() -> None:
    body = RECORD_SEPARATOR.join(f"4{i}" for i in range(1000)).encode()
    packets = decode_payload(body)
    assert packets == [Packet(PacketType.MESSAGE, str(i)) for i in range(1000)]


def test_b9_thousand_identical_packets_all_delivered() -> None:
    packets = decode_payload("\x1e".join(["4a"] * 1000))
    assert packets == [Packet(PacketType.MESSAGE, "a")] * 1000


def test_b7_close_mid_payload_decodes_as_three_packets() -> None:
    # The decoder reports CLOSE in place; the session drops what follows it.
    assert decode_payload("4a\x1e1\x1e4b") == [
        Packet(PacketType.MESSAGE, "a"),
        Packet(PacketType.CLOSE),
        Packet(PacketType.MESSAGE, "b"),
    ]


@pytest.mark.parametrize(
    ("text", "packet"),
    [
        ("0", Packet(PacketType.OPEN)),
        ("1", Packet(PacketType.CLOSE)),
        ("2probe", Packet(PacketType.PING, "probe")),
        ("3probe", Packet(PacketType.PONG, "probe")),
        ("4", Packet(PacketType.MESSAGE, "")),
        ('4{"a":1}', Packet(PacketType.MESSAGE, '{"a":1}')),
        ("5", Packet(PacketType.UPGRADE)),
        ("6", Packet(PacketType.NOOP)),
        ("4b", Packet(PacketType.MESSAGE, "b")),
    ],
)
def test_known_text_frames_decode(text: str, packet: Packet) -> None:
    assert decode_frame(text) == packet
    assert decode_payload(text) == [packet]


def test_message_data_is_opaque_not_json_decoded() -> None:
    (packet,) = decode_payload('4{"x": [1, 2]}')
    assert packet.data == '{"x": [1, 2]}'


# ------------------------------------------------------------- Packet itself
def test_only_message_packets_may_carry_bytes() -> None:
    with pytest.raises(ValueError):
        Packet(PacketType.PING, b"probe")


def test_packet_data_must_be_str_or_bytes() -> None:
    with pytest.raises(TypeError):
        Packet(PacketType.MESSAGE, 42)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [bytearray(b"xy"), memoryview(b"xy")])
def test_bytes_like_message_data_is_normalised_to_bytes(data: bytearray | memoryview) -> None:
    packet = Packet(PacketType.MESSAGE, data)  # type: ignore[arg-type]
    assert type(packet.data) is bytes
    assert packet == Packet(PacketType.MESSAGE, b"xy")
    assert packet.is_binary


def test_text_packet_is_not_binary() -> None:
    assert not Packet(PacketType.MESSAGE, "xy").is_binary
    assert not Packet(PacketType.MESSAGE).is_binary
