"""The labels every installed object carries, and their metadata."""

from __future__ import annotations

from typing import Any, Final

from ._options import NAME

__all__ = ["LABELS", "SELECTOR", "meta"]

LABELS: Final = {
    "app.kubernetes.io/name": NAME,
    "app.kubernetes.io/part-of": "progressive",
}
SELECTOR: Final = {"app.kubernetes.io/name": NAME}


def meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if namespace is not None:
        out["namespace"] = namespace
    out["labels"] = dict(LABELS)
    return out
