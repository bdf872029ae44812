"""The bus machinery on the in-memory bus (autojump_clock: outages and backoff cost no wall time).

What runs here is what runs over Redis (envelopes, routing, the bounded buffer, reconnecting,
logging, statistics); only the transport differs.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable
from typing import Any

import pytest
import trio
from bus_helpers import MAX, PAYLOADS, Inbox, garbage, largest, nodes, until
from hypothesis import given
from hypothesis import strategies as st

import trio_engineio
from trio_engineio.bus import (
    Bus,
    BusBroadcast,
    BusDisconnect,
    BusLink,
    BusMessage,
    BusSend,
    check_node_id,
    node_of,
    open_bus_link,
)
from trio_engineio.bus.envelope import InvalidEnvelope, decode, encode
from trio_engineio.testing import MemoryBus

BUS_LOGGER = "trio_engineio.bus"

# ------------------------------------------------------------------ delivery


async def test_every_kind_arrives_exactly_and_in_order(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus(max_message_size=MAX)
    async with nodes(bus, "a", "b") as found, trio_engineio.open_emitter(bus) as emitter:
        (a, a_inbox), (b, b_inbox) = found["a"], found["b"]
        payloads = [
            *PAYLOADS,
            largest("b.s1", "a", binary=False),
            largest("b.s1", "a", binary=True),
        ]
        sent_to_b = [BusSend("b.s1", data) for data in payloads]
        for message in sent_to_b:
            assert a.publish(message)
        assert b.publish(BusDisconnect("a.s9"))
        for data in payloads[:3]:
            await emitter.send("a.s2", data)
        await emitter.disconnect("b.s3")

        # In order from each publisher (b"hello" != "hello": the kind of message is compared too).
        received = await b_inbox.wait_for(len(sent_to_b) + 1)
        assert [m for m in received if isinstance(m, BusSend)] == sent_to_b
        assert BusDisconnect("b.s3") in received
        received = await a_inbox.wait_for(4)
        assert [m for m in received if isinstance(m, BusSend)] == [BusSend("a.s2", d) for d in payloads[:3]]
        assert BusDisconnect("a.s9") in received
        await trio.sleep(1)
        assert a.statistics().published == len(sent_to_b)
        assert b.statistics().delivered == len(sent_to_b) + 1
        assert emitter.statistics().published == 4
        assert a.statistics().dropped == b.statistics().dropped == a.statistics().invalid == 0


async def test_broadcasts_reach_every_other_node_with_their_exclusions(
    autojump_clock: trio.abc.Clock,
) -> None:
    bus = MemoryBus()
    async with nodes(bus, "a", "b", "c") as found, trio_engineio.open_emitter(bus) as emitter:
        (a, a_inbox), (_, b_inbox), (_, c_inbox) = found["a"], found["b"], found["c"]
        assert a.publish(BusBroadcast(b"\x00\xff", frozenset({"b.1", "c.2"})))
        await emitter.broadcast("to all")
        await emitter.broadcast({"json": [1, 2]}, exclude="a.7")
        await emitter.broadcast("a list", exclude=["a.1", "b.2"])

        from_a = BusBroadcast(b"\x00\xff", frozenset({"b.1", "c.2"}))
        from_emitter = [
            BusBroadcast("to all"),
            BusBroadcast('{"json": [1, 2]}', frozenset({"a.7"})),
            BusBroadcast("a list", frozenset({"a.1", "b.2"})),
        ]
        for inbox in (b_inbox, c_inbox):
            assert sorted(map(repr, await inbox.wait_for(4))) == sorted(map(repr, [from_a, *from_emitter]))
        # A node's own broadcast is not delivered back: it delivers it locally.
        assert await a_inbox.wait_for(3) == from_emitter
        await trio.sleep(1)
        assert len(a_inbox.messages) == 3
        assert a.statistics().invalid == 0


async def test_a_message_for_a_node_nobody_runs_is_counted_unheard(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus()
    async with nodes(bus, "a") as found, trio_engineio.open_emitter(bus) as emitter:
        await emitter.send("z.1", "nobody")
        await emitter.send("a.1", "someone")
        await found["a"][1].wait_for(1)
        await until(lambda: emitter.statistics().published == 2)
        assert emitter.statistics().unheard == 1


async def test_publish_refuses_what_cannot_be_routed_or_encoded(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus(max_message_size=MAX)
    async with trio_engineio.open_emitter(bus) as emitter, nodes(bus, "a") as found:
        link = found["a"][0]
        for sid in ["plain", ".x", "a.", "bad id.x", "toolongnodeid" * 3 + ".x", ""]:
            with pytest.raises(ValueError, match="names no node"):
                await emitter.send(sid, "x")
            with pytest.raises(ValueError, match="names no node"):
                link.publish(BusDisconnect(sid))
        with pytest.raises(ValueError, match="not a session id"):
            link.publish(BusSend("a.has space", "x"))
        with pytest.raises(ValueError, match="not a session id"):
            link.publish(BusBroadcast("x", frozenset({"é"})))
        with pytest.raises(ValueError, match="max_message_size"):
            link.publish(BusSend("a.1", largest("a.1", "a", binary=True) + b"!"))  # type: ignore[operator]
        with pytest.raises(UnicodeEncodeError):
            link.publish(BusSend("a.1", "\ud800 lone surrogate"))
        with pytest.raises(TypeError):
            await emitter.send("a.1", 42)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            link.publish(BusSend("a.1", 42))  # type: ignore[arg-type]
        assert link.publish(BusSend("a.1", largest("a.1", "a", binary=True)))
        assert link.statistics().dropped == 0


# ------------------------------------------------------------ untrusted input


async def test_invalid_envelopes_are_counted_logged_rate_limited_and_ignored(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    bus = MemoryBus(max_message_size=MAX)
    async with nodes(bus, "a") as found:
        link, inbox = found["a"]
        bad = garbage(bus)
        with caplog.at_level(logging.WARNING, logger=BUS_LOGGER):
            for channel, raw in bad:
                assert bus.inject(channel, raw) == 1
            await trio.sleep(1)
            assert link.statistics().invalid == len(bad)
            assert inbox.messages == []
            assert len(caplog.records) == 1, [r.getMessage() for r in caplog.records]
            assert "dropped an invalid message" in caplog.records[0].getMessage()

            # The link is fine: valid messages still arrive.
            bus.inject(bus.node_channel("a"), encode(BusSend("a.s1", b"\xff"), "b"))
            assert await inbox.wait_for(1) == [BusSend("a.s1", b"\xff")]

            # Ten seconds on, one more line reports how many were left out meanwhile.
            await trio.sleep(11)
            bus.inject(bus.node_channel("a"), b"junk")
            await trio.sleep(1)
        assert link.statistics().invalid == len(bad) + 1
        assert len(caplog.records) == 2
        assert f"({len(bad) - 1} more invalid since the last report)" in caplog.records[1].getMessage()


async def test_a_failing_deliver_is_logged_and_the_link_goes_on(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    bus = MemoryBus()
    received: list[BusMessage] = []

    def deliver(message: BusMessage) -> None:
        received.append(message)
        if len(received) == 1:
            raise RuntimeError("a bug in the node")

    async with open_bus_link(bus, node_id="a", deliver=deliver), trio_engineio.open_emitter(bus) as emitter:
        with caplog.at_level(logging.ERROR, logger=BUS_LOGGER):
            await emitter.send("a.1", "first")
            await emitter.send("a.1", "second")
            await until(lambda: len(received) == 2)
        assert "delivering BusSend failed" in caplog.text
        assert "a bug in the node" in caplog.text


@given(st.binary(max_size=300))
def test_decode_raises_nothing_but_invalid_envelope_on_random_bytes(raw: bytes) -> None:
    try:
        decode(raw, MAX)
    except InvalidEnvelope:
        pass


message_strategy = st.one_of(
    st.builds(BusSend, st.sampled_from(["a.1", "b.xYz-_~.", "node_1.abc"]), st.text() | st.binary()),
    st.builds(BusDisconnect, st.sampled_from(["a.1", "zz.q"])),
    st.builds(
        BusBroadcast,
        st.text() | st.binary(),
        st.frozensets(st.text("abc.XYZ019-_~", min_size=1, max_size=128), max_size=5),
    ),
)


@given(message_strategy, st.sampled_from(["", "a", "node-7"]), st.data())
def test_envelopes_round_trip_and_survive_mutation(
    message: BusMessage, origin: str, data: st.DataObject
) -> None:
    raw = encode(message, origin)
    assert decode(raw, len(raw)) == (message, origin)
    with pytest.raises(InvalidEnvelope, match="over the limit"):
        decode(raw, len(raw) - 1)
    # Any truncation or one-byte change is either still a valid envelope or InvalidEnvelope.
    cut = data.draw(st.integers(0, len(raw)))
    at = data.draw(st.integers(0, len(raw) - 1))
    value = data.draw(st.integers(0, 255))
    for mutated in (raw[:cut], raw[:at] + bytes([value]) + raw[at + 1 :]):
        try:
            decode(mutated, MAX * 100)
        except InvalidEnvelope:
            pass


# ---------------------------------------------------- buffer, outage, backoff


async def test_the_buffer_is_bounded_and_drops_are_counted(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus(max_message_size=1024, buffer_size=5, buffer_bytes=2048)
    async with nodes(bus, "a") as found:
        link = found["a"][0]
        bus.set_reachable(False)
        await until(lambda: not link.statistics().connected)

        before = trio.current_time()
        accepted = [link.publish(BusSend("b.1", f"m{i}")) for i in range(8)]
        assert trio.current_time() == before  # publishing never waits
        assert accepted == [True] * 5 + [False] * 3
        stats = link.statistics()
        assert (stats.buffered, stats.dropped) == (5, 3)

        # The byte bound: a message that does not fit is dropped, a smaller one still fits.
        bus2 = MemoryBus(max_message_size=1024, buffer_size=100, buffer_bytes=2048)
        bus2.set_reachable(False)
        async with open_bus_link(bus2) as emitter_link:
            big = BusSend("b.1", b"\x00" * 1000)
            assert [emitter_link.publish(big) for _ in range(3)] == [True, True, False]
            assert emitter_link.publish(BusSend("b.1", b"small"))
            assert emitter_link.statistics().buffered_bytes <= 2048
            assert emitter_link.statistics().dropped == 1


async def test_an_outage_is_logged_once_and_the_links_recover_within_the_backoff_cap(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    cap = 2.0
    bus = MemoryBus(reconnect_backoff=(0.1, cap), buffer_size=3)
    caplog.set_level(logging.INFO, logger=BUS_LOGGER)
    async with nodes(bus, "a", "b") as found, trio_engineio.open_emitter(bus) as emitter:
        (a, a_inbox), (b, b_inbox) = found["a"], found["b"]
        caplog.clear()
        bus.set_reachable(False)
        await until(lambda: not a.statistics().connected and not b.statistics().connected)
        # An idle publisher learns of the outage from its first message, which is lost (it
        # may or may not have gone out: at most once); the next ones wait in the buffer.
        assert a.publish(BusSend("b.1", "in flight"))
        await until(lambda: a.statistics().dropped == 1)
        for i in range(5):
            a.publish(BusSend("b.1", f"during {i}"))
        await trio.sleep(120)  # a long outage: many failed attempts

        unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(unreachable) == 2, unreachable  # one per node, none for the idle emitter
        assert all(r.levelno == logging.WARNING for r in unreachable)
        assert a.statistics().dropped == 3
        assert a.statistics().buffered == 3

        bus.set_reachable(True)
        outage_end = trio.current_time()
        await until(lambda: a.statistics().connected and b.statistics().connected)
        assert trio.current_time() - outage_end <= cap

        back = [r for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(back) == 2
        assert all(r.levelno == logging.INFO for r in back)
        from_a = next(r.getMessage() for r in back if "node a" in r.getMessage())
        assert "3 messages dropped meanwhile" in from_a
        assert a.statistics().reconnects == b.statistics().reconnects == 1
        assert emitter.statistics().reconnects == 0  # it never noticed: it published nothing

        # Messages flow again (what was buffered was published when a got back, heard or not).
        await until(lambda: a.statistics().buffered == 0)
        b_inbox.take()
        await emitter.send("a.1", "after")
        assert a.publish(BusSend("b.1", "after"))
        assert await a_inbox.wait_for(1) == [BusSend("a.1", "after")]
        assert (await b_inbox.wait_for(1))[-1] == BusSend("b.1", "after")
        stats = a.statistics()
        assert stats.published + stats.dropped == 7


async def test_reconnect_attempts_back_off_up_to_the_cap(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    bus = MemoryBus(reconnect_backoff=(0.1, 2.0))
    caplog.set_level(logging.DEBUG, logger=BUS_LOGGER)
    async with nodes(bus, "a"):
        bus.set_reachable(False)
        await trio.sleep(60)
    retries = [r for r in caplog.records if "still failing" in r.getMessage()]
    per_part = {part: sum(part in r.getMessage() for r in retries) for part in ("publisher", "subscriber")}
    # Delays 0.1, 0.2, ... doubling up to 2 s, each shortened by up to half (jitter): over 60 s
    # that is between about 30 and 65 attempts, not a busy loop and not giving up.
    assert 25 <= per_part["subscriber"] <= 70, per_part
    # An idle publisher does not notice the outage: it has nothing to publish.
    assert per_part["publisher"] == 0


async def test_a_link_starts_without_the_bus_and_connects_later(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    bus = MemoryBus(connect_timeout=3, reconnect_backoff=(0.1, 1.0))
    bus.set_reachable(False)
    inbox = Inbox()
    link = BusLink(bus, node_id="a", deliver=inbox)
    caplog.set_level(logging.INFO, logger=BUS_LOGGER)
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        await nursery.start(link.run)
        assert trio.current_time() - start == pytest.approx(3)  # it went on without the bus
        assert not link.statistics().connected
        assert link.publish(BusSend("a.1", "queued while down"))
        bus.set_reachable(True)
        await until(lambda: link.statistics().connected)
        assert link.statistics().reconnects == 0  # connecting late is not reconnecting
        await link.aclose()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1
    assert link.statistics().published == 1


# ------------------------------------------------------------------- closing


async def test_leaving_an_emitter_publishes_what_it_buffered(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus()
    async with nodes(bus, "a") as found:
        async with trio_engineio.open_emitter(bus) as emitter:
            for i in range(500):
                await emitter.send("a.1", str(i))
        assert emitter.statistics().published == 500
        assert [m.data for m in await found["a"][1].wait_for(500)] == [str(i) for i in range(500)]  # type: ignore[union-attr]


async def test_leaving_while_the_bus_is_down_does_not_wait_and_counts_the_loss(
    autojump_clock: trio.abc.Clock,
) -> None:
    bus = MemoryBus(flush_timeout=30)
    async with trio_engineio.open_emitter(bus) as emitter:
        bus.set_reachable(False)
        await emitter.send("a.1", "lost")  # the publisher fails on it
        await until(lambda: not emitter.statistics().connected)
        for _ in range(3):
            await emitter.send("a.1", "buffered")
        left_at = trio.current_time()
    assert trio.current_time() - left_at < 1
    stats = emitter.statistics()
    assert (stats.published, stats.dropped, stats.buffered) == (0, 4, 0)
    with pytest.raises(ValueError, match="names no node"):
        await emitter.send("nonode", "x")
    await emitter.send("a.1", "after close")
    assert emitter.statistics().dropped == 5


async def test_a_cancelled_link_counts_what_it_did_not_publish(autojump_clock: trio.abc.Clock) -> None:
    bus = MemoryBus()
    bus.set_reachable(False)
    link = BusLink(bus)
    with trio.move_on_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(link.run)
            for _ in range(3):
                link.publish(BusSend("a.1", "x"))
            await trio.sleep_forever()
    assert link.statistics().dropped == 3
    assert link.statistics().buffered == 0
    with pytest.raises(RuntimeError, match="already running"):
        await link.run()


# ------------------------------------------------------------- configuration


def test_node_ids() -> None:
    for good in ["a", "node-1", "N_2", "x" * 32]:
        assert check_node_id(good) == good
        assert node_of(f"{good}.rest") == good
    for bad in ["", "a.b", "é", "a b", "x" * 33, "a/b"]:
        with pytest.raises(ValueError, match="invalid node id"):
            check_node_id(bad)
    with pytest.raises(TypeError):
        check_node_id(1)
    for sid in ["plain", ".x", "a.", "a b.c", "x" * 33 + ".y"]:
        assert node_of(sid) is None
    assert node_of("a.b.c") == "a"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"channel_prefix": ""}, "channel_prefix"),
        ({"channel_prefix": "has space"}, "channel_prefix"),
        ({"channel_prefix": "tab\t"}, "channel_prefix"),
        ({"max_message_size": 10}, "max_message_size"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"buffer_bytes": 1000}, "buffer_bytes"),
        ({"reconnect_backoff": (0, 1)}, "reconnect_backoff"),
        ({"reconnect_backoff": (2, 1)}, "reconnect_backoff"),
        ({"reconnect_backoff": (1, math.inf)}, "reconnect_backoff"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"flush_timeout": -1}, "flush_timeout"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MemoryBus(**options)


def test_every_bus_has_the_same_options_and_defaults() -> None:
    base = inspect.signature(Bus.__init__).parameters
    for cls in (MemoryBus, trio_engineio.RedisBus):
        params = dict(inspect.signature(cls.__init__).parameters)
        params.pop("url", None)
        assert list(params) == list(base), cls
        assert [p.default for p in params.values()] == [p.default for p in base.values()], cls


def test_a_link_is_a_node_or_an_emitter() -> None:
    bus = MemoryBus()
    deliver: Callable[[BusMessage], None] = print
    with pytest.raises(TypeError):
        BusLink(bus, node_id="a")
    with pytest.raises(TypeError):
        BusLink(bus, deliver=deliver)
    with pytest.raises(ValueError, match="invalid node id"):
        BusLink(bus, node_id="a.b", deliver=deliver)
    assert BusLink(bus, node_id="a", deliver=deliver).node_id == "a"
    assert bus.node_channel("a") == "trio_engineio:node:a"
    assert MemoryBus(channel_prefix="chat").broadcast_channel == "chat:all"
