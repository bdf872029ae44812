"""Figures the design review tracks: import cycles, private reaches, module sizes.

Run ``python scripts/code_metrics.py`` from the repository root. It reads the
package's source only (no import), so it works on a broken tree too.

- **Import cycles**: strongly connected components of the graph of imports between
  the package's modules, counting every import (top level, inside functions and
  under ``TYPE_CHECKING``), so a lazy import cannot hide a cycle.
- **Private reaches**: ``x._name`` where ``x`` is not ``self`` or ``cls``: code
  touching another object's private field or a private module attribute.
- **Largest modules**: lines per module.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "trio_engineio"


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, tree: ast.Module, known: dict[str, Path]) -> Iterator[str]:
    """The package modules that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                yield candidate if candidate in known else target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return found


def private_reaches(tree: ast.Module) -> int:
    """Attribute reads and writes of ``_name`` on anything but ``self``/``cls``."""
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in {"self", "cls"}:
                continue
            count += 1
    return count


def main() -> None:
    """Print the figures."""
    root = Path.cwd()
    known = modules(root)
    graph: dict[str, set[str]] = {}
    reaches: dict[str, int] = {}
    lines: dict[str, int] = {}
    for name, path in known.items():
        source = path.read_text()
        tree = ast.parse(source)
        graph[name] = {
            target
            for target in imported(name, path, tree, known)
            if target in known and target != name and not name.startswith(target + ".")
        }
        reaches[name] = private_reaches(tree)
        lines[name] = len(source.splitlines())
    # A package's __init__ re-exporting its children is not a cycle of design.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    found = cycles(graph)
    print(f"modules: {len(known)}, lines: {sum(lines.values())}")
    print(f"import cycles: {len(found)}")
    for component in found:
        print("  " + " <-> ".join(component))
    print(f"private reaches: {sum(reaches.values())}")
    for name, count in sorted(reaches.items(), key=lambda item: -item[1])[:10]:
        if count:
            print(f"  {count:4d} {name}")
    print("largest modules:")
    for name, count in sorted(lines.items(), key=lambda item: -item[1])[:8]:
        print(f"  {count:5d} {name}")


if __name__ == "__main__":
    main()
