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
  duplicate object description;
* with ``:inherited-members:``, the members classes inherit, as long as they are defined in
  this project (``public_api_root``, ``"trio_engineio"``): a method a class gets from a private
  mixin (``socketio._handlers.HandlerRegistry.on``) is documented on the class, while what
  comes from the standard library or third parties (``OSError.errno``) is left out.

Everywhere, private mixins (project classes in private modules that no public module
exports) are dropped from the "Bases:" line.
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
    option_spec = {  # noqa: RUF012 (docutils API)
        "defer-to": directives.unchanged,
        "inherited-members": directives.flag,
    }

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
        if "inherited-members" in self.options:
            lines.append("   :inherited-members:")
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


def _defining_module(obj: object) -> str | None:
    """The module that defines a class member (``None`` when it cannot be told, e.g. a plain value)."""
    for attribute in ("fget", "__func__"):  # property, classmethod/staticmethod
        obj = getattr(obj, attribute, None) or obj
    if not (inspect.isroutine(obj) or inspect.isclass(obj) or inspect.isdatadescriptor(obj)):
        return None  # a value, or autodoc's marker for an instance attribute
    owner = getattr(obj, "__objclass__", None)  # methods and attributes of builtin types
    if owner is not None:
        return str(owner.__module__)
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else None


def _inherits(options: Any) -> bool:
    """Whether autodoc's ``options`` (a dict, or a namespace since Sphinx 9) ask for inherited members."""
    value = options.get("inherited_members") if isinstance(options, dict) else None
    return bool(value or getattr(options, "inherited_members", None))


def _in_project(app: Sphinx, module: str) -> bool:
    root: str = app.config.public_api_root
    return module == root or module.startswith(root + ".")


def skip_foreign_inherited(
    app: Sphinx, what: str, name: str, obj: object, skip: bool, options: Any
) -> bool | None:
    """With ``:inherited-members:``, leave out members defined outside this project."""
    if skip or not _inherits(options):
        return None
    module = _defining_module(obj)
    if module is not None and not _in_project(app, module):
        return True
    return None


def _is_exported(base: type, modnames: list[str]) -> bool:
    """Whether one of ``modnames`` (that can be imported) exports ``base`` under its own name."""
    for modname in modnames:
        try:
            module = importlib.import_module(modname)
        except ImportError:
            continue
        if getattr(module, base.__name__, None) is base:
            return True
    return False


def drop_private_bases(app: Sphinx, name: str, obj: object, options: Any, bases: list[type]) -> None:
    """Leave private mixins out of "Bases:": project classes from private modules that no public
    module (the documented one or ``public_api_root``) exports. Their members are documented on
    the class itself with ``:inherited-members:``."""
    modnames = [name.rpartition(".")[0], app.config.public_api_root]
    bases[:] = [
        base
        for base in bases
        if not (
            _in_project(app, base.__module__)
            and any(part.startswith("_") for part in base.__module__.split("."))
            and not _is_exported(base, modnames)
        )
    ]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the ``public-api`` directive and its autodoc hooks."""
    app.setup_extension("sphinx.ext.autodoc")
    app.add_config_value("public_api_root", "trio_engineio", "env")
    app.connect("autodoc-skip-member", skip_foreign_inherited)
    app.connect("autodoc-process-bases", drop_private_bases)
    app.add_directive("public-api", PublicAPI)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
