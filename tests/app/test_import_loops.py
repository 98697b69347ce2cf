"""No import loop among index_service's parts (its top-level modules and sub-packages).

A loop means no part can be read, tested or replaced without all the others in it, so
features depend on shared leaves and never on each other in a circle. Imports made inside
functions count: a deferred import is still a dependency. The check is the same
strongly-connected-components walk as the project's loop report, kept here so the test
needs nothing outside the repository.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "index_service"


def parts_of(package: Path) -> list[str]:
    """The package's parts: each top-level module (but __init__) and each sub-package."""
    return sorted(
        p.stem if p.is_file() else p.name
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())
    )


def imported_modules(tree: ast.AST, module_parts: list[str]) -> list[str]:
    """Every module (and module.name) an import statement anywhere in the tree names."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[: len(module_parts) - node.level]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{a.name}" for a in node.names)
    return names


def import_edges(package: Path) -> dict[str, set[str]]:
    """Which parts each part imports."""
    root = package.parent
    parts = parts_of(package)
    edges: dict[str, set[str]] = {p: set() for p in parts}
    for part in parts:
        single = package / f"{part}.py"
        files = [single] if single.exists() else sorted((package / part).rglob("*.py"))
        for f in files:
            module_parts = list(f.relative_to(root).with_suffix("").parts)
            for name in imported_modules(ast.parse(f.read_text(encoding="utf-8")), module_parts):
                if name.startswith(f"{package.name}."):
                    head = name.split(".")[1]
                    if head in edges and head != part:
                        edges[part].add(head)
    return edges


def loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected sets of two or more parts (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def test_the_check_finds_a_loop_and_ignores_a_chain() -> None:
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert loops({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_loop_among_index_service_parts() -> None:
    assert loops(import_edges(PACKAGE)) == []
