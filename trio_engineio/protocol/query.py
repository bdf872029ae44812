"""Validation of Engine.IO request query strings, with the reference error codes.

The JavaScript server answers a rejected request with HTTP 400 (403 for
*Forbidden*) and a JSON body ``{"code": N, "message": "..."}``; this module
produces the same codes and messages.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

__all__ = [
    "MAX_QUERY_LENGTH",
    "MAX_SID_LENGTH",
    "SID_CHARS",
    "EngineQuery",
    "ErrorCode",
    "RequestRejected",
    "parse_query",
]

#: Longest query string accepted, in bytes. Above Node's usual request-line sizes, so
#: that an overlong sid (bad-inputs A5: 10 kB) is reported as code 1, not code 3.
MAX_QUERY_LENGTH = 16 * 1024
#: Longest session id accepted in a query.
MAX_SID_LENGTH = 128

#: The characters a session id may use (URL-safe, and plain in JSON).
SID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


class ErrorCode(enum.IntEnum):
    """Error codes of the reference server, sent in rejection bodies."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5

    @property
    def message(self) -> str:
        """The reference server's message for this code."""
        return _MESSAGES[self]

    @property
    def http_status(self) -> int:
        """403 for FORBIDDEN, 400 for everything else."""
        return 403 if self is ErrorCode.FORBIDDEN else 400


_MESSAGES = {
    ErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    ErrorCode.UNKNOWN_SID: "Session ID unknown",
    ErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    ErrorCode.BAD_REQUEST: "Bad request",
    ErrorCode.FORBIDDEN: "Forbidden",
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


class RequestRejected(Exception):
    """A request refused before it reached a session.

    ``code`` is the reference error code; ``detail`` says what exactly was
    wrong (safe to log: client text is escaped and truncated by the caller's
    formatting with ``%r``). ``status`` may override the HTTP status.
    """

    def __init__(
        self,
        code: ErrorCode,
        detail: str = "",
        *,
        message: str | None = None,
        status: int | None = None,
    ) -> None:
        self.code = code
        self.detail = detail
        self.message = message if message is not None else code.message
        self.status = status if status is not None else code.http_status
        super().__init__(f"{self.message} ({detail})" if detail else self.message)

    def body(self) -> bytes:
        """The JSON body the reference server sends with this rejection."""
        return json.dumps({"code": int(self.code), "message": self.message}).encode()


@dataclass(frozen=True, slots=True)
class EngineQuery:
    """The Engine.IO part of a request's query string."""

    transport: str
    sid: str | None
    eio: int


#: The queries of handshakes (no sid) are all alike: one immutable instance per transport.
_SID_LESS = {t: EngineQuery(transport=t, sid=None, eio=4) for t in ("polling", "websocket")}
#: Handshake query strings already accepted (small, and cleared when full).
_ACCEPTED: dict[bytes, EngineQuery] = {}
_ENGINE_KEYS = frozenset((b"EIO", b"transport", b"sid", b"j"))
_SID_ALLOWED = frozenset(ord(c) for c in SID_CHARS)


def parse_query(raw: bytes, *, transports: frozenset[str] | set[str] | tuple[str, ...]) -> EngineQuery:
    """Parse and validate a raw (percent-encoded) query string.

    Checks, in the reference order: size and encoding (code 3), ``transport``
    (code 0), ``EIO`` (code 5), ``sid`` (code 1), JSONP ``j`` (code 3).
    Unknown parameters (``t`` cache busters, application data) are ignored.
    """
    cached = _ACCEPTED.get(raw)
    if cached is not None and cached.transport in transports:
        return cached
    if len(raw) > MAX_QUERY_LENGTH:
        raise RequestRejected(ErrorCode.BAD_REQUEST, "query string too long")
    # The first value of each Engine.IO parameter; any repeat is an error below.
    found: dict[bytes, bytes] = {}
    repeated: set[bytes] = set()
    if raw:
        for pair in raw.split(b"&"):
            key, _, value = pair.partition(b"=")
            if key in _ENGINE_KEYS:
                if key in found:
                    repeated.add(key)
                    continue
                if b"%" in value or b"+" in value:
                    value = unquote_to_bytes(value.replace(b"+", b" "))
                found[key] = value
    raw_transport = found.get(b"transport")
    if raw_transport is None or b"transport" in repeated:
        raise RequestRejected(ErrorCode.UNKNOWN_TRANSPORT, "missing or repeated transport")
    transport = _ascii(raw_transport)
    if transport is None or transport not in transports:
        raise RequestRejected(ErrorCode.UNKNOWN_TRANSPORT, f"transport {raw_transport[:32]!r}")
    eio = found.get(b"EIO")
    if eio != b"4" or b"EIO" in repeated:
        shown = eio[:16] if eio is not None else None
        raise RequestRejected(ErrorCode.UNSUPPORTED_PROTOCOL_VERSION, f"EIO {shown!r}")
    raw_sid = found.get(b"sid")
    if raw_sid is None:
        if b"j" in found:
            raise RequestRejected(ErrorCode.BAD_REQUEST, "JSONP polling is not supported")
        if len(raw) <= 64:  # e.g. every websocket handshake: "EIO=4&transport=websocket"
            if len(_ACCEPTED) >= 32:
                _ACCEPTED.clear()
            _ACCEPTED[raw] = _SID_LESS[transport]
        return _SID_LESS[transport]
    if b"sid" in repeated:
        raise RequestRejected(ErrorCode.UNKNOWN_SID, "repeated sid")
    if not raw_sid or len(raw_sid) > MAX_SID_LENGTH or not _SID_ALLOWED.issuperset(raw_sid):
        raise RequestRejected(ErrorCode.UNKNOWN_SID, f"malformed sid {raw_sid[:32]!r}")
    if b"j" in found:
        raise RequestRejected(ErrorCode.BAD_REQUEST, "JSONP polling is not supported")
    return EngineQuery(transport=transport, sid=raw_sid.decode("ascii"), eio=4)


def _ascii(value: bytes) -> str | None:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return None
