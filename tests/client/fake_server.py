"""The scripted, misbehaving Engine.IO server the client tests talk to: now part of ``tests/wire.py``.

``FakeEngineIO`` (an ASGI app: the script and the recording), ``Request`` and
``serve_fake`` live in the one wire harness; this module keeps the names the client
tests import.
"""

from __future__ import annotations

from wire import FakeEngineIO, Request, serve_fake

__all__ = ["FakeEngineIO", "Request", "serve_fake"]
