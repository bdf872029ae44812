"""examples/chat in a real browser: two Chromium pages in one room (``python -m examples.chat``)."""

from __future__ import annotations

import pytest

from ..where import ARTIFACTS
from .examples_harness import StartExample, require_browser
from .test_example_latency import browse

pytestmark = pytest.mark.interop


async def test_chat_between_two_pages(start_example: StartExample) -> None:
    require_browser()
    server = await start_example("examples.chat")
    assert server.first_line == f"chat demo running: open {server.url}/ in a browser (Ctrl+C to stop)"
    screenshot = ARTIFACTS / "examples-chat.png"
    screenshot.unlink(missing_ok=True)
    message = "hello from Chromium ✓"

    result = await browse(
        {"mode": "chat", "url": server.url + "/", "message": message, "screenshot": str(screenshot)}
    )

    alice, bob = result["alice"], result["bob"]
    for page in (alice, bob):
        assert page["status"]["transport"] == "websocket"
        assert page["status"]["state"] == "open"
        assert page["status"]["text"].startswith("connected as guest-")
        assert any(line.endswith(f": {message}") for line in page["log"]), page["log"]
    alice_name = alice["status"]["text"].split()[2]
    assert f"{alice_name}: {message}" in bob["log"]
    assert any(line.endswith("joined (2 here)") for line in alice["log"]), alice["log"]
    assert alice["inputAfter"] == ""
    assert result["problems"] == []
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
