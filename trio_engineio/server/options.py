"""Validated server options, with python-engineio's names and defaults."""

from __future__ import annotations

import json as _json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._json import JSONModule
from ..bus.messages import check_node_id

__all__ = ["JSONModule", "OriginPolicy", "ServerOptions"]

VALID_TRANSPORTS = ("polling", "websocket")


#: ``None`` (same origin), ``"*"`` (any), a list of origins (``[]``: no CORS handling at
#: all, as in python-engineio), or a predicate ``(origin)`` or ``(origin, environ)``.
OriginPolicy = str | Sequence[str] | Callable[..., bool] | None


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Every tunable of a :class:`~trio_engineio.Server`, validated once."""

    ping_interval: float
    ping_grace: float
    ping_timeout: float
    max_http_buffer_size: int
    allow_upgrades: bool
    http_compression: bool
    compression_threshold: int
    cookie: dict[str, Any] | None
    cors_allowed_origins: OriginPolicy
    cors_credentials: bool
    transports: tuple[str, ...]
    json: JSONModule
    upgrade_timeout: float
    max_buffered_messages: int
    max_buffered_bytes: int
    max_queued_incoming: int
    direct_replies: bool
    max_concurrent_handlers: int
    connect_timeout: float
    shutdown_timeout: float
    trust_forwarded_headers: bool
    #: This server's node id (its session ids start ``<node_id>.``), or ``None``.
    node_id: str | None = None

    @classmethod
    def build(
        cls,
        *,
        ping_interval: float | tuple[float, float] = 25,
        ping_timeout: float = 20,
        max_http_buffer_size: int = 1_000_000,
        allow_upgrades: bool = True,
        http_compression: bool = True,
        compression_threshold: int = 1024,
        cookie: str | dict[str, Any] | None = None,
        cors_allowed_origins: OriginPolicy = None,
        cors_credentials: bool = True,
        transports: str | Sequence[str] | None = None,
        json: JSONModule | None = None,
        upgrade_timeout: float = 10,
        max_buffered_messages: int = 1000,
        max_buffered_bytes: int = 4 * 1024 * 1024,
        max_queued_incoming: int = 256,
        direct_replies: bool = True,
        max_concurrent_handlers: int = 1000,
        connect_timeout: float = 10,
        shutdown_timeout: float = 5,
        trust_forwarded_headers: bool = False,
        node_id: str | None = None,
    ) -> ServerOptions:
        """Validate keyword options; raise ``ValueError``/``TypeError`` on bad values."""
        if isinstance(ping_interval, tuple):
            if len(ping_interval) != 2:
                raise ValueError("ping_interval tuple must be (interval, grace)")
            interval, grace = float(ping_interval[0]), float(ping_interval[1])
        else:
            interval, grace = float(ping_interval), 0.0
        _positive("ping_interval", interval)
        if grace < 0 or not math.isfinite(grace):
            raise ValueError("ping_interval grace must be >= 0")
        _positive("ping_timeout", float(ping_timeout))
        _positive("upgrade_timeout", float(upgrade_timeout))
        _positive("connect_timeout", float(connect_timeout))
        _positive("shutdown_timeout", float(shutdown_timeout))
        for name, value in (
            ("max_http_buffer_size", max_http_buffer_size),
            ("max_buffered_messages", max_buffered_messages),
            ("max_buffered_bytes", max_buffered_bytes),
            ("max_queued_incoming", max_queued_incoming),
            ("max_concurrent_handlers", max_concurrent_handlers),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(compression_threshold, bool) or compression_threshold < 0:
            raise ValueError("compression_threshold must be >= 0")
        if transports is None:
            chosen: tuple[str, ...] = VALID_TRANSPORTS
        else:
            requested = [transports] if isinstance(transports, str) else list(transports)
            unknown = [t for t in requested if t not in VALID_TRANSPORTS]
            if unknown or not requested:
                raise ValueError(f"transports must be a non-empty subset of {VALID_TRANSPORTS}")
            chosen = tuple(t for t in VALID_TRANSPORTS if t in requested)
        return cls(
            ping_interval=interval,
            ping_grace=grace,
            ping_timeout=float(ping_timeout),
            max_http_buffer_size=max_http_buffer_size,
            allow_upgrades=bool(allow_upgrades),
            http_compression=bool(http_compression),
            compression_threshold=int(compression_threshold),
            cookie=_cookie_options(cookie),
            cors_allowed_origins=_origin_policy(cors_allowed_origins),
            cors_credentials=bool(cors_credentials),
            transports=chosen,
            json=json if json is not None else _json,
            upgrade_timeout=float(upgrade_timeout),
            max_buffered_messages=max_buffered_messages,
            max_buffered_bytes=max_buffered_bytes,
            max_queued_incoming=max_queued_incoming,
            direct_replies=direct_replies,
            max_concurrent_handlers=max_concurrent_handlers,
            connect_timeout=float(connect_timeout),
            shutdown_timeout=float(shutdown_timeout),
            trust_forwarded_headers=bool(trust_forwarded_headers),
            node_id=_node_id(node_id),
        )

    @property
    def upgrades(self) -> tuple[str, ...]:
        """What a polling session is offered in its handshake."""
        if self.allow_upgrades and "websocket" in self.transports:
            return ("websocket",)
        return ()


def _node_id(node_id: str | None) -> str | None:
    return None if node_id is None else check_node_id(node_id)


def _positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


_COOKIE_FORBIDDEN = frozenset(";\r\n\x00,")


def _cookie_options(cookie: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if cookie is None:
        return None
    if isinstance(cookie, str):
        options: dict[str, Any] = {"name": cookie}
    elif isinstance(cookie, dict):
        # Attribute names are case-insensitive ("SameSite" and "samesite" are one attribute).
        options = {str(key).lower(): value for key, value in cookie.items()}
    else:
        raise TypeError("cookie must be a name (str), a dict of attributes, or None")
    options.setdefault("name", "io")
    options.setdefault("path", "/")
    options.setdefault("httponly", True)
    options.setdefault("samesite", "Lax")
    for key, value in options.items():
        if not cookie_value_ok(value) and not callable(value):
            raise ValueError(
                f"cookie attribute {key!r} must be a str without ';', CR, LF, a bool or a callable"
            )
    return options


def cookie_value_ok(value: Any) -> bool:
    """Whether ``value`` can be written as a cookie attribute (callables are checked once called)."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return True
    return isinstance(value, str) and not (_COOKIE_FORBIDDEN & set(value)) and value.isprintable()


def _origin_policy(policy: OriginPolicy) -> OriginPolicy:
    if policy is None or callable(policy) or policy == "*":
        return policy
    if isinstance(policy, str):
        return (policy,)
    origins = tuple(policy)
    if not all(isinstance(o, str) for o in origins):
        raise TypeError("cors_allowed_origins must contain strings")
    if "*" in origins:
        return "*"
    return origins
