"""A WSGI-style ``environ`` built from an ASGI scope, for python-engineio-style handlers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["build_environ"]


def build_environ(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping ``connect`` handlers receive: CGI names plus ``asgi.scope``.

    ``REMOTE_ADDR``/``REMOTE_PORT`` carry the real client address the ASGI
    server reported.
    """
    client = scope.get("client") or ("", 0)
    server = scope.get("server") or ("", 0)
    scheme = str(scope.get("scheme", "http"))
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.get("method", "GET"),
        "SCRIPT_NAME": scope.get("root_path", ""),
        "PATH_INFO": scope.get("path", ""),
        "QUERY_STRING": bytes(scope.get("query_string", b"")).decode("latin-1"),
        "RAW_URI": scope.get("raw_path", b"").decode("latin-1") if scope.get("raw_path") else "",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "wsgi.url_scheme": {"ws": "http", "wss": "https"}.get(scheme, scheme),
        "asgi.scope": scope,
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = bytes(raw_name).decode("latin-1").upper().replace("-", "_")
        value = bytes(raw_value).decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + name
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
