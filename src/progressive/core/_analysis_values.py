"""Conditions and plain data of the analysis model.

A metric's ``successCondition`` and ``failureCondition`` are compiled once and cached
(:func:`compile_condition`); a ``dryRun`` or ``measurementRetention`` rule matches
metric names as Go's unanchored regexes do (:func:`rule_matches`).  A measured value is
stored as Argo stores it, a string, and read back to what was measured
(:func:`encode_value`, :func:`decode_value`).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..errors import ExpressionError, FieldProblem, ManifestError
from ._expressions import Expression, parse_condition
from ._fields import Fields

__all__ = [
    "PLACEHOLDER",
    "compile_condition",
    "compiled_rule",
    "condition_error",
    "decode_value",
    "encode_value",
    "freeze_value",
    "plain_copy",
    "raise_fatal",
    "rule_matches",
]

#: ``{{args.name}}`` (spaces allowed inside the braces, as fasttemplate trims them).
PLACEHOLDER: Final = re.compile(r"\{\{\s*args\.([^{}]*?)\s*\}\}")

# Plain data nested deeper than this is refused rather than walked (no RecursionError).
_MAX_DEPTH: Final = 64


@functools.lru_cache(maxsize=1024)
def compile_condition(source: str) -> Expression:
    """``parse_condition(source)``, cached: runs evaluate the same few conditions often."""
    return parse_condition(source)


def condition_error(source: str) -> str | None:
    """Why ``source`` does not parse, or None.  Placeholders are checked later."""
    if PLACEHOLDER.search(source):
        return None
    try:
        compile_condition(source)
    except (ExpressionError, RecursionError) as exc:
        return f"invalid expression: {exc}" if str(exc) else "invalid expression"
    return None


@functools.lru_cache(maxsize=256)
def compiled_rule(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return None


def rule_matches(pattern: str, metric_name: str) -> bool:
    """A ``dryRun`` / ``measurementRetention`` rule: ``*`` or an unanchored regex (Go's)."""
    if pattern == "*":
        return True
    compiled = compiled_rule(pattern)
    return compiled is not None and compiled.search(metric_name) is not None


def plain_copy(value: object, f: Fields, key: str, depth: int = 0) -> Any:
    """A private copy of plain data; lists become lists, mappings dicts with str keys."""
    if depth > _MAX_DEPTH:
        f.error(f"is nested more than {_MAX_DEPTH} levels deep", key)
        return None
    if isinstance(value, Mapping):
        return {str(k): plain_copy(v, f, key, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(v, f, key, depth + 1) for v in value]
    return value


def freeze_value(value: object) -> object:
    """Measurement values are stored immutable: lists become tuples."""
    if isinstance(value, list | tuple):
        return tuple(freeze_value(v) for v in value)
    return value


# A measurement's value is stored as Argo stores it, a string ("0.99", "[0.5,0.4]" for
# a vector, the JSON of an object); NaN and the infinities as Prometheus writes them
# (JSON has none).  Reading decodes what encoding gives back unchanged, so a value
# reads back as it was measured and a stored status is written again unchanged.
_NON_FINITE: Final = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


def encode_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, float):
        try:  # JSON in C, for a long vector; NaN or an infinity in it: the walk below
            return json.dumps(value, separators=(",", ":"), allow_nan=False, default=_as_json)
        except ValueError:
            pass
    finite = _finite(value)
    if isinstance(finite, str):
        return finite
    return json.dumps(finite, separators=(",", ":"), default=str)


def _as_json(value: object) -> object:
    return dict(value) if isinstance(value, Mapping) else str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, str):
        if value in _NON_FINITE:
            return _NON_FINITE[value]
        try:
            decoded = _non_finite(json.loads(value))
        except (ValueError, RecursionError):
            return value
        return decoded if encode_value(decoded) == value else value
    return _non_finite(value)


def _non_finite(value: Any) -> Any:
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, Mapping):
        return {k: _non_finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_non_finite(v) for v in value]
    return value


def raise_fatal(errors: Iterable[FieldProblem]) -> None:
    """Raise a :class:`~progressive.errors.ManifestError` of the errors among ``errors``
    (warnings alone do not raise)."""
    fatal = [e for e in errors if e.severity == "error"]
    if fatal:
        raise ManifestError(fatal)
