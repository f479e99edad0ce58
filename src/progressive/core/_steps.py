"""Canary steps: each step does exactly one thing."""

from __future__ import annotations

from typing import Any, Final

import attrs

from ._fields import Fields

__all__ = [
    "AnalysisArg",
    "AnalysisStep",
    "ExperimentStep",
    "HeaderMatch",
    "Pause",
    "RolloutAnalysis",
    "SetCanaryScale",
    "SetHeaderRoute",
    "SetMirrorRoute",
    "SetWeight",
    "Step",
    "TemplateRef",
    "VerdictActions",
    "read_rollout_analysis",
    "read_step",
]


@attrs.frozen
class SetWeight:
    """Send ``weight`` percent of traffic to the canary."""

    weight: int


@attrs.frozen
class Pause:
    """Wait ``duration`` seconds, or until promoted when ``duration`` is None."""

    duration: float | None = None


@attrs.frozen
class SetCanaryScale:
    """Scale the canary independently of its traffic weight (needs trafficRouting)."""

    weight: int | None = None
    replicas: int | None = None
    match_traffic_weight: bool = False


@attrs.frozen
class HeaderMatch:
    """Match a request header by exactly one of ``exact``, ``regex`` or ``prefix``."""

    header_name: str
    exact: str | None = None
    regex: str | None = None
    prefix: str | None = None


@attrs.frozen
class SetHeaderRoute:
    """Route requests matching headers to the canary; no match removes the route."""

    name: str
    match: tuple[HeaderMatch, ...] = ()


@attrs.frozen
class SetMirrorRoute:
    """Mirror ``percentage`` of matching requests to the canary; no match removes it."""

    name: str
    match: tuple[dict[str, Any], ...] = ()
    percentage: int = 100


@attrs.frozen
class TemplateRef:
    """An AnalysisTemplate by name; ``cluster_scope`` for a ClusterAnalysisTemplate."""

    template_name: str
    cluster_scope: bool = False


@attrs.frozen
class AnalysisArg:
    """An argument for an analysis: a literal ``value``, or ``value_from`` (a Secret key,
    a field of the Rollout, or a pod-template hash) resolved when the run starts."""

    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None


#: What each verdict may do to the Rollout (``onFailed``, ``onError``, ``onInconclusive``
#: of an analysis: progressive.dev extensions); the first choice is Argo's behaviour.
VERDICT_CHOICES: Final = {
    "failed": ("abort", "pause"),
    "error": ("abort", "pause"),
    "inconclusive": ("pause", "abort", "continue"),
}


@attrs.frozen
class VerdictActions:
    """What a run's Failed, Error and Inconclusive verdicts do (see ``core/_verdicts.py``).

    ``abort`` aborts the rollout, ``pause`` pauses it until a user promotes (the run then
    counts as passed), ``continue`` counts the run as passed at once.  Failing data can
    never be ``continue``-d past.
    """

    on_failed: str = "abort"
    on_error: str = "abort"
    on_inconclusive: str = "pause"

    def action(self, phase: str) -> str:
        """The action for a run phase (``Failed``, ``Error``, ``Inconclusive``)."""
        return {
            "Failed": self.on_failed,
            "Error": self.on_error,
            "Inconclusive": self.on_inconclusive,
        }.get(phase, "abort")


@attrs.frozen
class RolloutAnalysis:
    """Templates to run and the args to give them (a step, background or blue-green)."""

    templates: tuple[TemplateRef, ...] = ()
    args: tuple[AnalysisArg, ...] = ()
    dry_run: tuple[str, ...] = ()
    measurement_retention: tuple[tuple[str, int], ...] = ()
    # background analysis only: the step index it starts at
    starting_step: int | None = None
    verdicts: VerdictActions = VerdictActions()


@attrs.frozen
class AnalysisStep:
    """Run an analysis and wait for its verdict before the next step."""

    analysis: RolloutAnalysis


@attrs.frozen
class ExperimentStep:
    """An experiment; kept as plain data until the experiment engine reads it."""

    templates: tuple[dict[str, Any], ...] = ()
    duration: float | None = None
    analyses: tuple[dict[str, Any], ...] = ()


Step = (
    SetWeight
    | Pause
    | SetCanaryScale
    | SetHeaderRoute
    | SetMirrorRoute
    | AnalysisStep
    | ExperimentStep
)

#: The keys of a canary step, one per kind of :data:`Step`, in Argo's order: the reader,
#: the CRD schema (exactly one of them) and the error that names them all take them
#: from here.
STEP_KINDS: Final = (
    "setWeight",
    "pause",
    "setCanaryScale",
    "setHeaderRoute",
    "setMirrorRoute",
    "analysis",
    "experiment",
)


def read_rollout_analysis(f: Fields, *, background: bool = False) -> RolloutAnalysis:
    known = {"templates", "args", "dryRun", "measurementRetention", "analysisRunMetadata"}
    known |= {"onFailed", "onError", "onInconclusive"}
    f.unknown(frozenset(known | ({"startingStep"} if background else set())), error=True)
    templates = []
    for _, t in f.objs("templates"):
        name = t.str("templateName", required=True) or ""
        templates.append(TemplateRef(name, t.bool("clusterScope", False)))
    if not templates:
        f.error("must name at least one template", "templates")
    args = []
    for _, a in f.objs("args"):
        name = a.str("name", required=True) or ""
        value = a.raw("value")
        if value is not None and not isinstance(value, str):
            # YAML turns `value: 5` into an int; Argo wants a string and so do we
            value = str(value) if isinstance(value, int | float) else None
            if value is None:
                a.error("must be a string", "value")
        value_from = a.mapping("valueFrom") or None
        if value is None and value_from is None:
            pass  # the template may give a default; resolved when the run is built
        args.append(AnalysisArg(name, value, value_from))
    dry_run = tuple(d.str("metricName", required=True) or "" for _, d in f.objs("dryRun"))
    retention = tuple(
        (m.str("metricName", required=True) or "", m.int("limit", 10, low=0) or 0)
        for _, m in f.objs("measurementRetention")
    )
    starting = f.int("startingStep", None, low=0) if background else None
    verdicts = VerdictActions(
        *(
            _verdict_action(f, key, VERDICT_CHOICES[phase])
            for key, phase in (
                ("onFailed", "failed"),
                ("onError", "error"),
                ("onInconclusive", "inconclusive"),
            )
        )
    )
    return RolloutAnalysis(tuple(templates), tuple(args), dry_run, retention, starting, verdicts)


def _verdict_action(f: Fields, key: str, choices: tuple[str, ...]) -> str:
    value = f.str(key)
    if value is None:
        return choices[0]
    if value not in choices:
        f.error(f"must be one of {', '.join(choices)}, got {value!r}", key)
        return choices[0]
    return value


def _read_header_match(m: Fields) -> HeaderMatch:
    name = m.str("headerName", required=True) or ""
    value = m.obj("headerValue")
    kinds = {k: value.str(k) for k in ("exact", "regex", "prefix") if value.has(k)}
    if len(kinds) != 1:
        m.error("must set exactly one of exact, regex or prefix", "headerValue")
    return HeaderMatch(name, kinds.get("exact"), kinds.get("regex"), kinds.get("prefix"))


def read_step(f: Fields) -> Step | None:
    """One step, or None (with the error recorded) when it is unreadable."""
    present = f.keys()
    kinds = [k for k in present if k in STEP_KINDS]
    for key in present:
        if key not in STEP_KINDS and key != "plugin":
            f.error("unknown step field", key)
    if "plugin" in present:
        f.error("step plugins are not supported", "plugin")
        return None
    if len(kinds) != 1:
        if not kinds:
            kinds_text = f"{', '.join(STEP_KINDS[:-1])} or {STEP_KINDS[-1]}"
            f.error(f"must set exactly one action ({kinds_text}), got none")
        else:
            f.error(f"must set exactly one action, got {len(kinds)}: {', '.join(kinds)}")
        return None
    kind = kinds[0]
    errors_before = len(f.errors)
    step: Step
    if kind == "setWeight":
        weight = f.int("setWeight", low=0, high=100, required=True)
        step = SetWeight(weight or 0)
    elif kind == "pause":
        p = f.obj("pause")
        p.unknown(frozenset({"duration"}), error=True)  # a typo must not pause forever
        step = Pause(p.duration("duration"))
    elif kind == "setCanaryScale":
        s = f.obj("setCanaryScale")
        s.unknown(frozenset({"weight", "replicas", "matchTrafficWeight"}), error=True)
        scale = SetCanaryScale(
            s.int("weight", low=0, high=100),
            s.int("replicas", low=0),
            s.bool("matchTrafficWeight", False),
        )
        chosen = sum(
            [scale.weight is not None, scale.replicas is not None, scale.match_traffic_weight]
        )
        if chosen != 1 and len(f.errors) == errors_before:
            s.error("must set exactly one of weight, replicas or matchTrafficWeight")
        step = scale
    elif kind == "setHeaderRoute":
        h = f.obj("setHeaderRoute")
        h.unknown(frozenset({"name", "match"}), error=True)
        step = SetHeaderRoute(
            h.str("name", required=True) or "",
            tuple(_read_header_match(m) for _, m in h.objs("match")),
        )
    elif kind == "setMirrorRoute":
        m = f.obj("setMirrorRoute")
        m.unknown(frozenset({"name", "match", "percentage"}), error=True)
        matches = tuple(dict(x) for _, x in m.items("match") if isinstance(x, dict))
        step = SetMirrorRoute(
            m.str("name", required=True) or "",
            matches,
            m.int("percentage", 100, low=0, high=100) or 0,
        )
    elif kind == "analysis":
        step = AnalysisStep(read_rollout_analysis(f.obj("analysis")))
    else:
        e = f.obj("experiment")
        e.unknown(frozenset({"templates", "duration", "analyses"}), error=True)
        step = ExperimentStep(
            tuple(dict(x) for _, x in e.items("templates") if isinstance(x, dict)),
            e.duration("duration"),
            tuple(dict(x) for _, x in e.items("analyses") if isinstance(x, dict)),
        )
    return step if len(f.errors) == errors_before or _only_warnings(f, errors_before) else None


def _only_warnings(f: Fields, since: int) -> bool:
    return all(e.severity == "warning" for e in f.errors[since:])


def step_label(step: Step) -> str:
    """A short human label: ``setWeight: 20``, ``pause: 30s``, ``pause: {}``."""
    match step:
        case SetWeight(weight):
            return f"setWeight: {weight}"
        case Pause(duration):
            return "pause: {}" if duration is None else f"pause: {int(duration)}s"
        case SetCanaryScale(weight, replicas, match):
            if match:
                return "setCanaryScale: matchTrafficWeight"
            if replicas is not None:
                return f"setCanaryScale: {replicas} replicas"
            return f"setCanaryScale: {weight}%"
        case SetHeaderRoute(name, match):
            return f"setHeaderRoute: {name}" + ("" if match else " (remove)")
        case SetMirrorRoute(name, match, _):
            return f"setMirrorRoute: {name}" + ("" if match else " (remove)")
        case AnalysisStep(analysis):
            return "analysis: " + ", ".join(t.template_name for t in analysis.templates)
        case ExperimentStep():
            return "experiment"
