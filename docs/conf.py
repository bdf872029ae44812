"""Sphinx configuration for the trio_engineio documentation.

Build with ``sphinx-build -W docs docs/_build/html`` (warnings are errors).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Document the checkout, even when the package is not installed in the build env.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

from trio_engineio import __version__

project = "trio_engineio"
author = "trio_engineio developers"
copyright = "trio_engineio developers"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "public_api",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# docs/bad-inputs.md (the bad-input and fault specification) is Markdown, which this build does
# not parse: copy it next to the HTML so the how-to index can link to it.
html_extra_path = [name for name in ("bad-inputs.md",) if (Path(__file__).parent / name).exists()]
templates_path: list[str] = []

html_theme = "furo"
html_title = f"trio_engineio {release}"

# Autodoc: every name in a module's ``__all__`` is documented where it is re-exported.
autodoc_default_options = {
    "members": True,
    "imported-members": True,
    "undoc-members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_preserve_defaults = True
autoclass_content = "both"

# Broken references to external types (trio, httpx, ...) are not errors: no intersphinx
# here, the build must work offline.
nitpicky = False


def _drop_object_base(app: Any, name: str, obj: object, options: Any, bases: list[type]) -> None:
    """Show "Bases:" only for real base classes, not for a bare ``object``."""
    bases[:] = [base for base in bases if base is not object]


def setup(app: Any) -> None:
    """Connect the local autodoc tweaks."""
    app.connect("autodoc-process-bases", _drop_object_base)
