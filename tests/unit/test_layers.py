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

# domain <- storage <- services <- transport <- app/cli: a layer never imports one above it. The
# bottom layers are closed: ``domain`` (pure rules) and ``wire`` (the neutral proto <-> JSON layer
# that services, for stored renderings, and transport, for responses, share) import only
# themselves. Packages not named here (blob store, jobs...) are held only by the cycle check.
ONLY: dict[str, frozenset[str]] = {
    "domain": frozenset({"domain"}),
    "wire": frozenset({"wire"}),
}
_TOP = frozenset({"app", "cli", "demo", "coverage"})
NEVER: dict[str, frozenset[str]] = {
    "storage": frozenset({"services", "transport"}) | _TOP,
    "services": frozenset({"transport"}) | _TOP,
    "transport": _TOP,
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


def _may_import(layer: str, target: str) -> bool:
    if layer in ONLY:
        return target in ONLY[layer]
    return target not in NEVER.get(layer, frozenset())


@pytest.mark.parametrize("layer", sorted([*ONLY, *NEVER]))
def test_layers_import_only_downwards(layer: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in imports().items()
        if _layer(module) == layer
        for target in targets
        if not _may_import(layer, _layer(target))
    )
    assert not wrong, "\n".join(wrong)


def test_the_layer_rules_refuse_what_the_issue_names() -> None:
    assert not _may_import("services", "transport")
    assert not _may_import("storage", "services")
    assert not _may_import("domain", "storage")
    assert not _may_import("wire", "transport")
    assert _may_import("transport", "services") and _may_import("services", "wire")


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
