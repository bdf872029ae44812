"""RedisBus against a real redis-server (started per test by the ``redis_server`` fixture).

These run on the real clock: each test is capped with ``trio.fail_after`` and waits only for
real events (messages, connection state), polling in steps of a few milliseconds.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections import Counter

import coredis
import pytest
import trio
from bus_helpers import PAYLOADS, Inbox, garbage, largest, nodes, until

import trio_engineio
from trio_engineio.bus import BusBroadcast, BusDisconnect, BusSend, open_bus_link
from trio_engineio.bus.envelope import encode

from .conftest import RedisServer

BUS_LOGGER = "trio_engineio.bus"
MAX = 64 * 1024
#: Backoff of the buses under test: a restarted Redis is found again within CAP seconds.
CAP = 0.5


def redis_bus(server: RedisServer, **options: object) -> trio_engineio.RedisBus:
    settings: dict[str, object] = {
        "max_message_size": MAX,
        "reconnect_backoff": (0.05, CAP),
        "connect_timeout": 1.0,
    }
    settings.update(options)
    return trio_engineio.RedisBus(server.url, **settings)  # type: ignore[arg-type]


async def test_two_nodes_and_an_emitter_exchange_every_kind_exactly(redis_server: RedisServer) -> None:
    bus = redis_bus(redis_server)
    with trio.fail_after(10):
        async with nodes(bus, "a", "b", connected=True) as found, trio_engineio.open_emitter(bus) as emitter:
            (a, a_inbox), (b, b_inbox) = found["a"], found["b"]
            payloads = [*PAYLOADS, largest("b.s1", "a", True, MAX), largest("b.s1", "a", False, MAX)]
            to_b = [BusSend("b.s1", data) for data in payloads]
            for message in to_b:
                assert a.publish(message)
            to_a = [BusSend("a.s2", data) for data in payloads]
            for message in to_a:
                assert b.publish(message)
            with pytest.raises(ValueError, match="max_message_size"):
                a.publish(BusSend("b.s1", largest("b.s1", "a", True, MAX) + b"!"))  # type: ignore[operator]
            a.publish(BusDisconnect("b.s3"))
            b.publish(BusBroadcast(b"\xff from b", frozenset({"a.s2"})))
            a.publish(BusBroadcast("from a"))
            await emitter.send("a.s4", b"\x80\x81")
            await emitter.disconnect("a.s5")
            await emitter.broadcast("from the emitter", exclude=["a.s6", "b.s7"])

            got_b = await b_inbox.wait_for(len(to_b) + 3)
            got_a = await a_inbox.wait_for(len(to_a) + 4)
            # In order from each publisher, exactly (kind, bytes, text).
            assert [m for m in got_b if isinstance(m, BusSend)] == to_b
            assert [m for m in got_a if isinstance(m, BusSend) and m.sid == "a.s2"] == to_a
            assert Counter(m for m in got_b if not isinstance(m, BusSend)) == Counter(
                [
                    BusDisconnect("b.s3"),
                    BusBroadcast("from a"),
                    BusBroadcast("from the emitter", frozenset({"a.s6", "b.s7"})),
                ]
            )
            assert Counter(m for m in got_a if not (isinstance(m, BusSend) and m.sid == "a.s2")) == Counter(
                [
                    BusBroadcast(b"\xff from b", frozenset({"a.s2"})),
                    BusSend("a.s4", b"\x80\x81"),
                    BusDisconnect("a.s5"),
                    BusBroadcast("from the emitter", frozenset({"a.s6", "b.s7"})),
                ]
            )
            await trio.sleep(0.1)  # nothing else comes: no node gets its own broadcast back
            assert len(a_inbox.messages) == len(to_a) + 4
            assert len(b_inbox.messages) == len(to_b) + 3
        for link in (a, b):
            stats = link.statistics()
            assert (stats.dropped, stats.invalid, stats.unheard, stats.reconnects) == (0, 0, 0, 0)
        assert a.statistics().published == len(to_b) + 2
        assert emitter.statistics().published == 3


async def test_an_emitter_publishes_everything_before_it_closes(redis_server: RedisServer) -> None:
    bus = redis_bus(redis_server)
    with trio.fail_after(10):
        async with nodes(bus, "a", connected=True) as found:
            async with trio_engineio.open_emitter(bus) as emitter:
                for i in range(2000):
                    await emitter.send("a.1", str(i))
            assert emitter.statistics().published == 2000
            received = await found["a"][1].wait_for(2000)
            assert [m.data for m in received] == [str(i) for i in range(2000)]  # type: ignore[union-attr]
            await emitter.send("z.1", "after close")
            assert emitter.statistics().dropped == 1


async def test_garbage_published_on_the_channels_is_counted_and_ignored(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    bus = redis_bus(redis_server, max_message_size=4096)
    with trio.fail_after(10):
        async with nodes(bus, "a", connected=True) as found:
            link, inbox = found["a"]
            bad = garbage(bus)
            # Over the limit by far: Redis carries it, the node drops it unread.
            bad.append((bus.node_channel("a"), b"\x01" * (1024 * 1024)))
            caplog.set_level(logging.WARNING, logger=BUS_LOGGER)
            raw_client = coredis.Redis.from_url(redis_server.url)
            async with raw_client:
                for channel, raw in bad:
                    assert await raw_client.publish(channel, raw) == 1
                # A valid one, published the same way, still arrives.
                await raw_client.publish(bus.node_channel("a"), encode(BusSend("a.1", b"\x00ok"), "b"))
            assert await inbox.wait_for(1) == [BusSend("a.1", b"\x00ok")]
            assert link.statistics().invalid == len(bad)
            assert link.statistics().connected
            invalid_lines = [r for r in caplog.records if "invalid" in r.getMessage()]
            assert len(invalid_lines) == 1  # rate limited


async def test_redis_stopped_and_restarted_mid_run(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    bus = redis_bus(redis_server, buffer_size=20)
    caplog.set_level(logging.INFO, logger=BUS_LOGGER)
    with trio.fail_after(20):
        async with nodes(bus, "a", "b", connected=True) as found, trio_engineio.open_emitter(bus) as emitter:
            (a, a_inbox), (b, b_inbox) = found["a"], found["b"]
            caplog.clear()
            await redis_server.stop()
            await until(lambda: not a.statistics().connected and not b.statistics().connected)

            # Publishing goes on without waiting; beyond the buffer, messages are dropped.
            started = trio.current_time()
            accepted = [a.publish(BusSend("b.1", f"during {i}")) for i in range(100)]
            assert trio.current_time() - started < 0.05  # 100 publishes, no I/O
            await trio.sleep(0.3)  # retries fail meanwhile
            assert sum(accepted) <= 20 + 64
            stats = a.statistics()
            assert stats.dropped >= 100 - 20
            assert stats.dropped + stats.buffered == 100
            unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
            assert len(unreachable) == 2, [r.getMessage() for r in unreachable]  # one per node

            await redis_server.start()
            restarted = trio.current_time()
            await until(lambda: a.statistics().connected and b.statistics().connected)
            assert trio.current_time() - restarted < CAP + 1.0
            assert a.statistics().reconnects == b.statistics().reconnects == 1
            back = [r for r in caplog.records if "reachable again" in r.getMessage()]
            assert len(back) == 2
            assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 2

            # Messages flow again, both ways and from the emitter (whose idle connection
            # was replaced by its pool on the next command).
            await until(lambda: a.statistics().buffered == 0)
            a_inbox.take()
            b_inbox.take()
            assert a.publish(BusSend("b.1", "after"))
            assert b.publish(BusSend("a.1", b"after"))
            await emitter.broadcast("after")
            assert sorted(map(repr, await b_inbox.wait_for(2))) == sorted(
                map(repr, [BusSend("b.1", "after"), BusBroadcast("after")])
            )
            assert sorted(map(repr, await a_inbox.wait_for(2))) == sorted(
                map(repr, [BusSend("a.1", b"after"), BusBroadcast("after")])
            )


async def test_a_node_starts_while_redis_is_down_and_connects_when_it_comes(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    await redis_server.stop()
    bus = redis_bus(redis_server, connect_timeout=0.3)
    caplog.set_level(logging.INFO, logger=BUS_LOGGER)
    inbox = Inbox()
    with trio.fail_after(10):
        async with open_bus_link(bus, node_id="a", deliver=inbox) as link:
            assert not link.statistics().connected
            await redis_server.start()
            await until(lambda: link.statistics().connected)
            async with trio_engineio.open_emitter(bus) as emitter:
                await emitter.send("a.1", "hello")
            assert await inbox.wait_for(1) == [BusSend("a.1", "hello")]
            assert link.statistics().reconnects == 0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1


def test_the_url_is_checked_and_its_password_never_shown() -> None:
    bus = trio_engineio.RedisBus("redis://user:s3cret@127.0.0.1:6379/2")
    assert "s3cret" not in repr(bus)
    assert bus.url == "redis://user:***@127.0.0.1:6379/2"
    assert trio_engineio.RedisBus("unix:///run/redis.sock").url == "unix:///run/redis.sock"
    for bad in ["http://127.0.0.1", "127.0.0.1:6379", "redis://", ""]:
        with pytest.raises(ValueError, match="not a Redis URL"):
            trio_engineio.RedisBus(bad)


def test_importable_without_coredis_and_says_what_to_install() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["coredis"] = None  # as if it were not installed
        import trio_engineio
        from trio_engineio.testing import MemoryBus
        MemoryBus()
        try:
            trio_engineio.RedisBus("redis://127.0.0.1:6379/0")
        except ImportError as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'trio-engineio-v4[redis]'" in result.stdout
