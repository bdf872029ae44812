"""Fixtures for the client tests on loopback: ``io_clock``."""

from __future__ import annotations

import pytest
from trio.testing import MockClock


@pytest.fixture
def io_clock() -> MockClock:
    """A MockClock that jumps only after 50 ms of real idleness.

    For timer tests over real loopback sockets: the clock cannot jump while bytes are in
    flight, yet heartbeat and upgrade timeouts cost (almost) no wall time.
    """
    return MockClock(autojump_threshold=0.05)
