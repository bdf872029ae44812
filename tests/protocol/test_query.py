"""Query-string validation and the reference rejection bodies (protocol/query.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_engineio.protocol import (
    MAX_QUERY_LENGTH,
    MAX_SID_LENGTH,
    EngineQuery,
    ErrorCode,
    RequestRejected,
    parse_query,
)

TRANSPORTS = frozenset({"polling", "websocket"})


def parse(raw: bytes) -> EngineQuery:
    return parse_query(raw, transports=TRANSPORTS)


def parse_or_rejection(raw: bytes) -> EngineQuery | RequestRejected:
    """Any exception other than RequestRejected propagates and fails the test."""
    try:
        return parse(raw)
    except RequestRejected as exc:
        return exc


def rejected(raw: bytes) -> RequestRejected:
    with pytest.raises(RequestRejected) as info:
        parse(raw)
    return info.value


# -------------------------------------------------------------------- valid
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"EIO=4&transport=polling", EngineQuery("polling", None, 4)),
        (b"transport=websocket&EIO=4", EngineQuery("websocket", None, 4)),
        (b"EIO=4&transport=polling&sid=abc-_.~XYZ09", EngineQuery("polling", "abc-_.~XYZ09", 4)),
        (b"EIO=%34&transport=%70olling", EngineQuery("polling", None, 4)),
        (b"EIO=4&&transport=polling&", EngineQuery("polling", None, 4)),
        (b"EIO=4&transport=polling&foo=bar&foo=baz&x", EngineQuery("polling", None, 4)),
    ],
)
def test_valid_query_is_parsed(raw: bytes, expected: EngineQuery) -> None:
    assert parse(raw) == expected


@pytest.mark.parametrize("t", [b"t=abc", b"t=", b"t=1&t=2", b"t=%FF%00", b"t"])
def test_t_cache_buster_is_ignored(t: bytes) -> None:
    assert parse(b"EIO=4&transport=polling&" + t) == EngineQuery("polling", None, 4)


def test_transport_must_be_one_of_the_enabled_transports() -> None:
    with pytest.raises(RequestRejected) as info:
        parse_query(b"EIO=4&transport=websocket", transports=("polling",))
    assert info.value.code is ErrorCode.UNKNOWN_TRANSPORT


# ---------------------------------------------------------------- A1 EIO
@pytest.mark.parametrize(
    "eio",
    [
        pytest.param(b"", id="absent"),
        pytest.param(b"&EIO=", id="empty"),
        pytest.param(b"&EIO=abc", id="abc"),
        pytest.param(b"&EIO=3", id="3"),
        pytest.param(b"&EIO=5", id="5"),
        pytest.param(b"&EIO=04", id="04"),
        pytest.param(b"&EIO=4.0", id="4.0"),
        pytest.param(b"&EIO=4&EIO=4", id="repeated-same"),
        pytest.param(b"&EIO=4&EIO=3", id="repeated-different"),
        pytest.param(b"&EIO=%FF", id="non-utf8"),
    ],
)
def test_a1_missing_or_invalid_eio_is_code_5(eio: bytes) -> None:
    exc = rejected(b"transport=polling" + eio)
    assert exc.code is ErrorCode.UNSUPPORTED_PROTOCOL_VERSION
    assert exc.status == 400


# ---------------------------------------------------------- A2 transport
@pytest.mark.parametrize(
    "transport",
    [
        pytest.param(b"", id="absent"),
        pytest.param(b"&transport=", id="empty"),
        pytest.param(b"&transport=abc", id="abc"),
        pytest.param(b"&transport=__proto__", id="__proto__"),
        pytest.param(b"&transport=constructor", id="constructor"),
        pytest.param(b"&transport=Polling", id="wrong-case"),
        pytest.param(b"&transport=polling&transport=polling", id="repeated"),
        pytest.param(b"&transport=%FFpolling", id="non-utf8"),
        pytest.param(b"&transport=polling%00", id="nul"),
    ],
)
def test_a2_missing_or_unknown_transport_is_code_0(transport: bytes) -> None:
    exc = rejected(b"EIO=4" + transport)
    assert exc.code is ErrorCode.UNKNOWN_TRANSPORT
    assert exc.status == 400


def test_a2_transport_is_checked_before_eio_like_the_reference() -> None:
    assert rejected(b"EIO=3&transport=abc").code is ErrorCode.UNKNOWN_TRANSPORT


# ------------------------------------------------------------------ A5 sid
@pytest.mark.parametrize("sid", [b"__proto__", b"constructor", b"hasOwnProperty"])
def test_a5_prototype_named_sid_is_syntactically_valid(sid: bytes) -> None:
    # Not a rejection here: the server's registry lookup says "unknown sid".
    assert parse(b"EIO=4&transport=polling&sid=" + sid).sid == sid.decode()


@pytest.mark.parametrize(
    "sid",
    [
        pytest.param(b"sid=" + b"a" * 10_000, id="10kB"),
        pytest.param(b"sid=" + b"a" * (MAX_SID_LENGTH + 1), id="over-max-length"),
        pytest.param(b"sid=abc%0A", id="%0A"),
        pytest.param(b"sid=abc%0D%0Ainjected", id="crlf"),
        pytest.param(b"sid=abc%00", id="%00"),
        pytest.param(b"sid=abc\n", id="raw-newline"),
        pytest.param(b"sid=a%20b", id="space"),
        pytest.param(b"sid=a+b", id="plus"),
        pytest.param(b"sid=%FF", id="non-utf8"),
        pytest.param("sid=é".encode(), id="non-ascii"),
        pytest.param(b"sid=", id="empty"),
        pytest.param(b"sid=abc&sid=abc", id="repeated-same"),
        pytest.param(b"sid=abc&sid=def", id="repeated-different"),
    ],
)
def test_a5_malformed_or_repeated_sid_is_code_1(sid: bytes) -> None:
    exc = rejected(b"EIO=4&transport=polling&" + sid)
    assert exc.code is ErrorCode.UNKNOWN_SID
    assert exc.status == 400


def test_a5_sid_of_max_length_is_accepted() -> None:
    sid = "a" * MAX_SID_LENGTH
    assert parse(b"EIO=4&transport=polling&sid=" + sid.encode()).sid == sid


@pytest.mark.parametrize("sid", [b"a" * 10_000, b"x%0Ay%0D%0A" * 100, b"%00" * 1000])
def test_a5_rejection_text_is_bounded_and_has_no_raw_control_chars(sid: bytes) -> None:
    exc = rejected(b"EIO=4&transport=polling&sid=" + sid)
    text = str(exc)
    assert len(text) < 200
    assert "\n" not in text
    assert "\r" not in text
    assert "\x00" not in text
    assert len(exc.body()) < 100


# ------------------------------------------------------- A6 size, encoding
def test_a6_huge_query_is_code_3() -> None:
    raw = b"EIO=4&transport=polling&x=" + b"a" * MAX_QUERY_LENGTH
    exc = rejected(raw)
    assert exc.code is ErrorCode.BAD_REQUEST
    assert exc.status == 400


def test_a6_query_of_exactly_max_length_is_accepted() -> None:
    head = b"EIO=4&transport=polling&x="
    raw = head + b"a" * (MAX_QUERY_LENGTH - len(head))
    assert len(raw) == MAX_QUERY_LENGTH
    assert parse(raw).transport == "polling"


def test_a6_non_utf8_in_unrelated_parameter_is_ignored() -> None:
    assert parse(b"EIO=4&transport=polling&x=%FF\xfe").transport == "polling"


@given(st.binary(max_size=MAX_QUERY_LENGTH + 64))
def test_a6_any_bytes_give_a_query_or_a_rejection(raw: bytes) -> None:
    result = parse_or_rejection(raw)
    if isinstance(result, RequestRejected):
        assert result.status == 400
        assert set(json.loads(result.body())) == {"code", "message"}
    else:
        assert result.transport in TRANSPORTS


query_soup = st.lists(
    st.sampled_from(
        [b"EIO", b"transport", b"sid", b"j", b"t", b"=", b"&", b"4", b"3", b"polling", b"websocket",
         b"%", b"%FF", b"%0A", b"%00", b"+", b"__proto__", b"abc", b"\xff", b"\x00"]
    ),
    max_size=16,
).map(b"".join)  # fmt: skip


@given(query_soup)
def test_a6_query_grammar_soup_gives_a_query_or_a_rejection(raw: bytes) -> None:
    result = parse_or_rejection(raw)
    if isinstance(result, RequestRejected):
        assert isinstance(result.code, ErrorCode)
    else:
        assert result.eio == 4
        assert result.sid is None or result.sid.isascii()


# ----------------------------------------------------------------- A7 JSONP
@pytest.mark.parametrize("j", [b"j=", b"j=0", b"j=1&j=2", b"j"])
def test_a7_jsonp_is_code_3(j: bytes) -> None:
    exc = rejected(b"EIO=4&transport=polling&" + j)
    assert exc.code is ErrorCode.BAD_REQUEST
    assert exc.status == 400


# ----------------------------------------------------- RequestRejected body
REFERENCE_MESSAGES = {
    0: "Transport unknown",
    1: "Session ID unknown",
    2: "Bad handshake method",
    3: "Bad request",
    4: "Forbidden",
    5: "Unsupported protocol version",
}


@pytest.mark.parametrize("code", list(ErrorCode))
def test_rejection_body_is_reference_json(code: ErrorCode) -> None:
    exc = RequestRejected(code, "some detail")
    body = json.loads(exc.body())
    assert body == {"code": int(code), "message": REFERENCE_MESSAGES[int(code)]}
    assert type(body["code"]) is int
    assert code.message == REFERENCE_MESSAGES[int(code)]


@pytest.mark.parametrize("code", list(ErrorCode))
def test_status_is_403_only_for_forbidden(code: ErrorCode) -> None:
    expected = 403 if code is ErrorCode.FORBIDDEN else 400
    assert code.http_status == expected
    assert RequestRejected(code).status == expected


def test_rejection_detail_stays_out_of_the_body() -> None:
    exc = RequestRejected(ErrorCode.UNKNOWN_SID, "secret detail")
    assert b"secret" not in exc.body()
    assert "secret detail" in str(exc)
    assert exc.detail == "secret detail"


def test_rejection_message_and_status_can_be_overridden() -> None:
    exc = RequestRejected(ErrorCode.FORBIDDEN, message="Not allowed", status=401)
    assert exc.status == 401
    assert json.loads(exc.body()) == {"code": 4, "message": "Not allowed"}


def test_accepted_handshake_queries_are_remembered_but_still_checked_per_server() -> None:
    raw = b"EIO=4&transport=websocket"
    first = parse_query(raw, transports=("polling", "websocket"))
    assert parse_query(raw, transports=("polling", "websocket")) is first
    # Another server that does not offer websocket refuses the same query string.
    with pytest.raises(RequestRejected) as refused:
        parse_query(raw, transports=("polling",))
    assert refused.value.code is ErrorCode.UNKNOWN_TRANSPORT
    # Queries with a sid are never remembered; many distinct handshakes stay bounded.
    for i in range(100):
        parse_query(b"EIO=4&transport=polling&t=%d" % i, transports=("polling",))
    from trio_engineio.protocol import query

    assert len(query._ACCEPTED) <= 32
    assert all(q.sid is None for q in query._ACCEPTED.values())
