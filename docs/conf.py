"""Sphinx configuration: the API reference generated from the NumPy docstrings.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors; the test
``tests/docs/test_api_reference.py`` runs the same build).  The hand-written pages
(``docs/*.md``) are read by myst-parser; ``docs/api/*.rst`` hold one ``automodule`` page per
subpackage, whose members are exactly that subpackage's ``__all__``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys

from sphinx.util.docutils import SphinxDirective

# Document the checkout, not whatever ``tasklens`` is installed.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src")))

project = "tasklens"
author = "tasklens developers"
copyright = "tasklens developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# NumPy docstrings only.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# "Attributes" sections become ``:ivar:`` fields of the class, not separate attribute
# entries: a NamedTuple's fields would otherwise be described twice (section + field alias).
napoleon_use_ivar = True

autodoc_default_options = {
    "members": True,
    # Constants in `__all__` (METHODS, STAGES, ...) have no docstring of their own.
    "undoc-members": True,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

# The hand-written pages link to sibling files and to source files in the repository; those
# are links for a reader of the repository, not cross references Sphinx can resolve.
myst_heading_anchors = 3
suppress_warnings = [
    "myst.xref_missing",
    "myst.header",
    # Shape annotations such as ``(epochs,) arrays`` or ``ivar name`` are turned into
    # cross-references by the Python domain; a bare word like ``epochs`` or ``name`` then
    # matches attributes of several classes. These are not links anyone follows.
    "ref.python",
]

# Docstrings of modules other engineers were editing when the reference was introduced; their
# one-line summaries use ``(N, *input_shape)`` outside literals, which reST reads as an
# unterminated emphasis. Escaped here instead of in the source (see the report of issue 13).
_ESCAPE_STAR = {"tasklens.nn.MTAN.encode", "tasklens.nn.mtan.MTAN.encode"}


def _escape_star(app, what, name, obj, options, lines):
    if name in _ESCAPE_STAR:
        lines[:] = [line.replace("(N, *", r"(N, \*") for line in lines]


class PublicConstants(SphinxDirective):
    """``.. public-constants:: tasklens.sub`` — the non-class, non-function names of ``__all__``.

    autodoc documents a module attribute only from its own module's source, so a constant that a
    subpackage re-exports (``METHODS``, ``STAGES``, a type alias) would silently be missing from
    ``automodule``. This lists each one with its value (shortened) and where it is defined.
    """

    required_arguments = 1

    def run(self):
        modname = self.arguments[0]
        module = importlib.import_module(modname)
        lines: list[str] = []
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj):
                continue
            home = _defining_module(module, name)
            value = " ".join(repr(obj).split())
            if len(value) > 160:
                value = value[:157] + "..."
            lines += [f".. py:data:: {name}", f"   :module: {modname}", f"   :value: {value}", "",
                      f"   Defined in ``{home}``.", ""]
        if not lines:
            return []
        return self.parse_text_to_nodes("\n".join(lines))


def _defining_module(package, name: str) -> str:
    """The submodule of ``package`` whose source assigns ``name`` (for the reader's benefit)."""
    for sub in _submodules(package):
        try:  # a submodule needing an optional dependency that is absent: not the home
            mod = importlib.import_module(sub)
            source = inspect.getsource(mod)
        except (ImportError, OSError, TypeError):
            continue
        if name in vars(mod) and f"\n{name}" in source:
            return sub
    return package.__name__


def _submodules(package) -> list[str]:
    import pkgutil

    if not hasattr(package, "__path__"):
        return []
    return sorted(f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__))


def setup(app):
    app.connect("autodoc-process-docstring", _escape_star)
    app.add_directive("public-constants", PublicConstants)

html_theme = "alabaster"
