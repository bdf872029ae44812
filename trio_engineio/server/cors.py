"""Origin checks and CORS headers.

By default only same-origin browsers are accepted: the expected origin is
computed from the request's own scheme and ``Host`` (``X-Forwarded-Proto`` and
``X-Forwarded-Host`` count only when the server trusts forwarded headers).
Requests without an ``Origin`` header (non-browser clients) are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._callables import positional_arity
from .environ import build_environ
from .http import Headers, header_value
from .options import OriginPolicy

__all__ = ["OriginRefused", "check_origin", "cors_headers", "preflight_headers"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_TOKEN_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_, ")


class OriginRefused(Exception):
    """The request's Origin is not allowed; ``malformed`` marks unparsable ones."""

    def __init__(self, origin: bytes, *, malformed: bool = False) -> None:
        self.origin = origin
        self.malformed = malformed
        super().__init__(f"origin {origin[:80]!r} refused")


def _normalise(origin: str) -> str:
    scheme, sep, rest = origin.partition("://")
    if not sep:
        return origin.lower()
    scheme = scheme.lower()
    host = rest.lower().rstrip("/")
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(":" + default):
        host = host[: -len(default) - 1]
    return f"{scheme}://{host}"


def _own_origin(scope: Mapping[str, Any], trust_forwarded: bool) -> str | None:
    scheme = str(scope.get("scheme", "http"))
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    host = header_value(scope, b"host")
    if trust_forwarded:
        forwarded_proto = header_value(scope, b"x-forwarded-proto")
        forwarded_host = header_value(scope, b"x-forwarded-host")
        if forwarded_proto:
            scheme = forwarded_proto.split(b",")[0].strip().decode("latin-1")
        if forwarded_host:
            host = forwarded_host.split(b",")[0].strip()
    if not host:
        server = scope.get("server")
        if not server:
            return None
        host = f"{server[0]}:{server[1]}".encode()
    return _normalise(f"{scheme}://{host.decode('latin-1')}")


def check_origin(
    scope: Mapping[str, Any], policy: OriginPolicy, *, trust_forwarded: bool = False
) -> bytes | None:
    """Return the request's Origin if it is allowed (``None`` if it sent none).

    Raises :class:`OriginRefused` for a refused or malformed Origin.
    """
    raw = header_value(scope, b"origin")
    if raw is None or (policy is not None and not callable(policy) and len(policy) == 0):
        return None
    if not raw or any(c < 0x21 or c > 0x7E for c in raw):
        raise OriginRefused(raw, malformed=True)
    origin = raw.decode("ascii")
    if policy == "*":
        return raw
    if policy is None:
        own = _own_origin(scope, trust_forwarded)
        if own is not None and _normalise(origin) == own:
            return raw
        raise OriginRefused(raw)
    if callable(policy):
        try:
            arity = positional_arity(policy)
            if arity is not None and arity >= 2:
                allowed = bool(policy(origin, build_environ(scope)))
            else:
                allowed = bool(policy(origin))
        except Exception:
            allowed = False
        if allowed:
            return raw
        raise OriginRefused(raw)
    normalised = _normalise(origin)
    if any(_normalise(candidate) == normalised for candidate in policy):
        return raw
    raise OriginRefused(raw)


def cors_headers(origin: bytes | None, *, credentials: bool) -> Headers:
    """Response headers for an allowed cross-origin request."""
    if origin is None:
        return []
    headers: Headers = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
    if credentials:
        headers.append((b"access-control-allow-credentials", b"true"))
    return headers


def preflight_headers(scope: Mapping[str, Any], origin: bytes | None, *, credentials: bool) -> Headers:
    """Headers answering an OPTIONS preflight from an allowed origin."""
    headers = cors_headers(origin, credentials=credentials)
    if origin is None:
        return headers
    headers.append((b"access-control-allow-methods", b"OPTIONS, GET, POST"))
    requested = header_value(scope, b"access-control-request-headers")
    if requested and len(requested) <= 512 and _TOKEN_CHARS.issuperset(requested):
        headers.append((b"access-control-allow-headers", requested))
    headers.append((b"access-control-max-age", b"600"))
    return headers
