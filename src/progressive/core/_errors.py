"""Errors that name the field they are about.

Every problem found in a manifest is a :class:`FieldError` carrying the field path
(``spec.strategy.canary.steps[2].setWeight``), so that a user with a long YAML file
can go straight to the line.  Loading and validation collect *all* of them and raise a
single :class:`ManifestError`; nothing else escapes the loader.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import attrs

__all__ = ["FieldError", "ManifestError", "Severity"]

Severity = Literal["error", "warning"]


@attrs.frozen
class FieldError:
    """One problem with one field of a manifest.

    Args:
        path: where the problem is, e.g. ``spec.strategy.canary.steps[2].setWeight``.
        message: what is wrong, e.g. ``must be between 0 and 100, got 150``.
        severity: ``"error"`` makes the object unusable; ``"warning"`` is shown but
            does not stop it (e.g. a template that may live in the cluster).
    """

    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ManifestError(ValueError):
    """A manifest could not be loaded; ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors) or "invalid manifest")
