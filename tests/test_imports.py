"""The package's import graph has no cycles (module-level, function-level and type-only imports)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_hfrouter"

#: Cycles known when this test was written, each owned by another change of issue 16. Each must
#: DISAPPEAR: when its owner's branch lands, the cycle is gone and the test below fails until its
#: entry is deleted here. Once both are gone this set is empty and the package allows no cycle.
EXPECTED_TO_DISAPPEAR: set[frozenset[str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source (in functions and under
    ``TYPE_CHECKING`` too: a cycle the type checker needs is a cycle a reader has to untangle)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target in MODULES:  # ``from . import scrub`` imports the module scrub
                found.update(f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset({"a", "b", "c"})}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_the_graph_reads_relative_and_function_level_imports() -> None:
    assert "pytest_hfrouter._session" in imports_of("pytest_hfrouter.plugin")  # inside pytest_configure
    assert "pytest_hfrouter.scrub" in imports_of("pytest_hfrouter._session")  # ``from . import scrub``
    assert "pytest_hfrouter._session" in imports_of("pytest_hfrouter._keys")  # under TYPE_CHECKING


def test_no_import_cycles() -> None:
    found = cycles({name: imports_of(name) for name in MODULES})
    unexpected = found - EXPECTED_TO_DISAPPEAR
    assert not unexpected, f"import cycles: {[sorted(c) for c in unexpected]}"
    gone = EXPECTED_TO_DISAPPEAR - found
    assert not gone, f"these cycles are gone: delete them from EXPECTED_TO_DISAPPEAR: {[sorted(c) for c in gone]}"


def test_the_stash_keys_import_nothing_of_the_package_at_run_time() -> None:
    """``_keys`` is read by every hook module: it must not pull one in (types only)."""
    tree = ast.parse(MODULES["pytest_hfrouter._keys"].read_text(encoding="utf-8"))
    runtime = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level]
    assert runtime == []
