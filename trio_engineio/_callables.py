"""Calling the application's callables, which may be plain functions or coroutine functions."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["call_maybe_async", "positional_arity"]


async def call_maybe_async(function: Callable[..., Any], *args: Any) -> Any:
    """Call ``function``; await the result when it is awaitable."""
    result = function(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def positional_arity(function: Callable[..., Any]) -> int | None:
    """How many positional arguments ``function`` accepts.

    ``sys.maxsize`` for ``*args``; ``None`` when the signature cannot be read.
    """
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return sys.maxsize
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)
