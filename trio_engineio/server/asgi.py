"""The ASGI application: routing, lifespan, CORS, static files and the fallback app."""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable, Coroutine, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import trio

from .._callables import call_maybe_async
from ..protocol.query import ErrorCode, RequestRejected, parse_query
from .cors import OriginRefused, check_origin, cors_headers, preflight_headers
from .http import (
    ASGIReceive,
    ASGISend,
    Headers,
    ambiguous_framing,
    connection_close,
    discard_body,
    send_response,
)
from .hypercorn_adapter import after_body_read
from .hypercorn_adapter import install as install_hypercorn_containments
from .polling import POLLING_HEADERS, PollingHandler, refuse_http
from .server import Server
from .websocket import WebSocketHandler

__all__ = ["ASGIApp"]

ASGIApplication = Callable[[MutableMapping[str, Any], ASGIReceive, ASGISend], Awaitable[None]]
StaticFiles = Mapping[str, "str | Mapping[str, str]"]
Hook = Callable[[], Any] | None


class ASGIApp:
    """Serve a :class:`Server` as an ASGI application.

    Requests under ``/<engineio_path>/`` go to the Engine.IO server; paths in
    ``static_files`` are served from disk (a key ending in ``/`` maps a URL
    prefix to a directory; a value is a filename or
    ``{"filename": ..., "content_type": ...}``); everything else goes to
    ``other_asgi_app`` or gets a 404.

    The ASGI lifespan runs the server's nursery: ``on_startup`` and
    ``on_shutdown`` (sync or async callables) run inside it, and shutdown
    closes every session gracefully. ``hypercorn --worker-class trio module:app``
    needs no extra flags. Without a lifespan (some test transports), run the
    server yourself with ``async with server:`` or ``nursery.start(server.run)``.
    """

    def __init__(
        self,
        server: Server,
        other_asgi_app: ASGIApplication | None = None,
        static_files: StaticFiles | None = None,
        engineio_path: str | None = "engine.io",
        on_startup: Hook = None,
        on_shutdown: Hook = None,
    ) -> None:
        self.server = server
        self.other_asgi_app = other_asgi_app
        self.static_files = dict(static_files or {})
        #: ``None`` routes every path to the Engine.IO server (as in python-engineio).
        self.engineio_path = None if engineio_path is None else "/" + engineio_path.strip("/")
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        host = server._host
        self._polling = PollingHandler(server, host)
        self._websocket = WebSocketHandler(server, host)
        self._host = host
        install_hypercorn_containments()

    async def __call__(self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        """The ASGI entry point."""
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind not in ("http", "websocket"):
            return
        if ambiguous_framing(scope):
            await self._refuse_ambiguous_framing(scope, receive, send)
            return
        path = _app_path(scope)
        engine = self.engineio_path
        if engine is None or path == engine or path == engine + "/":
            session = await self._engineio(scope, receive, send)
            if session is not None:
                # The rest of a websocket request, run here: the checks' frame is gone.
                await session
        elif kind == "http" and self._static_target(path) is not None:
            await self._static(scope, send, path)
        elif self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == "http":
            await send_response(send, 404, b"Not Found")
        else:
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def _refuse_ambiguous_framing(
        self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        """Answer 400 to a request with both Content-Length and Transfer-Encoding, and close.

        Before any routing: the framing belongs to the connection, so a request on
        its way to ``other_asgi_app``, a static file or a 404 is refused alike;
        ``Session: close`` makes the ASGI server close the connection after the
        answer, so no request hidden behind this one is ever read. The body (within
        the POST limits) is read first, so that the answer is not cut short.
        """
        server = self.server
        rejected = RequestRejected(ErrorCode.BAD_REQUEST, "Content-Length with Transfer-Encoding")
        headers = connection_close(scope)
        if scope["type"] == "websocket":
            if (await receive())["type"] == "websocket.connect":
                await self._websocket.refuse(scope, send, rejected, headers)
            return
        options = server.options
        ended = False
        with trio.move_on_after(options.ping_timeout):
            ended = await discard_body(receive, options.max_http_buffer_size)
        if ended:
            await after_body_read()  # before an answer that turns keep-alive off
        await refuse_http(self._host, scope, receive, send, rejected, headers)

    # ---------------------------------------------------------------- lifespan
    async def _lifespan(self, receive: ASGIReceive, send: ASGISend) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        started = False
        try:
            async with self.server:
                await _call_hook(self.on_startup)
                started = True
                await send({"type": "lifespan.startup.complete"})
                while message["type"] != "lifespan.shutdown":
                    message = await receive()
                await _call_hook(self.on_shutdown)
        except Exception as exc:
            self.server.logger.exception("lifespan failed")
            kind = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": kind, "message": f"{type(exc).__name__}: {exc}"})
            return
        await send({"type": "lifespan.shutdown.complete"})

    # ---------------------------------------------------------------- engineio
    async def _engineio(
        self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> Coroutine[Any, Any, None] | None:
        """Answer an Engine.IO request; for a websocket, return the coroutine that runs it."""
        server = self.server
        is_websocket = scope["type"] == "websocket"
        if is_websocket:
            first = await receive()
            if first["type"] != "websocket.connect":
                return None
        extra: Headers = []
        try:
            try:
                origin = check_origin(
                    scope,
                    server.options.cors_allowed_origins,
                    trust_forwarded=server.options.trust_forwarded_headers,
                )
            except OriginRefused as refused:
                if refused.malformed:
                    raise RequestRejected(ErrorCode.BAD_REQUEST, str(refused)) from None
                raise RequestRejected(
                    ErrorCode.FORBIDDEN, str(refused), message="Not an accepted origin"
                ) from None
            credentials = server.options.cors_credentials
            extra = cors_headers(origin, credentials=credentials)
            if not is_websocket and scope["method"] == "OPTIONS":
                headers = [*POLLING_HEADERS, *preflight_headers(scope, origin, credentials=credentials)]
                await send_response(send, 204, b"", headers)
                return None
            query = parse_query(bytes(scope.get("query_string", b"")), transports=server.transports)
            # While shutting down, requests of existing sessions still collect their CLOSE.
            if self._host.nursery is None or (query.sid is None and not server.is_running):
                raise RequestRejected(
                    ErrorCode.BAD_REQUEST, "server not running", message="Server not running", status=503
                )
            if query.sid is not None:
                server._refuse_misrouted(query.sid)
            hooks = server.hooks
            if query.sid is None:
                if not is_websocket and scope["method"] != "GET":
                    raise RequestRejected(ErrorCode.BAD_HANDSHAKE_METHOD, f"handshake by {scope['method']}")
                await hooks.check_allow_request(scope)
            if hooks.headers is not None or (query.sid is None and hooks.initial_headers is not None):
                extra = [*extra, *await hooks.response_headers(scope, initial=query.sid is None)]
            if is_websocket:
                if query.transport != "websocket":
                    raise RequestRejected(ErrorCode.BAD_REQUEST, "websocket request on a polling URL")
                return self._websocket.handle(scope, receive, send, query, extra)
            if query.transport != "polling":
                raise RequestRejected(ErrorCode.BAD_REQUEST, "transport=websocket without an Upgrade")
            if query.sid is None:
                await self._polling.handshake(scope, send, extra)
                return None
            conn = server._session_for_request(query.sid)
            method = scope["method"]
            await conn.settle_upgrade()
            if method == "GET":
                await self._polling.get(conn, scope, receive, send, extra)
            elif method == "POST":
                await self._polling.post(conn, scope, receive, send, extra)
            else:
                raise RequestRejected(ErrorCode.BAD_REQUEST, f"method {method!r} on a session")
        except RequestRejected as rejected:
            if is_websocket:
                await self._websocket.refuse(scope, send, rejected, extra)
            else:
                await refuse_http(self._host, scope, receive, send, rejected, extra)
        return None

    # ------------------------------------------------------------ static files
    def _static_target(self, path: str) -> tuple[Path, str | None] | None:
        exact = self.static_files.get(path)
        if exact is not None:
            return _static_entry(exact)
        for prefix, target in self.static_files.items():
            if not prefix.endswith("/") or not path.startswith(prefix):
                continue
            directory, content_type = _static_entry(target)
            if not directory.is_dir():
                continue
            root = directory.resolve()
            candidate = (root / path[len(prefix) :]).resolve()
            if candidate != root and root not in candidate.parents:
                return None
            if candidate.is_dir():
                candidate = candidate / "index.html"
            return (candidate, content_type)
        return None

    async def _static(self, scope: MutableMapping[str, Any], send: ASGISend, path: str) -> None:
        target = self._static_target(path)
        assert target is not None
        filename, content_type = target
        try:
            body = await trio.Path(filename).read_bytes()
        except OSError:
            await send_response(send, 404, b"Not Found")
            return
        guessed = content_type or mimetypes.guess_type(str(filename))[0] or "application/octet-stream"
        if guessed.startswith("text/") or guessed in ("application/javascript", "application/json"):
            guessed += "; charset=utf-8"
        await send_response(send, 200, body, content_type=guessed.encode())


def _static_entry(target: str | Mapping[str, str]) -> tuple[Path, str | None]:
    if isinstance(target, str):
        return (Path(target), None)
    return (Path(target.get("filename", "")), target.get("content_type"))


def _app_path(scope: Mapping[str, Any]) -> str:
    path = str(scope.get("path", "/"))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


async def _call_hook(hook: Hook) -> None:
    if hook is not None:
        await call_maybe_async(hook)
