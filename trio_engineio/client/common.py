"""Small pieces the client's transports share: URLs, TLS settings, wake-ups, transport errors."""

from __future__ import annotations

import ssl as _ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import trio

from ..protocol.reasons import CloseInfo, CloseReason

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "EngineURL",
    "Notifier",
    "SSLOption",
    "TransportFailed",
    "describe_error",
    "single_exception",
    "websocket_ssl_context",
]

#: What ``open_client(ssl=...)`` accepts: ``None``/``True`` verify with the system CAs,
#: an :class:`ssl.SSLContext` is used as is, ``False`` turns verification off (explicitly).
SSLOption = _ssl.SSLContext | bool | None

_HTTP_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


class TransportFailed(Exception):
    """A transport operation failed; ``info`` is the close reason it implies (internal)."""

    def __init__(self, info: CloseInfo, *, status_code: int | None = None) -> None:
        self.info = info
        #: The HTTP status when the server answered a request with an error status.
        self.status_code = status_code
        super().__init__(str(info))

    @classmethod
    def closed(cls, description: str) -> TransportFailed:
        """The connection went away."""
        return cls(CloseInfo(CloseReason.TRANSPORT_CLOSE, description))

    @classmethod
    def error(cls, description: str, *, status_code: int | None = None) -> TransportFailed:
        """The server broke a transport rule (or refused a request with ``status_code``)."""
        return cls(CloseInfo(CloseReason.TRANSPORT_ERROR, description), status_code=status_code)

    @classmethod
    def too_large(cls, description: str) -> TransportFailed:
        """The server sent more than the client accepts in one piece."""
        return cls(CloseInfo(CloseReason.PAYLOAD_TOO_LARGE, description))


@dataclass(frozen=True)
class EngineURL:
    """Where the Engine.IO endpoint is, as http(s) and ws(s) URLs with the user's query kept."""

    scheme: str  # "http" or "https"
    netloc: str
    path: str  # ends with "/"
    extra_query: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, url: str, engineio_path: str = "engine.io") -> EngineURL:
        """Accept ``http(s)://`` or ``ws(s)://`` URLs; ``engineio_path`` goes after the URL's path."""
        parts = urlsplit(url)
        scheme = _HTTP_SCHEMES.get(parts.scheme.lower())
        if scheme is None:
            raise ValueError(f"URL scheme must be http, https, ws or wss, not {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError(f"URL has no host: {url!r}")
        base = parts.path.rstrip("/")
        sub = engineio_path.strip("/")
        path = f"{base}/{sub}/" if sub else f"{base}/"
        query = tuple(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k not in ("EIO", "transport", "sid", "t")
        )
        return cls(scheme=scheme, netloc=parts.netloc, path=path, extra_query=query)

    @property
    def secure(self) -> bool:
        """True for https/wss."""
        return self.scheme == "https"

    def http(self, *, sid: str | None = None) -> str:
        """The polling URL (``transport=polling``)."""
        return self._build(self.scheme, "polling", sid)

    def websocket(self, *, sid: str | None = None) -> str:
        """The websocket URL (``transport=websocket``)."""
        return self._build(_WS_SCHEMES[self.scheme], "websocket", sid)

    def _build(self, scheme: str, transport: str, sid: str | None) -> str:
        params = [*self.extra_query, ("EIO", "4"), ("transport", transport)]
        if sid is not None:
            params.append(("sid", sid))
        return urlunsplit((scheme, self.netloc, self.path, urlencode(params), ""))


def websocket_ssl_context(url: EngineURL, ssl: SSLOption) -> _ssl.SSLContext | None:
    """The TLS context trio-websocket needs for ``url`` (``None`` for plain ws)."""
    if not url.secure:
        return None
    if isinstance(ssl, _ssl.SSLContext):
        return ssl
    context = _ssl.create_default_context()
    if ssl is False:
        context.check_hostname = False
        context.verify_mode = _ssl.CERT_NONE
    return context


class Notifier:
    """A broadcast wake-up: tasks wait until a predicate over shared state holds."""

    def __init__(self) -> None:
        self._event = trio.Event()
        self._waiters = 0

    def notify(self) -> None:
        """Wake every waiter so it re-checks its predicate (nothing to do if none waits)."""
        if self._waiters:
            self._event.set()
            self._event = trio.Event()
            self._waiters = 0

    async def wait_changed(self) -> None:
        """Wait for the next :meth:`notify`."""
        event = self._event
        self._waiters += 1
        try:
            await event.wait()
        finally:
            if self._event is event:  # cancelled before the notify: no longer waiting
                self._waiters -= 1

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true (checked after each :meth:`notify`).

        Always a checkpoint, and never one after the predicate was found true: the
        caller may act on it without another task changing the state in between.
        """
        await trio.lowlevel.checkpoint()
        while not predicate():
            await self.wait_changed()


def describe_error(exc: BaseException) -> str:
    """The error and what caused it, for messages.

    httpx's trio backend and trio's TLS errors leave the reason in ``__cause__``.
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        text = str(current)
        part = f"{type(current).__name__}: {text}" if text else type(current).__name__
        if not parts or (text and text not in parts[-1]):
            parts.append(part)
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


def single_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside (possibly nested) single-member groups, else ``None``."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc
