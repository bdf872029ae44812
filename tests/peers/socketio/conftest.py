"""Where the Socket.IO peers' pieces are, and how to run them (shared with tests/peers/clients).

``serve_app`` (tests/loopback.py) serves our app on 127.0.0.1:0; ``run_json`` runs a peer
script and returns the JSON line it printed; ``require_node_modules`` skips without the npm
packages (``npm ci`` in tests/js). The scripts are in ``js/`` and ``py/``, the page in ``pages/``.
"""

from __future__ import annotations

from pathlib import Path

from loopback import ServeApp

from ..clients.conftest import require_node_modules, run_json
from ..where import NODE_MODULES

HERE = Path(__file__).parent

__all__ = ["HERE", "NODE_MODULES", "ServeApp", "require_node_modules", "run_json"]
