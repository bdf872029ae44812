"""The Socket.IO server over in-memory websockets: the exchange, the API and hostile clients."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
from sio_wire import nothing_for, open_peer, quiet_server, running

from trio_engineio import socketio
from trio_engineio.socketio.protocol import MAX_ACK_ID, Packet, PacketType

T = PacketType
pytestmark = pytest.mark.timeout(20)


make_server = quiet_server


async def test_connect_event_ack_and_disconnect(autojump_clock: Any) -> None:
    sio = make_server()
    seen: list[Any] = []

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> None:
        seen.append(("connect", auth, environ["REQUEST_METHOD"]))

    @sio.event
    async def echo(sid: str, *args: Any) -> Any:
        return args

    @sio.on("plain")
    def plain(sid: str, value: int) -> int:
        return value + 1

    disconnected = trio.Event()

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        seen.append(("disconnect", reason))
        disconnected.set()

    async with running(sio) as app, open_peer(app) as peer:
        reply = await peer.connect()
        assert reply.type is T.CONNECT
        assert set(reply.data) == {"sid"}
        assert reply.data["sid"] != peer.engine_sid
        await peer.send(Packet(T.EVENT, data=["echo", 1, {"b": b"\x00"}], id=0))
        assert await peer.receive() == Packet(T.BINARY_ACK, data=[1, {"b": b"\x00"}], id=0)
        await peer.send(Packet(T.EVENT, data=["plain", 41], id=7))
        assert await peer.receive() == Packet(T.ACK, data=[42], id=7)
        await peer.send(Packet(T.EVENT, data=["plain", 1]))  # no id: no ack
        await peer.send(Packet(T.DISCONNECT))
        await disconnected.wait()
    assert seen == [("connect", None, "GET"), ("disconnect", "client disconnect")]


async def test_auth_payload_and_refusals(autojump_clock: Any) -> None:
    sio = make_server()

    @sio.event
    def connect(sid: str, environ: Any, auth: Any) -> Any:
        if auth == {"token": "no"}:
            return False
        if auth == {"token": "raise"}:
            raise socketio.ConnectionRefusedError("Not authorized", {"code": 4})
        return auth == {"token": "ok"}

    async with running(sio) as app, open_peer(app) as peer:
        assert await peer.connect(auth={"token": "no"}) == Packet(
            T.CONNECT_ERROR, data={"message": "Connection rejected by server"}
        )
        assert await peer.connect(auth={"token": "raise"}) == Packet(
            T.CONNECT_ERROR, data={"message": "Not authorized", "data": {"code": 4}}
        )
        assert (await peer.connect(auth={"token": "ok"})).type is T.CONNECT
        assert (await peer.connect("/nope")) == Packet(
            T.CONNECT_ERROR, "/nope", {"message": "Invalid namespace"}
        )


async def test_emits_from_connect_handler_follow_the_connect_reply(autojump_clock: Any) -> None:
    sio = make_server()

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> Any:
        await sio.emit("welcome", "hi", to=sid)
        await sio.emit("welcome", ("a", "b"), to=sid)
        return auth != {"refuse": True}

    async with running(sio) as app, open_peer(app) as peer:
        assert (await peer.connect(auth={"refuse": True})).type is T.CONNECT_ERROR
        assert (await peer.connect()).type is T.CONNECT  # nothing from the refused attempt came first
        assert await peer.receive() == Packet(T.EVENT, data=["welcome", "hi"])
        assert await peer.receive() == Packet(T.EVENT, data=["welcome", "a", "b"])


async def test_two_namespaces_rooms_and_broadcast(autojump_clock: Any) -> None:
    sio = make_server()
    sids: dict[str, str] = {}

    @sio.on("join", namespace="/chat")
    async def join(sid: str, room: str) -> list[str]:
        await sio.enter_room(sid, room, namespace="/chat")
        return sio.rooms(sid, namespace="/chat")

    @sio.on("say", namespace="/chat")
    async def say(sid: str, room: str, text: str) -> None:
        await sio.emit("said", (sid, text), room=room, skip_sid=sid, namespace="/chat")

    @sio.on("hello")
    async def hello(sid: str) -> str:
        return "root"

    async with running(sio) as app, open_peer(app) as a, open_peer(app) as b, open_peer(app) as c:
        for name, peer in (("a", a), ("b", b), ("c", c)):
            sids[name] = (await peer.connect("/chat")).data["sid"]
        assert (await a.connect()).type is T.CONNECT  # "/" on the same engine session
        await a.send(Packet(T.EVENT, "/", ["hello"], 1))
        assert await a.receive() == Packet(T.ACK, "/", ["root"], 1)
        for peer in (a, b):
            await peer.send(Packet(T.EVENT, "/chat", ["join", "r"], 2))
        assert (await a.receive()).data == [[sids["a"], "r"]]
        assert (await b.receive()).data == [[sids["b"], "r"]]
        await a.send(Packet(T.EVENT, "/chat", ["say", "r", "hey"]))
        assert await b.receive() == Packet(T.EVENT, "/chat", ["said", sids["a"], "hey"])
        await nothing_for(a)
        await nothing_for(c)
        await sio.emit("all", namespace="/chat")
        for peer in (a, b, c):
            assert await peer.receive() == Packet(T.EVENT, "/chat", ["all"])
        await sio.emit("root-only")
        assert await a.receive() == Packet(T.EVENT, "/", ["root-only"])
        await nothing_for(b)
        await sio.leave_room(sids["b"], "r", namespace="/chat")
        await sio.emit("room", to="r", namespace="/chat")
        assert await a.receive() == Packet(T.EVENT, "/chat", ["room"])
        await nothing_for(b)


async def test_server_call_and_disconnect(autojump_clock: Any) -> None:
    sio = make_server()
    sid_seen = trio.Event()
    sids: list[str] = []
    reasons: list[str] = []

    @sio.event
    async def connect(sid: str, environ: Any) -> None:
        sids.append(sid)
        sid_seen.set()

    @sio.event
    async def disconnect(sid: str, reason: str) -> None:
        reasons.append(reason)

    async with running(sio) as app, open_peer(app) as peer:
        await peer.connect()
        await sid_seen.wait()
        async with trio.open_nursery() as nursery:
            results: list[Any] = []

            async def call() -> None:
                results.append(await sio.call("ask", {"q": 1}, to=sids[0], timeout=5))

            nursery.start_soon(call)
            asked = await peer.receive()
            assert asked == Packet(T.EVENT, data=["ask", {"q": 1}], id=0)
            await peer.send(Packet(T.ACK, data=["yes", 2], id=0))
        assert results == [("yes", 2)]
        with pytest.raises(socketio.TimeoutError):
            await sio.call("ask", to=sids[0], timeout=2)
        await peer.receive()  # the unanswered ask
        await peer.send(Packet(T.ACK, data=[], id=12345))  # an ack never issued: ignored
        async with sio.session(sids[0]) as session:
            session["user"] = "x"
        assert await sio.get_session(sids[0]) == {"user": "x"}
        await sio.disconnect(sids[0])
        assert await peer.receive() == Packet(T.DISCONNECT)
        assert reasons == ["server disconnect"]
        with pytest.raises(socketio.DisconnectedError):
            await sio.call("ask", to=sids[0])
        with pytest.raises(KeyError):
            await sio.get_session(sids[0])


async def test_pending_call_fails_when_the_client_goes(autojump_clock: Any) -> None:
    sio = make_server()
    sids: list[str] = []
    sio.on("connect", lambda sid, environ: sids.append(sid))
    async with running(sio) as app:
        async with open_peer(app) as peer:
            await peer.connect()
            errors: list[BaseException] = []
            async with trio.open_nursery() as nursery:

                async def call() -> None:
                    try:
                        await sio.call("ask", to=sids[0], timeout=50)
                    except socketio.DisconnectedError as error:
                        errors.append(error)

                nursery.start_soon(call)
                await peer.receive()
                await peer.ws.close()
        assert len(errors) == 1


async def test_class_based_namespace(autojump_clock: Any) -> None:
    sio = make_server()

    class Chat(socketio.Namespace):
        def on_connect(self, sid: str, environ: Any, auth: Any) -> None:
            self.auth = auth

        async def on_shout(self, sid: str, text: str) -> str:
            async with self.session(sid) as session:
                session["n"] = session.get("n", 0) + 1
            await self.emit("heard", text.upper(), to=sid)
            return f"{(await self.get_session(sid))['n']}"

    chat = Chat("/chat")
    sio.register_namespace(chat)
    async with running(sio) as app, open_peer(app) as peer:
        await peer.connect("/chat", {"a": 1})
        assert chat.auth == {"a": 1}
        await peer.send(Packet(T.EVENT, "/chat", ["shout", "hi"], 3))
        assert await peer.receive() == Packet(T.EVENT, "/chat", ["heard", "HI"])
        assert await peer.receive() == Packet(T.ACK, "/chat", ["1"], 3)
        await peer.send(Packet(T.EVENT, "/chat", ["unknown"], 4))  # no handler: no ack, no harm
        await nothing_for(peer)


async def test_no_connect_within_connect_timeout_closes_the_session(autojump_clock: Any) -> None:
    sio = make_server(connect_timeout=3)
    async with running(sio) as app, open_peer(app) as peer:
        start = trio.current_time()
        assert await peer.closed() == "1"
        assert 3 <= trio.current_time() - start < 4


async def test_connected_client_outlives_connect_timeout(autojump_clock: Any) -> None:
    sio = make_server(connect_timeout=3)
    async with running(sio) as app, open_peer(app) as peer:
        await peer.connect()
        await nothing_for(peer, 10)


HOSTILE = [
    ("unknown packet type", "9"),
    ("bad JSON", '2["x"'),
    ("non-array EVENT", '2{"a":1}'),
    ("empty EVENT", "2[]"),
    ("non-string event name", "2[1]"),
    ("non-integer ack id", '3x["a"]'),
    ("huge ack id", f'2{MAX_ACK_ID * 10}["x"]'),
    ("too many attachments claimed", '511-["x"]'),
    ("client CONNECT_ERROR", '4{"message":"x"}'),
    ("binary with none pending", b"\x01"),
]


@pytest.mark.parametrize(("name", "message"), HOSTILE, ids=[name for name, _ in HOSTILE])
async def test_invalid_packet_closes_only_that_connection(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture, name: str, message: str | bytes
) -> None:
    sio = make_server()
    reasons: list[str] = []
    sio.on("disconnect", lambda sid, reason: reasons.append(reason))
    sio.on("echo", lambda sid, x: x)
    caplog.set_level(logging.WARNING, "trio_engineio.socketio")
    async with running(sio) as app, open_peer(app) as bystander, open_peer(app) as peer:
        await bystander.connect()
        await peer.connect()
        await peer.send_raw(message)
        assert (await peer.closed()).endswith("1")
        assert reasons == ["server disconnect"]
        invalid = [r for r in caplog.records if "invalid Socket.IO packet" in r.getMessage()]
        assert len(invalid) == 1
        await bystander.send(Packet(T.EVENT, data=["echo", 5], id=1))
        assert await bystander.receive() == Packet(T.ACK, data=[5], id=1)


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        ("too few attachments", ['52-["x",{"_placeholder":true,"num":0}]', b"a", '2["y"]']),
        ("placeholder out of range", ['51-["x",{"_placeholder":true,"num":3}]', b"a"]),
        (
            "placeholder nested deep",
            ['51-["x",' + "[" * 100 + '{"_placeholder":true,"num":0}' + "]" * 100 + "]", b"a"],
        ),
    ],
)
async def test_bad_attachments_close_the_connection(
    autojump_clock: Any, name: str, messages: list[str | bytes]
) -> None:
    sio = make_server()
    async with running(sio) as app, open_peer(app) as peer:
        await peer.connect()
        for message in messages:
            await peer.send_raw(message)
        assert (await peer.closed()).endswith("1")


async def test_namespace_limit(autojump_clock: Any) -> None:
    sio = make_server(max_namespaces=3)
    for i in range(5):
        sio.on("x", lambda sid: None, namespace=f"/n{i}")
    async with running(sio) as app, open_peer(app) as peer:
        for i in range(3):
            assert (await peer.connect(f"/n{i}")).type is T.CONNECT
        await peer.send(Packet(T.CONNECT, "/n3"))
        assert (await peer.closed()).endswith("1")


async def test_room_limit_and_reserved_names(autojump_clock: Any) -> None:
    sio = make_server(max_rooms=3)
    sids: list[str] = []
    sio.on("connect", lambda sid, environ: sids.append(sid))
    async with running(sio) as app, open_peer(app) as peer:
        await peer.connect()
        await sio.enter_room(sids[0], "a")
        await sio.enter_room(sids[0], "b")
        with pytest.raises(ValueError, match="3 rooms"):
            await sio.enter_room(sids[0], "c")
        assert sio.rooms(sids[0]) == [sids[0], "a", "b"]
        with pytest.raises(ValueError, match="reserved"):
            await sio.emit("connect")


async def test_many_events_are_bounded(autojump_clock: Any) -> None:
    """A client flooding slow handlers is read only as fast as max_concurrent_events allows."""
    sio = make_server(max_concurrent_events=2)
    running_now = 0
    peak = 0

    @sio.event
    async def slow(sid: str) -> None:
        nonlocal running_now, peak
        running_now += 1
        peak = max(peak, running_now)
        await trio.sleep(1)
        running_now -= 1

    async with running(sio) as app, open_peer(app) as peer:
        await peer.connect()
        for i in range(10):
            await peer.send(Packet(T.EVENT, data=["slow"], id=i))
        acks = [await peer.receive() for _ in range(10)]
        assert sorted(p.id for p in acks if p.id is not None) == list(range(10))
    assert peak == 2


async def test_disconnect_reasons_and_handlers_outliving_the_client(autojump_clock: Any) -> None:
    """A client that goes away: "transport close"; its running handler may finish, its emits dropped."""
    sio = make_server()
    reasons: list[str] = []
    finished = trio.Event()

    @sio.event
    async def slow(sid: str) -> str:
        await trio.sleep(1)
        await sio.emit("late", to=sid)  # dropped: the client is gone
        finished.set()
        return "done"

    sio.on("disconnect", lambda sid, reason: reasons.append(reason))
    async with running(sio) as app:
        async with open_peer(app) as peer:
            await peer.connect()
            await peer.send(Packet(T.CONNECT))  # a second CONNECT to the same namespace is ignored
            await peer.send(Packet(T.EVENT, data=["slow"], id=1))
            await trio.sleep(0.1)
        await finished.wait()
        assert reasons == ["transport close"]


async def test_slow_connect_handler_is_refused_after_its_timeout(autojump_clock: Any) -> None:
    sio = make_server(connect_handler_timeout=2)

    @sio.event
    async def connect(sid: str, environ: Any) -> None:
        await trio.sleep(100)

    async with running(sio) as app, open_peer(app) as peer:
        start = trio.current_time()
        assert await peer.connect() == Packet(
            T.CONNECT_ERROR, data={"message": "Connection rejected by server"}
        )
        assert 2 <= trio.current_time() - start < 3


async def test_namespace_helpers_close_room_send_and_catch_all(autojump_clock: Any) -> None:
    sio = make_server()
    sids: list[str] = []

    class Room(socketio.Namespace):
        async def on_connect(self, sid: str, environ: Any) -> None:
            sids.append(sid)
            await self.enter_room(sid, "lobby")

        async def on_leave(self, sid: str) -> list[str]:
            await self.leave_room(sid, "lobby")
            return self.rooms(sid)

        async def on_ask(self, sid: str) -> Any:
            return await self.call("q", "?", to=sid, timeout=5)

    sio.register_namespace(Room("/r"))
    seen: list[Any] = []
    sio.on("*", lambda event, sid, *args: seen.append((event, args)) or "caught", namespace="/r")
    async with running(sio) as app, open_peer(app) as peer:
        await peer.connect("/r")
        await sio.send("hi", room="lobby", namespace="/r")
        assert await peer.receive() == Packet(T.EVENT, "/r", ["message", "hi"])
        await sio.close_room("lobby", namespace="/r")
        assert sio.rooms(sids[0], namespace="/r") == [sids[0]]
        await peer.send(Packet(T.EVENT, "/r", ["other", 1], 5))
        assert await peer.receive() == Packet(T.ACK, "/r", ["caught"], 5)
        assert seen == [("other", (1,))]
        await peer.send(Packet(T.EVENT, "/r", ["ask"], 6))
        question = await peer.receive()
        assert question.data == ["q", "?"]
        await peer.send(Packet(T.ACK, "/r", ["!"], question.id))
        assert await peer.receive() == Packet(T.ACK, "/r", ["!"], 6)
        assert sio.rooms(sids[0]) == [sids[0]]  # sids are unique: the namespace may be left out
        with pytest.raises(KeyError):
            sio.rooms(sids[0], namespace="/")  # but when given, it must be the socket's
