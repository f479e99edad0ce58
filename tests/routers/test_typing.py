"""mypy, on tests/routers/typing_protocol.py: each router satisfies the Protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def test_every_router_satisfies_the_protocol() -> None:
    stdout, stderr, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            "--cache-dir",
            "/dev/null",
            str(HERE / "typing_protocol.py"),
        ]
    )
    assert status == 0, stdout + stderr
    # the deliberately broken class is caught (its ignore is not unused)
    assert "Success" in stdout
