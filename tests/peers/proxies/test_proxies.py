"""The client through real proxies: tinyproxy (HTTP, CONNECT) and microsocks (SOCKS5).

Every transport goes through the proxy the environment or ``proxy=`` names, and the
proxy's own log shows it did; TLS runs end to end through the tunnel; a proxy that
refuses gives an EngineIOConnectionError within the test's time cap.
"""

from __future__ import annotations

import os
import ssl
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from client_helpers import Client, echo_exchange, open_client
from loopback import echo_server

from trio_engineio import ConnectionRejected, EngineIOConnectionError
from trio_engineio.client.proxy import Proxy, select_proxy

from .proxy_servers import RunningProxy, free_port, run_microsocks, run_tinyproxy

TRANSPORTS = pytest.mark.parametrize(
    ("transports", "expected"),
    [(["polling"], "polling"), (["websocket"], "websocket"), (None, "websocket")],
    ids=["polling", "websocket", "upgrade"],
)
ENV_NAMES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variables from the machine running the tests."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def exchange_until(conn: Any, expected: str) -> None:
    await echo_exchange(conn, [f"via proxy {i}" for i in range(20)] + [b"\x00\xffbinary"])
    while conn.transport != expected:
        await echo_exchange(conn, ["until upgraded"])


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def assert_polled_through_tinyproxy(proxy: RunningProxy, server_port: int) -> None:
    log = proxy.log()
    assert f"GET http://127.0.0.1:{server_port}/engine.io/?EIO=4&transport=polling" in log, log[-2000:]
    assert f"POST http://127.0.0.1:{server_port}/engine.io/?EIO=4&transport=polling&sid=" in log


def assert_tunneled_through_tinyproxy(proxy: RunningProxy, server_port: int) -> None:
    log = proxy.log()
    assert f"CONNECT 127.0.0.1:{server_port} HTTP/1.1" in log, log[-2000:]


def socks_connections(proxy: RunningProxy, server_port: int) -> int:
    return proxy.log().count(f"connected to 127.0.0.1:{server_port}")


# ------------------------------------------------------------------------------ HTTP proxy


@TRANSPORTS
async def test_every_transport_goes_through_an_explicit_http_proxy(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, transports: list[str] | None, expected: str
) -> None:
    async with echo_server() as url, run_tinyproxy(tmp_path) as proxy:
        with trio.fail_after(30):
            async with open_client(url, transports=transports, proxy=proxy.url) as conn:
                await exchange_until(conn, expected)
    port = port_of(url)
    if transports != ["websocket"]:
        assert_polled_through_tinyproxy(proxy, port)
    if transports != ["polling"]:
        assert_tunneled_through_tinyproxy(proxy, port)


@TRANSPORTS
async def test_http_proxy_from_the_environment(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, transports: list[str] | None, expected: str
) -> None:
    # The issue's first finding: with HTTP_PROXY set, a websocket-only client went direct.
    async with echo_server() as url, run_tinyproxy(tmp_path) as proxy:
        clean_env.setenv("HTTP_PROXY", proxy.url)
        with trio.fail_after(30):
            async with open_client(url, transports=transports) as conn:
                await exchange_until(conn, expected)
    port = port_of(url)
    if transports != ["websocket"]:
        assert_polled_through_tinyproxy(proxy, port)
    if transports != ["polling"]:
        # ... and with the default transports the upgrade went direct.
        assert_tunneled_through_tinyproxy(proxy, port)


async def test_no_proxy_and_proxy_false_bypass_the_environment_proxy(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    async with echo_server() as url, run_tinyproxy(tmp_path) as proxy:
        clean_env.setenv("http_proxy", proxy.url)
        clean_env.setenv("no_proxy", "example.org,127.0.0.1")
        with trio.fail_after(30):
            async with open_client(url) as conn:
                await exchange_until(conn, "websocket")
            clean_env.delenv("no_proxy")
            async with open_client(url, proxy=False) as conn:
                await exchange_until(conn, "websocket")
    assert "127.0.0.1:" not in proxy.log().replace("Connect (file descriptor", "")


async def test_event_client_connect_takes_a_proxy(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    received: list[Any] = []
    got = trio.Event()
    async with echo_server() as url, run_tinyproxy(tmp_path) as proxy:
        with trio.fail_after(30):
            async with Client() as client:

                @client.on("message")
                def on_message(data: Any) -> None:
                    received.append(data)
                    got.set()

                await client.connect(url, transports=["websocket"], proxy=proxy.url)
                await client.send("hello through the proxy")
                await got.wait()
                await client.disconnect()
    assert received == ["hello through the proxy"]
    assert_tunneled_through_tinyproxy(proxy, port_of(url))


@TRANSPORTS
async def test_http_proxy_authentication_from_the_url(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, transports: list[str] | None, expected: str
) -> None:
    async with echo_server() as url, run_tinyproxy(tmp_path, auth=("alice", "s3cr3t")) as proxy:
        with trio.fail_after(30):
            async with open_client(url, transports=transports, proxy=proxy.url) as conn:
                await exchange_until(conn, expected)
    assert "alice" in proxy.url


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_http_proxy_refusing_407_is_a_connection_error(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, transports: list[str]
) -> None:
    async with (
        echo_server() as url,
        run_tinyproxy(tmp_path, auth=("alice", "s3cr3t"), with_credentials=False) as proxy,
    ):
        with trio.fail_after(20), pytest.raises(EngineIOConnectionError) as info:
            async with open_client(url, transports=transports, proxy=proxy.url):
                pytest.fail("connected through a proxy that wants credentials")  # pragma: no cover
    if transports == ["polling"]:
        # A forwarding proxy answers the handshake GET itself: the status is the rejection.
        assert isinstance(info.value, ConnectionRejected)
        assert info.value.status_code == 407
    else:
        assert "407" in str(info.value)
        assert "proxy http://127.0.0.1:" in str(info.value)


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_a_proxy_that_is_not_there_is_a_connection_error(
    clean_env: pytest.MonkeyPatch, transports: list[str]
) -> None:
    async with echo_server() as url:
        with trio.fail_after(20), pytest.raises(EngineIOConnectionError) as info:
            async with open_client(url, transports=transports, proxy=f"http://127.0.0.1:{free_port()}"):
                pytest.fail("connected through a proxy that is not running")  # pragma: no cover
    assert "proxy" in str(info.value)


# ----------------------------------------------------------------------------- SOCKS5 proxy


@TRANSPORTS
async def test_every_transport_goes_through_socks5_from_all_proxy(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, transports: list[str] | None, expected: str
) -> None:
    # The issue's second finding: ALL_PROXY=socks5://... failed at once (socksio missing).
    async with echo_server() as url, run_microsocks(tmp_path) as proxy:
        clean_env.setenv("ALL_PROXY", proxy.url)
        with trio.fail_after(30):
            async with open_client(url, transports=transports) as conn:
                await exchange_until(conn, expected)
    # The handshake, the GET and POST connections, the websocket: each one a SOCKS connection.
    least = {"polling": 3, "websocket": 1, "upgrade": 4}["upgrade" if transports is None else transports[0]]
    assert socks_connections(proxy, port_of(url)) >= least, proxy.log()


async def test_socks5_username_and_password_from_the_url(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    credentials = ("bob", "pa:ss@word")
    async with echo_server() as url, run_microsocks(tmp_path, auth=credentials) as plain:
        quoted = plain.url.replace("socks5://", "socks5://bob:pa%3Ass%40word@")
        with trio.fail_after(30):
            async with open_client(url, proxy=quoted) as conn:
                await exchange_until(conn, "websocket")
    assert socks_connections(plain, port_of(url)) >= 4


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
@pytest.mark.parametrize("given", [None, ("bob", "wrong")], ids=["no-credentials", "wrong-password"])
async def test_socks5_refusing_authentication_is_a_connection_error(
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    transports: list[str],
    given: tuple[str, str] | None,
) -> None:
    async with echo_server() as url, run_microsocks(tmp_path, auth=("bob", "right"), url_auth=given) as proxy:
        with trio.fail_after(20), pytest.raises(EngineIOConnectionError) as info:
            async with open_client(url, transports=transports, proxy=proxy.url):
                pytest.fail("connected through a SOCKS proxy that refused us")  # pragma: no cover
    message = str(info.value).lower()
    assert "socks" in message or "proxy" in message
    assert socks_connections(proxy, port_of(url)) == 0


# -------------------------------------------------------------------------- TLS through proxies

trustme = pytest.importorskip("trustme")


@pytest.fixture(scope="module")
def ca() -> Any:
    return trustme.CA()


@pytest.mark.parametrize("kind", ["http", "socks5"])
@TRANSPORTS
async def test_tls_end_to_end_through_a_proxy(
    ca: Any,
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    kind: str,
    transports: list[str] | None,
    expected: str,
) -> None:
    cert = ca.issue_cert("127.0.0.1")
    pem = tmp_path / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    running = run_tinyproxy(tmp_path) if kind == "http" else run_microsocks(tmp_path)
    async with echo_server(certfile=str(pem), keyfile=str(pem)) as url, running as proxy:
        assert url.startswith("https://")
        with trio.fail_after(30):
            async with open_client(url, transports=transports, ssl=context, proxy=proxy.url) as conn:
                await exchange_until(conn, expected)
    port = port_of(url)
    if kind == "http":
        # https is never forwarded: every request and the websocket use CONNECT tunnels.
        assert_tunneled_through_tinyproxy(proxy, port)
        assert "GET https://" not in proxy.log()
    else:
        assert socks_connections(proxy, port) >= 1


async def test_tls_verification_still_applies_through_a_proxy(
    ca: Any, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    cert = ca.issue_cert("127.0.0.1")
    pem = tmp_path / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    async with echo_server(certfile=str(pem), keyfile=str(pem)) as url, run_tinyproxy(tmp_path) as proxy:
        with trio.fail_after(20), pytest.raises(EngineIOConnectionError) as info:
            async with open_client(url, transports=["websocket"], proxy=proxy.url):
                pytest.fail("trusted a certificate nobody vouches for")  # pragma: no cover
    assert "certificate verify failed" in str(info.value).lower()


# ------------------------------------------------------------------------ choosing the proxy


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({"HTTP_PROXY": "http://p:1"}, "http://a.com/", "http://p:1"),
        ({"HTTP_PROXY": "http://p:1"}, "https://a.com/", None),
        ({"https_proxy": "p:2"}, "https://a.com/", "http://p:2"),
        ({"ALL_PROXY": "socks5://p:3", "HTTP_PROXY": "http://p:1"}, "http://a.com/", "http://p:1"),
        ({"ALL_PROXY": "socks5://p:3"}, "https://a.com/", "socks5://p:3"),
        ({"ALL_PROXY": "socks5://p:3", "NO_PROXY": "a.com"}, "http://www.a.com/", None),
        ({"ALL_PROXY": "socks5://p:3", "NO_PROXY": "a.com"}, "http://a.com/", None),
        ({"ALL_PROXY": "socks5://p:3", "NO_PROXY": ".a.com"}, "http://a.com/", "socks5://p:3"),
        ({"ALL_PROXY": "socks5://p:3", "NO_PROXY": "a.com"}, "http://wwwa.com/", "socks5://p:3"),
        ({"ALL_PROXY": "socks5://p:3", "no_proxy": "127.0.0.1"}, "http://127.0.0.1:8000/", None),
        ({"ALL_PROXY": "socks5://p:3", "no_proxy": "localhost, ::1"}, "http://[::1]:8000/", None),
        ({"ALL_PROXY": "socks5://p:3", "no_proxy": "*"}, "http://x/", None),
        ({"ALL_PROXY": "socks5://p:3", "no_proxy": "http://x:8000"}, "http://x:8000/", None),
        ({"ALL_PROXY": "socks5://p:3", "no_proxy": "http://x:8000"}, "http://x:9000/", "socks5://p:3"),
    ],
)
def test_environment_rules_are_httpxs(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], url: str, expected: str | None
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    chosen = select_proxy(url, None)
    assert (chosen.url if chosen is not None else None) == expected
    assert select_proxy(url, False) is None
    assert select_proxy(url, None, trust_env=False) is None


def test_explicit_proxy_wins_and_keeps_credentials_out_of_repr(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ALL_PROXY", "socks5://p:3")
    chosen = select_proxy("http://a.com/", "http://us%40r:p%3Ass@proxy.local:3128")
    assert chosen == Proxy("http", "proxy.local", 3128, "us@r", "p:ss")
    assert "p:ss" not in repr(chosen)
    assert chosen.authorization() == b"Basic dXNAcjpwOnNz"
    assert os.environ["ALL_PROXY"] == "socks5://p:3"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("ftp://p:1", ValueError),
        ("p:1", ValueError),
        ("http://", ValueError),
        (True, TypeError),
        (3, TypeError),
    ],
)
async def test_bad_proxy_values_are_refused_up_front(value: Any, error: type[Exception]) -> None:
    with trio.fail_after(5), pytest.raises(error):
        async with open_client("http://127.0.0.1:9", proxy=value):
            pytest.fail("not refused")  # pragma: no cover
    with pytest.raises(error):
        Client(proxy=value)


async def _pump(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(sink)


@TRANSPORTS
async def test_an_https_proxy_is_spoken_to_over_tls(
    ca: Any,
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    transports: list[str] | None,
    expected: str,
) -> None:
    # tinyproxy behind a TLS front of ours: an `https://` proxy URL. Its certificate is
    # checked against the system CAs, here the test CA through SSL_CERT_FILE.
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    clean_env.setenv("SSL_CERT_FILE", str(ca_file))
    front_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(front_context)
    accepted: list[int] = []
    async with echo_server() as url, run_tinyproxy(tmp_path) as proxy, trio.open_nursery() as nursery:

        async def front(tls: trio.SSLStream[trio.SocketStream]) -> None:
            accepted.append(1)
            upstream = await trio.open_tcp_stream("127.0.0.1", proxy.port)
            async with trio.open_nursery() as pumps:
                pumps.start_soon(_pump, tls, upstream)
                pumps.start_soon(_pump, upstream, tls)

        listeners = await nursery.start(
            partial(trio.serve_ssl_over_tcp, front, 0, front_context, host="127.0.0.1")
        )
        front_port = listeners[0].transport_listener.socket.getsockname()[1]
        with trio.fail_after(30):
            async with open_client(
                url, transports=transports, proxy=f"https://127.0.0.1:{front_port}"
            ) as conn:
                await exchange_until(conn, expected)
        nursery.cancel_scope.cancel()
    port = port_of(url)
    if transports != ["websocket"]:
        assert_polled_through_tinyproxy(proxy, port)
    if transports != ["polling"]:
        assert_tunneled_through_tinyproxy(proxy, port)
    assert accepted


async def test_polling_through_tinyproxy_which_closes_after_every_answer(tmp_path: Path) -> None:
    # The issue's third finding: tinyproxy closes each connection after its answer (without
    # `Connection: close`), and a reused one killed the session now and then.
    rounds = 150
    async with echo_server() as url, run_tinyproxy(tmp_path) as proxy:
        with trio.fail_after(60):
            async with open_client(url, transports=["polling"], proxy=proxy.url) as conn:
                for i in range(rounds):
                    await conn.send(f"round {i}")
                    assert await conn.receive() == f"round {i}"
                assert not conn.closed
                polling = conn._polling
                assert polling._direct is not None
                learned = polling._direct.closes_after_answer
    log = proxy.log()
    # Every request got its own proxy connection: tinyproxy really closed them all.
    assert log.count("Request (file descriptor") >= rounds
    assert log.count("Closed connection between local client") >= rounds
    assert learned  # the client saw the early closes and stopped reusing connections
