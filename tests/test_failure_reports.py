"""A failing test's report carries the log tails of every control plane up then: the
session's, and one a module starts of its own (tests/kube/test_e2e_groups.py's
argoproj.io plane), registered with ``tests.conftest.logs_in_reports``.  Run as a
pytest session of its own, with this suite's conftest as its plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLANE = """
import pytest

from tests.conftest import logs_in_reports


class Plane:
    def log_tails(self, lines: int = 30) -> str:
        return "tail of the second plane's logs"


@pytest.fixture(scope="module")
def second_plane(request):
    with logs_in_reports(request.config, "second plane logs", Plane()):
        yield


def test_on_the_second_plane(second_plane):
    assert False, "failed on the second plane"
"""

LATER = """
def test_once_the_second_plane_is_down():
    assert False, "failed later"
"""


def test_a_failure_reports_the_logs_of_each_plane_up(tmp_path: Path) -> None:
    (tmp_path / "test_a_plane.py").write_text(PLANE)
    (tmp_path / "test_b_later.py").write_text(LATER)
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "2 failed" in ran.stdout, ran.stdout + ran.stderr
    on_plane, later = ran.stdout.split("test_once_the_second_plane_is_down ___")
    assert "second plane logs" in on_plane and "tail of the second plane's logs" in on_plane
    assert "second plane logs" not in later, "a plane that is down is no longer reported"
