"""examples/latency (page + server) and examples/latency_client.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import trio

from ..where import ARTIFACTS, CHROMIUM
from .examples_harness import RunExample, StartExample, require_browser

SUMMARY = re.compile(r"(\d+) round trips: min ([\d.]+) ms, p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms")


@pytest.mark.parametrize("transport", [None, "polling", "websocket"], ids=["default", "polling", "websocket"])
async def test_latency_client_prints_rtts(
    start_example: StartExample, run_example: RunExample, transport: str | None
) -> None:
    server = await start_example("examples.latency")
    assert server.first_line == f"latency demo running: open {server.url}/ in a browser (Ctrl+C to stop)"
    args = ["--transport", transport] if transport else []

    done = await run_example(
        "examples.latency_client", "--url", server.url, "--count", "12", "--interval", "0", *args, seconds=30
    )

    assert done.returncode == 0, done.stderr
    *pings, summary = done.lines
    assert len(pings) == 12
    for n, line in enumerate(pings):
        assert re.fullmatch(rf"ping {n:>4}: +[\d.]+ ms  \((polling|websocket)\)", line), line
    if transport:
        assert all(line.endswith(f"({transport})") for line in pings)
    match = SUMMARY.fullmatch(summary)
    assert match, summary
    count, low, p50, p99, high = match.groups()
    assert int(count) == 12
    assert float(low) <= float(p50) <= float(p99) <= float(high)


@pytest.mark.interop
async def test_latency_page_in_chromium(start_example: StartExample) -> None:
    require_browser()
    server = await start_example("examples.latency")
    screenshot = ARTIFACTS / "examples-latency.png"
    screenshot.unlink(missing_ok=True)

    result = await browse(
        {"mode": "latency", "url": f"{server.url}/?count=60", "screenshot": str(screenshot)}
    )

    summary = result["summary"]
    assert summary["done"] == "true"
    assert summary["count"] == "60"
    assert float(summary["min"]) <= float(summary["p50"]) <= float(summary["p99"]) <= float(summary["max"])
    assert result["shown"]["count"] == "60"
    assert result["shown"]["p50"].endswith(" ms")
    assert result["shown"]["p99"].endswith(" ms")
    assert result["bars"] == 60
    assert result["againEnabled"]
    assert result["status"]["state"] == "open"
    assert result["problems"] == []
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def browse(config: dict[str, Any]) -> dict[str, Any]:
    """Run browser_examples.js; return its result (fail the test if the driver failed)."""
    script = Path(__file__).parent / "browser_examples.js"
    full = {"chromium": str(CHROMIUM), "timeoutMs": 50_000, "stepMs": 20_000, **config}
    with trio.fail_after(60):
        completed = await trio.run_process(
            ["node", str(script), json.dumps(full)], capture_stdout=True, capture_stderr=True, check=False
        )
    lines = [line for line in completed.stdout.decode().splitlines() if line.startswith("{")]
    assert lines, completed.stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    assert result["ok"], result
    return result
