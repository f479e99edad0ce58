"""What users read and copy uses public modules only: no Python in README.md, docs/ or
examples/ imports a private module (``progressive._x``, or a public module's ``_x``
attribute by its private path), and the API reference documents no private path.

docs/architecture.md is for the project's own engineers (it names the modules to
change) and is not checked; prose that names an internal module in passing is not an
import and is not checked either."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INTERNAL_DOCS = {"architecture.md"}

#: ``import progressive._x``, ``from progressive._x import``, ``from progressive.y._z``
_IMPORT = re.compile(r"^\s*(?:from|import)\s+(progressive(?:\.\w+)*)", re.M)
#: mkdocstrings' ``::: progressive._x.Y``
_DIRECTIVE = re.compile(r"^:::\s+(progressive\S*)", re.M)


def private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def python_imports(source: str) -> list[str]:
    """The progressive modules a piece of Python imports (parsed when it parses,
    matched line by line when it is a fragment with ``...`` in it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return _IMPORT.findall(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return [m for m in found if m == "progressive" or m.startswith("progressive.")]


def code_blocks(markdown: str) -> list[str]:
    return re.findall(r"```(?:python|py)?\n(.*?)```", markdown, flags=re.S)


def user_docs() -> list[Path]:
    docs = [p for p in sorted((ROOT / "docs").glob("*.md")) if p.name not in INTERNAL_DOCS]
    return [ROOT / "README.md", *docs]


def offences(path: Path) -> list[str]:
    text = path.read_text()
    if path.suffix == ".py":
        modules = python_imports(text)
    else:
        modules = [m for block in code_blocks(text) for m in python_imports(block)]
        modules += _DIRECTIVE.findall(text)
    return sorted({m for m in modules if private(m)})


@pytest.mark.parametrize("path", user_docs(), ids=lambda p: p.name)
def test_no_user_doc_imports_a_private_module(path: Path) -> None:
    assert offences(path) == []


def example_programs() -> list[Path]:
    return sorted(p for p in (ROOT / "examples").rglob("*.py") if ".venv" not in p.parts)


@pytest.mark.parametrize(
    "path", example_programs(), ids=lambda p: str(p.relative_to(ROOT / "examples"))
)
def test_no_example_imports_a_private_module(path: Path) -> None:
    assert offences(path) == []


def test_the_check_finds_a_private_import(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(
        "Text that names progressive._shell.runs in passing.\n\n"
        "```python\nfrom progressive._shell.kube import KubeCluster\nimport progressive\n```\n\n"
        "```python\nfrom progressive.routers import _registry\nawait x(...)\n```\n\n"
        "::: progressive._loader.Documents\n"
    )
    assert offences(doc) == [
        "progressive._loader.Documents",
        "progressive._shell.kube",
        "progressive.routers._registry",
    ]
    program = tmp_path / "tool.py"
    program.write_text("import progressive._clusters as c\nfrom progressive import client\n")
    assert offences(program) == ["progressive._clusters"]
