"""The checks ``scripts/test`` runs must be able to fail."""

from __future__ import annotations

import shlex
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "test"


def test_the_docs_build_is_strict_and_not_quiet() -> None:
    """``mkdocs build --strict -q`` exits 0 whatever it warns about: with -q the
    warnings are never counted, so the strict check could not fail."""
    (line,) = [row for row in SCRIPT.read_text().splitlines() if "bin/mkdocs build" in row]
    words = shlex.split(line)
    assert "--strict" in words
    assert not {"-q", "--quiet"} & set(words), line
