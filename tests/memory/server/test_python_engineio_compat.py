"""python-engineio behaviours that migrating applications rely on."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from wire import parse_open, polling_url

import trio_engineio
from trio_engineio.testing import open_test_client


async def echo(conn: trio_engineio.Connection) -> None:
    async for message in conn:
        await conn.send(message)


async def test_legacy_disconnect_handler_without_reason(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server()
    seen: list[str] = []

    @server.on("disconnect")
    def disconnect(sid: str) -> None:
        seen.append(sid)

    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        sid = parse_open((await http.get(polling_url())).text)["sid"]
        await http.post(polling_url(sid), content="1")
        with trio.fail_after(1):
            while not seen:
                await trio.sleep(0.01)
    assert seen == [sid]
    assert server.statistics().handler_errors == 0


@pytest.mark.parametrize(
    ("policy", "origin", "allowed", "cors_header"),
    [
        (["*"], "https://anything.example", True, True),
        ([], "https://anything.example", True, False),
        (lambda origin, environ: environ["HTTP_X_TENANT"] == "a", "https://x.example", True, True),
        (lambda origin: origin.endswith(".good"), "https://x.bad", False, False),
    ],
)
async def test_cors_allowed_origins_forms(
    autojump_clock: trio.abc.Clock, policy: Any, origin: str, allowed: bool, cors_header: bool
) -> None:
    server = trio_engineio.Server(handler=echo, cors_allowed_origins=policy)
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        response = await http.get(polling_url(), headers={"origin": origin, "x-tenant": "a"})
        assert (response.status_code == 200) is allowed
        assert ("access-control-allow-origin" in response.headers) is cors_header


async def test_cookie_dict_with_python_engineio_keys_and_callables(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(
        handler=echo, cookie={"name": "sticky", "SameSite": "Strict", "Secure": True, "Max-Age": lambda: "60"}
    )
    app = trio_engineio.ASGIApp(server)
    async with server, open_test_client(app) as http:
        response = await http.get(polling_url())
        sid = json.loads(response.text[1:])["sid"]
        assert response.headers["set-cookie"] == (
            f"sticky={sid}; SameSite=Strict; Secure; Max-Age=60; Path=/; HttpOnly"
        )


def test_cookie_attribute_with_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="cookie attribute"):
        trio_engineio.Server(cookie={"name": "io", "path": "/; Domain=evil"})


async def test_engineio_path_none_serves_every_path(autojump_clock: trio.abc.Clock) -> None:
    server = trio_engineio.Server(handler=echo)
    app = trio_engineio.ASGIApp(server, engineio_path=None)
    async with server, open_test_client(app) as http:
        response = await http.get("/anything/at/all?EIO=4&transport=polling")
        assert response.text.startswith("0{")
