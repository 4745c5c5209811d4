"""Every package ``src/labeldesk`` imports is one ``pip install .`` installs: the README's first
command (``pip install -e . && labeldesk demo``) must work in a virtualenv without the test
extras, which the test suite itself always has. Pillow was once only a test dependency, and
``labeldesk demo`` failed with ``ModuleNotFoundError: No module named 'PIL'`` on a clean install."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: extras a module may need when the feature it serves is asked for (PostgreSQL URLs)
OPTIONAL = {"postgres"}


def _name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement (``psycopg[binary]>=3.1`` ->
    ``psycopg``)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return _normal(match.group(1))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict[str, object]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(ROOT / "pyproject.toml", "rb") as f:
        project: dict[str, object] = tomllib.load(f)["project"]
    return project


def installed_by(extras: set[str]) -> set[str]:
    """The distributions ``pip install .[extras]`` names directly."""
    project = _project()
    requirements = list(project["dependencies"])  # type: ignore[call-overload]
    optional: dict[str, list[str]] = project["optional-dependencies"]  # type: ignore[assignment]
    for extra in extras:
        requirements += optional[extra]
    return {_name(r) for r in requirements}


def imported_top_level(source: Path) -> dict[str, list[str]]:
    """Third-party top-level modules imported anywhere under ``source`` (also inside functions),
    each with the files that import it."""
    found: dict[str, list[str]] = {}
    for path in sorted(source.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in {"labeldesk", "__future__"}:
                    found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_import_of_the_package_is_a_declared_dependency() -> None:
    declared = installed_by(OPTIONAL)
    owners = importlib.metadata.packages_distributions()
    missing = {
        module: files
        for module, files in imported_top_level(ROOT / "src" / "labeldesk").items()
        if not {_normal(d) for d in owners.get(module, [module])} & declared
    }
    assert not missing, f"imported by src/labeldesk but not in [project] dependencies: {missing}"


def test_the_check_sees_a_test_only_package() -> None:
    """The check itself: a package of the test extras only is not installed by ``pip install .``."""
    assert "pytest" in installed_by({"test"})
    assert "pytest" not in installed_by(OPTIONAL)
    assert "pillow" in installed_by(set())
