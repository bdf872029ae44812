"""Which proxy the client uses, and byte streams to a server through it.

:func:`select_proxy` picks the proxy for a URL with httpx's rules (``HTTP_PROXY``,
``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, lower-case names first, through
:func:`urllib.request.getproxies`), or takes the one given explicitly.
:func:`open_stream` connects to a host and port directly, through an HTTP(S)
proxy's ``CONNECT`` tunnel (the request and answer parsed by h11), or through a
SOCKS5 proxy (the handshake by ``socksio``), then wraps the stream in TLS if
asked. Credentials come from the proxy URL's userinfo. A proxy that refuses
raises :class:`ProxyRefused`, an :class:`OSError` the transports turn into a
connection error.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import ssl as _ssl
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, urlsplit
from urllib.request import getproxies

import h11
import httpx
import trio

__all__ = ["Proxy", "ProxyOption", "ProxyRefused", "Stream", "open_stream", "select_proxy"]

#: What ``open_client(proxy=...)`` accepts: ``None`` (from the environment, as httpx),
#: a proxy URL (``http://``, ``https://``, ``socks5://``, ``socks5h://``), or ``False`` (none).
ProxyOption = str | Literal[False] | None

#: A connected byte stream: TCP, or TLS over TCP (or TLS over TLS through an https proxy).
Stream = (
    trio.SocketStream | trio.SSLStream[trio.SocketStream] | trio.SSLStream[trio.SSLStream[trio.SocketStream]]
)

_SCHEMES = ("http", "https", "socks5", "socks5h")
_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
#: Longest CONNECT answer head read from a proxy.
_MAX_CONNECT_HEAD = 64 * 1024


class ProxyRefused(OSError):
    """The proxy refused the tunnel (an error status, failed authentication, unreachable target)."""


@dataclass(frozen=True)
class Proxy:
    """One proxy: where it is and the credentials from its URL (never shown by ``repr``)."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> Proxy:
        """``scheme://[user:password@]host[:port]``; raises :class:`ValueError` for anything else."""
        if "://" not in url:
            raise ValueError(f"proxy must be a URL such as 'http://host:3128', not {url!r}")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(f"proxy scheme must be one of {', '.join(_SCHEMES)}, not {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError(f"proxy URL has no host: {url!r}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"proxy URL has a bad port: {url!r}") from None
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port or _DEFAULT_PORTS[scheme],
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password or "") if parts.username is not None else None,
        )

    def __repr__(self) -> str:
        auth = f"{self.username}:********@" if self.username is not None else ""
        return f"Proxy('{self.scheme}://{auth}{self.host}:{self.port}')"

    @property
    def url(self) -> str:
        """The URL without credentials (for messages and logs)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def url_with_auth(self) -> str:
        """The URL with credentials, for httpx's ``proxy=``."""
        if self.username is None:
            return self.url
        auth = quote(self.username, safe="") + ":" + quote(self.password or "", safe="")
        return self.url.replace("://", f"://{auth}@", 1)

    @property
    def forwards_http(self) -> bool:
        """True for an HTTP(S) proxy, which forwards plain-http requests (absolute-form targets)."""
        return self.scheme in ("http", "https")

    def authorization(self) -> bytes | None:
        """The ``Proxy-Authorization`` value (Basic) when the URL carries credentials."""
        if self.username is None:
            return None
        token = f"{self.username}:{self.password or ''}".encode()
        return b"Basic " + base64.b64encode(token)


def select_proxy(url: str, option: ProxyOption, *, trust_env: bool = True) -> Proxy | None:
    """The proxy for the ``http(s)://`` ``url``: ``option`` if a URL, else the environment's.

    ``option=False`` (or ``trust_env=False`` with ``option=None``) means no proxy.
    The environment is read as httpx reads it: ``{http,https,all}_proxy`` (either
    case; a value without a scheme means ``http://``), and ``no_proxy`` entries
    (``*``, host names matching themselves and their subdomains, ``.domain`` only
    subdomains, IP addresses, ``localhost``, or ``scheme://host`` patterns).
    """
    if option is False:
        return None
    if isinstance(option, str):
        return Proxy.parse(option)
    if option is not None:
        raise TypeError(f"proxy must be a URL string, None or False, not {option!r}")
    if not trust_env:
        return None
    return _environment_proxy(url)


def _environment_proxy(url: str) -> Proxy | None:
    target = httpx.URL(url)
    # httpx's mounts: one per key (a later one replaces an earlier).
    mounts: dict[str, str | None] = {}
    info = getproxies()
    for key in ("http", "https", "all"):
        value = info.get(key)
        if value:
            mounts[f"{key}://"] = value if "://" in value else f"http://{value}"
    for entry in (part.strip() for part in info.get("no", "").split(",")):
        if entry == "*":
            return None
        if not entry:
            continue
        if "://" in entry:
            key = entry
        elif _is_ip(entry, ipaddress.IPv4Address) or entry.lower() == "localhost":
            key = f"all://{entry}"
        elif _is_ip(entry, ipaddress.IPv6Address):
            key = f"all://[{entry}]"
        else:
            key = f"all://*{entry}"
        mounts[key] = None
    # Most specific first (a stable sort, as httpx's), the first match wins.
    patterns = sorted(((_Pattern(key), value) for key, value in mounts.items()), key=lambda m: m[0].priority)
    for pattern, value in patterns:
        if pattern.matches(target):
            return Proxy.parse(value) if value is not None else None
    return None


def _is_ip(text: str, kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> bool:
    try:
        kind(text.split("/")[0])
    except ValueError:
        return False
    return True


class _Pattern:
    """httpx's URLPattern for proxy keys: ``all://``, ``https://``, ``all://*example.com``, ..."""

    def __init__(self, key: str) -> None:
        url = httpx.URL(key)
        self.scheme = "" if url.scheme == "all" else url.scheme
        self.host = "" if url.host == "*" else url.host
        self.port = url.port
        self.regex: re.Pattern[str] | None
        if not url.host or url.host == "*":
            self.regex = None
        elif url.host.startswith("*."):
            self.regex = re.compile(f"^.+\\.{re.escape(url.host[2:])}$")
        elif url.host.startswith("*"):
            self.regex = re.compile(f"^(.+\\.)?{re.escape(url.host[1:])}$")
        else:
            self.regex = re.compile(f"^{re.escape(url.host)}$")

    def matches(self, url: httpx.URL) -> bool:
        if self.scheme and self.scheme != url.scheme:
            return False
        if self.host and self.regex is not None and not self.regex.match(url.host):
            return False
        return not (self.port is not None and self.port != url.port)

    @property
    def priority(self) -> tuple[int, int, int]:
        return (0 if self.port is not None else 1, -len(self.host), -len(self.scheme))


async def open_stream(
    host: str,
    port: int,
    *,
    proxy: Proxy | None,
    ssl_context: _ssl.SSLContext | None,
    proxy_ssl_context: _ssl.SSLContext | None = None,
) -> Stream:
    """A stream to ``host:port`` (through ``proxy``), TLS-wrapped with ``ssl_context`` if given.

    The TLS handshake is done here, so a certificate error surfaces from this call.
    ``proxy_ssl_context`` is the TLS context for an ``https://`` proxy itself (the
    system CAs when ``None``). No timeout here: the caller bounds the attempt.
    """
    if proxy is None:
        stream: Stream = await trio.open_tcp_stream(host, port)
    else:
        stream = await _tunnel(proxy, host, port, proxy_ssl_context)
    if ssl_context is None:
        return stream
    tls = trio.SSLStream(stream, ssl_context, server_hostname=host, https_compatible=True)
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return tls  # type: ignore[return-value]


async def open_proxy_stream(proxy: Proxy, proxy_ssl_context: _ssl.SSLContext | None = None) -> Stream:
    """A stream to the proxy itself (TLS for an ``https://`` proxy), for forwarded requests."""
    tcp = await trio.open_tcp_stream(proxy.host, proxy.port)
    if proxy.scheme != "https":
        return tcp
    context = proxy_ssl_context or _ssl.create_default_context()
    tls = trio.SSLStream(tcp, context, server_hostname=proxy.host, https_compatible=True)
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tcp)
        raise
    return tls


async def _tunnel(proxy: Proxy, host: str, port: int, proxy_ssl_context: _ssl.SSLContext | None) -> Stream:
    if proxy.forwards_http:
        stream = await open_proxy_stream(proxy, proxy_ssl_context)
        handshake = _connect_tunnel(stream, proxy, host, port)
    else:
        stream = await trio.open_tcp_stream(proxy.host, proxy.port)
        handshake = _socks5_tunnel(stream, proxy, host, port)
    try:
        await handshake
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return stream


def _authority(host: str, port: int) -> bytes:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}".encode("ascii")


async def _connect_tunnel(stream: Stream, proxy: Proxy, host: str, port: int) -> None:
    """``CONNECT host:port`` through an HTTP(S) proxy; returns once the tunnel is open."""
    target = _authority(host, port)
    headers = [(b"Host", target)]
    authorization = proxy.authorization()
    if authorization is not None:
        headers.append((b"Proxy-Authorization", authorization))
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_CONNECT_HEAD)
    try:
        await stream.send_all(conn.send(h11.Request(method=b"CONNECT", target=target, headers=headers)))
        conn.send(h11.EndOfMessage())
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    raise ProxyRefused(f"proxy {proxy.url} closed the connection without answering CONNECT")
                conn.receive_data(bytes(data))
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                break
            raise ProxyRefused(f"proxy {proxy.url} answered CONNECT with {event!r}")
    except h11.RemoteProtocolError as exc:
        raise ProxyRefused(f"proxy {proxy.url} sent a bad answer to CONNECT: {exc}") from None
    if not 200 <= event.status_code < 300:
        reason = event.reason.decode("latin-1", "replace")
        hint = " (check the credentials in the proxy URL)" if event.status_code == 407 else ""
        raise ProxyRefused(
            f"proxy {proxy.url} refused CONNECT to {target.decode()}: {event.status_code} {reason}{hint}"
        )
    if conn.trailing_data[0]:
        raise ProxyRefused(f"proxy {proxy.url} sent data before the tunnel was used")


_SOCKS_REPLIES = {
    1: "general failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


async def _socks5_tunnel(stream: trio.SocketStream, proxy: Proxy, host: str, port: int) -> None:
    """The SOCKS5 handshake (no auth, or username/password from the URL), then CONNECT."""
    from socksio import ProtocolError, socks5

    conn = socks5.SOCKS5Connection()

    async def exchange() -> object:
        await stream.send_all(conn.data_to_send())
        data = await stream.receive_some(4096)
        if not data:
            raise ProxyRefused(f"SOCKS proxy {proxy.url} closed the connection during the handshake")
        return conn.receive_data(data)

    method = (
        socks5.SOCKS5AuthMethod.NO_AUTH_REQUIRED
        if proxy.username is None
        else socks5.SOCKS5AuthMethod.USERNAME_PASSWORD
    )
    try:
        conn.send(socks5.SOCKS5AuthMethodsRequest([method]))
        reply = await exchange()
        if not isinstance(reply, socks5.SOCKS5AuthReply) or reply.method != method:
            wanted = "no authentication" if proxy.username is None else "username/password"
            raise ProxyRefused(
                f"SOCKS proxy {proxy.url} does not accept {wanted}"
                + (" (put the credentials in the proxy URL)" if proxy.username is None else "")
            )
        if proxy.username is not None:
            conn.send(
                socks5.SOCKS5UsernamePasswordRequest(proxy.username.encode(), (proxy.password or "").encode())
            )
            auth = await exchange()
            if not isinstance(auth, socks5.SOCKS5UsernamePasswordReply) or not auth.success:
                raise ProxyRefused(f"SOCKS proxy {proxy.url} refused the username/password")
        # A host name goes to the proxy as is (it resolves it), as httpx does for socks5 and socks5h.
        conn.send(socks5.SOCKS5CommandRequest.from_address(socks5.SOCKS5Command.CONNECT, (host, port)))
        answer = await exchange()
    except ProtocolError as exc:
        raise ProxyRefused(f"SOCKS proxy {proxy.url} sent a bad answer: {exc}") from None
    if not isinstance(answer, socks5.SOCKS5Reply) or answer.reply_code != socks5.SOCKS5ReplyCode.SUCCEEDED:
        code = int(getattr(answer, "reply_code", 1))
        raise ProxyRefused(
            f"SOCKS proxy {proxy.url} could not connect to {host}:{port}: {_SOCKS_REPLIES.get(code, code)}"
        )
