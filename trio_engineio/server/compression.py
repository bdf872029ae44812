"""gzip/deflate for polling responses, chosen from ``Accept-Encoding`` with q-values."""

from __future__ import annotations

import gzip
import zlib

__all__ = ["choose_encoding", "compress"]

_SUPPORTED = ("gzip", "deflate")


def choose_encoding(accept_encoding: bytes | None) -> str | None:
    """The best of gzip/deflate the client accepts, or ``None`` (identity).

    Honours q-values (``q=0`` refuses), ``*`` and ignores unknown or malformed
    entries; never picks an encoding the client refused.
    """
    if not accept_encoding:
        return None
    try:
        text = accept_encoding.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
        return None
    weights: dict[str, float] = {}
    for item in text.split(",")[:32]:
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:
                    q = 0.0
        weights[name] = q
    best: str | None = None
    best_q = 0.0
    for name in _SUPPORTED:
        q = weights.get(name, weights.get("*", 0.0) if name not in weights else 0.0)
        if q > best_q:
            best, best_q = name, q
    return best


def compress(body: bytes, encoding: str) -> bytes:
    """Compress ``body`` with ``encoding`` (``gzip`` or ``deflate``)."""
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=6, mtime=0)
    if encoding == "deflate":
        return zlib.compress(body, 6)
    raise ValueError(f"unsupported encoding {encoding!r}")
