"""Old public names kept for one release: using one warns and gives the new object.

A module lists its renamed names and takes its module ``__getattr__`` from here::

    __getattr__ = renamed(__name__, globals(), {"FieldError": "FieldProblem"})
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["renamed"]


def renamed(
    module: str, namespace: Mapping[str, Any], names: Mapping[str, str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves each old name of ``names`` as its new one,
    with a :class:`DeprecationWarning`, and raises AttributeError for anything else."""

    def __getattr__(name: str) -> Any:
        new = names.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(
            f"{module}.{name} is deprecated, use {module}.{new}: it was renamed because "
            "it is a value, not an exception",
            DeprecationWarning,
            stacklevel=2,
        )
        return namespace[new]

    return __getattr__
