"""A cancelled client ends within its deadline plus the close bound, at any checkpoint.

Against our own echo server under ``serve()`` on 127.0.0.1, for each transport
setting: the caller's block is cancelled before each of its scheduler steps in
turn (open_client's handshake and pump start, the sends and receives, the
upgrade running beside them, the close), and before each step of the pumps'
and the websocket owner's starts. Every run must end with nothing but the
cancellation, within ``2 * close_timeout`` of it (the close flush and the HTTP
client's close are each bounded by it), and leave no task behind. A randomized
stress with many seeds cancels after a random delay instead, as users do.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from cancel_points import CancelAtStep, TaskFilter, descendants, named

import trio_engineio

CLOSE_TIMEOUT = 1.0
#: The close bound a cancelled block may take after its deadline (see the module doc), plus slack.
CLOSE_BOUND = 2 * CLOSE_TIMEOUT + 1.0
TRANSPORTS: dict[str, dict[str, Any]] = {
    "polling": {"transports": ["polling"]},
    "websocket": {"transports": ["websocket"]},
    "default": {},
}


async def echo(conn: trio_engineio.Connection) -> None:
    async for message in conn:
        await conn.send(message)


@asynccontextmanager
async def echo_server() -> AsyncIterator[str]:
    """Our echo server on 127.0.0.1:0 under serve(); yields its base URL."""
    app = trio_engineio.ASGIApp(trio_engineio.Server(handler=echo))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: trio_engineio.serve(
                app, "127.0.0.1", 0, shutdown_trigger=stop.wait, task_status=task_status
            )
        )
        try:
            yield next(b for b in binds if b.startswith("http://127.0.0.1:"))
        finally:
            stop.set()


async def exchange(url: str, options: dict[str, Any], messages: int = 3) -> None:
    async with trio_engineio.open_client(url, close_timeout=CLOSE_TIMEOUT, **options) as conn:
        for k in range(messages):
            await conn.send(f"m{k}")
            assert await conn.receive() == f"m{k}"


async def cancelled_run(url: str, options: dict[str, Any], step: int, watch: TaskFilter) -> bool:
    """Run one exchange, cancelled before the ``step``-th step of a watched task; False if never.

    The exchange runs in a task of its own, ``client_block`` (watch it with
    ``named("client_block")``), so that what it leaves behind can be seen.
    """
    fired: list[float | None] = []

    async def client_block() -> None:
        with trio.CancelScope() as scope:
            instrument = CancelAtStep(scope, step, watch)
            trio.lowlevel.add_instrument(instrument)
            try:
                await exchange(url, options)
            finally:
                trio.lowlevel.remove_instrument(instrument)
        ended_at = trio.current_time()
        assert descendants(trio.lowlevel.current_task()) == [], f"tasks left behind (step {step})"
        if instrument.fired_at is not None:
            late = ended_at - instrument.fired_at
            assert late <= CLOSE_BOUND, f"step {step}: ended {late:.2f} s after the cancel"
        fired.append(instrument.fired_at)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client_block)
    return fired[0] is not None


async def cancel_at_every_step(url: str, options: dict[str, Any], watch: TaskFilter, limit: int) -> int:
    step = 0
    while step < limit:
        step += 1
        if not await cancelled_run(url, options, step, watch):
            return step - 1
    raise AssertionError(f"still cancelling after {limit} steps: the exchange never finishes")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("setting", list(TRANSPORTS))
async def test_cancel_at_every_step_of_the_caller(setting: str) -> None:
    async with echo_server() as url:
        steps = await cancel_at_every_step(url, TRANSPORTS[setting], named("client_block"), 2000)
        print(f"{setting}: cancelled before each of {steps} steps of the caller")
        assert steps > 10
        await exchange(url, TRANSPORTS[setting])  # the server did not notice


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("starting", "setting"),
    [("_run_pumps", setting) for setting in TRANSPORTS] + [("_own", "websocket"), ("_own", "default")],
)
async def test_cancel_at_every_step_of_a_started_task(setting: str, starting: str) -> None:
    """The race of issue 19: the caller cancelled while ``nursery.start()`` of a shielded task is pending.

    ``_run_pumps`` (the pumps) and ``_own`` (a websocket's owner) both shield
    themselves once started; cancelling before each of their steps covers the
    moment between their last checkpoint and ``started()``.
    """
    async with echo_server() as url:
        steps = await cancel_at_every_step(url, TRANSPORTS[setting], named(starting), 500)
        print(f"{starting} on {setting}: cancelled before each of {steps} steps")
        assert steps >= 1


async def event_client_run(url: str, options: dict[str, Any], step: int, watch: TaskFilter) -> bool:
    """``Client.connect``, ``send``, the wait for the echo, cancelled before one step; False if never."""
    fired: list[float | None] = []

    async def client_block() -> None:
        async with trio_engineio.Client(close_timeout=CLOSE_TIMEOUT) as client:
            echoed = trio.Event()
            client.on("message", lambda message: echoed.set())
            with trio.CancelScope() as scope:
                instrument = CancelAtStep(scope, step, watch)
                trio.lowlevel.add_instrument(instrument)
                try:
                    await client.connect(url, **options)
                    await client.send("hello")
                    await echoed.wait()
                finally:
                    trio.lowlevel.remove_instrument(instrument)
        ended_at = trio.current_time()
        assert descendants(trio.lowlevel.current_task()) == [], f"tasks left behind (step {step})"
        if instrument.fired_at is not None:
            # The close bound, plus the bound on the disconnect handler that leaving the block runs.
            assert ended_at - instrument.fired_at <= CLOSE_BOUND + 5.0
        fired.append(instrument.fired_at)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client_block)
    return fired[0] is not None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("setting", list(TRANSPORTS))
async def test_event_client_connect_cancelled_at_every_step(setting: str) -> None:
    """``Client.connect``, ``send`` and the wait for the echo, cancelled before each step in turn.

    The steps counted are the caller's and those of the connection task that
    ``connect`` starts (it runs ``open_client``).
    """
    caller, connection = named("client_block"), named("Client._run")

    def watch(task: trio.lowlevel.Task) -> bool:
        return caller(task) or connection(task)

    async with echo_server() as url:
        step = 1
        while await event_client_run(url, TRANSPORTS[setting], step, watch):
            step += 1
            assert step < 500
        print(f"Client on {setting}: cancelled before each of {step - 1} steps")
        assert step > 10


@pytest.mark.timeout(60)
@pytest.mark.parametrize("setting", list(TRANSPORTS))
async def test_cancel_as_the_pumps_are_spawned_does_not_hang(setting: str) -> None:
    """Regression (issue 19): cancelled exactly while ``start(_run_pumps)`` is pending.

    Before the fix the pumps shielded themselves before ``started()``, trio kept
    them in the cancelled start, and ``open_client`` waited for them forever.
    """
    async with echo_server() as url:
        with trio.fail_after(CLOSE_BOUND + 5):
            assert await cancelled_run(url, TRANSPORTS[setting], 1, named("_run_pumps"))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("setting", list(TRANSPORTS))
async def test_randomized_cancellation_stress(setting: str) -> None:
    """100 clients, each cancelled after a random delay from 0.1 ms to 100 ms (seeded)."""
    rng = random.Random(19)
    async with echo_server() as url:
        for _ in range(100):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancelled_after, url, TRANSPORTS[setting], rng.uniform(0.0001, 0.1))


async def cancelled_after(url: str, options: dict[str, Any], delay: float) -> None:
    start = trio.current_time()
    with trio.move_on_after(delay):
        await exchange(url, options, messages=5)
    assert trio.current_time() - start <= delay + CLOSE_BOUND
    assert descendants(trio.lowlevel.current_task()) == []
