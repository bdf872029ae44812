"""The latency server: echoes every message at once, and serves the page that measures it.

Run it:  ``python -m examples.latency`` (then open the printed URL)
or:      ``hypercorn --worker-class trio examples.latency.server:app --bind 127.0.0.1:8001``
Python:  ``python -m examples.latency_client --url http://127.0.0.1:8001``
The page uses the browser build of ``engine.io-client`` from the npm package
installed by ``scripts/bootstrap.sh`` (``ENGINEIO_CLIENT_JS`` overrides it).
"""

from __future__ import annotations

from pathlib import Path

import trio_engineio

from ..chat.server import client_build

STATIC = Path(__file__).parent / "static"


async def echo(conn: trio_engineio.Connection) -> None:
    """Answer every ping with the same message, so the sender can time the round trip."""
    async for message in conn:
        await conn.send(message)


def build_app(**server_options: object) -> trio_engineio.ASGIApp:
    """The echo server plus the latency page as one ASGI app."""
    server = trio_engineio.Server(handler=echo, **server_options)  # type: ignore[arg-type]
    return trio_engineio.ASGIApp(
        server,
        static_files={
            "/": str(STATIC / "index.html"),
            "/latency.js": str(STATIC / "latency.js"),
            "/engine.io.js": {"filename": str(client_build()), "content_type": "application/javascript"},
        },
    )


app = build_app()
