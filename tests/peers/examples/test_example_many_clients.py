"""examples/many_clients.py: several clients under one nursery, cancelled by one timeout."""

from __future__ import annotations

import re

from .examples_harness import FAST_PINGS, RunExample, StartExample

#: open_client's default close_timeout: the most leaving a cancelled block may take.
CLOSE_TIMEOUT = 2.0


async def run_many(
    start_example: StartExample, run_example: RunExample, seconds: float
) -> list[tuple[int, int]]:
    """Run the example against a fresh echo server; check the cancellation; return (sent, echoed)."""
    server = await start_example("examples.echo_server", env=FAST_PINGS)
    done = await run_example(
        "examples.many_clients",
        "--url",
        server.url,
        "--clients",
        "5",
        "--seconds",
        str(seconds),
        "--every",
        "0.05",
        seconds=30,
    )

    assert done.returncode == 0, done.stderr
    first, *per_client = done.lines
    match = re.fullmatch(r"timeout cancelled the nursery after ([\d.]+) s", first)
    assert match, first
    assert seconds <= float(match.group(1)) < seconds + CLOSE_TIMEOUT + 1
    assert len(per_client) == 5
    counts = []
    for n, line in enumerate(per_client):
        match = re.fullmatch(
            rf"client-{n}: sent (\d+), echoed (\d+), over (polling|websocket), closed: client disconnect",
            line,
        )
        assert match, line
        sent, echoed = int(match.group(1)), int(match.group(2))
        assert sent >= 5
        assert 1 <= echoed <= sent
        counts.append((sent, echoed))
    return counts


async def test_timeout_cancels_every_client_and_each_closes(
    start_example: StartExample, run_example: RunExample
) -> None:
    await run_many(start_example, run_example, seconds=1.5)


async def test_every_message_is_echoed_before_the_timeout(
    start_example: StartExample, run_example: RunExample
) -> None:
    for sent, echoed in await run_many(start_example, run_example, seconds=1.5):
        assert sent - 1 <= echoed  # the last echo may still be on its way when cancelled


async def test_a_client_that_cannot_connect_does_not_stop_the_others(run_example: RunExample) -> None:
    done = await run_example(
        "examples.many_clients", "--url", "http://127.0.0.1:9", "--clients", "2", "--seconds", "5", seconds=30
    )
    assert done.returncode == 1
    assert done.lines[0].startswith("all clients ended after ")
    assert all(line.startswith(f"client-{n}: failed: ") for n, line in enumerate(done.lines[1:]))
