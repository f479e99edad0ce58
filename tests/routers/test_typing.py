"""mypy, on tests/routers/typing_protocol.py: each router satisfies the Protocol."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def test_every_router_satisfies_the_protocol() -> None:
    # mypy sets the interpreter's recursion limit to 2**14 and leaves it: restore it,
    # so that no later test runs under a limit it did not choose
    saved = sys.getrecursionlimit()
    try:
        stdout, stderr, status = _mypy()
    finally:
        sys.setrecursionlimit(saved)
    assert status == 0, stdout + stderr
    # the deliberately broken class is caught (its ignore is not unused)
    assert "Success" in stdout


def _mypy() -> tuple[str, str, int]:
    return api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            "--cache-dir",
            "/dev/null",
            str(HERE / "typing_protocol.py"),
        ]
    )
