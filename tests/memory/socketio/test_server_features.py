"""Server features python-socketio and socket.io users expect, over in-memory websockets.

``emit(callback=)``, the ``disconnecting`` event, dynamic namespaces (patterns,
``namespaces=``), ``always_connect``, volatile emits, reserved event names.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import trio
from sio_wire import WirePeer, nothing_for, open_peer, quiet_server, running

from trio_engineio import socketio
from trio_engineio.socketio.protocol import MAX_ATTACHMENTS, Packet, PacketType, encode

T = PacketType
pytestmark = pytest.mark.timeout(20)
RESERVED = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]


make_server = quiet_server


async def connected_sid(peer: WirePeer, namespace: str = "/") -> str:
    reply = await peer.connect(namespace)
    assert reply.type is T.CONNECT, reply
    return str(reply.data["sid"])


async def test_emit_callback_runs_with_each_recipients_ack(autojump_clock: Any) -> None:
    sio = make_server()
    acks: list[tuple[Any, ...]] = []
    got_async = trio.Event()

    def callback(*args: Any) -> None:
        acks.append(args)

    async def async_callback(value: Any) -> None:
        await trio.sleep(1)
        acks.append(("async", value))
        got_async.set()

    async with running(sio) as app, open_peer(app) as a, open_peer(app) as b:
        sid_a, sid_b = await connected_sid(a), await connected_sid(b)
        await sio.enter_room(sid_a, "r")
        await sio.enter_room(sid_b, "r")
        await sio.emit("q", {"n": 1}, room="r", callback=callback)
        question_a, question_b = await a.receive(), await b.receive()
        assert question_a.data == ["q", {"n": 1}]
        assert question_a.id is not None
        assert question_b.id is not None
        await a.send(Packet(T.ACK, data=["from a", 1], id=question_a.id))
        await b.send(Packet(T.ACK, data=[{"bin": b"\x01"}], id=question_b.id))
        with trio.fail_after(5):
            while len(acks) < 2:
                await trio.sleep(0.01)
        assert sorted(acks, key=repr) == sorted([("from a", 1), ({"bin": b"\x01"},)], key=repr)
        # A second ACK for the same id, or one never issued, runs nothing.
        await a.send(Packet(T.ACK, data=["again"], id=question_a.id))
        await a.send(Packet(T.ACK, data=["never"], id=question_a.id + 100))

        await sio.emit("q2", 5, to=sid_a, callback=async_callback)
        question = await a.receive()
        assert question.id is not None
        await a.send(Packet(T.ACK, data=[question.data[1] * 2], id=question.id))
        with trio.fail_after(5):
            await got_async.wait()
        assert acks[-1] == ("async", 10)
        assert len(acks) == 3


async def test_emit_callback_waiters_are_bounded(autojump_clock: Any, caplog: Any) -> None:
    sio = make_server(max_pending_calls=2)
    acks: list[Any] = []
    async with running(sio) as app, open_peer(app) as peer:
        sid = await connected_sid(peer)
        for i in range(3):
            await sio.emit("q", i, to=sid, callback=acks.append)
        ids = [(await peer.receive()).id for _ in range(3)]
        assert ids == [0, 1, 2]
        assert "forgot the callback of ack 0" in caplog.text
        for ack_id in ids:
            await peer.send(Packet(T.ACK, data=[ack_id], id=ack_id))
        with trio.fail_after(5):
            while len(acks) < 2:
                await trio.sleep(0.01)
        await nothing_for(peer, 1)
        assert acks == [1, 2]  # the first one was forgotten

        # A call() makes room by forgetting a callback, but never displaces another call().
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sio.emit, "q", "cb", sid, None, None, None, acks.append)
            await trio.sleep(0.1)
            nursery.start_soon(lambda: sio.call("c1", to=sid, timeout=5))
            nursery.start_soon(lambda: sio.call("c2", to=sid, timeout=5))
            await trio.sleep(0.1)
            with pytest.raises(RuntimeError, match="calls already wait"):
                await sio.call("c3", to=sid, timeout=5)
            for _ in range(3):
                packet = await peer.receive()
                if packet.data[0] != "q":
                    await peer.send(Packet(T.ACK, data=[], id=packet.id))


async def test_emit_callback_never_runs_for_a_socket_that_left(autojump_clock: Any) -> None:
    sio = make_server()
    acks: list[Any] = []
    async with running(sio) as app:
        async with open_peer(app) as peer:
            sid = await connected_sid(peer)
            await sio.emit("q", to=sid, callback=acks.append)
            question = await peer.receive()
            await peer.send(Packet(T.DISCONNECT))
            await peer.send(Packet(T.ACK, data=["late"], id=question.id))
            await trio.sleep(1)
        await sio.emit("q", to=sid, callback=acks.append)  # gone: skipped, nothing kept
    assert acks == []


async def test_disconnecting_sees_the_rooms_then_disconnect_does_not(autojump_clock: Any) -> None:
    sio = make_server()
    seen: list[Any] = []
    done = trio.Event()

    @sio.event
    async def disconnecting(sid: str, reason: str) -> None:
        seen.append(("disconnecting", reason, sio.rooms(sid)))
        await sio.emit("bye", sid, room="r")  # the leaving socket does not get it any more

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        try:
            rooms: Any = sio.rooms(sid)
        except KeyError:
            rooms = "unknown sid"
        seen.append(("disconnect", reason, rooms, sio.participants("r")))
        done.set()

    async with running(sio) as app, open_peer(app) as stays, open_peer(app) as leaves:
        sid_stays = await connected_sid(stays)
        sid_leaves = await connected_sid(leaves)
        await sio.enter_room(sid_stays, "r")
        await sio.enter_room(sid_leaves, "r")
        await leaves.send(Packet(T.DISCONNECT))
        with trio.fail_after(5):
            await done.wait()
        assert seen == [
            ("disconnecting", "client disconnect", [sid_leaves, "r"]),
            ("disconnect", "client disconnect", "unknown sid", [sid_stays]),
        ]
        assert await stays.receive() == Packet(T.EVENT, data=["bye", sid_leaves])
        await nothing_for(leaves, 1)

        done = trio.Event()
        seen.clear()
        await sio.disconnect(sid_stays)
        assert await stays.receive() == Packet(T.DISCONNECT)
        with trio.fail_after(5):
            await done.wait()
        assert seen == [
            ("disconnecting", "server disconnect", [sid_stays, "r"]),
            ("disconnect", "server disconnect", "unknown sid", []),
        ]
        await nothing_for(stays, 1)


async def test_class_based_disconnecting_and_transport_close(autojump_clock: Any) -> None:
    sio = make_server()
    seen: list[Any] = []
    done = trio.Event()

    class Chat(socketio.Namespace):
        def on_disconnecting(self, sid: str, reason: str) -> None:
            seen.append(("disconnecting", reason, self.rooms(sid)))

        def on_disconnect(self, sid: str, reason: str) -> None:
            seen.append(("disconnect", reason))
            done.set()

    sio.register_namespace(Chat("/chat"))
    async with running(sio) as app:
        async with open_peer(app) as peer:
            sid = await connected_sid(peer, "/chat")
            await sio.enter_room(sid, "x", namespace="/chat")
            await peer.ws.close()
        with trio.fail_after(5):
            await done.wait()
    assert seen == [("disconnecting", "transport close", [sid, "x"]), ("disconnect", "transport close")]


async def test_pattern_namespaces(autojump_clock: Any) -> None:
    sio = make_server()
    seen: list[Any] = []
    pattern = re.compile(r"/room-\d+")

    @sio.on("connect", namespace=pattern)
    def connect(namespace: str, sid: str, environ: Any, auth: Any) -> bool:
        seen.append(("connect", namespace, auth))
        return auth != {"no": 1}

    @sio.on("where", namespace=pattern)
    def where(namespace: str, sid: str, value: int) -> Any:
        return namespace, value, sio.rooms(sid, namespace=namespace)

    @sio.on("*", namespace=pattern)
    def anything(event: str, namespace: str, sid: str, *args: Any) -> Any:
        return "caught", event, namespace, list(args)

    async with running(sio) as app, open_peer(app) as peer:
        sid1 = await connected_sid(peer, "/room-1")
        assert (await peer.connect("/room-22", auth={"no": 1})).type is T.CONNECT_ERROR
        sid2 = await connected_sid(peer, "/room-22")
        assert await peer.connect("/room-x") == Packet(
            T.CONNECT_ERROR, "/room-x", {"message": "Invalid namespace"}
        )
        assert await peer.connect("/room-1/more") == Packet(
            T.CONNECT_ERROR, "/room-1/more", {"message": "Invalid namespace"}
        )
        await peer.send(Packet(T.EVENT, "/room-22", ["where", 7], id=1))
        assert await peer.receive() == Packet(T.ACK, "/room-22", ["/room-22", 7, [sid2]], 1)
        await peer.send(Packet(T.EVENT, "/room-1", ["other", "a"], id=2))
        assert await peer.receive() == Packet(T.ACK, "/room-1", ["caught", "other", "/room-1", ["a"]], 2)
        await sio.emit("news", "only 1", namespace="/room-1")
        assert await peer.receive() == Packet(T.EVENT, "/room-1", ["news", "only 1"])
        await nothing_for(peer, 1)
        assert sio.rooms(sid1, namespace="/room-1") == [sid1]
    assert seen == [
        ("connect", "/room-1", None),
        ("connect", "/room-22", {"no": 1}),
        ("connect", "/room-22", None),
    ]


async def test_namespaces_option_and_catch_all_namespace(autojump_clock: Any, caplog: Any) -> None:
    async def allowed(namespace: str, auth: Any) -> bool:
        await trio.sleep(0.1)
        if namespace == "/boom":
            raise RuntimeError("filter failed")
        return namespace.startswith("/team-") and auth == {"ok": True}

    sio = make_server(namespaces=["/fixed", re.compile(r"/user/\w+"), allowed])
    seen: list[Any] = []

    @sio.on("connect", namespace="*")
    def connect(namespace: str, sid: str, environ: Any) -> None:
        seen.append(namespace)

    @sio.on("echo", namespace="*")
    def echo(namespace: str, sid: str, value: Any) -> Any:
        return namespace, value

    async with running(sio) as app, open_peer(app) as peer:
        for namespace, auth in [("/fixed", None), ("/user/ann", None), ("/team-a", {"ok": True})]:
            assert (await peer.connect(namespace, auth)).type is T.CONNECT, namespace
        for namespace, auth in [("/team-b", None), ("/user/a/b", None), ("/other", None), ("/boom", None)]:
            reply = await peer.connect(namespace, auth)
            assert reply == Packet(T.CONNECT_ERROR, namespace, {"message": "Invalid namespace"})
        assert "namespace filter" in caplog.text
        await peer.send(Packet(T.EVENT, "/team-a", ["echo", 1], id=0))
        assert await peer.receive() == Packet(T.ACK, "/team-a", ["/team-a", 1], 0)
        # "/" has no handlers of its own: the "*" namespace's serve it too.
        await connected_sid(peer, "/")
        await peer.send(Packet(T.EVENT, "/", ["echo", 2], id=1))
        assert await peer.receive() == Packet(T.ACK, "/", ["/", 2], 1)
    assert seen == ["/fixed", "/user/ann", "/team-a", "/"]

    anything = make_server(namespaces="*")
    async with running(anything) as app, open_peer(app) as peer:
        assert (await peer.connect("/whatever/you-like")).type is T.CONNECT
    with pytest.raises(ValueError, match="namespaces"):
        socketio.Server(namespaces="/one")


async def test_dynamic_namespaces_leave_no_state_behind(autojump_clock: Any) -> None:
    """Thousands of short-lived dynamic namespaces: the server keeps nothing for the gone ones."""
    sio = make_server(namespaces="*")
    sids: list[str] = []
    sio.on("connect", lambda namespace, sid: sids.append(sid), namespace="*")
    async with running(sio) as app, open_peer(app) as peer:
        for i in range(2000):
            sid = await connected_sid(peer, f"/n{i}")
            await sio.enter_room(sid, f"room{i}", namespace=f"/n{i}")
            await peer.send(Packet(T.DISCONNECT, f"/n{i}"))
        await connected_sid(peer, "/last")
        assert len(sids) == 2001
        assert set(sio._rooms) == {"/last"}
        assert set(sio._namespace_sids) == {"/last"}
        assert list(sio._sockets) == [sids[-1]]


async def test_always_connect(autojump_clock: Any) -> None:
    sio = make_server(always_connect=True)
    seen: list[str] = []

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any) -> bool:
        await sio.emit("hello", auth, to=sid)  # goes out at once: the CONNECT reply came first
        await trio.sleep(1)
        return auth != {"no": 1}

    sio.on("disconnect", lambda sid, reason: seen.append(reason))
    async with running(sio) as app, open_peer(app) as peer:
        accepted = await peer.connect(auth={"yes": 1})
        assert accepted.type is T.CONNECT
        assert await peer.receive() == Packet(T.EVENT, data=["hello", {"yes": 1}])
        await peer.send(Packet(T.DISCONNECT))

        refused = await peer.connect(auth={"no": 1})
        assert refused.type is T.CONNECT
        assert await peer.receive() == Packet(T.EVENT, data=["hello", {"no": 1}])
        assert await peer.receive() == Packet(T.DISCONNECT)  # refused after all
        await nothing_for(peer, 1)
        assert sio._sockets == {}
    assert seen == ["client disconnect"]  # no disconnect handler for the refused one


async def test_volatile_emit_is_dropped_instead_of_waiting(autojump_clock: Any) -> None:
    sio = make_server(max_buffered_messages=4)
    async with running(sio) as app, open_peer(app) as peer:
        sid = await connected_sid(peer)
        sent = 0
        blocked = trio.Event()
        async with trio.open_nursery() as nursery:

            async def fill() -> None:
                nonlocal sent
                while True:  # the peer reads nothing: the in-memory socket, then the engine fill up
                    with trio.move_on_after(1) as waited:
                        await sio.emit("fill", sent, to=sid)
                    if waited.cancelled_caught:
                        blocked.set()
                        await trio.sleep_forever()  # a write stuck in progress
                    sent += 1

            nursery.start_soon(fill)
            with trio.fail_after(30):
                await blocked.wait()
            with trio.fail_after(1):
                for i in range(20):  # another packet is being written: dropped
                    await sio.emit("volatile", i, to=sid, volatile=True)
            nursery.cancel_scope.cancel()
        with trio.fail_after(1):
            for i in range(20):  # the outgoing buffer is full: dropped
                await sio.emit("volatile", i, to=sid, volatile=True)
        with pytest.raises(trio.TooSlowError), trio.fail_after(1):
            await sio.emit("normal", to=sid)  # a normal emit waits
        for i in range(sent):
            assert await peer.receive() == Packet(T.EVENT, data=["fill", i])
        await sio.emit("volatile", "room now", to=sid, volatile=True)
        await sio.emit("volatile", ("bin", b"\x00"), to=sid, volatile=True, callback=print)
        assert await peer.receive() == Packet(T.EVENT, data=["volatile", "room now"])
        assert await peer.receive() == Packet(T.BINARY_EVENT, data=["volatile", "bin", b"\x00"], id=0)
        await nothing_for(peer, 1)


@pytest.mark.parametrize("name", RESERVED)
async def test_reserved_names_cannot_be_emitted_or_received(
    autojump_clock: Any, caplog: Any, name: str
) -> None:
    caplog.set_level(logging.DEBUG, "trio_engineio.socketio")
    sio = make_server()
    calls: list[Any] = []
    sio.on(name, lambda *args: calls.append(args))
    sio.on("*", lambda *args: calls.append(args))

    class Handlers(socketio.Namespace):
        def on_disconnect(self, sid: str) -> None:
            calls.append("class")

    handlers = Handlers("/c")
    sio.register_namespace(handlers)
    async with running(sio) as app, open_peer(app) as peer:
        sid = await connected_sid(peer)
        calls.clear()  # the "connect" handler, when name is "connect"
        for emit in (
            lambda: sio.emit(name),
            lambda: sio.emit(name, to=sid, callback=print),
            lambda: sio.call(name, to=sid),
            lambda: handlers.emit(name),
        ):
            with pytest.raises(ValueError, match="reserved event name"):
                await emit()
        await connected_sid(peer, "/c")
        await peer.send(Packet(T.EVENT, data=[name, "forged"], id=3))
        await peer.send(Packet(T.EVENT, "/c", [name, "forged"]))
        await nothing_for(peer, 1)  # no ack either
        assert calls == []
        assert f"ignored an event named {name!r}" in caplog.text
        await peer.send(Packet(T.EVENT, data=["still", "works"]))
        with trio.fail_after(5):
            while not calls:
                await trio.sleep(0.01)
        assert calls == [("still", sid, "works")]


async def test_too_many_binary_values_are_refused_before_sending(autojump_clock: Any) -> None:
    sio = make_server()
    sio.on("many", lambda sid: [b"x"] * (MAX_ATTACHMENTS + 1))
    sio.on("ok", lambda sid: "fine")
    async with running(sio) as app, open_peer(app) as peer:
        sid = await connected_sid(peer)
        with pytest.raises(ValueError, match="binary values"):
            await sio.emit("x", [b"a"] * (MAX_ATTACHMENTS + 1))
        with pytest.raises(ValueError, match="binary values"):
            await sio.emit("x", [b"a"] * (MAX_ATTACHMENTS + 1), to=sid, callback=print)
        await peer.send(Packet(T.EVENT, data=["many"], id=1))  # its ack cannot be sent: logged
        await peer.send(Packet(T.EVENT, data=["ok"], id=2))
        assert await peer.receive() == Packet(T.ACK, data=["fine"], id=2)
        # From a client, the server's decoder refuses as many: the session is closed.
        for message in encode(Packet(T.EVENT, data=["x", *[b"a"] * 11]), max_attachments=None):
            await peer.send_raw(message)
        assert (await peer.closed()).endswith("1")


async def test_emit_is_a_cancellation_point(autojump_clock: Any) -> None:
    sio = make_server()
    async with running(sio) as app, open_peer(app) as peer:
        sid = await connected_sid(peer)
        for kwargs in ({}, {"to": sid}, {"to": sid, "volatile": True}, {"to": sid, "callback": print}):
            with trio.CancelScope() as scope:
                scope.cancel()
                await sio.emit("x", **kwargs)
            assert scope.cancelled_caught, kwargs
        await nothing_for(peer, 1)  # cancelled before anything was sent
        await sio.emit("y", to=sid)
        assert await peer.receive() == Packet(T.EVENT, data=["y"])


async def test_plain_and_async_handlers_start_in_arrival_order(autojump_clock: Any, caplog: Any) -> None:
    """Plain functions run in the reading task, but never ahead of an earlier event's task."""
    sio = make_server()
    order: list[str] = []

    @sio.event
    async def slow(sid: str) -> str:
        order.append("slow started")
        await trio.sleep(1)
        return "slow done"

    @sio.event
    def quick(sid: str) -> str:
        order.append("quick")
        return "quick done"

    async def later(value: int) -> int:
        await trio.sleep(0.5)
        return value + 1

    sio.on("deferred", lambda sid, value: later(value))  # a plain function returning an awaitable

    @sio.event
    def broken(sid: str) -> None:
        raise RuntimeError("handler bug")

    async with running(sio) as app, open_peer(app) as peer:
        await connected_sid(peer)
        await peer.send(Packet(T.EVENT, data=["slow"], id=1))
        await peer.send(Packet(T.EVENT, data=["quick"], id=2))
        assert await peer.receive() == Packet(T.ACK, data=["quick done"], id=2)
        assert await peer.receive() == Packet(T.ACK, data=["slow done"], id=1)
        assert order == ["slow started", "quick"]
        await peer.send(Packet(T.EVENT, data=["quick"], id=3))  # nothing running: inline
        assert await peer.receive() == Packet(T.ACK, data=["quick done"], id=3)
        await peer.send(Packet(T.EVENT, data=["deferred", 41], id=4))
        assert await peer.receive() == Packet(T.ACK, data=[42], id=4)
        await peer.send(Packet(T.EVENT, data=["broken"], id=5))
        await peer.send(Packet(T.EVENT, data=["quick"], id=6))
        assert await peer.receive() == Packet(T.ACK, data=["quick done"], id=6)  # no ack for 5
        assert "handler bug" in caplog.text
