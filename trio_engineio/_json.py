"""Application values as messages: the pluggable JSON module and the one message encoder."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["JSONModule", "to_message"]


class JSONModule(Protocol):
    """What the ``json`` option must provide (the stdlib module fits)."""

    def dumps(self, obj: Any, /, *args: Any, **kwargs: Any) -> str: ...

    def loads(self, s: str | bytes, /, *args: Any, **kwargs: Any) -> Any: ...


def to_message(data: object, json: JSONModule) -> str | bytes:
    """An application value as an Engine.IO message.

    ``str`` is a text message, bytes-like a binary one, ``dict``/``list`` JSON
    text (encoded with ``json``); anything else is a ``TypeError``.
    """
    if isinstance(data, str | bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if isinstance(data, dict | list):
        return json.dumps(data)
    raise TypeError(f"cannot send {type(data).__name__}: use str, bytes, dict or list")
