"""Server hooks: ``allow_request``, ``initial_headers``/``headers`` and ``generate_id``.

Hooks may be plain functions or coroutine functions. Whatever a hook does
wrong (raises, hangs, returns nonsense) is contained here: the request is
refused with a specific answer and one log line, the server carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import trio

from .._callables import call_maybe_async
from ..protocol.query import MAX_SID_LENGTH, SID_CHARS, ErrorCode, RequestRejected
from .http import Headers

__all__ = ["AllowRequestHook", "GenerateIdHook", "HeadersHook", "ServerHooks"]

#: ``allow_request(scope)`` -> ``True`` to accept; ``False`` or a message string to refuse.
AllowRequestHook = Callable[[Mapping[str, Any]], Any]
#: ``headers(scope, headers)`` -> mutate the ``[(name, value), ...]`` list or return a new one.
#: Names and values may be ``str`` or, as in ASGI, ``bytes`` (latin-1).
HeadersHook = Callable[[Mapping[str, Any], list[tuple[str | bytes, str | bytes]]], Any]
#: ``generate_id(scope)`` -> a new, unique session id.
GenerateIdHook = Callable[[Mapping[str, Any]], Any]


class ServerHooks:
    """The hooks of one server, with their safety rules."""

    def __init__(
        self,
        *,
        logger: logging.Logger,
        allow_request: AllowRequestHook | None = None,
        allow_request_timeout: float = 5.0,
        initial_headers: HeadersHook | None = None,
        headers: HeadersHook | None = None,
        generate_id: GenerateIdHook | None = None,
    ) -> None:
        self.logger = logger
        self.allow_request = allow_request
        self.allow_request_timeout = allow_request_timeout
        self.initial_headers = initial_headers
        self.headers = headers
        self.generate_id = generate_id

    async def check_allow_request(self, scope: Mapping[str, Any]) -> None:
        """Run ``allow_request``; raise a 403 (code 4) :class:`RequestRejected` to refuse."""
        hook = self.allow_request
        if hook is None:
            return
        with trio.move_on_after(self.allow_request_timeout) as timeout:
            try:
                verdict = await call_maybe_async(hook, scope)
            except Exception:
                self.logger.exception("allow_request hook failed; refusing the handshake")
                raise RequestRejected(ErrorCode.FORBIDDEN, "allow_request raised") from None
        if timeout.cancelled_caught:
            self.logger.warning("allow_request hook timed out; refusing the handshake")
            raise RequestRejected(ErrorCode.FORBIDDEN, "allow_request timed out")
        if verdict is True or verdict is None:
            return
        message = verdict if isinstance(verdict, str) and verdict else None
        raise RequestRejected(ErrorCode.FORBIDDEN, "refused by allow_request", message=message)

    async def response_headers(self, scope: Mapping[str, Any], *, initial: bool) -> Headers:
        """Headers the ``initial_headers`` (handshake only) and ``headers`` hooks add."""
        collected: list[tuple[str | bytes, str | bytes]] = []
        for hook in (self.initial_headers if initial else None, self.headers):
            if hook is None:
                continue
            try:
                returned = await call_maybe_async(hook, scope, collected)
            except Exception:
                self.logger.exception("headers hook failed; its headers are left out")
                continue
            if returned is not None:
                collected = list(returned)
        headers: Headers = []
        for name, value in collected:
            header = _header(name, value)
            if header is None:
                self.logger.error("headers hook produced an invalid header %.60r: left out", (name, value))
            else:
                headers.append(header)
        return headers

    async def new_sid(self, scope: Mapping[str, Any], taken: Mapping[str, Any]) -> str | None:
        """A session id from ``generate_id``; ``None`` means "use the default generator".

        Raises a 400 :class:`RequestRejected` when the hook fails, returns a
        malformed id, or one that is already in use.
        """
        hook = self.generate_id
        if hook is None:
            return None
        try:
            sid = await call_maybe_async(hook, scope)
        except Exception:
            self.logger.exception("generate_id hook failed")
            raise RequestRejected(ErrorCode.BAD_REQUEST, "generate_id raised") from None
        if not isinstance(sid, str) or not sid or len(sid) > MAX_SID_LENGTH or not SID_CHARS.issuperset(sid):
            self.logger.error("generate_id returned an unusable session id %.60r", sid)
            raise RequestRejected(ErrorCode.BAD_REQUEST, "generate_id returned an unusable id")
        if sid in taken:
            self.logger.error("generate_id returned a session id already in use: %s", sid)
            raise RequestRejected(ErrorCode.BAD_REQUEST, "generate_id returned a duplicate id")
        return sid


def _header(name: object, value: object) -> tuple[bytes, bytes] | None:
    """One hook header as ASGI bytes (name lower-cased), ``None`` if it is not a valid header.

    ``str`` and ``bytes`` are both taken: bytes as latin-1, as ASGI servers do.
    """
    name = name.decode("latin-1") if isinstance(name, bytes) else name
    value = value.decode("latin-1") if isinstance(value, bytes) else value
    if (
        isinstance(name, str)
        and isinstance(value, str)
        and name
        and name.isascii()
        and not any(c in name for c in ":\r\n\x00 ")
        and not any(c in value for c in "\r\n\x00")
    ):
        return (name.lower().encode("ascii"), value.encode("latin-1", errors="replace"))
    return None
