"""Routers are pure: no I/O library, no shell, no CLI (the import-linter contract in
pyproject.toml keeps them independent of each other; this keeps them pure)."""

from __future__ import annotations

import ast
from pathlib import Path

import progressive.routers

FORBIDDEN = (
    "anyio",
    "asyncio",
    "kubernetes_asyncio",
    "tenacity",
    "httpx",
    "prometheus_client",
    "yaml",
    "progressive._shell",
    "progressive.cli",
    "progressive.memory",
    "progressive.metrics",
)


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against progressive.routers
                base = ["progressive", "routers"][: 3 - node.level]
                names.add(".".join([*base, node.module or ""]).rstrip("."))
            else:
                names.add(node.module or "")
    return names


def test_routers_import_no_io_and_no_shell() -> None:
    package = Path(progressive.routers.__file__).parent
    for path in sorted(package.glob("*.py")):
        bad = {
            name
            for name in imported(path)
            for forbidden in FORBIDDEN
            if name == forbidden or name.startswith(forbidden + ".")
        }
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_relative_import_resolution_works() -> None:
    path = Path(progressive.routers.__file__).parent / "_nginx.py"
    assert "progressive.core._rollout" in imported(path)
