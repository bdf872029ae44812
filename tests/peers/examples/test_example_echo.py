"""examples/echo_server.py and examples/echo_client.py, run as their docstrings say."""

from __future__ import annotations

import pytest
import trio

import trio_engineio

from .examples_harness import FAST_PINGS, RunExample, StartExample


@pytest.mark.parametrize(
    ("args", "transport"),
    [([], None), (["--transport", "polling"], "polling"), (["--transport", "websocket"], "websocket")],
    ids=["default", "polling", "websocket"],
)
async def test_echo_client_gets_its_messages_back(
    start_example: StartExample, run_example: RunExample, args: list[str], transport: str | None
) -> None:
    server = await start_example("examples.echo_server", env=FAST_PINGS)
    assert server.first_line == f"echo server listening on {server.url}/engine.io/"

    done = await run_example(
        "examples.echo_client", "--url", server.url, *args, "hello", "wörld ✓", seconds=20
    )

    assert done.returncode == 0, done.stderr
    lines = done.lines
    assert lines[0].startswith("connected: sid=")
    assert lines[0].endswith(f"transport={transport or 'polling'}")
    assert lines[1].startswith("echo: 'hello' (over ")
    assert lines[2].startswith("echo: 'wörld ✓' (over ")
    if transport is not None:
        assert all(line.endswith(f"(over {transport})") for line in lines[1:3])
    assert lines[3:] == ["closed: client disconnect"]


async def test_echo_client_binary(start_example: StartExample, run_example: RunExample) -> None:
    server = await start_example("examples.echo_server", env=FAST_PINGS)
    done = await run_example("examples.echo_client", "--url", server.url, "--binary", "bytes", seconds=20)
    assert done.returncode == 0, done.stderr
    assert done.lines[1].startswith("echo: b'bytes' (over ")


async def test_echo_client_without_a_server_says_so(run_example: RunExample) -> None:
    done = await run_example("examples.echo_client", "--url", "http://127.0.0.1:9", seconds=20)
    assert done.returncode == 1
    assert done.stderr.startswith("could not connect to http://127.0.0.1:9:")


async def test_sigterm_closes_sessions_gracefully(start_example: StartExample) -> None:
    """The echo server's Ctrl+C/SIGTERM path: connected clients get a CLOSE, then it exits 0."""
    server = await start_example("examples.echo_server", env=FAST_PINGS)
    with trio.fail_after(20):
        async with trio_engineio.open_client(server.url) as conn:
            await conn.send("still here?")
            assert await conn.receive() == "still here?"
            # Stop once the upgrade is over: a shutdown landing between 3probe and 5
            # closes the probing socket without a CLOSE (documented race).
            while conn.transport != "websocket":
                await trio.sleep(0.01)
            # The client has sent 5; an echo over the websocket shows the server applied it.
            await conn.send("upgraded?")
            assert await conn.receive() == "upgraded?"
            assert await server.stop() == 0
            assert [message async for message in conn] == []
        assert conn.close_reason == "server disconnect"
