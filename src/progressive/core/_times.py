"""Timestamps: floats of seconds inside the core, RFC 3339 strings in manifests."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_time", "parse_time"]


def format_time(seconds: float) -> str:
    """``0.0`` -> ``"1970-01-01T00:00:00Z"`` (sub-second precision kept when present)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> float | None:
    """Seconds from an RFC 3339 string (or a number); ``None`` when absent or unreadable."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
            return seconds if abs(seconds) < 1e12 else None
        if not isinstance(value, str) or not value or len(value) > 64:
            return None
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return None
