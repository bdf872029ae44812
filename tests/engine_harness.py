"""A live engine under attack, with bystanders; every invariant checked on exit (the bad-inputs harness).

The invariants at the top of ``docs/bad-inputs.md`` are
checked for every test here, not repeated in each one:

* no exception escapes the ASGI application and no response is a 5xx
  (:class:`GuardedApp` wraps the app and records both);
* two well-behaved bystander sessions (one websocket, one polling) keep exchanging
  echo messages and answering PINGs while the attack runs, and still do afterwards;
* afterwards no session entry, session task, buffered message or upgrade is left:
  ``server.statistics()`` is back to zero and the number of trio tasks is back to
  what it was before the first session opened (walked from
  ``trio.lowlevel.current_root_task()``);
* every accepted session got its ``disconnect`` handler exactly once;
* every log line of ``trio_engineio`` is one line (no CR/LF/NUL from client text)
  and short.

:func:`engine` runs in memory (``httpx.ASGITransport``, :mod:`trio_engineio.testing`
websockets, raw ASGI calls) and is meant for ``autojump_clock``; :func:`real_engine`
runs the same checks over real hypercorn on 127.0.0.1 port 0. The engines are talked
to with the one wire harness, :mod:`wire`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import trio
import trio_websocket
from wire import (
    RS,
    Endpoint,
    Recorder,
    handshake,
    parse_open,
    poll_messages,
    polling_url,
    post,
    raw_http,
    websocket_url,
    ws_close_code,
    ws_closed_code,
    ws_messages,
    ws_receive,
)

import trio_engineio
from trio_engineio.testing import open_test_client, open_websocket

# --------------------------------------------------------------------------- tasks


def count_tasks() -> int:
    """Every trio task below the root task, walking ``child_nurseries`` recursively."""

    def walk(task: trio.lowlevel.Task) -> int:
        total = 0
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                total += 1 + walk(child)
        return total

    return walk(trio.lowlevel.current_root_task())


def task_names() -> list[str]:
    """The names of every trio task below the root task."""
    names: list[str] = []

    def walk(task: trio.lowlevel.Task) -> None:
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                names.append(child.name)
                walk(child)

    walk(trio.lowlevel.current_root_task())
    return names


# ------------------------------------------------------------------------ guarded app


class GuardedApp:
    """Wraps an ASGI app: records exceptions escaping it and every 5xx it answers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.escaped: list[BaseException] = []
        self.server_errors: list[tuple[Any, Any, int]] = []
        self.statuses: list[int] = []
        self.calls = 0
        #: Websocket calls still running (their request task has not returned).
        self.active_websockets = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        self.calls += 1

        async def guarded_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                status = int(message["status"])
                self.statuses.append(status)
                if status >= 500:
                    self.server_errors.append((scope.get("path"), scope.get("query_string"), status))
            await send(message)

        is_websocket = scope["type"] == "websocket"
        self.active_websockets += is_websocket
        try:
            await self.app(scope, receive, guarded_send)
        except Exception as exc:  # Cancelled (a BaseException) is legitimate; errors are not
            self.escaped.append(exc)
            raise
        finally:
            self.active_websockets -= is_websocket

    def check(self) -> None:
        assert self.escaped == [], f"exceptions escaped the ASGI app: {self.escaped!r}"
        assert self.server_errors == [], f"5xx answers: {self.server_errors!r}"


# -------------------------------------------------------------------------- logging


class LogCapture(logging.Handler):
    """Collects ``trio_engineio`` log records (at DEBUG) for the one-line checks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]

    def check(self, max_length: int = 1000) -> None:
        for record in self.records:
            text = record.getMessage()
            assert not any(c in text for c in "\r\n\x00"), f"log line with CR/LF/NUL: {text!r}"
            assert len(text) <= max_length, f"log line of {len(text)} chars: {text[:200]!r}..."


@asynccontextmanager
async def capture_logs() -> AsyncIterator[LogCapture]:
    logger = logging.getLogger("trio_engineio")
    handler = LogCapture()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


# --------------------------------------------------------------------- in-memory engine


class _EngineChecks:
    """The invariant waits both engines share; ``LIMIT``/``POLL`` suit their clocks."""

    server: trio_engineio.Server
    app: GuardedApp
    rec: Recorder
    logs: LogCapture
    bystander_sids: list[str]
    exchanges: dict[str, int]
    #: Seconds a wait may take, and between two looks.
    LIMIT: ClassVar[float]
    POLL: ClassVar[float]

    async def wait_gone(self, sid: str, limit: float | None = None) -> None:
        """Wait until ``sid`` has left the registry and its tasks are done."""
        with trio.fail_after(self.LIMIT if limit is None else limit):
            while sid in self.server._sessions or any(c.sid == sid for c in self.server._running):
                await trio.sleep(self.POLL)

    async def assert_closed(self, sid: str, reason: str, description: str | None = None) -> None:
        """``sid`` was closed with ``reason`` (and ``description``, if given) and is gone."""
        got = await self.rec.wait_disconnect(sid, limit=self.LIMIT)
        assert got == reason, (got, got.description)
        if description is not None:
            assert got.description == description, got.description
        await self.wait_gone(sid)

    def check_records(self) -> None:
        """After the engine stopped: nothing escaped the app, no 5xx, one-line logs, one disconnect each."""
        self.app.check()
        self.logs.check()
        self.rec.check_once()

    async def check_bystanders(self, rounds: int = 2) -> None:
        """Both bystanders complete ``rounds`` more echo exchanges (bounded)."""
        start = dict(self.exchanges)
        with trio.fail_after(self.LIMIT):
            while any(self.exchanges[name] < start[name] + rounds for name in start):
                await trio.sleep(self.POLL)


@dataclass
class Engine(_EngineChecks):
    """One in-memory engine under attack (see :func:`engine`)."""

    LIMIT: ClassVar[float] = 60  # virtual seconds
    POLL: ClassVar[float] = 0.05

    server: trio_engineio.Server
    app: GuardedApp
    http: httpx.AsyncClient
    rec: Recorder
    logs: LogCapture
    bystander_sids: list[str] = field(default_factory=list)
    exchanges: dict[str, int] = field(default_factory=dict)
    #: Virtual seconds between two bystander exchanges (keep it below pingTimeout).
    period: float = 1.0

    async def handshake(self, **kwargs: Any) -> str:
        response = await self.http.get(polling_url(), **kwargs)
        assert response.status_code == 200, response.text
        return str(parse_open(response.text)["sid"])

    async def get(self, sid: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(polling_url(sid), **kwargs)

    async def post(self, sid: str, body: str | bytes, **kwargs: Any) -> httpx.Response:
        return await self.http.post(polling_url(sid), content=body, **kwargs)

    async def poll_until(self, sid: str, count: int) -> list[str]:
        """GET until ``count`` packets other than PING arrived (PINGs are answered)."""
        packets: list[str] = []
        with trio.fail_after(60):
            while len(packets) < count:
                response = await self.get(sid)
                assert response.status_code == 200, response.text
                for packet in response.text.split(RS):
                    if packet == "2":
                        assert (await self.post(sid, "3")).status_code == 200
                    else:
                        packets.append(packet)
        return packets

    def attack_sessions(self) -> list[str]:
        return [sid for sid in self.server._sessions if sid not in self.bystander_sids]


async def _exchange(
    eng: Engine | RealEngine,
    kind: str,
    sid: str,
    echo: Callable[[str], Awaitable[None]],
    stop: trio.Event,
    period: float,
    task_status: Any,
) -> None:
    """One bystander's life after its handshake: an echo exchange every ``period`` until ``stop``.

    ``eng.exchanges[kind]`` counts the exchanges (what :meth:`check_bystanders` watches).
    """
    eng.bystander_sids.append(sid)
    eng.exchanges[kind] = 0
    task_status.started()
    n = 0
    while not stop.is_set():
        await echo(f"{kind}-bystander-{n}")
        n += 1
        eng.exchanges[kind] = n
        with trio.move_on_after(period):
            await stop.wait()


async def _ws_bystander(eng: Engine, stop: trio.Event, *, task_status: Any) -> None:
    async with open_websocket(eng.app, websocket_url()) as ws:

        async def echo(text: str) -> None:
            await ws.send("4" + text)
            frame = await ws_receive(ws)
            assert frame == "4" + text, f"websocket bystander got {frame!r}"

        sid = str(parse_open(await ws.receive())["sid"])
        await _exchange(eng, "websocket", sid, echo, stop, eng.period, task_status)
        await ws.send("1")
        _, frames = await ws_close_code(ws)
        assert all(f in ("2", "6") for f in frames), frames


async def _polling_bystander(eng: Engine, stop: trio.Event, *, task_status: Any) -> None:
    sid = await eng.handshake()

    async def echo(text: str) -> None:
        response = await eng.post(sid, "4" + text)
        assert (response.status_code, response.text) == (200, "ok"), response.text
        assert await eng.poll_until(sid, 1) == ["4" + text]

    await _exchange(eng, "polling", sid, echo, stop, eng.period, task_status)
    assert (await eng.post(sid, "1")).status_code == 200


async def settle(server: trio_engineio.Server, limit: float = 60) -> None:
    """Close what is still open and wait until no session entry or session task is left."""
    await server.disconnect()
    with trio.fail_after(limit):
        while server._sessions or server._running:
            await trio.sleep(0.05)


def assert_empty(server: trio_engineio.Server) -> None:
    stats = server.statistics()
    assert server._sessions == {}, server._sessions
    assert stats.sessions == 0, stats
    assert stats.sessions_by_transport == {}, stats
    assert stats.running_sessions == 0, stats
    assert stats.buffered_messages == 0, stats
    assert stats.buffered_bytes == 0, stats
    assert stats.upgrades_in_progress == 0, stats


@asynccontextmanager
async def _attacked(
    eng: Engine | RealEngine, bystanders: Sequence[Callable[..., Awaitable[None]]]
) -> AsyncIterator[None]:
    """Run ``bystanders`` around the attack and check them after it; then every session is gone."""
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        for bystander in bystanders:
            await nursery.start(bystander, eng, stop)
        yield
        if bystanders:
            await eng.check_bystanders()
        stop.set()
    for sid in eng.bystander_sids:
        reason = await eng.rec.wait_disconnect(sid, limit=eng.LIMIT)
        assert reason == "client disconnect", (sid, reason)
    await settle(eng.server, limit=eng.LIMIT)
    assert_empty(eng.server)


@asynccontextmanager
async def engine(
    *,
    bystanders: bool = True,
    echo: bool = True,
    app_options: dict[str, Any] | None = None,
    handler_errors: int = 0,
    period: float = 1.0,
    **options: Any,
) -> AsyncIterator[Engine]:
    """A running in-memory engine with two bystander sessions; checks every invariant on exit.

    Use with ``autojump_clock``. ``handler_errors`` is how many application handler
    failures the test expects (anything else is a failure).
    """
    options.setdefault("ping_interval", 25)
    options.setdefault("ping_timeout", 20)
    server = trio_engineio.Server(**options)
    rec = Recorder(server, echo=echo)
    app = GuardedApp(trio_engineio.ASGIApp(server, **(app_options or {})))
    tasks_before = count_tasks()
    async with capture_logs() as logs:
        async with server, open_test_client(app, timeout=httpx.Timeout(120.0)) as http:
            eng = Engine(server, app, http, rec, logs, bystander_sids=rec.bystanders, period=period)
            tasks_idle = count_tasks()
            async with _attacked(eng, (_ws_bystander, _polling_bystander) if bystanders else ()):
                yield eng
            assert count_tasks() == tasks_idle, "session tasks left behind"
        assert count_tasks() == tasks_before
    eng.check_records()
    assert server.statistics().handler_errors == handler_errors, server.statistics()


# --------------------------------------------------------------------- real hypercorn


@dataclass
class RealEngine(_EngineChecks, Endpoint):
    """One engine served by hypercorn on loopback (see :func:`real_engine`); an :class:`Endpoint` too."""

    LIMIT: ClassVar[float] = 10
    POLL: ClassVar[float] = 0.01

    server: trio_engineio.Server
    app: GuardedApp
    base: str
    http: httpx.AsyncClient
    rec: Recorder
    logs: LogCapture
    bystander_sids: list[str] = field(default_factory=list)
    exchanges: dict[str, int] = field(default_factory=dict)
    path: ClassVar[str] = "/engine.io/"

    async def handshake(self) -> str:
        return (await handshake(self.http, self))[0]

    async def raw_request(self, data: bytes, *, read_until: bytes = b"\r\n\r\n") -> bytes:
        """Send raw bytes on a fresh TCP connection; return what came back up to ``read_until``."""
        received, stream = await raw_http(self.host, self.port, data, read_until=read_until)
        async with stream:
            return received


REAL_PERIOD = 0.05


async def _wait_no_children(nursery: trio.Nursery) -> None:
    while nursery.child_tasks:
        await trio.sleep(0.01)


async def _real_ws_bystander(eng: RealEngine, stop: trio.Event, *, task_status: Any) -> None:
    async with trio_websocket.open_websocket_url(
        eng.websocket(), connect_timeout=5, disconnect_timeout=2
    ) as ws:

        async def echo(text: str) -> None:
            await ws.send_message("4" + text)
            assert await ws_messages(ws, 1) == ["4" + text]

        sid = str(parse_open(await ws.get_message())["sid"])
        await _exchange(eng, "websocket", sid, echo, stop, REAL_PERIOD, task_status)
        await ws.send_message("1")
        await ws_closed_code(ws)


async def _real_polling_bystander(eng: RealEngine, stop: trio.Event, *, task_status: Any) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
        sid, _ = await handshake(http, eng)

        async def echo(text: str) -> None:
            response = await post(http, eng, sid, "4" + text)
            assert (response.status_code, response.text) == (200, "ok"), response.text
            assert await poll_messages(http, eng, sid, 1) == ["4" + text]

        await _exchange(eng, "polling", sid, echo, stop, REAL_PERIOD, task_status)
        await post(http, eng, sid, "1")


@asynccontextmanager
async def real_engine(
    *,
    bystanders: bool = True,
    echo: bool = True,
    hypercorn: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[RealEngine]:
    """The engine on real hypercorn (127.0.0.1:0), bystanders included; invariants on exit."""
    options.setdefault("ping_interval", 5)
    options.setdefault("ping_timeout", 5)
    server = trio_engineio.Server(**options)
    rec = Recorder(server, echo=echo)
    app = GuardedApp(trio_engineio.ASGIApp(server))
    stop_serving = trio.Event()
    tasks_before = count_tasks()
    async with capture_logs() as logs, trio.open_nursery() as outer:

        async def run(task_status: Any) -> None:
            await trio_engineio.serve(
                app,
                "127.0.0.1",
                0,
                shutdown_trigger=stop_serving.wait,
                task_status=task_status,
                **(hypercorn or {}),
            )

        binds = await outer.start(run)
        assert server.is_running  # the ASGI lifespan started the engine
        base = next(b for b in binds if b.startswith("http://127.0.0.1:"))
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
            eng = RealEngine(server, app, base, http, rec, logs, bystander_sids=rec.bystanders)
            async with _attacked(eng, (_real_ws_bystander, _real_polling_bystander) if bystanders else ()):
                yield eng
        stop_serving.set()
        with trio.fail_after(15):
            await _wait_no_children(outer)
    assert count_tasks() == tasks_before, "tasks left behind"
    eng.check_records()
