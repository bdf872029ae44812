"""The message conventions every benchmark app answers, and their shared settings.

* any message (text or binary) is echoed unchanged, except:
* text starting with ``~``: counted for the session, nothing is sent back;
* text ``?``: the session gets ``=<count>`` (the number of ``~`` messages so far);
* text ``!N:S``: the session gets N text messages of S bytes (``"x" * S``).

Ping settings come from ``EIO_PING_INTERVAL_MS`` and ``EIO_PING_TIMEOUT_MS``;
maxPayload is 1 000 000 bytes and CORS is open.
"""

from __future__ import annotations

import os

from . import _debug

MAX_PAYLOAD = 1_000_000


def ping_interval_ms() -> int:
    return int(os.environ.get("EIO_PING_INTERVAL_MS", "25000"))


def ping_timeout_ms() -> int:
    return int(os.environ.get("EIO_PING_TIMEOUT_MS", "20000"))


def answers(message: str | bytes, count: int) -> tuple[int, list[str | bytes]]:
    """Apply the conventions to one message: (the session's new ``~`` count, what to send back).

    Text ``#`` answers with a memory census when ``EIO_BENCH_DEBUG`` enables it.
    """
    if isinstance(message, str) and message:
        first = message[0]
        if first == "~":
            return count + 1, []
        if message == "?":
            return count, [f"={count}"]
        if first == "!":
            push = parse_push(message)
            if push is not None:
                return count, ["x" * push[1]] * push[0]
        if first == "#" and _debug.ENABLED:
            return count, [_debug.census()]
    return count, [message]


def parse_push(text: str) -> tuple[int, int] | None:
    """``"!N:S"`` -> ``(N, S)``; ``None`` if the text is not a push request."""
    count, sep, size = text[1:].partition(":")
    if not sep or not count.isdigit() or not size.isdigit():
        return None
    return int(count), int(size)
