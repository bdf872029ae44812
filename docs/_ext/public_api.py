"""A small Sphinx extension: document exactly the names in a module's ``__all__``.

Usage in a page::

    .. public-api:: trio_engineio
       :defer-to: trio_engineio.protocol

    .. public-api:: trio_engineio.protocol

Each directive expands to:

* an ``automodule`` with ``:members:``, ``:imported-members:`` and ``:undoc-members:``, which
  documents the module docstring and every re-exported class and function in ``__all__``;
* a ``py:data`` entry for every data name in ``__all__`` (constants, type aliases,
  ``__version__``), which autodoc skips when they are re-exported: their ``#:`` doc comments
  live in the module that defines them, so they are looked up by following the
  ``from .x import NAME`` chain to the assignment;
* for names that the ``:defer-to:`` module exports too (the same object), a short entry that
  links to the full one there instead of a second copy, which Sphinx would reject as a
  duplicate object description.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective
from sphinx.util.inspect import object_description


def is_data(obj: object) -> bool:
    """Whether autodoc's class/function/module documenters would *not* cover ``obj``."""
    return not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj))


def _resolve(modname: str, node: ast.ImportFrom) -> str:
    """The absolute module name a (possibly relative) ``from ... import`` refers to."""
    if node.level == 0:
        return node.module or ""
    module = importlib.import_module(modname)
    package = modname if hasattr(module, "__path__") else modname.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def find_doc_comment(modname: str, name: str, depth: int = 0) -> list[str]:
    """The ``#:`` comment or docstring of ``name``, following re-exports to its definition."""
    if depth > 10:
        return []
    analyzer = ModuleAnalyzer.for_module(modname)
    docs = analyzer.find_attr_docs().get(("", name))
    if docs:
        return list(docs)
    for node in ast.parse(analyzer.code).body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return find_doc_comment(_resolve(modname, node), alias.name, depth + 1)
    return []


def _role_and_directive(obj: object) -> tuple[str, str]:
    """The Python-domain role and directive that fit ``obj``."""
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return "exc", "exception"
    if inspect.isclass(obj):
        return "class", "class"
    if inspect.isroutine(obj):
        return "func", "function"
    if inspect.ismodule(obj):
        return "mod", "module"
    return "data", "data"


class PublicAPI(SphinxDirective):
    """``.. public-api:: module``: document every name in ``module.__all__``, once."""

    required_arguments = 1
    option_spec = {"defer-to": directives.unchanged}  # noqa: RUF012 (docutils API)

    def run(self) -> list[nodes.Node]:
        """Generate the reST for the module and parse it in place."""
        modname = self.arguments[0]
        module: Any = importlib.import_module(modname)
        names: list[str] = list(module.__all__)

        deferred: dict[str, str] = {}
        target = self.options.get("defer-to")
        if target:
            other: Any = importlib.import_module(target)
            for name in names:
                if name in other.__all__ and getattr(other, name) is getattr(module, name):
                    deferred[name] = target

        lines = [
            f".. automodule:: {modname}",
            "   :members:",
            "   :imported-members:",
            "   :undoc-members:",
        ]
        if deferred:
            lines.append(f"   :exclude-members: {', '.join(deferred)}")
        lines.append("")

        for name in names:
            obj = getattr(module, name)
            role, directive = _role_and_directive(obj)
            if name in deferred:
                lines += [
                    f".. py:{directive}:: {name}",
                    f"   :module: {modname}",
                    "   :no-index-entry:",
                    "",
                    f"   Re-exported from :mod:`{deferred[name]}`: see :{role}:`{deferred[name]}.{name}`.",
                    "",
                ]
            elif is_data(obj):
                lines += [
                    f".. py:data:: {name}",
                    f"   :module: {modname}",
                    f"   :value: {object_description(obj)}",
                    "",
                    *(f"   {line}" for line in find_doc_comment(modname, name)),
                    "",
                ]
        return self.parse_text_to_nodes("\n".join(lines))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the ``public-api`` directive."""
    app.setup_extension("sphinx.ext.autodoc")
    app.add_directive("public-api", PublicAPI)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
