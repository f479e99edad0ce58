"""What the dashboard's pages show, as JSON-ready data, computed from plain objects.

Pure, like :mod:`.._info` (whose summaries and tree these reuse, so the page and
``get rollout`` say the same): :func:`rollout_rows` for the list of Rollouts,
:func:`rollout_page` for one Rollout (its steps, revisions and ReplicaSets, analysis
runs with their measurements, Events).  Every string here is data: the page puts it in
the document as text, never as markup.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from ...client.state import pause_of
from ...core._durations import format_duration, parse_duration
from ...core._lenient import as_int, as_map
from ...core._names import REVISION_ANNOTATION
from ...core._times import format_time, parse_time
from .._info import Objects, human_duration, rollout_info, summarize

__all__ = ["analysis_runs", "event_rows", "rollout_page", "rollout_rows", "steps"]

#: The most measurements of one metric a page plots (the newest).
MAX_POINTS: Final = 200
#: The most Events a page lists (the newest).
MAX_EVENTS: Final = 100


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(obj.get("metadata"))


def _pause(rollout: Mapping[str, Any], now: float) -> dict[str, Any] | None:
    pause = pause_of(rollout)
    if pause is None:
        return None
    out: dict[str, Any] = {"reason": pause.reason}
    if pause.since is not None:
        out["since"] = format_time(pause.since)
    if pause.until is not None:
        out["until"] = format_time(pause.until)
        out["left"] = human_duration(max(0.0, pause.until - now))
    return out


def rollout_rows(
    rollouts: Iterable[Mapping[str, Any]],
    replica_sets: Sequence[Mapping[str, Any]],
    *,
    now: float,
) -> list[dict[str, Any]]:
    """One row per Rollout: ``list rollouts``' columns (status, step, set and actual
    weight, replicas, age, message) and its pause."""
    objects = Objects(replica_sets=replica_sets)
    rows = []
    for rollout in rollouts:
        summary = summarize(rollout, objects, now=now)
        rows.append({**summary.to_json(), "age": summary.age, "pause": _pause(rollout, now)})
    return rows


def _step_text(step: Mapping[str, Any]) -> str:
    """A canary step in a few words: ``Set weight 20%``, ``Pause 30s``..."""
    if "setWeight" in step:
        return f"Set weight {step['setWeight']}%"
    if "pause" in step:
        duration = as_map(step.get("pause")).get("duration")
        if duration is None:
            return "Pause until promoted"
        try:
            return f"Pause {format_duration(parse_duration(duration))}"
        except ValueError:
            return f"Pause {duration}"
    if "analysis" in step:
        names = [
            str(as_map(t).get("templateName") or as_map(t).get("clusterTemplateName") or "")
            for t in as_map(step.get("analysis")).get("templates") or ()
        ]
        return "Analysis: " + ", ".join(n for n in names if n)
    if "experiment" in step:
        experiment = as_map(step.get("experiment"))
        count = len(experiment.get("templates") or ())
        duration = experiment.get("duration")
        return f"Experiment: {count} template(s)" + (f" for {duration}" if duration else "")
    if "setCanaryScale" in step:
        scale = as_map(step.get("setCanaryScale"))
        if scale.get("matchTrafficWeight"):
            return "Canary scale: match the traffic weight"
        if "replicas" in scale:
            return f"Canary scale: {scale['replicas']} replicas"
        return f"Canary scale: {scale.get('weight')}%"
    if "setHeaderRoute" in step:
        return f"Header route {as_map(step.get('setHeaderRoute')).get('name', '')}"
    if "setMirrorRoute" in step:
        return f"Mirror route {as_map(step.get('setMirrorRoute')).get('name', '')}"
    return ", ".join(str(k) for k in step) or "(empty step)"


def steps(rollout: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The canary steps, each with its text and whether it is done or current."""
    strategy = as_map(as_map(rollout.get("spec")).get("strategy"))
    listed = as_map(strategy.get("canary")).get("steps")
    if not isinstance(listed, list):
        return []
    status = as_map(rollout.get("status"))
    index = as_int(status.get("currentStepIndex"), 0)
    out = []
    for i, step in enumerate(listed):
        state = "done" if i < index else "current" if i == index else "next"
        out.append({"index": i, "text": _step_text(as_map(step)), "state": state})
    return out


def _number(value: object) -> float | None:
    """A measurement's value as a number to plot (``"0.95"``, ``"[0.95]"``), if it is one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            try:
                parsed = json.loads(value)
            except ValueError:
                return None
            if isinstance(parsed, list) and len(parsed) == 1:
                return _number(parsed[0])
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def analysis_runs(runs: Iterable[Mapping[str, Any]], *, now: float) -> list[dict[str, Any]]:
    """The runs with each metric's measurements (time, value, phase) for the plots."""
    out = []
    for run in runs:
        status = as_map(run.get("status"))
        metrics = []
        for result in status.get("metricResults") or ():
            result = as_map(result)
            points = []
            for m in list(result.get("measurements") or ())[-MAX_POINTS:]:
                m = as_map(m)
                at = parse_time(m.get("finishedAt")) or parse_time(m.get("startedAt"))
                points.append(
                    {
                        "time": None if at is None else format_time(at),
                        "t": at,
                        "value": None if m.get("value") is None else str(m.get("value")),
                        "number": _number(m.get("value")),
                        "phase": str(m.get("phase") or ""),
                        "message": str(m.get("message") or ""),
                    }
                )
            metrics.append(
                {
                    "name": str(result.get("name") or ""),
                    "phase": str(result.get("phase") or ""),
                    "message": str(result.get("message") or ""),
                    "measurements": points,
                }
            )
        meta = _meta(run)
        created = parse_time(meta.get("creationTimestamp"))
        out.append(
            {
                "name": str(meta.get("name") or ""),
                "phase": str(status.get("phase") or "Pending"),
                "message": str(status.get("message") or ""),
                "revision": str(as_map(meta.get("annotations")).get(REVISION_ANNOTATION, "")),
                "age": "" if created is None else human_duration(now - created),
                "metrics": metrics,
            }
        )
    return out


def event_rows(events: Iterable[Mapping[str, Any]], *, now: float) -> list[dict[str, Any]]:
    """The Events, newest first."""
    rows: list[tuple[float, dict[str, Any]]] = []
    for event in events:
        when = parse_time(event.get("lastTimestamp") or event.get("eventTime"))
        rows.append(
            (
                when or 0.0,
                {
                    "type": str(event.get("type") or "Normal"),
                    "reason": str(event.get("reason") or ""),
                    "message": str(event.get("message") or ""),
                    "count": max(1, as_int(event.get("count"), 1)),
                    "age": "" if when is None else human_duration(now - when),
                },
            )
        )
    rows.sort(key=lambda r: r[0], reverse=True)
    return [row for _, row in rows[:MAX_EVENTS]]


def rollout_page(
    rollout: Mapping[str, Any],
    objects: Objects,
    events: Iterable[Mapping[str, Any]],
    *,
    now: float,
) -> dict[str, Any]:
    """Everything the page of one Rollout shows."""
    info = rollout_info(rollout, objects, now=now)
    own_runs = [
        r
        for r in objects.analysis_runs
        if any(
            as_map(ref).get("uid") == _meta(rollout).get("uid")
            for ref in _meta(r).get("ownerReferences") or ()
        )
    ]
    own_runs.sort(key=lambda r: (str(_meta(r).get("creationTimestamp") or ""), _meta(r)["name"]))
    return {
        **info.to_json(),
        "age": info.summary.age,
        "pause": _pause(rollout, now),
        "aborted": as_map(rollout.get("status")).get("abort") is True,
        "paused": as_map(rollout.get("spec")).get("paused") is True,
        "steps": steps(rollout),
        "analysisRuns": analysis_runs(own_runs, now=now),
        "events": event_rows(events, now=now),
    }
