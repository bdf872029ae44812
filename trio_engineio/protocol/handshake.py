"""The OPEN packet's JSON body: what a server announces to a new session."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import HandshakeError
from .query import SID_CHARS

__all__ = ["DEFAULT_MAX_PAYLOAD", "Handshake", "HandshakeTemplate", "seconds_to_ms"]

#: maxPayload assumed when an (older) server does not announce one.
DEFAULT_MAX_PAYLOAD = 1_000_000


def seconds_to_ms(seconds: float) -> int:
    """Convert an interval in seconds to whole milliseconds, never truncating to 0.

    ``0.3`` becomes ``300`` (not ``299`` through float error); any positive
    interval becomes at least 1 ms.
    """
    ms = round(seconds * 1000)
    if ms <= 0 < seconds:
        return 1
    return int(ms)


@dataclass(frozen=True, slots=True)
class Handshake:
    """The five fields of an Engine.IO v4 OPEN packet."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval_ms: int
    ping_timeout_ms: int
    max_payload: int

    def encode(self, dumps: Callable[..., str] = json.dumps) -> str:
        """The OPEN packet's data: a JSON object with exactly the five keys."""
        return dumps(
            {
                "sid": self.sid,
                "upgrades": list(self.upgrades),
                "pingInterval": self.ping_interval_ms,
                "pingTimeout": self.ping_timeout_ms,
                "maxPayload": self.max_payload,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, data: str, loads: Callable[[str], Any] = json.loads) -> Handshake:
        """Parse an OPEN packet's data strictly; raise :class:`HandshakeError`."""
        try:
            obj = loads(data)
        except (ValueError, TypeError, RecursionError) as exc:
            # RecursionError: deeply nested JSON (``[[[[...``) from a hostile server.
            raise HandshakeError("handshake is not valid JSON") from exc
        if not isinstance(obj, dict):
            raise HandshakeError("handshake is not a JSON object")
        sid = obj.get("sid")
        if not isinstance(sid, str) or not sid:
            raise HandshakeError("handshake has no valid 'sid'")
        upgrades = obj.get("upgrades", [])
        if not isinstance(upgrades, list) or not all(isinstance(u, str) for u in upgrades):
            raise HandshakeError("handshake 'upgrades' is not a list of strings")
        ping_interval = _positive_int(obj, "pingInterval", required=True)
        ping_timeout = _positive_int(obj, "pingTimeout", required=True)
        max_payload = _positive_int(obj, "maxPayload", required=False)
        return cls(
            sid=sid,
            upgrades=tuple(upgrades),
            ping_interval_ms=ping_interval,
            ping_timeout_ms=ping_timeout,
            max_payload=max_payload or DEFAULT_MAX_PAYLOAD,
        )


class HandshakeTemplate:
    """The OPEN data of every session with the same settings, rendered for one sid at a time.

    A server announces the same four fields to each new session; only the sid
    differs. The template encodes the JSON once, so a handshake costs a string
    concatenation (the sid is JSON-escaped only if it has characters outside
    :data:`~trio_engineio.protocol.query.SID_CHARS`).
    """

    __slots__ = ("_tail",)

    _HEAD = '{"sid":""'

    def __init__(self, handshake: Handshake) -> None:
        text = dataclasses.replace(handshake, sid="").encode()
        assert text.startswith(self._HEAD)
        self._tail = text[len(self._HEAD) :]

    def encode(self, sid: str) -> str:
        """The OPEN packet's data for ``sid``: what ``Handshake.encode()`` returns, faster."""
        if SID_CHARS.issuperset(sid):
            return '{"sid":"' + sid + '"' + self._tail
        return '{"sid":' + json.dumps(sid) + self._tail


def _positive_int(obj: dict[str, Any], key: str, *, required: bool) -> int:
    value = obj.get(key)
    if value is None and not required:
        return 0
    # bool is an int subclass and numeric strings are not numbers: refuse both.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HandshakeError(f"handshake {key!r} is missing or not a number")
    if not math.isfinite(value) or value <= 0 or value != int(value):
        raise HandshakeError(f"handshake {key!r} must be a positive integer")
    return int(value)
