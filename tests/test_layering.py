"""Dependencies point one way (docs: DESIGN.md, "Architecture")::

    feedback, evaluations  ->  surveys  ->  org  ->  core  (-> config)
    everything may use scoring; scoring uses nothing of ours

Every ``.py`` file of our packages is parsed with :mod:`ast` -- nothing is
imported -- and its imports are checked against these rules:

1. ``scoring/`` imports only the standard library, numpy and scipy: no flask or
   flask extension, no sqlalchemy, werkzeug, jinja2, wtforms, and none of ours
   (core, org, surveys, feedback, evaluations, config, wsgi).
2. A domain package imports only what lies below it: ``org`` -> core, config,
   scoring; ``surveys`` -> org and below; ``feedback`` and ``evaluations`` ->
   surveys and below, and each other (but see rule 4).
3. ``core/`` imports no domain package (org, surveys, feedback, evaluations) --
   except inside *function bodies* of the composition root, the two modules
   whose job is to wire the app together: ``core/__init__.py`` (``create_app``
   registers the blueprints) and ``core/cli.py`` (``register_cli`` adds the
   domain commands). A domain import at module level of those files, or
   anywhere in another core module (even inside a function), is a violation:
   it would be a hidden reverse dependency.
4. No two of our top-level packages import each other (composition-root
   imports left aside), so ``feedback`` <-> ``evaluations`` cannot form a cycle.

Counted as imports: ``import x``, ``from x import y``, relative imports
(resolved against the file's package), imports inside functions and
``if TYPE_CHECKING:`` blocks, and ``importlib.import_module("x")`` /
``__import__("x")`` with a literal name. Not checked: tests/, bench/,
migrations/, wsgi.py (the entry point may import anything).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = {"org", "surveys", "feedback", "evaluations"}
OURS = DOMAIN | {"core", "scoring", "config", "wsgi"}
SCORING_THIRD_PARTY = {"numpy", "scipy"}
ALLOWED = {
    "core": {"config"},
    "org": {"core", "config", "scoring"},
    "surveys": {"org", "core", "config", "scoring"},
    "feedback": {"surveys", "org", "core", "config", "scoring", "evaluations"},
    "evaluations": {"surveys", "org", "core", "config", "scoring", "feedback"},
}
COMPOSITION_ROOT = {"core/__init__.py", "core/cli.py"}
CHECKED_PACKAGES = ("scoring", "core", "org", "surveys", "feedback", "evaluations")


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name
    line: int
    in_function: bool

    @property
    def top(self) -> str:
        return self.module.split(".", 1)[0]


def _package_of(relpath: str) -> list[str]:
    """``org/sub/x.py`` and ``org/sub/__init__.py`` both live in package ``org.sub``."""
    return relpath[:-3].split("/")[:-1]


def imports_in(relpath: str, source: str) -> list[Import]:
    """Every import in ``source`` (the file at ``relpath`` under the project root)."""
    tree = ast.parse(source, filename=relpath)
    package = _package_of(relpath)
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, node.lineno, in_function) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                prefix = ".".join(base)
                if node.module:
                    names = [f"{prefix}.{node.module}" if prefix else node.module]
                else:
                    names = [f"{prefix}.{a.name}" if prefix else a.name for a in node.names]
            else:
                names = [node.module or ""]
            found.extend(Import(n, node.lineno, in_function) for n in names if n)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            found.append(Import(node.args[0].value, node.lineno, in_function))
        inside = in_function or isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def _is_dynamic_import(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return (
        name in {"import_module", "__import__"}
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def violations(relpath: str, source: str) -> list[str]:
    """Broken rules (1-3 of the module docstring) in one file."""
    owner = relpath.split("/", 1)[0]
    problems = []
    for imp in imports_in(relpath, source):
        top = imp.top
        where = f"{relpath}:{imp.line} imports {imp.module}"
        if top == owner or top == "__future__":
            continue
        if owner == "scoring":
            if top in OURS or (
                top not in sys.stdlib_module_names and top not in SCORING_THIRD_PARTY
            ):
                problems.append(f"{where} (scoring may use only the stdlib, numpy and scipy)")
        elif top in OURS and top not in ALLOWED.get(owner, set()):
            if (
                owner == "core"
                and top in DOMAIN
                and relpath in COMPOSITION_ROOT
                and imp.in_function
            ):
                continue
            problems.append(f"{where} ({owner} may import only {sorted(ALLOWED[owner])} of ours)")
    return problems


def package_edges(relpath: str, source: str) -> set[tuple[str, str]]:
    owner = relpath.split("/", 1)[0]
    return {
        (owner, imp.top)
        for imp in imports_in(relpath, source)
        if imp.top in OURS
        and imp.top != owner
        and not (relpath in COMPOSITION_ROOT and imp.in_function)
    }


def project_files() -> dict[str, str]:
    files = {}
    for package in CHECKED_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            files[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
    return files


# ----------------------------------------------------------------- the real tree


def test_the_checked_packages_are_really_there():
    files = project_files()
    for package in ("scoring", "core", "org"):
        assert any(f.startswith(package + "/") for f in files), package
    assert "core/__init__.py" in files and "org/models.py" in files


def test_scoring_uses_only_the_standard_library_numpy_and_scipy():
    problems = [
        p for relpath, source in project_files().items() if relpath.startswith("scoring/")
        for p in violations(relpath, source)
    ]

    assert problems == []


def test_no_package_imports_from_a_package_above_it():
    problems = [
        p for relpath, source in project_files().items() if not relpath.startswith("scoring/")
        for p in violations(relpath, source)
    ]

    assert problems == []


def test_no_two_packages_import_each_other():
    edges: set[tuple[str, str]] = set()
    for relpath, source in project_files().items():
        edges |= package_edges(relpath, source)

    assert sorted((a, b) for a, b in edges if (b, a) in edges and a < b) == []


# ----------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("relpath", "source"),
    [
        ("scoring/x.py", "import flask"),
        ("scoring/x.py", "from flask_login import current_user"),
        ("scoring/x.py", "from sqlalchemy.orm import Session"),
        ("scoring/x.py", "import pandas as pd"),
        ("scoring/x.py", "import config"),
        ("scoring/x.py", "from core.extensions import db"),
        ("scoring/x.py", "from ..org import models"),
        ("scoring/sub/x.py", "from ... import surveys"),
        ("scoring/x.py", "def f():\n    import sqlalchemy"),
        ("scoring/x.py", "import importlib\nimportlib.import_module('flask')"),
        ("scoring/x.py", "__import__('evaluations.models')"),
        ("org/x.py", "from surveys.models import Survey"),
        ("org/x.py", "import feedback"),
        ("org/x.py", "def f():\n    from evaluations import services"),
        ("org/x.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import surveys"),
        ("surveys/x.py", "from feedback.models import Cycle"),
        ("core/errors.py", "from org.models import User"),
        ("core/errors.py", "def handler():\n    from org.models import User"),
        ("core/__init__.py", "from org.routes import bp"),
        ("core/cli.py", "import org.cli"),
        ("core/__init__.py", "class A:\n    import surveys"),
    ],
)
def test_checker_finds_a_forbidden_import(relpath, source):
    assert violations(relpath, source)


@pytest.mark.parametrize(
    ("relpath", "source"),
    [
        ("scoring/x.py", "import numpy as np\nfrom scipy import stats\nimport math, dataclasses"),
        ("scoring/x.py", "from . import scales\nfrom .estimate import Estimate"),
        ("scoring/x.py", "from __future__ import annotations\nfrom scoring.scales import pomp"),
        ("org/x.py", "from core.extensions import db\nfrom scoring import csat\nimport config"),
        ("org/x.py", "from flask import Blueprint\nfrom sqlalchemy import select"),
        ("org/sub/x.py", "from ..models import User"),
        ("surveys/x.py", "from org.models import User"),
        ("feedback/x.py", "from surveys.models import Response\nfrom org import services"),
        ("core/__init__.py", "def create_app():\n    from org.routes import bp"),
        ("core/__init__.py", "def _register():\n    from surveys.routes import bp"),
        ("core/cli.py", "def register_cli(app):\n    import org.cli"),
        ("core/security.py", "from config import KNOWN_DEFAULT_SECRETS"),
    ],
)
def test_checker_accepts_an_allowed_import(relpath, source):
    assert violations(relpath, source) == []


def test_checker_resolves_relative_imports():
    found = imports_in("org/sub/x.py", "from ..models import User\nfrom . import forms\n")

    assert [i.module for i in found] == ["org.models", "org.sub.forms"]


def test_checker_finds_mutual_imports():
    edges = package_edges("feedback/a.py", "import evaluations") | package_edges(
        "evaluations/b.py", "def f():\n    from feedback import reports"
    )

    assert ("feedback", "evaluations") in edges and ("evaluations", "feedback") in edges
