"""Canary steps: each action of a step (``setWeight``, ``pause``...) is a class.

:class:`Step` is what they have in common: every step is one item of
``spec.strategy.canary.steps`` and writes itself back as one (:meth:`Step.to_manifest`).
A step may set several actions, as Argo allows (its validation forbids only combining
``setWeight``, ``pause``, ``experiment`` and ``analysis``): that step is a
:class:`CombinedStep` of them, in the order they apply (:data:`ACTION_ORDER`), and
:func:`actions_of` gives any step's actions.
Built in code, a step holds its own frozen copy of what it was given (tuples, read-only
mappings); ``Rollout.validate()`` checks it with the field paths a manifest would get.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ._durations import as_seconds, seconds_field
from ._fields import Fields
from ._frozen import FrozenDict, Immutable, freeze_map, strings, thaw
from ._names import template_kind

__all__ = [
    "ACTION_ORDER",
    "EXCLUSIVE_ACTIONS",
    "AnalysisArg",
    "AnalysisStep",
    "CombinedStep",
    "ExperimentStep",
    "PluginStep",
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
    "actions_of",
    "read_rollout_analysis",
    "read_step",
]


class Step(Immutable):
    """One canary step (an item of ``spec.strategy.canary.steps``).

    The steps that do one thing are :class:`SetWeight`, :class:`Pause`,
    :class:`SetCanaryScale`, :class:`SetHeaderRoute`, :class:`SetMirrorRoute`,
    :class:`AnalysisStep` and :class:`ExperimentStep`, each named after its manifest key
    (Argo's words); a :class:`CombinedStep` does several of them.
    ``isinstance(x, Step)`` holds for each.  A step is a frozen value; checking it
    against the rest of the Rollout (a header route needs a router that can express
    it) is ``Rollout.validate()``'s job.
    """

    __slots__ = ()

    def to_manifest(self) -> dict[str, Any]:
        """The step as a manifest writes it: ``{"setWeight": 20}``, ``{"pause": {}}``."""
        raise NotImplementedError


def _maps(value: Iterable[Mapping[str, Any]]) -> tuple[FrozenDict, ...]:
    return tuple(freeze_map(item) for item in value)


@attrs.frozen
class SetWeight(Step):
    """Send ``weight`` percent of traffic to the canary."""

    weight: int

    def to_manifest(self) -> dict[str, Any]:
        return {"setWeight": self.weight}


@attrs.frozen
class Pause(Step):
    """Wait ``duration`` seconds, or until promoted when ``duration`` is None.

    ``duration`` may also be given as a manifest writes it (``"10m"``)."""

    duration: float | None = attrs.field(default=None, converter=as_seconds)

    def to_manifest(self) -> dict[str, Any]:
        if self.duration is None:
            return {"pause": {}}
        return {"pause": {"duration": seconds_field(self.duration)}}


@attrs.frozen
class SetCanaryScale(Step):
    """Scale the canary independently of its traffic weight (needs trafficRouting)."""

    weight: int | None = None
    replicas: int | None = None
    match_traffic_weight: bool = False

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.weight is not None:
            out["weight"] = self.weight
        if self.replicas is not None:
            out["replicas"] = self.replicas
        if self.match_traffic_weight:
            out["matchTrafficWeight"] = self.match_traffic_weight
        return {"setCanaryScale": out}


@attrs.frozen
class HeaderMatch(Immutable):
    """Match a request header by exactly one of ``exact``, ``regex`` or ``prefix``."""

    header_name: str
    exact: str | None = None
    regex: str | None = None
    prefix: str | None = None

    def to_manifest(self) -> dict[str, Any]:
        value = {
            key: text
            for key, text in (("exact", self.exact), ("regex", self.regex), ("prefix", self.prefix))
            if text is not None
        }
        return {"headerName": self.header_name, "headerValue": value}


def _header_matches(value: Iterable[HeaderMatch]) -> tuple[HeaderMatch, ...]:
    return value if type(value) is tuple else tuple(value)


@attrs.frozen
class SetHeaderRoute(Step):
    """Route requests matching headers to the canary; no match removes the route."""

    name: str
    match: tuple[HeaderMatch, ...] = attrs.field(default=(), converter=_header_matches)

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.match:
            out["match"] = [m.to_manifest() for m in self.match]
        return {"setHeaderRoute": out}


@attrs.frozen
class SetMirrorRoute(Step):
    """Mirror ``percentage`` of matching requests to the canary; no match removes it.

    ``match`` items keep Argo's shape: ``{method, path, headers}``, each a string
    match (``{exact|prefix|regex: value}``)."""

    name: str
    match: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=_maps)
    percentage: int = 100

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.match:
            out["match"] = thaw(self.match)
        if self.percentage != 100:
            out["percentage"] = self.percentage
        return {"setMirrorRoute": out}


@attrs.frozen
class TemplateRef(Immutable):
    """An AnalysisTemplate by name; ``cluster_scope`` for a ClusterAnalysisTemplate."""

    template_name: str
    cluster_scope: bool = False

    @property
    def kind(self) -> str:
        """``AnalysisTemplate``, or ``ClusterAnalysisTemplate`` for a cluster-scoped one."""
        return template_kind(self.cluster_scope)

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"templateName": self.template_name}
        if self.cluster_scope:
            out["clusterScope"] = True
        return out


def _value_from(value: Mapping[str, Any] | None) -> FrozenDict | None:
    return None if value is None else freeze_map(value)


@attrs.frozen
class AnalysisArg(Immutable):
    """An argument for an analysis: a literal ``value``, or ``value_from`` (a Secret key,
    a field of the Rollout, or a pod-template hash) resolved when the run starts."""

    name: str
    value: str | None = None
    value_from: Mapping[str, Any] | None = attrs.field(default=None, converter=_value_from)

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.value is not None:
            out["value"] = self.value
        if self.value_from is not None:
            out["valueFrom"] = thaw(self.value_from)
        return out


#: What each verdict may do to the Rollout (``onFailed``, ``onError``, ``onInconclusive``
#: of an analysis: progressive.dev extensions); the first choice is Argo's behaviour.
VERDICT_CHOICES: Final = {
    "failed": ("abort", "pause"),
    "error": ("abort", "pause"),
    "inconclusive": ("pause", "abort", "continue"),
}


@attrs.frozen
class VerdictActions(Immutable):
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

    def to_manifest(self) -> dict[str, Any]:
        """``onFailed``, ``onError`` and ``onInconclusive``, where they are not the default."""
        out: dict[str, Any] = {}
        for key, phase, value in (
            ("onFailed", "failed", self.on_failed),
            ("onError", "error", self.on_error),
            ("onInconclusive", "inconclusive", self.on_inconclusive),
        ):
            if value != VERDICT_CHOICES[phase][0]:
                out[key] = value
        return out


def _template_refs(value: Iterable[TemplateRef]) -> tuple[TemplateRef, ...]:
    return value if type(value) is tuple else tuple(value)


def _args(value: Iterable[AnalysisArg]) -> tuple[AnalysisArg, ...]:
    return value if type(value) is tuple else tuple(value)


def _retention(value: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    return tuple((str(name), limit) for name, limit in value)


@attrs.frozen
class RolloutAnalysis(Immutable):
    """Templates to run and the args to give them (a step, background or blue-green):
    Argo's ``RolloutAnalysis``, the reference a Rollout holds to AnalysisTemplates."""

    templates: tuple[TemplateRef, ...] = attrs.field(default=(), converter=_template_refs)
    args: tuple[AnalysisArg, ...] = attrs.field(default=(), converter=_args)
    dry_run: tuple[str, ...] = attrs.field(default=(), converter=strings)
    measurement_retention: tuple[tuple[str, int], ...] = attrs.field(
        default=(), converter=_retention
    )
    # background analysis only: the step index it starts at
    starting_step: int | None = None
    verdicts: VerdictActions = VerdictActions()
    # analysisRunMetadata: the labels and annotations of the runs it starts
    run_labels: Mapping[str, str] = attrs.field(factory=FrozenDict, converter=freeze_map)
    run_annotations: Mapping[str, str] = attrs.field(factory=FrozenDict, converter=freeze_map)

    def to_manifest(self) -> dict[str, Any]:
        """The analysis as a manifest writes it (``templates``, ``args``, ...)."""
        out: dict[str, Any] = {"templates": [t.to_manifest() for t in self.templates]}
        metadata = {
            key: dict(value)
            for key, value in (("labels", self.run_labels), ("annotations", self.run_annotations))
            if value
        }
        if metadata:
            out["analysisRunMetadata"] = metadata
        if self.args:
            out["args"] = [a.to_manifest() for a in self.args]
        if self.dry_run:
            out["dryRun"] = [{"metricName": name} for name in self.dry_run]
        if self.measurement_retention:
            out["measurementRetention"] = [
                {"metricName": name, "limit": limit} for name, limit in self.measurement_retention
            ]
        if self.starting_step is not None:
            out["startingStep"] = self.starting_step
        out.update(self.verdicts.to_manifest())
        return out


@attrs.frozen
class AnalysisStep(Step):
    """Run an analysis and wait for its verdict before the next step."""

    analysis: RolloutAnalysis

    def to_manifest(self) -> dict[str, Any]:
        return {"analysis": self.analysis.to_manifest()}


@attrs.frozen
class ExperimentStep(Step):
    """An experiment; kept as plain data until the experiment engine reads it.

    ``duration`` may also be given as a manifest writes it (``"10m"``)."""

    templates: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=_maps)
    duration: float | None = attrs.field(default=None, converter=as_seconds)
    analyses: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=_maps)

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.templates:
            out["templates"] = thaw(self.templates)
        if self.duration is not None:
            out["duration"] = seconds_field(self.duration)
        if self.analyses:
            out["analyses"] = thaw(self.analyses)
        return {"experiment": out}


@attrs.frozen
class PluginStep(Step):
    """A step plugin's step (Argo's ``plugin: {name, config}``): what it does is the
    plugin's (``progressive.steps``; one installed as a ``progressive.steps`` entry
    point answers to ``name``), the core only walks it: the step is done once the
    plugin reports its change in place for this revision, and an abort undoes it."""

    name: str
    config: Mapping[str, Any] = attrs.field(factory=FrozenDict, converter=freeze_map)

    def to_manifest(self) -> dict[str, Any]:
        plugin: dict[str, Any] = {"name": self.name}
        if self.config:
            plugin["config"] = thaw(self.config)
        return {"plugin": plugin}


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
    "plugin",
)
#: The actions of which one step sets at most one (Argo's ``hasMultipleStepsType``).
EXCLUSIVE_ACTIONS: Final = ("setWeight", "pause", "experiment", "analysis", "plugin")
#: The order in which one step's actions apply: the canary's size, then its routes,
#: then the one that decides when the step is done.
ACTION_ORDER: Final = (
    "setCanaryScale",
    "setHeaderRoute",
    "setMirrorRoute",
    "setWeight",
    "pause",
    "experiment",
    "analysis",
    "plugin",
)
_KEY_OF: Final[dict[type, str]] = {}  # filled below, once the classes exist


def _in_order(actions: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(sorted(actions, key=lambda a: ACTION_ORDER.index(_KEY_OF[type(a)])))


@attrs.frozen
class CombinedStep(Step):
    """A step that sets several actions (Argo's Apisix example: ``setCanaryScale``,
    ``setHeaderRoute`` and ``pause`` in one step), held in the order they apply
    (:data:`ACTION_ORDER`): the canary's scale first, then its header and mirror
    routes, all on reaching the step; then at most one of ``setWeight``, ``pause``,
    ``experiment`` or ``analysis``, which decides when the step is done (a pause counts
    from when the step is reached).  Without one of those, the step is done once the
    canary has the pods its ``setCanaryScale`` asks for.
    """

    actions: tuple[Step, ...] = attrs.field(converter=_in_order)

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for action in self.actions:
            out.update(action.to_manifest())
        return out


def actions_of(step: Step) -> tuple[Step, ...]:
    """A step's actions, in the order they apply (a one-action step: itself)."""
    return step.actions if isinstance(step, CombinedStep) else (step,)


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
    metadata = f.opt_obj("analysisRunMetadata")
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if metadata is not None:
        metadata.unknown(frozenset({"labels", "annotations"}), error=True)
        labels, annotations = metadata.string_map("labels"), metadata.string_map("annotations")
    return RolloutAnalysis(
        tuple(templates), tuple(args), dry_run, retention, starting, verdicts, labels, annotations
    )


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
    """One step, or None (with the error recorded) when it is unreadable.

    A step sets one action or several (a :class:`CombinedStep`), at most one of
    :data:`EXCLUSIVE_ACTIONS` (Argo's rule)."""
    present = f.keys()
    kinds = [k for k in ACTION_ORDER if k in present]
    for key in present:
        if key not in STEP_KINDS:
            f.error("unknown step field", key)
    if not kinds:
        kinds_text = f"{', '.join(STEP_KINDS[:-1])} or {STEP_KINDS[-1]}"
        f.error(f"must set an action ({kinds_text}), got none")
        return None
    exclusive = [k for k in EXCLUSIVE_ACTIONS if k in present]
    if len(exclusive) > 1:
        f.error(
            f"must set at most one of {', '.join(EXCLUSIVE_ACTIONS[:-1])} or "
            f"{EXCLUSIVE_ACTIONS[-1]}, got {len(exclusive)}: {', '.join(exclusive)}"
        )
        return None
    errors_before = len(f.errors)
    actions = [_read_action(f, kind) for kind in kinds]
    if len(f.errors) != errors_before and not _only_warnings(f, errors_before):
        return None
    return actions[0] if len(actions) == 1 else CombinedStep(tuple(actions))


def _read_action(f: Fields, kind: str) -> Step:
    """The action ``kind`` of the step ``f`` (errors recorded in ``f``)."""
    errors_before = len(f.errors)
    if kind == "setWeight":
        weight = f.int("setWeight", low=0, high=100, required=True)
        return SetWeight(weight or 0)
    if kind == "pause":
        p = f.obj("pause")
        p.unknown(frozenset({"duration"}), error=True)  # a typo must not pause forever
        return Pause(p.duration("duration"))
    if kind == "setCanaryScale":
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
        return scale
    if kind == "setHeaderRoute":
        h = f.obj("setHeaderRoute")
        h.unknown(frozenset({"name", "match"}), error=True)
        return SetHeaderRoute(
            h.str("name", required=True) or "",
            tuple(_read_header_match(m) for _, m in h.objs("match")),
        )
    if kind == "setMirrorRoute":
        m = f.obj("setMirrorRoute")
        m.unknown(frozenset({"name", "match", "percentage"}), error=True)
        matches = tuple(dict(x) for _, x in m.items("match") if isinstance(x, dict))
        return SetMirrorRoute(
            m.str("name", required=True) or "",
            matches,
            m.int("percentage", 100, low=0, high=100) or 0,
        )
    if kind == "analysis":
        return AnalysisStep(read_rollout_analysis(f.obj("analysis")))
    if kind == "plugin":
        p = f.obj("plugin")
        # Argo's step plugin object; abortOnFailure... are proposals Argo has not made
        p.unknown(frozenset({"name", "config"}), error=True)
        name = p.str("name", required=True) or ""
        if name and "/" not in name:
            p.error("a step plugin's name is <namespace>/<name>", "name")
        return PluginStep(name, p.mapping("config"))
    e = f.obj("experiment")
    e.unknown(frozenset({"templates", "duration", "analyses"}), error=True)
    return ExperimentStep(
        tuple(dict(x) for _, x in e.items("templates") if isinstance(x, dict)),
        e.duration("duration"),
        tuple(dict(x) for _, x in e.items("analyses") if isinstance(x, dict)),
    )


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
        case PluginStep(name):
            return f"plugin: {name}"
        case CombinedStep(actions):
            return " + ".join(step_label(action) for action in actions)
    return type(step).__name__


_KEY_OF.update(
    {
        SetWeight: "setWeight",
        Pause: "pause",
        SetCanaryScale: "setCanaryScale",
        SetHeaderRoute: "setHeaderRoute",
        SetMirrorRoute: "setMirrorRoute",
        AnalysisStep: "analysis",
        ExperimentStep: "experiment",
        PluginStep: "plugin",
    }
)
