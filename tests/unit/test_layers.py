"""The package's import graph, read with ``ast``: layers only import downwards and no two modules
import each other, directly or round a loop — wherever the import statement sits (a function-level
import that dodges a cycle at load time is still a cycle in the design)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import labeldesk

ROOT = Path(labeldesk.__file__).parent
PACKAGE = "labeldesk"

# What each layer may import of labeldesk (besides itself). ``wire`` is the neutral proto <-> JSON
# layer that services (stored renderings) and transport (responses) share. ``files`` sits beside
# storage: the bytes of hosted files (blob store), their checks and their signed URLs.
ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "wire": frozenset(),
    "files": frozenset({"domain"}),
    "storage": frozenset({"domain", "config"}),
    "datasets_io": frozenset(),  # dataset file formats: pure readers/writers, no database
    "client": frozenset(),  # the CLI's REST client of a running server: the public API only
    # model backends (Open Inference Protocol, Label Studio ML, built-in): HTTP clients and OpenCV
    "models": frozenset({"domain"}),
    "services": frozenset({"domain", "wire", "storage", "files", "config", "datasets_io", "models"}),
    # background work: runs services' code outside requests (claimed from the jobs table)
    "jobs": frozenset({"domain", "wire", "storage", "files", "services", "config", "datasets_io", "models"}),
    # metrics, access log and readiness: fed by the transports, reading the storage engine
    "ops": frozenset({"storage", "config"}),
    "transport": frozenset(
        {"domain", "wire", "storage", "files", "services", "config", "coverage", "ops", "models"}
    ),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> Iterator[str]:
    """The labeldesk modules one import statement loads (a submodule when ``from pkg import mod``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = importer.split(".")
        is_package = modules()[importer].name == "__init__.py"
        anchor = package if is_package else package[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in modules() else base


@cache
def imports() -> dict[str, frozenset[str]]:
    """Every labeldesk module -> the labeldesk modules it imports anywhere in its body."""
    graph: dict[str, frozenset[str]] = {}
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found = {
            target
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for target in _targets(node, name)
            if target == PACKAGE or target.startswith(PACKAGE + ".")
        }
        graph[name] = frozenset(found - {name})
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_is_read() -> None:
    graph = imports()
    assert "labeldesk.services.annotations" in graph
    assert "labeldesk.storage.engine" in graph["labeldesk.services.dispatch"]
    assert any(_layer(target) == "domain" for target in graph["labeldesk.services.tasks"])


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_import_only_downwards(layer: str) -> None:
    allowed = ALLOWED[layer] | {layer}
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in imports().items()
        if _layer(module) == layer
        for target in targets
        if _layer(target) not in allowed
    )
    assert not wrong, "\n".join(wrong)


def _cycle_from(start: str, graph: dict[str, frozenset[str]]) -> list[str] | None:
    """A shortest import loop through ``start`` (breadth first), or None."""
    paths: dict[str, list[str]] = {start: [start]}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for module in frontier:
            for target in sorted(graph.get(module, ())):
                if target == start:
                    return [*paths[module], start]
                if target not in paths:
                    paths[target] = [*paths[module], target]
                    following.append(target)
        frontier = following
    return None


def test_no_import_cycles() -> None:
    graph = imports()
    cycles = {" -> ".join(cycle) for module in graph if (cycle := _cycle_from(module, graph))}
    assert not cycles, "\n".join(sorted(cycles))


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert _cycle_from("a", graph) == ["a", "b", "c", "a"]
    assert _cycle_from("d", graph) is None


def test_tests_import_helpers_not_conftest() -> None:
    """Fixtures come from the root conftest by name; what test modules import lives in
    tests/helpers.py (a package's own conftest may still hold that package's constants)."""
    tests_dir = Path(__file__).parents[1]
    wrong = [
        str(path.relative_to(tests_dir))
        for path in sorted(tests_dir.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module == "tests.conftest"
    ]
    assert not wrong
