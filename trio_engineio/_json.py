"""The shape of a pluggable JSON module (the ``json`` option of servers and emitters)."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["JSONModule"]


class JSONModule(Protocol):
    """What the ``json`` option must provide (the stdlib module fits)."""

    def dumps(self, obj: Any, /, *args: Any, **kwargs: Any) -> str: ...

    def loads(self, s: str | bytes, /, *args: Any, **kwargs: Any) -> Any: ...
