"""The status of an AnalysisRun: its phase, each metric's result and measurements, and
the summaries; read from a manifest and written back as Argo writes them.
"""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from ._analysis_values import decode_value, encode_value, freeze_value, plain_copy
from ._fields import Fields, describe
from ._frozen import thaw
from ._times import format_time

__all__ = [
    "AnalysisPhase",
    "AnalysisRunStatus",
    "Measurement",
    "MetricResult",
    "RunSummary",
    "read_run_status",
    "run_status_manifest",
]

# Timestamps outside years 1..9999 cannot be written as RFC 3339.
_MIN_TIME: Final = -62135596800.0
_MAX_TIME: Final = 253402300799.0


class AnalysisPhase(enum.StrEnum):
    """Phases of measurements, metrics and runs (Argo's ``AnalysisPhase``)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"

    @property
    def completed(self) -> bool:
        return self not in (AnalysisPhase.PENDING, AnalysisPhase.RUNNING)


def _same_value(a: object, b: object) -> bool:
    """Equality for measurement values in which NaN equals NaN (a run equals its copy)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@attrs.frozen
class Measurement:
    """One measurement; ``finished_at`` None means it is still in flight."""

    phase: AnalysisPhase
    value: object = attrs.field(default=None, eq=attrs.cmp_using(eq=_same_value))
    message: str = ""
    started_at: float | None = None
    finished_at: float | None = None


@attrs.frozen
class MetricResult:
    """``status.metricResults[i]``: a metric's phase, counters and recent measurements."""

    name: str
    phase: AnalysisPhase = AnalysisPhase.PENDING
    measurements: tuple[Measurement, ...] = ()
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    consecutive_success: int = 0
    dry_run: bool = False
    message: str = ""

    @property
    def last(self) -> Measurement | None:
        return self.measurements[-1] if self.measurements else None


@attrs.frozen
class RunSummary:
    """How many metrics ended in each phase (``runSummary`` / ``dryRunSummary``)."""

    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0


@attrs.frozen
class AnalysisRunStatus:
    phase: AnalysisPhase = AnalysisPhase.PENDING
    message: str = ""
    metric_results: tuple[MetricResult, ...] = ()
    started_at: float | None = None
    completed_at: float | None = None
    run_summary: RunSummary = RunSummary()
    dry_run_summary: RunSummary | None = None


# -- reading -------------------------------------------------------------------------------


def _time(f: Fields, key: str) -> float | None:
    value = f.raw(key)
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) > _MAX_TIME:
            seconds = None
        else:
            seconds = float(value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = moment.timestamp()
    if seconds is None or not math.isfinite(seconds) or not _MIN_TIME <= seconds <= _MAX_TIME:
        f.error(f"must be an RFC 3339 timestamp, got {describe(value)}", key)
        return None
    return seconds


def _phase(f: Fields, key: str, default: AnalysisPhase) -> AnalysisPhase:
    value = f.str(key)
    if not value:
        return default
    try:
        return AnalysisPhase(value)
    except ValueError:
        f.error(
            f"must be one of {', '.join(p.value for p in AnalysisPhase)}, got {describe(value)}",
            key,
        )
        return default


def _count(f: Fields, key: str) -> int:
    return f.int(key, 0, low=0, high=None) or 0


def _read_summary(f: Fields) -> RunSummary:
    return RunSummary(*(_count(f, k) for k in _SUMMARY_KEYS))


_SUMMARY_KEYS: Final = ("count", "successful", "failed", "inconclusive", "error")
_RESULT_COUNTERS: Final = (
    ("count", "count"),
    ("successful", "successful"),
    ("failed", "failed"),
    ("inconclusive", "inconclusive"),
    ("error", "error"),
    ("consecutive_error", "consecutiveError"),
    ("consecutive_success", "consecutiveSuccess"),
)


def _read_result(r: Fields) -> MetricResult:
    measurements = tuple(
        Measurement(
            phase=_phase(m, "phase", AnalysisPhase.RUNNING),
            value=freeze_value(decode_value(plain_copy(m.raw("value"), m, "value"))),
            message=m.str("message", "") or "",
            started_at=_time(m, "startedAt"),
            finished_at=_time(m, "finishedAt"),
        )
        for _, m in r.objs("measurements")
    )
    counters = {attr: _count(r, key) for attr, key in _RESULT_COUNTERS}
    return MetricResult(
        name=r.str("name", required=True) or "",
        phase=_phase(r, "phase", AnalysisPhase.PENDING),
        measurements=measurements,
        dry_run=r.bool("dryRun", False),
        message=r.str("message", "") or "",
        **counters,
    )


def read_run_status(status: Fields) -> AnalysisRunStatus:
    dry = status.opt_obj("dryRunSummary")
    return AnalysisRunStatus(
        phase=_phase(status, "phase", AnalysisPhase.PENDING),
        message=status.str("message", "") or "",
        metric_results=tuple(_read_result(r) for _, r in status.objs("metricResults")),
        started_at=_time(status, "startedAt"),
        completed_at=_time(status, "completedAt"),
        run_summary=_read_summary(status.obj("runSummary")),
        dry_run_summary=None if dry is None else _read_summary(dry),
    )


# -- writing -------------------------------------------------------------------------------


def _summary_manifest(s: RunSummary) -> dict[str, int]:
    return {k: getattr(s, k) for k in _SUMMARY_KEYS}


def _measurement_manifest(m: Measurement) -> dict[str, Any]:
    out: dict[str, Any] = {"phase": m.phase.value}
    if m.value is not None:
        out["value"] = encode_value(thaw(m.value))
    if m.message:
        out["message"] = m.message
    if m.started_at is not None:
        out["startedAt"] = format_time(m.started_at)
    if m.finished_at is not None:
        out["finishedAt"] = format_time(m.finished_at)
    return out


def _result_manifest(r: MetricResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": r.name,
        "phase": r.phase.value,
        "measurements": [_measurement_manifest(m) for m in r.measurements],
    }
    out.update({key: getattr(r, attr) for attr, key in _RESULT_COUNTERS})
    if r.dry_run:
        out["dryRun"] = True
    if r.message:
        out["message"] = r.message
    return out


def run_status_manifest(s: AnalysisRunStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"phase": s.phase.value}
    if s.message:
        out["message"] = s.message
    out["metricResults"] = [_result_manifest(r) for r in s.metric_results]
    if s.started_at is not None:
        out["startedAt"] = format_time(s.started_at)
    if s.completed_at is not None:
        out["completedAt"] = format_time(s.completed_at)
    out["runSummary"] = _summary_manifest(s.run_summary)
    if s.dry_run_summary is not None:
        out["dryRunSummary"] = _summary_manifest(s.dry_run_summary)
    return out
