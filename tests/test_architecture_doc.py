"""docs/architecture.md draws the layers import-linter holds: each layer of each
``layers`` contract in pyproject.toml is a line of the drawing, in the same order."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _drawn_layers(doc: str) -> list[list[str]]:
    """The lines of each code block, first word group only (the layer, before its gloss)."""
    blocks = re.findall(r"```\n(.*?)```", doc, flags=re.S)
    return [
        [re.split(r"\s{2,}", line.strip())[0] for line in block.splitlines() if line.strip()]
        for block in blocks
    ]


def test_the_drawn_layers_are_the_contracts() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = [
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    ]
    assert len(contracts) >= 2
    drawn = _drawn_layers((ROOT / "docs" / "architecture.md").read_text())
    for layers in contracts:
        assert layers in drawn, layers
