"""serve()'s hypercorn configuration: Engine.IO defaults and TCP_USER_TIMEOUT on the sockets."""

from __future__ import annotations

import socket

import pytest

import trio_engineio
from trio_engineio.server.serve import build_config

needs_user_timeout = pytest.mark.skipif(
    not hasattr(socket, "TCP_USER_TIMEOUT"), reason="TCP_USER_TIMEOUT is Linux-only"
)


def test_defaults_follow_the_engineio_server() -> None:
    server = trio_engineio.Server(ping_interval=(10, 2), ping_timeout=5, max_http_buffer_size=50_000_000)
    config = build_config(trio_engineio.ASGIApp(server), "127.0.0.1", 0)
    assert isinstance(config, trio_engineio.EngineIOConfig)
    assert config.tcp_user_timeout == pytest.approx(17)
    assert config.read_timeout is None
    assert config.websocket_max_message_size >= 100_000_000


def test_other_apps_get_no_user_timeout_and_settings_override() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError

    assert build_config(app, "127.0.0.1", 0).tcp_user_timeout is None
    server = trio_engineio.Server()
    config = build_config(trio_engineio.ASGIApp(server), "127.0.0.1", 0, tcp_user_timeout=None)
    assert config.tcp_user_timeout is None
    with pytest.raises(TypeError, match="unknown hypercorn setting"):
        build_config(app, "127.0.0.1", 0, no_such_setting=1)


@needs_user_timeout
@pytest.mark.parametrize(("timeout", "expected_ms"), [(2.5, 2500), (None, 0)])
def test_listening_sockets_carry_the_user_timeout(timeout: float | None, expected_ms: int) -> None:
    config = trio_engineio.EngineIOConfig()
    config.bind = ["127.0.0.1:0"]
    config.tcp_user_timeout = timeout
    sockets = config.create_sockets()
    try:
        (listener,) = sockets.insecure_sockets
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == expected_ms
    finally:
        for sock in sockets.insecure_sockets:
            sock.close()
