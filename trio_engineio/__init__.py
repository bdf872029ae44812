"""trio_engineio: a trio-native Engine.IO v4 server and client."""

from __future__ import annotations

from ._version import __version__

__all__ = ["__version__"]
