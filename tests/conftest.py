"""Suite-wide settings: Hypothesis profiles, the ``deadline`` marker and the ``serve_app`` fixture.

``fast`` (default) keeps the synchronous protocol suite well under 10 s;
``long`` is for fuzzing runs: ``HYPOTHESIS_PROFILE=long pytest``.

``@pytest.mark.deadline(seconds)`` (on a test or a module) makes the whole trio run of a
test, its trio fixtures' setup and teardown included, fail with ``trio.TooSlowError``
after ``seconds``: a hang fails fast without a ``with trio.fail_after(...)`` in every test.

``serve_app`` (from ``loopback.py``) serves an ASGI app on 127.0.0.1:0 for any test that asks.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, settings
from loopback import serve_app

__all__ = ["serve_app"]

settings.register_profile("fast", max_examples=60, deadline=None)
settings.register_profile(
    "long",
    max_examples=5_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


def _run_within(seconds: float) -> Callable[..., Any]:
    """A ``run`` for ``pytest.mark.trio(run=...)``: ``trio.run`` under ``fail_after(seconds)``."""

    def run(test: Callable[[], Awaitable[Any]], **kwargs: Any) -> Any:
        async def capped() -> Any:
            with trio.fail_after(seconds):
                return await test()

        return trio.run(capped, **kwargs)

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("deadline")
        if marker is not None:
            # First among the item's trio markers, so pytest-trio runs the test with it.
            item.add_marker(pytest.mark.trio(run=_run_within(*marker.args)), append=False)
