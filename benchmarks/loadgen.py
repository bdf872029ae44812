"""A neutral Engine.IO v4 load generator: asyncio protocols, no Engine.IO library.

It speaks HTTP/1.1 and RFC 6455 itself (a few dozen lines each) so that it costs
little CPU and favours no server. Client frames carry the all-zero mask key (legal
framing; masking then costs nothing here, and the servers unmask as usual).

One scenario per run; the result is one JSON object on stdout. The server's CPU and
RSS are read from ``/proc/<server-pid>`` over the measured window, the generator's
own CPU with ``time.process_time()``. Run ``python -m benchmarks.loadgen --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

PATH = "/engine.io/"
WS_TARGET = PATH + "?EIO=4&transport=websocket"
POLL_TARGET = PATH + "?EIO=4&transport=polling"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------ /proc
def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def busy_cpu() -> float:
    """CPU seconds spent by the whole machine (all cores, not idle or iowait)."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / _CLK_TCK


def proc_rss(pid: int) -> int:
    """Resident set size of a process, in bytes."""
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


# --------------------------------------------------------------- websocket
def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN set) with the all-zero mask key."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + b"\0\0\0\0" + payload


def text_message(text: str) -> bytes:
    """A websocket frame carrying an Engine.IO MESSAGE packet."""
    return ws_frame(1, ("4" + text).encode())


PONG = ws_frame(1, b"3")
WS_CLOSE = ws_frame(8, (1000).to_bytes(2, "big"))


class WS(asyncio.Protocol):
    """One Engine.IO websocket session; incoming messages go to ``on_message``."""

    def __init__(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.port = port
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.buf = bytearray()
        self.handshaken = False
        self.opened: asyncio.Future[str] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.on_message: Callable[[str | bytes], None] = _ignore
        self.pings = 0
        self.engine_closed = False
        self.sent_close = False
        self.paused = False
        self.frag_opcode = 0
        self.frag: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(
            (
                f"GET {WS_TARGET} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before OPEN: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buf[: buf.find(b"\r\n")]:
                self.opened.set_exception(ConnectionError(bytes(buf[:200]).decode("latin-1")))
                self.transport.close()
                return
            del buf[: end + 4]
            self.handshaken = True
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            payload = bytes(buf[start:end])
            pos = end
            self._frame(b0 & 0x0F, b0 & 0x80, payload)
        if pos:
            del buf[:pos]

    def _frame(self, opcode: int, fin: int, payload: bytes) -> None:
        if opcode == 0 or not fin:
            if opcode:
                self.frag_opcode = opcode
            self.frag.append(payload)
            if not fin:
                return
            opcode, payload = self.frag_opcode, b"".join(self.frag)
            self.frag = []
        if opcode == 1:
            kind = payload[:1]
            if kind == b"4":
                self.on_message(payload[1:].decode())
            elif kind == b"2":
                self.pings += 1
                self.transport.write(PONG)
            elif kind == b"0":
                if not self.opened.done():
                    self.opened.set_result(payload.decode())
            elif kind == b"1":
                self.engine_closed = True
        elif opcode == 2:
            self.on_message(payload)
        elif opcode == 8:
            self.engine_closed = True
            if not self.sent_close:
                self.sent_close = True
                self.transport.write(WS_CLOSE)
            self.transport.close()
        elif opcode == 9:
            self.transport.write(ws_frame(10, payload))

    def send_frame(self, frame: bytes) -> None:
        self.transport.write(frame)

    async def close(self, timeout: float = 2.0) -> None:
        """Close the websocket (close frame), wait for the server's reply and EOF.

        No Engine.IO CLOSE packet: sending it together with a close frame (as
        browsers do) can crash hypercorn's whole trio worker (a BusyResourceError
        between the close reply and ``send_eof``), and after the packet alone some
        servers wait for the client to close the socket.
        """
        if not self.sent_close and not self.transport.is_closing():
            self.sent_close = True
            self.transport.write(WS_CLOSE)
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except asyncio.TimeoutError:
            self.transport.abort()


def _touch(path: str) -> None:
    """Create a (marker) file; instantaneous, so fine inside the event loop."""
    Path(path).touch()


def _ignore(data: str | bytes) -> None:
    pass


async def open_ws(port: int, timeout: float = 10.0) -> WS:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: WS(port), "127.0.0.1", port)
    await asyncio.wait_for(proto.opened, timeout)
    return proto


async def open_many(
    port: int, count: int, concurrency: int = 50, failures: list[str] | None = None
) -> list[WS]:
    """Open ``count`` sessions, ``concurrency`` at a time; errors go to ``failures`` if given."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> WS:
        async with sem:
            return await open_ws(port, timeout=30.0)

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=failures is not None)
    clients = []
    for result in results:
        if isinstance(result, BaseException):
            assert failures is not None
            failures.append(repr(result))
        else:
            clients.append(result)
    return clients


async def close_all(clients: list[WS]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


# ------------------------------------------------------------------- HTTP
class HTTP(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, port: int) -> None:
        self.host = f"127.0.0.1:{port}".encode()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("connection closed")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    def request(self, method: bytes, target: bytes, body: bytes = b"") -> asyncio.Future[tuple[int, bytes]]:
        loop = asyncio.get_running_loop()
        self.waiter = fut = loop.create_future()
        if self.lost is not None:
            fut.set_exception(self.lost)
            return fut
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, target, self.host)
        if body or method == b"POST":
            head += b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n" % len(body)
        self.transport.write(head + b"\r\n" + body)
        return fut

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._parse()

    def _parse(self) -> None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        start = end + 4
        if b"transfer-encoding: chunked" in head:
            body = bytearray()
            pos = start
            while True:
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    return
                chunk = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
                if len(buf) < line_end + 2 + chunk + 2:
                    return
                body += buf[line_end + 2 : line_end + 2 + chunk]
                pos = line_end + 2 + chunk + 2
                if chunk == 0:
                    break
            del buf[:pos]
            payload = bytes(body)
        else:
            i = head.find(b"content-length:")
            length = 0
            if i >= 0:
                j = head.find(b"\r\n", i)
                length = int(head[i + 15 : j if j >= 0 else None])
            if len(buf) < start + length:
                return
            payload = bytes(buf[start : start + length])
            del buf[: start + length]
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, payload))


async def open_http(port: int) -> HTTP:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: HTTP(port), "127.0.0.1", port)
    return proto


# ------------------------------------------------------------- measuring
class Window:
    """CPU, RSS and a counter sampled at the start and the end of a measured window."""

    def __init__(self, pid: int, counter: Callable[[], int]) -> None:
        self.pid = pid
        self.counter = counter

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.c0 = self.counter()
        self.s0 = proc_cpu(self.pid)
        self.g0 = time.process_time()
        self.b0 = busy_cpu()

    def stop(self) -> dict[str, Any]:
        t1 = time.perf_counter()
        c1 = self.counter()
        s1 = proc_cpu(self.pid)
        g1 = time.process_time()
        b1 = busy_cpu()
        elapsed = t1 - self.t0
        count = c1 - self.c0
        return {
            "seconds": elapsed,
            "count": count,
            "rate": count / elapsed,
            "server_cpu": (s1 - self.s0) / elapsed,
            "server_cpu_us_per_msg": 1e6 * (s1 - self.s0) / count if count else None,
            "gen_cpu": (g1 - self.g0) / elapsed,
            # Everything else the machine did meanwhile (other processes): noise.
            "other_cpu": max(0.0, (b1 - self.b0) - (s1 - self.s0) - (g1 - self.g0)) / elapsed,
            "server_rss": proc_rss(self.pid),
        }


async def measure(pid: int, counter: Callable[[], int], warmup: float, duration: float) -> dict[str, Any]:
    await asyncio.sleep(warmup)
    window = Window(pid, counter)
    window.start()
    await asyncio.sleep(duration)
    return window.stop()


async def drain(outstanding: Callable[[], int], timeout: float = 10.0) -> int:
    """Wait until nothing is outstanding; return what is still missing after ``timeout``."""
    deadline = time.perf_counter() + timeout
    while outstanding() and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    return outstanding()


# -------------------------------------------------------------- scenarios
async def ws_echo(a: argparse.Namespace) -> dict[str, Any]:
    """Closed-loop echo: every session keeps ``--window`` messages in flight."""
    clients = await open_many(a.port, a.sessions)
    payload: str | bytes = b"\xab" * a.size if a.binary else "a" * a.size
    frame = ws_frame(2, payload) if isinstance(payload, bytes) else text_message(payload)
    state = {"count": 0, "bad": 0, "outstanding": 0, "running": True}
    latencies: list[int] = []
    record = a.sessions == 1
    perf_ns = time.perf_counter_ns

    for client in clients:
        sent_at: deque[int] = deque()

        def on_message(data: str | bytes, client: WS = client, sent_at: deque[int] = sent_at) -> None:
            if data != payload:
                state["bad"] += 1
            state["count"] += 1
            if record:
                latencies.append(perf_ns() - sent_at.popleft())
            if state["running"]:
                if record:
                    sent_at.append(perf_ns())
                client.transport.write(frame)
            else:
                state["outstanding"] -= 1

        client.on_message = on_message
        for _ in range(a.window):
            if record:
                sent_at.append(perf_ns())
            client.transport.write(frame)
            state["outstanding"] += 1

    mark = len(latencies)

    async def start_latencies() -> None:
        nonlocal mark
        await asyncio.sleep(a.warmup)
        mark = len(latencies)

    marker = asyncio.ensure_future(start_latencies())
    result = await measure(a.server_pid, lambda: state["count"], a.warmup, a.duration)
    await marker
    end_mark = len(latencies)
    state["running"] = False
    result["lost"] = await drain(lambda: state["outstanding"])
    result["bad"] = state["bad"]
    if record:
        window = sorted(latencies[mark:end_mark])
        if window:
            result["p50_us"] = window[len(window) // 2] / 1000
            result["p99_us"] = window[min(len(window) - 1, int(len(window) * 0.99))] / 1000
            result["mean_us"] = statistics.fmean(window) / 1000
    await close_all(clients)
    return result


async def ws_c2s(a: argparse.Namespace) -> dict[str, Any]:
    """Client->server: batches of ``~`` messages, each followed by ``?``; counts confirmed by ``=N``."""
    clients = await open_many(a.port, a.sessions)
    body = "~" + "a" * (a.size - 1)
    batch = text_message(body) * a.batch + text_message("?")
    state = {"confirmed": 0, "bad": 0, "outstanding": 0, "running": True}

    for client in clients:
        expected: deque[int] = deque()
        sent = [0]

        def send_batch(client: WS = client, expected: deque[int] = expected, sent: list[int] = sent) -> None:
            sent[0] += a.batch
            expected.append(sent[0])
            state["outstanding"] += 1
            client.transport.write(batch)

        def on_message(
            data: str | bytes, expected: deque[int] = expected, send_batch: Any = send_batch
        ) -> None:
            want = expected.popleft()
            if data != f"={want}":
                state["bad"] += 1
            state["confirmed"] += a.batch
            state["outstanding"] -= 1
            if state["running"]:
                send_batch()

        client.on_message = on_message
        for _ in range(a.inflight):
            send_batch()

    result = await measure(a.server_pid, lambda: state["confirmed"], a.warmup, a.duration)
    state["running"] = False
    result["lost"] = await drain(lambda: state["outstanding"])
    result["bad"] = state["bad"]
    await close_all(clients)
    return result


async def ws_s2c(a: argparse.Namespace) -> dict[str, Any]:
    """Server->client push: each session keeps two ``!N:S`` requests outstanding."""
    clients = await open_many(a.port, a.sessions)
    expected = "x" * a.size
    request = text_message(f"!{a.batch}:{a.size}")
    state = {"count": 0, "bad": 0, "outstanding": 0, "running": True}

    for client in clients:
        received = [0]

        def on_message(data: str | bytes, client: WS = client, received: list[int] = received) -> None:
            if data != expected:
                state["bad"] += 1
            state["count"] += 1
            received[0] += 1
            if received[0] == a.batch:
                received[0] = 0
                state["outstanding"] -= 1
                if state["running"]:
                    state["outstanding"] += 1
                    client.transport.write(request)

        client.on_message = on_message
        for _ in range(2):
            state["outstanding"] += 1
            client.transport.write(request)

    result = await measure(a.server_pid, lambda: state["count"], a.warmup, a.duration)
    state["running"] = False
    result["lost"] = await drain(lambda: state["outstanding"])
    result["bad"] = state["bad"]
    await close_all(clients)
    return result


def split_payload(body: bytes) -> list[str]:
    return body.decode().split("\x1e") if body else []


async def poll_handshake(conn: HTTP) -> bytes:
    status, body = await conn.request(b"GET", POLL_TARGET.encode())
    if status != 200 or not body.startswith(b"0{"):
        raise ConnectionError(f"polling handshake: {status} {body[:100]!r}")
    return json.loads(body[1:].split(b"\x1e")[0])["sid"].encode()


async def poll_echo(a: argparse.Namespace) -> dict[str, Any]:
    """Polling-only echo: one message in flight per session (a POST, then its echo by GET)."""
    payload = "a" * a.size
    state = {"count": 0, "bad": 0, "errors": 0, "running": True}

    async def session() -> None:
        get_conn = await open_http(a.port)
        post_conn = await open_http(a.port)
        sid = await poll_handshake(get_conn)
        target = POLL_TARGET.encode() + b"&sid=" + sid
        message = ("4" + payload).encode()
        pongs = 0
        waiting = False
        get = None
        try:
            while state["running"] or waiting:
                if get is None:
                    get = get_conn.request(b"GET", target)
                if not waiting and state["running"]:
                    body = b"\x1e".join([b"3"] * pongs + [message])
                    pongs = 0
                    status, answer = await post_conn.request(b"POST", target, body)
                    if status != 200 or answer.lower() != b"ok":
                        state["errors"] += 1
                        return
                    waiting = True
                status, answer = await get
                get = None
                if status != 200:
                    state["errors"] += 1
                    return
                for packet in split_payload(answer):
                    if packet[:1] == "4":
                        if packet[1:] != payload:
                            state["bad"] += 1
                        state["count"] += 1
                        waiting = False
                    elif packet == "2":
                        pongs += 1
                    elif packet == "1":
                        state["errors"] += 1
                        return
            await post_conn.request(b"POST", target, b"1")
        finally:
            get_conn.transport.close()
            post_conn.transport.close()

    tasks = [asyncio.ensure_future(session()) for _ in range(a.sessions)]
    result = await measure(a.server_pid, lambda: state["count"], a.warmup, a.duration)
    state["running"] = False
    done, pending = await asyncio.wait(tasks, timeout=10)
    for task in pending:
        task.cancel()
    failures = [t.exception() for t in done if t.exception() is not None]
    result["lost"] = len(pending)
    result["bad"] = state["bad"]
    result["errors"] = state["errors"] + len(failures)
    if failures:
        result["error_sample"] = repr(failures[0])
    return result


async def ws_connect(a: argparse.Namespace) -> dict[str, Any]:
    """Websocket sessions opened (OPEN received) and closed per second, ``--sessions`` at a time."""
    state = {"count": 0, "errors": 0, "running": True}
    errors: list[str] = []

    async def worker() -> None:
        while state["running"]:
            try:
                client = await open_ws(a.port)
                json.loads(client.opened.result()[1:])
                await client.close()
                state["count"] += 1
            except Exception as exc:
                state["errors"] += 1
                errors.append(repr(exc))
                await asyncio.sleep(0.01)

    tasks = [asyncio.ensure_future(worker()) for _ in range(a.sessions)]
    result = await measure(a.server_pid, lambda: state["count"], a.warmup, a.duration)
    state["running"] = False
    await asyncio.wait(tasks, timeout=10)
    result["errors"] = state["errors"]
    result["bad"] = 0
    if errors:
        result["error_sample"] = errors[0]
    return result


async def poll_connect(a: argparse.Namespace) -> dict[str, Any]:
    """Polling sessions opened (handshake GET) and closed (POST ``1``) per second."""
    state = {"count": 0, "errors": 0, "running": True}
    errors: list[str] = []

    async def worker() -> None:
        conn = await open_http(a.port)
        while state["running"]:
            try:
                sid = await poll_handshake(conn)
                target = POLL_TARGET.encode() + b"&sid=" + sid
                status, answer = await conn.request(b"POST", target, b"1")
                if status != 200 or answer.lower() != b"ok":
                    raise ConnectionError(f"close POST: {status} {answer[:100]!r}")
                state["count"] += 1
            except Exception as exc:
                state["errors"] += 1
                errors.append(repr(exc))
                conn.transport.close()
                await asyncio.sleep(0.01)
                conn = await open_http(a.port)
        conn.transport.close()

    tasks = [asyncio.ensure_future(worker()) for _ in range(a.sessions)]
    result = await measure(a.server_pid, lambda: state["count"], a.warmup, a.duration)
    state["running"] = False
    await asyncio.wait(tasks, timeout=10)
    result["errors"] = state["errors"]
    result["bad"] = 0
    if errors:
        result["error_sample"] = errors[0]
    return result


async def idle(a: argparse.Namespace) -> dict[str, Any]:
    """Hold ``--sessions`` idle websocket sessions for ``--duration`` seconds of pings."""
    pid = a.server_pid
    await close_all(await open_many(a.port, 20))  # warm the server's code paths up
    await asyncio.sleep(0.5)
    rss0 = proc_rss(pid)
    t0 = time.perf_counter()
    failures: list[str] = []
    clients = await open_many(a.port, a.sessions, failures=failures)
    connect_seconds = time.perf_counter() - t0
    await asyncio.sleep(a.warmup)
    if a.mark_file:  # tells a profiler that the hold starts now
        _touch(a.mark_file)
    for client in clients:
        client.pings = 0
    s0, g0, b0, t1 = proc_cpu(pid), time.process_time(), busy_cpu(), time.perf_counter()
    await asyncio.sleep(a.duration)
    s1, g1, b1, t2 = proc_cpu(pid), time.process_time(), busy_cpu(), time.perf_counter()
    rss1 = proc_rss(pid)
    pings = [c.pings for c in clients]
    dropped = sum(1 for c in clients if c.closed.done() or c.engine_closed) + len(failures)
    total = sum(pings)
    result = {
        "sessions": a.sessions,
        "connect_seconds": connect_seconds,
        "seconds": t2 - t1,
        "rss_before": rss0,
        "rss_after": rss1,
        "rss_per_session": (rss1 - rss0) / a.sessions,
        "pings": total,
        "connect_failed": len(failures),
        "connect_error_sample": failures[0] if failures else None,
        "min_pings": min(pings, default=0),
        "pings_histogram": {str(k): pings.count(k) for k in sorted(set(pings))},
        "dropped": dropped,
        "server_cpu": (s1 - s0) / (t2 - t1),
        "server_cpu_us_per_ping": 1e6 * (s1 - s0) / total if total else None,
        "gen_cpu": (g1 - g0) / (t2 - t1),
        "other_cpu": max(0.0, (b1 - b0) - (s1 - s0) - (g1 - g0)) / (t2 - t1),
        "bad": 0,
        "errors": dropped,
    }
    for client in clients:
        client.transport.abort()
    return result


async def census(a: argparse.Namespace) -> dict[str, Any]:
    """Ask the server (``EIO_BENCH_DEBUG=1``) for ``#stats`` before and after opening idle sessions."""
    control = await open_ws(a.port)
    replies: list[str | bytes] = []
    control.on_message = replies.append

    async def ask() -> Any:
        seen = len(replies)
        control.send_frame(text_message("#stats"))
        deadline = time.perf_counter() + 120
        while len(replies) == seen:
            if control.closed.done() or time.perf_counter() > deadline:
                raise ConnectionError("no #stats answer (is EIO_BENCH_DEBUG=1 set? session closed?)")
            await asyncio.sleep(0.01)
        return json.loads(replies[-1][1:])

    await close_all(await open_many(a.port, 20))
    await asyncio.sleep(0.5)
    before = await ask()
    rss0 = proc_rss(a.server_pid)
    clients = await open_many(a.port, a.sessions)
    if a.mark_file:
        _touch(a.mark_file)
    await asyncio.sleep(a.duration)
    after = await ask()
    rss1 = proc_rss(a.server_pid)
    for client in clients:
        client.transport.abort()
    return {
        "sessions": a.sessions,
        "before": before,
        "after": after,
        "rss_per_session": (rss1 - rss0) / a.sessions,
    }


SCENARIOS = {
    "ws_echo": ws_echo,
    "ws_c2s": ws_c2s,
    "ws_s2c": ws_s2c,
    "poll_echo": poll_echo,
    "ws_connect": ws_connect,
    "poll_connect": poll_connect,
    "idle": idle,
    "census": census,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True, help="read its CPU and RSS from /proc")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--size", type=int, default=32, help="message size in bytes")
    parser.add_argument("--binary", action="store_true", help="binary messages (ws_echo)")
    parser.add_argument("--window", type=int, default=1, help="messages in flight per session (ws_echo)")
    parser.add_argument("--batch", type=int, default=200, help="messages per ? (ws_c2s) or per ! (ws_s2c)")
    parser.add_argument("--inflight", type=int, default=4, help="batches in flight per session (ws_c2s)")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--mark-file", help="idle/census: create this file when the hold starts")
    parser.add_argument("--duration", type=float, default=3.0)
    a = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - plain asyncio works too, with more CPU
        runner = asyncio.run
    result = runner(SCENARIOS[a.scenario](a))
    result["scenario"] = a.scenario
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
