"""The OPEN packet's JSON (protocol/handshake.py), both directions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_engineio.protocol import DEFAULT_MAX_PAYLOAD, Handshake, HandshakeError, seconds_to_ms

VALID: dict[str, Any] = {
    "sid": "abc",
    "upgrades": ["websocket"],
    "pingInterval": 25000,
    "pingTimeout": 20000,
    "maxPayload": 1000000,
}


def with_(**changes: Any) -> str:
    obj = {**VALID, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not ...})


handshakes = st.builds(
    Handshake,
    sid=st.text(min_size=1),
    upgrades=st.lists(st.sampled_from(["websocket", "polling", "webtransport"]), max_size=2).map(tuple),
    ping_interval_ms=st.integers(1, 2**53),
    ping_timeout_ms=st.integers(1, 2**53),
    max_payload=st.integers(1, 2**53),
)


# ------------------------------------------------------------------- encode
def test_encode_has_exactly_the_five_keys_with_integer_ms() -> None:
    hs = Handshake("sid1", ("websocket",), 25000, 20000, 1_000_000)
    data = hs.encode()
    assert data == (
        '{"sid":"sid1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
    )
    obj = json.loads(data)
    assert set(obj) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    for key in ("pingInterval", "pingTimeout", "maxPayload"):
        assert type(obj[key]) is int


def test_encode_websocket_session_announces_no_upgrades() -> None:
    assert json.loads(Handshake("s", (), 1, 1, 1).encode())["upgrades"] == []


@given(handshakes)
def test_handshake_round_trips(hs: Handshake) -> None:
    assert Handshake.decode(hs.encode()) == hs


def test_encode_accepts_a_custom_dumps() -> None:
    seen = {}

    def dumps(obj: Any, **kwargs: Any) -> str:
        seen.update(obj)
        return json.dumps(obj, **kwargs)

    Handshake("s", (), 1, 2, 3).encode(dumps=dumps)
    assert seen["pingTimeout"] == 2


# ------------------------------------------------------------- seconds_to_ms
@pytest.mark.parametrize(
    ("seconds", "ms"),
    [
        (0.3, 300),
        (0.5, 500),
        (25, 25000),
        (20.0, 20000),
        (0.001, 1),
        (1e-9, 1),
        (5e-4, 1),
        (0, 0),
        (0.1 + 0.2, 300),
    ],
)
def test_d4_seconds_to_ms(seconds: float, ms: int) -> None:
    assert seconds_to_ms(seconds) == ms
    assert type(seconds_to_ms(seconds)) is int


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, exclude_min=True))
def test_d4_positive_interval_is_never_zero_ms_and_rounds_to_nearest(seconds: float) -> None:
    ms = seconds_to_ms(seconds)
    assert ms >= 1
    assert abs(ms - seconds * 1000) <= max(0.5, 1 - seconds * 1000) + 1e-6


# ---------------------------------------------------------- decode: accepted
def test_h1_decode_valid_handshake() -> None:
    assert Handshake.decode(with_()) == Handshake("abc", ("websocket",), 25000, 20000, 1_000_000)


def test_h1_missing_max_payload_uses_default() -> None:
    assert Handshake.decode(with_(maxPayload=...)).max_payload == DEFAULT_MAX_PAYLOAD


def test_h1_null_max_payload_uses_default() -> None:
    assert Handshake.decode(with_(maxPayload=None)).max_payload == DEFAULT_MAX_PAYLOAD


def test_h1_missing_upgrades_means_none() -> None:
    assert Handshake.decode(with_(upgrades=...)).upgrades == ()


def test_h1_integral_float_is_accepted_as_int() -> None:
    hs = Handshake.decode(with_(pingInterval=25000.0))
    assert hs.ping_interval_ms == 25000
    assert type(hs.ping_interval_ms) is int


def test_h1_unknown_keys_are_ignored() -> None:
    assert Handshake.decode(with_(extra={"x": 1})).sid == "abc"


# ---------------------------------------------------------- decode: refused
@pytest.mark.parametrize(
    "data",
    [
        pytest.param("", id="empty"),
        pytest.param("nope", id="not-json"),
        pytest.param("{", id="truncated-json"),
        pytest.param("[" * 100_000, id="deeply-nested"),
        pytest.param("[]", id="list"),
        pytest.param("1", id="number"),
        pytest.param('"sid"', id="string"),
        pytest.param("null", id="null"),
        pytest.param(with_(sid=...), id="missing-sid"),
        pytest.param(with_(sid=""), id="empty-sid"),
        pytest.param(with_(sid=1), id="numeric-sid"),
        pytest.param(with_(sid=None), id="null-sid"),
        pytest.param(with_(upgrades="websocket"), id="upgrades-string"),
        pytest.param(with_(upgrades=[1]), id="upgrades-ints"),
        pytest.param(with_(pingInterval=...), id="missing-pingInterval"),
        pytest.param(with_(pingTimeout=...), id="missing-pingTimeout"),
        pytest.param(with_(pingInterval=None), id="null-pingInterval"),
        pytest.param(with_(pingInterval="25000"), id="numeric-string-pingInterval"),
        pytest.param(with_(pingTimeout="20000"), id="numeric-string-pingTimeout"),
        pytest.param(with_(maxPayload="1000000"), id="numeric-string-maxPayload"),
        pytest.param(with_(pingInterval=True), id="bool-pingInterval"),
        pytest.param(with_(pingTimeout=False), id="bool-pingTimeout"),
        pytest.param(with_(maxPayload=True), id="bool-maxPayload"),
        pytest.param(with_(pingInterval=-1), id="negative-pingInterval"),
        pytest.param(with_(pingTimeout=-20000), id="negative-pingTimeout"),
        pytest.param(with_(maxPayload=-1), id="negative-maxPayload"),
        pytest.param(with_(pingInterval=0), id="zero-pingInterval"),
        pytest.param(with_(maxPayload=0), id="zero-maxPayload"),
        pytest.param(with_(pingInterval=25000.5), id="fractional-pingInterval"),
        pytest.param(with_(pingTimeout=0.5), id="fractional-pingTimeout"),
        pytest.param(with_(maxPayload=1.5), id="fractional-maxPayload"),
        pytest.param(with_(pingInterval=[25000]), id="list-pingInterval"),
        pytest.param(with_().replace("25000", "NaN"), id="nan-pingInterval"),
        pytest.param(with_().replace("25000", "Infinity"), id="infinity-pingInterval"),
        pytest.param(with_().replace("25000", "1e400"), id="overflowing-pingInterval"),
    ],
)
def test_h1_bad_handshake_is_handshake_error(data: str) -> None:
    with pytest.raises(HandshakeError):
        Handshake.decode(data)


@given(
    st.text()
    | st.dictionaries(
        st.sampled_from(list(VALID)),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.lists(st.text()),
    ).map(json.dumps)
)
def test_h1_any_text_gives_handshake_or_handshake_error(data: str) -> None:
    try:
        hs = Handshake.decode(data)
    except HandshakeError:
        return
    assert hs.sid
    assert min(hs.ping_interval_ms, hs.ping_timeout_ms, hs.max_payload) >= 1
