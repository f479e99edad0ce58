"""Durations as Argo Rollouts writes them: ``30``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1m30s"``."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

__all__ = ["as_seconds", "format_duration", "format_seconds", "parse_duration", "seconds_field"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# A year is far beyond any sensible pause or interval; bigger numbers are typos.
MAX_SECONDS = 7 * 24 * 3600 * 52
_LIMIT = "52 weeks (8736h)"


def parse_duration(value: object) -> float:
    """Seconds in ``value``: an int (seconds), or a Go-style string such as ``"1m30s"``.

    Raises:
        ValueError: with a message fit to follow a field path.
    """
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 30, '30s', '5m' or '1h', got {value!r}")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError(f"must be at most {_LIMIT}, got a number too large") from None
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            seconds = float(text)
        else:
            pos = 0
            seconds = 0.0
            for match in _PART.finditer(text[:64]):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT[match.group(2)]
                pos = match.end()
            if not text or pos != len(text):
                shown = value if len(value) <= 40 else value[:40] + "..."
                raise ValueError(
                    f"must be a duration such as 30, '30s', '5m' or '1h', got {shown!r}"
                )
    else:
        raise ValueError(
            f"must be a duration such as 30, '30s', '5m' or '1h', got {type(value).__name__}"
        )
    if seconds != seconds or seconds < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"must be at most {_LIMIT}, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``90`` -> ``"1m30s"``; the inverse of :func:`parse_duration` for whole seconds."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if secs or not out:
        out += f"{secs}s"
    return out


def format_seconds(seconds: float) -> str:
    """``90`` -> ``"1m30s"``, ``1.5`` -> ``"1.5s"``: exactly what :func:`parse_duration`
    reads back as ``seconds`` (an IntOrString field's string form)."""
    if seconds == int(seconds):
        return format_duration(seconds)
    return format(Decimal(repr(seconds)), "f") + "s"


def as_seconds(value: object) -> Any:
    """A model's duration field: seconds as a float, from a number or a string as a
    manifest writes it (``"10m"``).  A value that is not a duration (a negative number,
    a word) is kept as it is, for ``validate()`` to report at its field path."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value) if 0 <= value <= MAX_SECONDS else value
        except OverflowError:
            return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            return value
    return value


def seconds_field(value: object) -> object:
    """A duration as a manifest writes it: ``"1m30s"`` (what :func:`parse_duration`
    reads back exactly); a value that is not a duration is written as it is, so that
    reading it back reports it."""
    if isinstance(value, float) and value == value and 0 <= value <= MAX_SECONDS:
        return format_seconds(value)
    return value
