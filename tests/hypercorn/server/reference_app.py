"""The application of issue 13's comparison with the JavaScript ``engine.io`` 6.6 server.

python-engineio-style echo with the settings of that comparison; the tests in
``test_reference_conformance.py`` serve it with ``hypercorn --worker-class trio``.
"""

from __future__ import annotations

import trio_engineio

server = trio_engineio.Server(
    ping_interval=0.3, ping_timeout=0.2, max_http_buffer_size=1_000_000, cors_allowed_origins="*"
)


@server.on("message")
async def message(sid: str, data: str | bytes) -> None:
    """Echo every message to its sender."""
    await server.send(sid, data)


app = trio_engineio.ASGIApp(server)
