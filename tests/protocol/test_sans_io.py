"""The protocol core is sans-I/O: no module in trio_engineio/protocol imports trio.

tests/test_public_api.py checks this thoroughly (in a subprocess, every I/O library);
this is the minimal static guard next to the protocol tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trio_engineio.protocol

PROTOCOL_DIR = Path(trio_engineio.protocol.__file__).resolve().parent
MODULES = sorted(PROTOCOL_DIR.glob("*.py"))


def imported_top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_protocol_package_has_modules() -> None:
    assert len(MODULES) >= 8


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_protocol_module_does_not_import_trio(path: Path) -> None:
    assert "trio" not in imported_top_level_names(path)
