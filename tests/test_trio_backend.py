"""The backend switch of the in-memory suite (tests/trio_backend.py) does what it says:
an ``async def`` test runs under the library PROGRESSIVE_TEST_BACKEND names, so the
second run of scripts/test really is under trio."""

from __future__ import annotations

from pathlib import Path

import sniffio

from .trio_backend import TRIO_SAFE, backend

ROOT = Path(__file__).resolve().parent.parent


async def test_async_tests_run_under_the_backend_asked_for() -> None:
    assert sniffio.current_async_library() == backend()


def test_the_trio_safe_modules_exist_and_include_this_one() -> None:
    assert TRIO_SAFE[0] == "tests/test_trio_backend.py"
    assert [m for m in TRIO_SAFE if not (ROOT / m).is_file()] == []
