"""Where the peers' pieces are: the repository, the npm packages, Chromium, the artifacts folder.

Chromium is ``$CHROMIUM`` if set, else the ``chromium`` found on ``PATH`` (Debian's
package; ``scripts/bootstrap.sh`` installs it); tests that need it skip without it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: ``npm ci`` in tests/js installs the JavaScript peers here.
NODE_MODULES = REPO / "tests" / "js" / "node_modules"
#: engine.io-client's browser build, as pages load it.
CLIENT_BUILD = NODE_MODULES / "engine.io-client" / "dist" / "engine.io.min.js"
#: Screenshots and other files a test leaves for people to look at.
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM") or shutil.which("chromium") or "chromium")
