"""matching/ is linkage logic on plain data: no web framework, no database, no processes.

Loads run its functions in worker processes that index_service starts and supervises
(sources/pool.py, sources/collecting.py, helper_processes.py); matching itself starts, watches
and ends nothing, so it can be read, tested and run on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MATCHING = Path(__file__).resolve().parents[2] / "matching"
# Top-level modules matching may not import: the app's, the database's, and process supervision.
REFUSED = {
    "flask",
    "flask_sqlalchemy",
    "sqlalchemy",
    "index_service",
    "multiprocessing",
    "threading",
    "concurrent",
    "subprocess",
    "signal",
    "gc",
}


def imported(path: Path) -> set[str]:
    """The top-level modules a file imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def exits(path: Path) -> bool:
    """Whether a file calls os._exit (or any *._exit)."""
    return any(
        isinstance(node, ast.Attribute) and node.attr == "_exit"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
    )


def test_the_check_sees_an_import_and_an_exit(tmp_path: Path) -> None:
    source = tmp_path / "supervising.py"
    source.write_text("import threading\nfrom multiprocessing import Pool\nimport os\nos._exit(1)\n")
    assert imported(source) >= {"threading", "multiprocessing"}
    assert exits(source)


@pytest.mark.parametrize("path", sorted(MATCHING.glob("*.py")), ids=lambda p: p.name)
def test_matching_imports_no_app_database_or_process_machinery(path: Path) -> None:
    assert imported(path).isdisjoint(REFUSED), imported(path) & REFUSED
    assert not exits(path)
