"""docs/model.md: its Python blocks run, in order, in one namespace (each asserts what
the page says), and its table of what to feed back is the one core/_feedback.py keeps."""

from __future__ import annotations

import re
from pathlib import Path

from progressive.core import _feedback, actions

DOC = Path(__file__).resolve().parent.parent / "docs" / "model.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_the_python_blocks_run() -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 5
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)


def test_every_action_is_in_the_feedback_table() -> None:
    text = DOC.read_text()
    table = text[text.index("| action | feeds back into |") :]
    for action in actions.Action.__args__:
        name = f"`{action.__name__}`"
        assert name in table, name
        assert name in (_feedback.__doc__ or "").replace("``", "`")
