"""Application handlers: registering them (``on``/``event``, shared by server and client) and
calling them (arity-tolerant, sync or async, ack values as argument lists)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar, overload

from .._callables import call_maybe_async, positional_arity

__all__ = [
    "RESERVED_EVENTS",
    "HandlerRegistry",
    "HandlerT",
    "NamespaceKey",
    "ack_arguments",
    "ack_result",
    "call_handler",
    "check_event_name",
    "emit_arguments",
    "is_async_handler",
    "trim_arguments",
]

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
#: A namespace name, or (server only) a pattern for dynamic namespaces.
NamespaceKey = str | re.Pattern[str] | None

#: Event names applications cannot emit (they mean something to the clients).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


def check_event_name(event: str) -> None:
    """Refuse (``ValueError``) an event name an application may not emit."""
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name: it cannot be emitted")


class HandlerRegistry:
    """``on()`` and ``event()``: handlers by namespace and event name (``self.handlers``).

    The server and the client register handlers the same way; what a handler
    receives is described by each class.
    """

    #: Namespace -> event name -> handler.
    handlers: dict[str, dict[str, Callable[..., Any]]]

    def _register_handler(self, event: str, handler: Callable[..., Any], namespace: NamespaceKey) -> None:
        if not isinstance(namespace, str | None):
            raise TypeError(f"a namespace name is a str, not {type(namespace).__name__}")
        self.handlers.setdefault(namespace or "/", {})[event] = handler

    @overload
    def on(
        self, event: str, handler: None = None, namespace: NamespaceKey = None
    ) -> Callable[[HandlerT], HandlerT]: ...
    @overload
    def on(self, event: str, handler: HandlerT, namespace: NamespaceKey = None) -> HandlerT: ...
    def on(self, event: str, handler: HandlerT | None = None, namespace: NamespaceKey = None) -> Any:
        """Register ``handler`` for ``event`` in ``namespace`` (``"/"``): ``@sio.on("x")`` or a call.

        ``"*"`` as the event catches events with no handler of their own (the
        event name comes first in its arguments). Handlers may be plain or
        coroutine functions and may take fewer trailing arguments than given.
        """

        def register(function: HandlerT) -> HandlerT:
            self._register_handler(event, function, namespace)
            return function

        return register if handler is None else register(handler)

    @overload
    def event(
        self, handler: None = None, namespace: NamespaceKey = None
    ) -> Callable[[HandlerT], HandlerT]: ...
    @overload
    def event(self, handler: HandlerT, namespace: NamespaceKey = None) -> HandlerT: ...
    def event(self, handler: Any = None, namespace: NamespaceKey = None) -> Any:
        """``@sio.event`` registers a function under its own name; ``@sio.event(namespace="/x")`` too."""
        if handler is not None and callable(handler):
            return self.on(handler.__name__, handler, namespace=namespace)

        def register(function: HandlerT) -> HandlerT:
            return self.on(function.__name__, function, namespace=namespace)

        return register


async def call_handler(handler: Callable[..., Any], *args: Any) -> Any:
    """Call ``handler(*args)``, dropping trailing arguments it cannot take (``disconnect(sid)``...)."""
    return await call_maybe_async(handler, *trim_arguments(handler, args))


def trim_arguments(handler: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` without the trailing ones ``handler`` cannot take."""
    arity = _arity(handler)
    if arity is not None and arity < len(args):
        return args[:arity]
    return args


@lru_cache(maxsize=1024)
def is_async_handler(handler: Callable[..., Any]) -> bool:
    """Whether calling ``handler`` gives a coroutine to await (an ``async def``, also partial or bound)."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


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
