"""core/_state.py promises that only its functions make phase transitions: no other
module of the core edits the status fields that pause, abort or promote a Rollout."""

from __future__ import annotations

import ast
from pathlib import Path

import progressive.core

CORE = Path(progressive.core.__file__).parent
# the fields whose changes are the transitions _state.py makes
PHASE_FIELDS = {"abort", "aborted_at", "pause_conditions", "controller_pause", "promote_full"}
# where the status is read from a manifest, not transitioned
READERS = {"_state.py", "_status.py"}


def _evolved_fields(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "evolve"
        ):
            found += [(node.lineno, k.arg) for k in node.keywords if k.arg in PHASE_FIELDS]
    return found


def test_only_state_py_edits_pauses_aborts_and_promotions() -> None:
    edits = [
        f"{path.name}:{line} sets {field}"
        for path in sorted(CORE.glob("*.py"))
        if path.name not in READERS
        for line, field in _evolved_fields(path.read_text())
    ]
    assert edits == []


def test_the_check_sees_an_inline_edit() -> None:
    edit = "status = attrs.evolve(status, pause_conditions=(), controller_pause=False)"
    assert _evolved_fields(edit) == [(1, "pause_conditions"), (1, "controller_pause")]
