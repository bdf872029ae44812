"""Containments of hypercorn's bugs, over real hypercorn on loopback.

The containments live in ``trio_engineio/server/hypercorn_adapter.py``.

Each row has a test that the containment holds and an ``upstream`` variant that
runs the same attack with the containment taken out and asserts the bug is still
there: when such a variant fails, hypercorn (or wsproto) has fixed the bug and the
containment can go. Reports: ``docs/hypercorn.rst``.

I1  HTTP/2: request body arriving after the app's early answer (KeyError; the trio
    worker stops on any connection's exception).
I2  permessage-deflate bomb: a message inflates only up to the message limit.
I5  invalid UTF-8 in a text frame: close frame 1007.
I6  malformed close frame: close frame 1002.
"""

from __future__ import annotations

import base64
import logging
import os
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
import trio
import wsproto
import wsproto.events
from engine_harness import RealEngine, real_engine
from hypercorn_cli import run_hypercorn_cli
from wire import parse_open
from wsproto.extensions import PerMessageDeflate

import trio_engineio
from trio_engineio.server import hypercorn_adapter as _hypercorn

pytestmark = pytest.mark.timeout(60)

QUICK = 20
REPO = Path(__file__).resolve().parents[2]


def uncontain(monkeypatch: pytest.MonkeyPatch, *replacements: type) -> None:
    """Put hypercorn's own classes back where the given containments replaced them."""
    _hypercorn.install()
    for containment in _hypercorn.CONTAINMENTS:
        if containment.replacement in replacements:
            monkeypatch.setattr(containment.module, containment.name, containment.original)


def test_every_containment_is_installed_for_the_checked_versions() -> None:
    _hypercorn.install()
    for containment in _hypercorn.CONTAINMENTS:
        assert getattr(containment.module, containment.name) is containment.replacement, containment


def test_an_unchecked_hypercorn_version_gets_no_containment_and_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for containment in _hypercorn.CONTAINMENTS:
        monkeypatch.setattr(containment.module, containment.name, containment.original)
    monkeypatch.setattr(_hypercorn, "_installed", False)
    monkeypatch.setattr(_hypercorn, "version", lambda package: "99.0" if package == "hypercorn" else "1.3.2")
    with caplog.at_level(logging.WARNING, logger="trio_engineio.hypercorn"):
        _hypercorn.install()
        _hypercorn.install()
    for containment in _hypercorn.CONTAINMENTS:
        assert getattr(containment.module, containment.name) is containment.original, containment
    assert len(caplog.records) == 1, caplog.records
    assert "hypercorn 99.0" in caplog.records[0].getMessage()


# --------------------------------------------------------------------------- HTTP/2 client


class H2Client:
    """A cleartext HTTP/2 client with prior knowledge, on one raw TCP connection."""

    def __init__(self, stream: trio.SocketStream, authority: str) -> None:
        self.stream = stream
        self.authority = authority
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.events: list[h2.events.Event] = []

    async def flush(self) -> None:
        await self.stream.send_all(self.h2.data_to_send())

    async def request(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        end: bool = True,
    ) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        pseudo = [(":method", method), (":path", path), (":scheme", "http"), (":authority", self.authority)]
        self.h2.send_headers(stream_id, [*pseudo, *headers], end_stream=not body and end)
        if body:
            self.h2.send_data(stream_id, body, end_stream=end)
        await self.flush()
        return stream_id

    async def response(self, stream_id: int) -> tuple[int, bytes]:
        """Read until ``stream_id`` has ended; its status and body."""
        status, body = 0, b""
        while True:
            for event in self.events:
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream_id:
                    body += event.data
                    self.h2.acknowledge_received_data(event.flow_controlled_length, stream_id)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                    return status, body
            self.events = []
            data = await self.stream.receive_some(65536)
            assert data, f"connection closed before stream {stream_id} ended"
            self.events = self.h2.receive_data(data)
            await self.flush()

    async def closed(self) -> bool:
        """Read until EOF (``True``) or a second of silence (``False``)."""
        with trio.move_on_after(1):
            try:
                while await self.stream.receive_some(65536):
                    pass
            except trio.BrokenResourceError:
                pass
            return True
        return False


@asynccontextmanager
async def h2_client(host: str, port: int) -> AsyncIterator[H2Client]:
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        client = H2Client(stream, f"{host}:{port}")
        client.h2.initiate_connection()
        await client.flush()
        yield client


async def answered_early_then_more_body(client: H2Client, path: str) -> int:
    """POST with a body still to come, read the app's answer, then send one more DATA frame."""
    stream_id = await client.request("POST", path, [("content-length", "2000")], b"4" + b"x" * 99, end=False)
    status, _ = await client.response(stream_id)
    client.h2.send_data(stream_id, b"y" * 1000, end_stream=False)
    await client.flush()
    return status


async def early_answers(eng: RealEngine, client: H2Client) -> list[int]:
    """The three early answers of the issue: 413 (a session's POST over the limit), 400, 404."""
    sid = await eng.handshake()
    return [
        await answered_early_then_more_body(client, f"/engine.io/?EIO=4&transport=polling&sid={sid}"),
        await answered_early_then_more_body(client, "/engine.io/?EIO=4&transport=polling"),
        await answered_early_then_more_body(client, "/nowhere"),
    ]


async def survives(eng: RealEngine) -> None:
    """A new session still echoes and the bystanders still exchange."""
    sid = await eng.handshake()
    assert (await eng.http.post(eng.polling(sid), content="4alive")).text == "ok"
    assert (await eng.http.get(eng.polling(sid))).text == "4alive"
    assert (await eng.http.post(eng.polling(sid), content="1")).text == "ok"
    await eng.check_bystanders()


# ------------------------------------------------------------------------------------ I1


async def test_i1_h2_body_after_an_early_answer_is_dropped_and_the_connection_serves_on() -> None:
    with trio.fail_after(QUICK):
        async with real_engine(max_http_buffer_size=1000) as eng, h2_client(eng.host, eng.port) as client:
            assert await early_answers(eng, client) == [413, 400, 404]
            stream_id = await client.request("GET", "/engine.io/?EIO=4&transport=polling")
            status, body = await client.response(stream_id)
            assert status == 200, body
            assert eng.server.statistics().connection_errors == 0
            assert (
                await eng.http.post(eng.polling(parse_open(body.decode())["sid"]), content="1")
            ).text == "ok"
            await survives(eng)


async def test_i1_an_error_on_one_connection_ends_that_connection_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the KeyError back (ContainedH2Protocol out), ContainedTCPServer keeps it to one connection."""
    with trio.fail_after(QUICK):
        async with real_engine(max_http_buffer_size=1000) as eng:
            uncontain(monkeypatch, _hypercorn.ContainedH2Protocol)
            async with h2_client(eng.host, eng.port) as client:
                sid = await eng.handshake()
                path = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
                assert await answered_early_then_more_body(client, path) == 413
                assert await client.closed()
            assert eng.server.statistics().connection_errors == 1
            failures = [r for r in eng.logs.records if "hypercorn failed on one connection" in r.getMessage()]
            assert len(failures) == 1, eng.logs.messages()
            assert failures[0].levelno == logging.ERROR
            assert "KeyError" in failures[0].getMessage()
            await survives(eng)


async def test_i1_upstream_h2_body_after_an_early_answer_stops_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug itself (pgjones/hypercorn#329 and the trio worker): fails once hypercorn fixes either."""
    uncontain(monkeypatch, _hypercorn.ContainedH2Protocol, _hypercorn.ContainedTCPServer)
    server = trio_engineio.Server()
    app = trio_engineio.ASGIApp(server)
    with trio.fail_after(QUICK), pytest.RaisesGroup(KeyError, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                lambda task_status: trio_engineio.serve(app, "127.0.0.1", 0, task_status=task_status)
            )
            port = int(binds[0].rsplit(":", 1)[1])
            async with h2_client("127.0.0.1", port) as client:
                assert await answered_early_then_more_body(client, "/nowhere") == 404
                if await client.closed():
                    await trio.sleep_forever()  # until serve() raises into this nursery
            raise AssertionError("hypercorn survived: drop ContainedH2Protocol (and see ContainedTCPServer)")


GUARD_ONLY_APP = """
from examples.echo_server import app
from trio_engineio.server import hypercorn_adapter as _hypercorn

_hypercorn.install()
for containment in _hypercorn.CONTAINMENTS:
    if containment.replacement is _hypercorn.ContainedH2Protocol:
        setattr(containment.module, containment.name, containment.original)
"""


@pytest.mark.parametrize("containments", ["all", "connection-guard-only"])
async def test_i1_hypercorn_command_line_survives_h2_body_after_an_early_answer(
    tmp_path: Path, containments: str
) -> None:
    """``hypercorn --worker-class trio module:app``: the containments are installed in its worker too."""
    app = "examples.echo_server:app"
    if containments == "connection-guard-only":
        (tmp_path / "guard_only_app.py").write_text(GUARD_ONLY_APP)
        app = f"{tmp_path / 'guard_only_app.py'}:app"
    log = tmp_path / "hypercorn.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with trio.fail_after(QUICK):
        async with (
            run_hypercorn_cli(app, cwd=REPO, log=log, env=env) as served,
            httpx.AsyncClient(timeout=5) as http,
        ):
            async with h2_client("127.0.0.1", served.port) as client:
                assert await answered_early_then_more_body(client, "/nowhere") == 404
                if containments == "all":  # the same connection serves on
                    stream_id = await client.request("GET", "/engine.io/?EIO=4&transport=polling")
                    assert (await client.response(stream_id))[0] == 200
                else:  # the KeyError ended this connection, and only it
                    assert await client.closed()
            response = await http.get(f"{served.url}/engine.io/?EIO=4&transport=polling")
            assert response.status_code == 200, response.text
            assert served.process.returncode is None
    process = served.process
    text = log.read_text(errors="replace")
    assert process.returncode == 0, text
    assert text.count("hypercorn failed on one connection") == (containments == "connection-guard-only"), text


# ------------------------------------------------------------------------ websocket helpers


def client_frame(payload: bytes, *, opcode: int, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked client frame (the mask key is zero: the payload goes as is)."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    return head + b"\0\0\0\0" + payload


def deflated(data: bytes) -> bytes:
    """``data`` as one permessage-deflate message payload."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert payload.endswith(b"\0\0\xff\xff")
    return payload[:-4]


async def raw_websocket(eng: RealEngine, *, deflate: bool = False) -> tuple[trio.SocketStream, bytes]:
    """A websocket-only session on a raw socket; the stream and what followed the 101 headers."""
    stream = await trio.open_tcp_stream(eng.host, eng.port)
    key = base64.b64encode(os.urandom(16)).decode()
    extensions = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    await stream.send_all(
        (
            f"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{eng.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n"
        ).encode()
    )
    received = b""
    while b"\r\n\r\n" not in received:
        received += await stream.receive_some(65536)
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    assert (b"permessage-deflate" in head.lower()) is deflate, head
    return stream, rest


async def close_code(stream: trio.SocketStream, received: bytes = b"") -> int | None:
    """Read server frames until the close frame (its code) or EOF without one (``None``)."""
    while True:
        while len(received) >= 2:
            length, offset = received[1] & 0x7F, 2
            if length == 126:
                length, offset = struct.unpack("!H", received[2:4])[0], 4
            elif length == 127:
                length, offset = struct.unpack("!Q", received[2:10])[0], 10
            if len(received) < offset + length:
                break
            if received[0] & 0x0F == 8:
                return int(struct.unpack("!H", received[offset : offset + 2])[0])
            received = received[offset + length :]
        try:
            chunk = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            chunk = b""
        if not chunk:
            return None
        received += chunk


async def at_eof(stream: trio.SocketStream) -> bool:
    """The server closed the TCP connection (within a second)."""
    with trio.move_on_after(1):
        try:
            while await stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass
        return True
    return False


# ------------------------------------------------------------------------------------ I2

CONTAINED = pytest.mark.parametrize("contained", [True, False], ids=["contained", "upstream"])
BOMB = deflated(b"\0" * (64 << 20))  # 64 MiB of zeros in ~64 KB


@CONTAINED
async def test_i2_deflate_bomb_inflates_only_up_to_the_message_limit(
    monkeypatch: pytest.MonkeyPatch, contained: bool
) -> None:
    """One 64 KB frame that inflates to 64 MiB: refused with 1009 within ~max_http_buffer_size of memory.

    ``upstream`` (BoundedDeflate out) inflates all of it before hypercorn's own
    check: fails once hypercorn or wsproto bound the inflation.
    """
    limit = 256 * 1024
    with trio.fail_after(QUICK):
        async with real_engine(max_http_buffer_size=limit) as eng:
            if not contained:
                uncontain(monkeypatch, _hypercorn.BoundedDeflate)
            stream, received = await raw_websocket(eng, deflate=True)
            async with stream:
                tracemalloc.start()
                try:
                    await stream.send_all(client_frame(BOMB, opcode=2, rsv1=True))
                    code = await close_code(stream, received)
                    _, peak = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
                assert code == 1009
                if contained:
                    assert peak < 8 * limit, f"peak {peak / 2**20:.1f} MiB"
                    assert await at_eof(stream)
                else:
                    assert peak > 64 << 20, f"peak {peak / 2**20:.1f} MiB"
            await survives(eng)


class DeflateClient:
    """A wsproto client with permessage-deflate, over a raw socket."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.pending: list[wsproto.events.Event] = []

    async def send(self, event: wsproto.events.Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def next_event(self) -> wsproto.events.Event:
        while not self.pending:
            data = await self.stream.receive_some(65536)
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def message(self) -> str | bytes:
        """The next whole message (PINGs answered)."""
        parts: list[Any] = []
        while True:
            event = await self.next_event()
            if isinstance(event, wsproto.events.Message):
                parts.append(event.data)
                if event.message_finished:
                    return (
                        "".join(parts) if isinstance(event, wsproto.events.TextMessage) else b"".join(parts)
                    )
            elif isinstance(event, wsproto.events.CloseConnection):
                raise AssertionError(f"closed with {event.code}")


@asynccontextmanager
async def deflate_client(eng: RealEngine) -> AsyncIterator[DeflateClient]:
    stream = await trio.open_tcp_stream(eng.host, eng.port)
    async with stream:
        client = DeflateClient(stream)
        await client.send(
            wsproto.events.Request(
                host=f"127.0.0.1:{eng.port}",
                target="/engine.io/?EIO=4&transport=websocket",
                extensions=[PerMessageDeflate()],
            )
        )
        accepted = await client.next_event()
        assert isinstance(accepted, wsproto.events.AcceptConnection), accepted
        assert [e.name for e in accepted.extensions] == ["permessage-deflate"]
        yield client


async def test_i2_compressed_messages_up_to_the_limit_still_echo() -> None:
    """Compression still works: messages up to the limit, whole or fragmented, come back; over it, 1009."""
    limit = 64 * 1024
    with trio.fail_after(QUICK):
        async with real_engine(max_http_buffer_size=limit) as eng, deflate_client(eng) as client:
            parse_open(await client.message())
            exact = "4" + "ab" * ((limit - 1) // 2)
            for text in ("4hello", exact):
                await client.send(wsproto.events.TextMessage(data=text))
                assert await client.message() == text
            await client.send(wsproto.events.TextMessage(data="4" + "z" * 20000, message_finished=False))
            await client.send(wsproto.events.TextMessage(data="z" * 20000))
            assert await client.message() == "4" + "z" * 40000
            for _ in range(3):  # 3 fragments of 25 000 bytes: each under the limit, the message over it
                await client.send(wsproto.events.BytesMessage(data=b"q" * 25000, message_finished=False))
            await client.send(wsproto.events.BytesMessage(data=b""))
            while not isinstance(event := await client.next_event(), wsproto.events.CloseConnection):
                pass
            assert event.code == 1009
            await survives(eng)


# ------------------------------------------------------------------------------- I5 / I6


async def refused_frame_close_code(
    monkeypatch: pytest.MonkeyPatch, contained: bool, frame: bytes
) -> int | None:
    """Send ``frame`` on a websocket session; the close code that comes back, ``None`` for none.

    ``contained=False`` takes FailingConnection out: upstream drops the TCP
    connection without a close frame (the ``upstream`` variants fail once
    hypercorn answers wsproto's failure itself).
    """
    with trio.fail_after(QUICK):
        async with real_engine() as eng:
            if not contained:
                uncontain(monkeypatch, _hypercorn.FailingConnection)
            stream, received = await raw_websocket(eng)
            async with stream:
                await stream.send_all(frame)
                code = await close_code(stream, received)
                assert await at_eof(stream)
            await survives(eng)
    return code


@CONTAINED
@pytest.mark.parametrize("payload", [b"4\xff\xfe", b"4caf\xc3"], ids=["invalid", "truncated"])
async def test_i5_invalid_utf8_text_frame_closes_with_1007(
    monkeypatch: pytest.MonkeyPatch, contained: bool, payload: bytes
) -> None:
    code = await refused_frame_close_code(monkeypatch, contained, client_frame(payload, opcode=1))
    assert code == (1007 if contained else None)


@CONTAINED
@pytest.mark.parametrize(
    "payload",
    [b"\x03", struct.pack("!H", 999), struct.pack("!H", 1005)],
    ids=["one-byte", "invalid-code", "local-only-code"],
)
async def test_i6_malformed_close_frame_closes_with_1002(
    monkeypatch: pytest.MonkeyPatch, contained: bool, payload: bytes
) -> None:
    code = await refused_frame_close_code(monkeypatch, contained, client_frame(payload, opcode=8))
    assert code == (1002 if contained else None)
