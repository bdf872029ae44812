"""Socket.IO v5 on trio_engineio's Engine.IO: the sans-I/O codec in :mod:`.protocol`."""

from __future__ import annotations
