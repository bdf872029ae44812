"""examples/metrics.py: Prometheus text at /metrics and the periodic statistics log."""

from __future__ import annotations

import httpx
import trio

from .examples_harness import RunExample, StartExample


async def test_metrics_endpoint_and_log(start_example: StartExample, run_example: RunExample) -> None:
    server = await start_example("examples.metrics", "--log-every", "0.2")
    assert server.first_line == f"metrics example listening: {server.url}/metrics"
    done = await run_example("examples.echo_client", "--url", server.url, "one", "two", seconds=20)
    assert done.returncode == 0, done.stderr

    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/metrics")
            missing = await http.get("/other")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    assert "# TYPE engineio_sessions gauge" in lines
    assert "engineio_sessions_opened_total 1" in lines
    assert 'engineio_sessions_closed_total{reason="client disconnect"} 1' in lines
    assert "engineio_handler_errors_total 0" in lines
    assert missing.status_code == 404

    # The periodic log line (every 0.2 s here) catches up with the closed session.
    with trio.fail_after(10):
        while "opened=1 closed={'client disconnect': 1}" not in await trio.Path(server.log).read_text():
            await trio.sleep(0.05)
