"""Calling application handlers: arity-tolerant, sync or async, ack values as argument lists."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .._callables import call_maybe_async, positional_arity

__all__ = ["ack_arguments", "ack_result", "call_handler", "emit_arguments"]


async def call_handler(handler: Callable[..., Any], *args: Any) -> Any:
    """Call ``handler(*args)``, dropping trailing arguments it cannot take (``disconnect(sid)``...)."""
    arity = _arity(handler)
    if arity is not None and arity < len(args):
        args = args[:arity]
    return await call_maybe_async(handler, *args)


@lru_cache(maxsize=1024)
def _arity(handler: Callable[..., Any]) -> int | None:
    return positional_arity(handler)


def emit_arguments(data: Any) -> list[Any]:
    """The event arguments for ``emit(data=...)``: none for ``None``, a tuple's items, or ``[data]``."""
    if data is None:
        return []
    if isinstance(data, tuple):
        return list(data)
    return [data]


def ack_arguments(result: Any) -> list[Any]:
    """The ACK arguments for a handler's return value (a tuple means several)."""
    return emit_arguments(result)


def ack_result(args: list[Any]) -> Any:
    """What ``call()`` returns for the ACK's arguments: none → ``None``, one → it, several → a tuple."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)
