"""Fixtures for the deployment tests: Redis, nodes and nginx, started and stopped per test.

``deployment`` is two nodes (``a`` and ``b``) running :mod:`peers.deployment.cluster_app` under
``hypercorn --worker-class trio``, on one Redis (the ``redis_server`` fixture of the bus
tests, which the test can stop and restart), behind nginx configured from
``examples/scale_out/nginx.conf.template``. Tests skip if nginx or redis-server is not
installed (``scripts/bootstrap.sh`` installs both).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from examples.scale_out.deploy import Deployment, find_binary, open_deployment

from ..redis_bus.conftest import RedisServer, redis_server

__all__ = ["Cluster", "LogEntry", "cluster", "redis_server"]

TESTS = Path(__file__).resolve().parents[2]
_ENTRY = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) upstream=(?P<upstream>\S+) sid=(?P<sid>\S*)'
)


@dataclass(frozen=True)
class LogEntry:
    """One request as nginx logged it."""

    method: str
    path: str
    status: int
    upstream: str
    sid: str


@dataclass
class Cluster:
    """A running deployment and the Redis under it."""

    deployment: Deployment
    redis: RedisServer

    @property
    def url(self) -> str:
        return self.deployment.url

    async def stats(self, node_id: str) -> dict[str, object]:
        """``GET /stats`` of one node, straight to it (not through nginx)."""
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(self.deployment.nodes[node_id] + "/stats")
        response.raise_for_status()
        result: dict[str, object] = response.json()
        return result

    def log_entries(self) -> list[LogEntry]:
        """Every request nginx has logged so far."""
        entries = []
        for line in self.deployment.access_log.read_text().splitlines():
            match = _ENTRY.search(line)
            assert match, line
            entries.append(
                LogEntry(
                    match["method"],
                    match["path"],
                    int(match["status"]),
                    match["upstream"],
                    "" if match["sid"] == "-" else match["sid"],
                )
            )
        return entries

    def assert_routed_by_sid(self) -> list[LogEntry]:
        """No request failed, and every request with a sid went to the node the sid names."""
        entries = [e for e in self.log_entries() if e.path.startswith("/engine.io/")]
        assert entries
        failed = [e for e in entries if e.status >= 400]
        assert not failed, failed
        for entry in entries:
            if entry.sid:
                node = entry.sid.partition(".")[0]
                assert "http://" + entry.upstream == self.deployment.nodes[node], entry
        return entries


@pytest.fixture
async def cluster(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Nodes ``a`` and ``b`` behind nginx, on ``redis_server``."""
    if find_binary("nginx") is None:
        pytest.skip("nginx is not installed (scripts/bootstrap.sh installs it)")
    # Each process's startup is time-capped in open_deployment.
    async with open_deployment(
        "peers.deployment.cluster_app:app",
        ["a", "b"],
        redis_url=redis_server.url,
        directory=tmp_path / "deployment",
        pythonpath=[str(TESTS)],
    ) as deployment:
        yield Cluster(deployment, redis_server)
