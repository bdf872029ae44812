"""Server statistics as Prometheus text at ``/metrics`` and as a periodic log line.

Run it:  ``python -m examples.metrics --port 5000`` then ``curl http://127.0.0.1:5000/metrics``
(it is the echo server plus the two recipes; ``--log-every 10`` logs a summary every 10 s).

No dependency on a Prometheus client library: :func:`prometheus_text` renders
:meth:`trio_engineio.Server.statistics` and :meth:`trio_engineio.Connection.statistics`
in the text exposition format, and :func:`metrics_app` serves it as the
``other_asgi_app`` of :class:`trio_engineio.ASGIApp`, so it also works under
``hypercorn --worker-class trio examples.metrics:app``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio

import trio_engineio

from ._shutdown import until_signal

logger = logging.getLogger("examples.metrics")


def prometheus_text(server: trio_engineio.Server) -> str:
    """Render the server's counters in the Prometheus text exposition format."""
    stats = server.statistics()
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: dict[str, float]) -> None:
        lines.append(f"# HELP engineio_{name} {help_text}")
        lines.append(f"# TYPE engineio_{name} {kind}")
        for labels, value in samples.items():
            lines.append(f"engineio_{name}{labels} {value:g}")

    metric(
        "sessions",
        "gauge",
        "Open sessions by transport.",
        {f'{{transport="{t}"}}': stats.sessions_by_transport.get(t, 0) for t in ("polling", "websocket")},
    )
    metric(
        "upgrades_in_progress", "gauge", "Sessions upgrading to websocket.", {"": stats.upgrades_in_progress}
    )
    metric("buffered_messages", "gauge", "Messages queued for clients.", {"": stats.buffered_messages})
    metric("buffered_bytes", "gauge", "Bytes queued for clients.", {"": stats.buffered_bytes})
    metric("sessions_opened_total", "counter", "Sessions opened.", {"": stats.sessions_opened})
    metric(
        "sessions_closed_total",
        "counter",
        "Sessions closed, by close reason.",
        {f'{{reason="{reason}"}}': n for reason, n in sorted(stats.sessions_closed.items())},
    )
    metric("handler_errors_total", "counter", "Exceptions raised by handlers.", {"": stats.handler_errors})
    metric("requests_rejected_total", "counter", "Requests refused.", {"": stats.requests_rejected})
    # Per-session detail: the largest outgoing buffer points at the slowest client.
    worst = max(server.connections(), key=lambda conn: conn.buffered_bytes, default=None)
    if worst is not None:
        metric(
            "max_session_buffered_bytes",
            "gauge",
            "Largest outgoing buffer of one session.",
            {"": worst.buffered_bytes},
        )
    return "\n".join(lines) + "\n"


ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]


def metrics_app(server: trio_engineio.Server) -> Callable[..., Awaitable[None]]:
    """A tiny ASGI app: ``GET /metrics`` answers :func:`prometheus_text`, anything else 404."""

    async def app(scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            return
        found = scope["path"] == "/metrics"
        body = prometheus_text(server).encode() if found else b"Not Found"
        content_type = b"text/plain; version=0.0.4; charset=utf-8" if found else b"text/plain"
        await send(
            {
                "type": "http.response.start",
                "status": 200 if found else 404,
                "headers": [(b"content-type", content_type)],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def log_statistics(server: trio_engineio.Server, every: float) -> None:
    """Log one summary line every ``every`` seconds, plus one line per session with a backlog."""
    while True:
        await trio.sleep(every)
        stats = server.statistics()
        logger.info(
            "sessions=%d %s opened=%d closed=%s buffered=%d/%dB errors=%d rejected=%d",
            stats.sessions,
            stats.sessions_by_transport,
            stats.sessions_opened,
            stats.sessions_closed,
            stats.buffered_messages,
            stats.buffered_bytes,
            stats.handler_errors,
            stats.requests_rejected,
        )
        for conn in server.connections():
            session = conn.statistics()
            if session.buffered_messages:
                logger.info(
                    "session %s on %s from %s: %d messages queued, age %.0f s",
                    session.sid,
                    session.transport,
                    session.remote_address,
                    session.buffered_messages,
                    session.age,
                )


async def echo(conn: trio_engineio.Connection) -> None:
    """The application itself: an echo."""
    async for message in conn:
        await conn.send(message)


server = trio_engineio.Server(handler=echo)
app = trio_engineio.ASGIApp(server, other_asgi_app=metrics_app(server))


def main() -> None:
    """Command line entry point: serve ``app`` and log statistics periodically."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--log-every", type=float, default=60.0, help="seconds between statistics log lines")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("trio_engineio").setLevel(logging.WARNING)

    async def run() -> None:
        async with trio.open_nursery() as nursery:

            async def serve_then_stop(task_status: trio.TaskStatus[list[str]]) -> None:
                try:
                    await trio_engineio.serve(
                        app, args.host, args.port, shutdown_trigger=until_signal, task_status=task_status
                    )
                finally:
                    nursery.cancel_scope.cancel()  # serve() returned: stop the logger too

            nursery.start_soon(log_statistics, server, args.log_every)
            binds = await nursery.start(serve_then_stop)
            print(f"metrics example listening: {binds[0]}/metrics", flush=True)

    trio.run(run)


if __name__ == "__main__":
    main()
