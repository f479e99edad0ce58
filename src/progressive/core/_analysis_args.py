"""``{{args.name}}``: substituting a template's arguments into its metrics.

Placeholders are substituted in the provider's strings, in the two conditions and (as
Argo does, by templating the whole metric) in the numeric fields written as text
(``count: "{{args.runs}}"``, :func:`substitute_text`); a condition with a placeholder
is checked once substituted, since ``result > {{args.max}}`` only parses once ``max``
is known, and so is a numeric field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import FieldProblem
from ._analysis_values import PLACEHOLDER, condition_error

__all__ = ["substitute_fields", "substitute_text"]


def _substitute(text: str, values: Mapping[str, str | None], problems: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in values:
            problems.append(f"failed to resolve {{{{args.{name}}}}}: no such argument")
            return match.group(0)
        value = values[name]
        return match.group(0) if value is None else value

    return PLACEHOLDER.sub(replace, text)


def substitute_text(text: str, values: Mapping[str, str | None], problems: list[str]) -> str:
    """``text`` with its placeholders substituted from ``values`` (an unknown name is
    recorded in ``problems``; a name mapped to None keeps its placeholder)."""
    return _substitute(text, values, problems)


def _substitute_plain(value: Any, values: Mapping[str, str | None], problems: list[str]) -> Any:
    if isinstance(value, str):
        return _substitute(value, values, problems)
    if isinstance(value, Mapping):
        return {k: _substitute_plain(v, values, problems) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute_plain(v, values, problems) for v in value]
    return value


def substitute_fields(
    provider: Mapping[str, Any],
    success: str | None,
    failure: str | None,
    values: Mapping[str, str | None],
    errors: list[FieldProblem],
    path: str,
) -> tuple[Any, str | None, str | None]:
    """A metric's provider and conditions with ``{{args.name}}`` substituted from
    ``values``; an unknown argument, or a condition that does not parse once substituted,
    is recorded in ``errors`` under ``path`` (a name mapped to None keeps its
    placeholder: a secret, resolved just before measuring)."""

    def at(key: str) -> str:
        return f"{path}.{key}" if path else key

    problems: list[str] = []
    substituted = _substitute_plain(provider, values, problems)
    if problems:
        errors.append(FieldProblem(at("provider"), "; ".join(dict.fromkeys(problems))))
    conditions: list[str | None] = []
    for key, source in (("successCondition", success), ("failureCondition", failure)):
        if source is None:
            conditions.append(None)
            continue
        problems = []
        resolved = _substitute(source, values, problems)
        problem = "; ".join(dict.fromkeys(problems)) or condition_error(resolved)
        if problem:
            errors.append(FieldProblem(at(key), problem))
        conditions.append(resolved)
    return substituted, conditions[0], conditions[1]
