"""Reading plain objects leniently, for what shows them (the CLI, the client, the
dashboard): a field of the wrong type reads as its default, never as an error (the
linter and the controller say what is wrong with it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["as_int", "as_map"]


def as_map(value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_int(value: object, default: int = 0) -> int:
    """``value`` as an int (an int, or a string of one, as ``observedGeneration`` is
    written), else ``default``; a bool is not an int here."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default
