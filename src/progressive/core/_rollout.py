"""The Rollout model: ``Rollout.from_manifest(obj)`` reads an Argo Rollouts or
progressive.dev manifest, applies Argo's documented defaults, and reports every problem
with its field path at once.

A Rollout built in code is checked by the same reader: ``validate()`` writes it as a
manifest (``to_manifest()``) and reads that back, so each rule is defined once, in
``read_rollout``, and an error names the same field path whichever way the object was
made.  ``reconcile()`` validates a Rollout it has not seen validated (once per
object: the answer is kept on it, and a Rollout read from a manifest is valid from the
start), and plans an invalid one as the controller does an invalid manifest.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ..errors import FieldProblem, ManifestError
from ._bounds import check_bounds
from ._fields import Fields
from ._frozen import FrozenDict, Immutable, canonical_json, freeze_map, strings, thaw
from ._names import API_GROUPS
from ._router_keys import is_plugin_name
from ._status import RolloutStatus
from ._steps import (
    AnalysisStep,
    RolloutAnalysis,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    Step,
    actions_of,
    read_rollout_analysis,
    read_step,
)

__all__ = [
    "AntiAffinity",
    "BlueGreenStrategy",
    "CanaryStrategy",
    "PingPong",
    "Rollout",
    "Strategy",
    "TrafficRouting",
    "WorkloadRef",
    "ping_pong_services",
    "pod_template_hash",
    "strategy_services",
    "traffic_services",
]

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def pod_template_hash(template: Mapping[str, Any]) -> str:
    """A short, stable hash of a pod template, in Kubernetes' safe alphabet.

    Equal templates give equal hashes whatever their key order, so going back to an
    earlier template finds its earlier ReplicaSet.  The model's templates are frozen,
    and their canonical form is computed once.
    """
    canonical = canonical_json(template)
    number = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")
    chars = []
    for _ in range(10):
        number, digit = divmod(number, len(_SAFE_ALPHABET))
        chars.append(_SAFE_ALPHABET[digit])
    return "".join(chars)


def _routers(value: Mapping[str, Mapping[str, Any]]) -> FrozenDict:
    return freeze_map(value)


def _weight_set(routing: TrafficRouting) -> bool:
    return routing.max_traffic_weight != 100


@attrs.frozen
class TrafficRouting(Immutable):
    """Which routers carry the canary's traffic (``trafficRouting``), by the name the
    manifest gives each: a key (``nginx``, ``istio``, ``smi``, ``gatewayAPI``, a third
    party's ``contour``...) or an Argo plugin name under ``plugins``
    (``argoproj-labs/gatewayAPI``); their configurations stay plain (read-only) data.
    Which router answers to a name is the router registry's business
    (:class:`progressive.routers.RouterRegistry`).  ``max_traffic_weight_set``: whether
    ``maxTrafficWeight`` was written (it is, by default, when the weight is not 100)."""

    routers: Mapping[str, Mapping[str, Any]] = attrs.field(factory=FrozenDict, converter=_routers)
    managed_routes: tuple[str, ...] = attrs.field(default=(), converter=strings)
    max_traffic_weight: int = 100
    max_traffic_weight_set: bool = attrs.field(default=attrs.Factory(_weight_set, takes_self=True))

    def to_manifest(self) -> dict[str, Any]:
        """``trafficRouting`` as a manifest writes it (plugin names under ``plugins``)."""
        out: dict[str, Any] = {}
        for key, config in self.routers.items():
            if is_plugin_name(key):
                out.setdefault("plugins", {})[key] = thaw(config)
            else:
                out[key] = thaw(config)
        if self.managed_routes:
            out["managedRoutes"] = [{"name": name} for name in self.managed_routes]
        if self.max_traffic_weight_set:
            out["maxTrafficWeight"] = self.max_traffic_weight
        return out


class Strategy(Immutable):
    """How a Rollout moves from one revision to the next (``spec.strategy``):
    :class:`CanaryStrategy` (``canary``) or :class:`BlueGreenStrategy` (``blueGreen``).

    ``isinstance(x, Strategy)`` holds for both; ``Rollout.canary`` and
    ``Rollout.blue_green`` give the one a Rollout has.
    """

    __slots__ = ()

    def to_manifest(self) -> dict[str, Any]:
        """``spec.strategy`` as a manifest writes it: ``{"canary": {...}}``."""
        raise NotImplementedError


def _steps(value: Iterable[Step]) -> tuple[Step, ...]:
    return value if type(value) is tuple else tuple(value)


def _set(out: dict[str, Any], key: str, value: object, default: object = None) -> None:
    """``out[key] = value`` unless it is the default (None, an empty mapping, ...)."""
    if value != default and not (isinstance(value, Mapping) and not value):
        out[key] = thaw(value)


@attrs.frozen
class PingPong(Immutable):
    """``spec.strategy.canary.pingPong``: two Services that take turns being the stable
    one, so that no Service's selector changes at promotion or abort (ALB readiness
    gates); ``status.canary.stablePingPong`` says which one is stable now."""

    ping_service: str
    pong_service: str

    def to_manifest(self) -> dict[str, Any]:
        return {"pingService": self.ping_service, "pongService": self.pong_service}


@attrs.frozen
class AntiAffinity(Immutable):
    """``antiAffinity`` (canary and blue-green): a new revision's pods avoid the nodes
    that run the stable revision's pods, so that the nodes added for an update can be
    removed with the old pods (Argo's anti-affinity).  ``weight`` (1 to 100): preferred,
    with that weight; None: required."""

    weight: int | None = None

    def to_manifest(self) -> dict[str, Any]:
        if self.weight is None:
            return {"requiredDuringSchedulingIgnoredDuringExecution": {}}
        return {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": self.weight}}


@attrs.frozen
class CanaryStrategy(Strategy):
    """``spec.strategy.canary``: steps, the Services and routers that split traffic,
    background analysis, and the scaling and delay settings (Argo's defaults)."""

    steps: tuple[Step, ...] = attrs.field(default=(), converter=_steps)
    canary_service: str | None = None
    stable_service: str | None = None
    traffic_routing: TrafficRouting | None = None
    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"
    analysis: RolloutAnalysis | None = None
    dynamic_stable_scale: bool = False
    scale_down_delay_seconds: int = 30
    abort_scale_down_delay_seconds: int = 30
    # at most this many old ReplicaSets wait out their scale-down delay (None: all)
    scale_down_delay_revision_limit: int | None = None
    min_pods_per_replica_set: int | None = None
    canary_metadata: Mapping[str, Any] = attrs.field(factory=FrozenDict, converter=freeze_map)
    stable_metadata: Mapping[str, Any] = attrs.field(factory=FrozenDict, converter=freeze_map)
    ping_pong: PingPong | None = None
    anti_affinity: AntiAffinity | None = None
    # the hash of the steps, computed once (see Rollout.steps_hash)
    _steps_hash: str | None = attrs.field(
        default=None, init=False, eq=False, hash=False, repr=False
    )

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.steps:
            out["steps"] = [step.to_manifest() for step in self.steps]
        _set(out, "canaryService", self.canary_service)
        _set(out, "stableService", self.stable_service)
        if self.traffic_routing is not None:
            out["trafficRouting"] = self.traffic_routing.to_manifest()
        _set(out, "maxSurge", self.max_surge, "25%")
        _set(out, "maxUnavailable", self.max_unavailable, "25%")
        if self.analysis is not None:
            out["analysis"] = self.analysis.to_manifest()
        _set(out, "dynamicStableScale", self.dynamic_stable_scale, False)
        _set(out, "scaleDownDelaySeconds", self.scale_down_delay_seconds, 30)
        _set(out, "abortScaleDownDelaySeconds", self.abort_scale_down_delay_seconds, 30)
        _set(out, "scaleDownDelayRevisionLimit", self.scale_down_delay_revision_limit)
        _set(out, "minPodsPerReplicaSet", self.min_pods_per_replica_set)
        _set(out, "canaryMetadata", self.canary_metadata)
        _set(out, "stableMetadata", self.stable_metadata)
        if self.ping_pong is not None:
            out["pingPong"] = self.ping_pong.to_manifest()
        if self.anti_affinity is not None:
            out["antiAffinity"] = self.anti_affinity.to_manifest()
        return {"canary": out}


@attrs.frozen
class BlueGreenStrategy(Strategy):
    """``spec.strategy.blueGreen``: the active and preview Services, promotion (manual,
    automatic, or after ``autoPromotionSeconds``), pre/post-promotion analysis and
    scale-down delays (Argo's defaults)."""

    active_service: str = ""
    preview_service: str | None = None
    auto_promotion_enabled: bool = True
    auto_promotion_seconds: int | None = None
    preview_replica_count: int | None = None
    pre_promotion_analysis: RolloutAnalysis | None = None
    post_promotion_analysis: RolloutAnalysis | None = None
    scale_down_delay_seconds: int = 30
    abort_scale_down_delay_seconds: int = 30
    # at most this many old ReplicaSets wait out their scale-down delay (None: all)
    scale_down_delay_revision_limit: int | None = None
    max_unavailable: int | str = 0
    active_metadata: Mapping[str, Any] = attrs.field(factory=FrozenDict, converter=freeze_map)
    preview_metadata: Mapping[str, Any] = attrs.field(factory=FrozenDict, converter=freeze_map)
    anti_affinity: AntiAffinity | None = None

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"activeService": self.active_service}
        _set(out, "previewService", self.preview_service)
        _set(out, "autoPromotionEnabled", self.auto_promotion_enabled, True)
        _set(out, "autoPromotionSeconds", self.auto_promotion_seconds)
        _set(out, "previewReplicaCount", self.preview_replica_count)
        for key, analysis in (
            ("prePromotionAnalysis", self.pre_promotion_analysis),
            ("postPromotionAnalysis", self.post_promotion_analysis),
        ):
            if analysis is not None:
                out[key] = analysis.to_manifest()
        _set(out, "scaleDownDelaySeconds", self.scale_down_delay_seconds, 30)
        _set(out, "abortScaleDownDelaySeconds", self.abort_scale_down_delay_seconds, 30)
        _set(out, "scaleDownDelayRevisionLimit", self.scale_down_delay_revision_limit)
        _set(out, "maxUnavailable", self.max_unavailable, 0)
        _set(out, "activeMetadata", self.active_metadata)
        _set(out, "previewMetadata", self.preview_metadata)
        if self.anti_affinity is not None:
            out["antiAffinity"] = self.anti_affinity.to_manifest()
        return {"blueGreen": out}


@attrs.frozen
class WorkloadRef(Immutable):
    """``spec.workloadRef``: take the pod template from an existing Deployment and scale
    it down by ``scale_down`` (``never``, ``onsuccess`` or ``progressively``)."""

    api_version: str
    kind: str
    name: str
    scale_down: str = "never"  # never | onsuccess | progressively

    def to_manifest(self) -> dict[str, Any]:
        out = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.scale_down != "never":
            out["scaleDown"] = self.scale_down
        return out


def _string_map(value: Mapping[str, str]) -> FrozenDict:
    return freeze_map(value)


@attrs.frozen
class Rollout(Immutable):
    """A Rollout as the core sees it: spec fields with defaults applied, plus status.

    Read one from a manifest (:meth:`from_manifest`) or build one in code; either way
    it holds its own frozen copy of what it was given (tuples, read-only mappings), and
    :meth:`to_manifest` writes it back.  One built in code is checked by
    :meth:`validate` (``reconcile()`` calls it for you), with the field paths a
    manifest's errors name.
    """

    name: str
    namespace: str = "default"
    api_version: str = "progressive.dev/v1alpha1"
    uid: str = ""
    generation: int = 1
    labels: Mapping[str, str] = attrs.field(factory=FrozenDict, converter=_string_map)
    annotations: Mapping[str, str] = attrs.field(factory=FrozenDict, converter=_string_map)
    replicas: int = 1
    selector: Mapping[str, Any] = attrs.field(factory=FrozenDict, converter=freeze_map)
    template: Mapping[str, Any] = attrs.field(factory=FrozenDict, converter=freeze_map)
    workload_ref: WorkloadRef | None = None
    min_ready_seconds: int = 0
    revision_history_limit: int = 10
    progress_deadline_seconds: int = 600
    progress_deadline_abort: bool = False
    restart_at: str | None = None
    rollback_window: int | None = None
    paused: bool = False
    strategy: Strategy = attrs.field(factory=lambda: CanaryStrategy())
    status: RolloutStatus = attrs.field(factory=RolloutStatus)
    #: the pod-template hash of the ReplicaSet this template was copied from (``undo``):
    #: equal to it once the API server's defaults are normalized, hashed differently
    #: (set by ``_pod_templates.adopt_replica_set``; None: the template's own hash)
    adopted_hash: str | None = None
    # validate() found no error (or the Rollout was read from a manifest without one)
    _valid: bool = attrs.field(default=False, init=False, eq=False, hash=False, repr=False)

    @property
    def canary(self) -> CanaryStrategy | None:
        return self.strategy if isinstance(self.strategy, CanaryStrategy) else None

    @property
    def blue_green(self) -> BlueGreenStrategy | None:
        return self.strategy if isinstance(self.strategy, BlueGreenStrategy) else None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def template_hash(self) -> str:
        """The pod-template hash of this revision: its ReplicaSet's label."""
        return self.adopted_hash or pod_template_hash(self.template)

    def steps_hash(self) -> str:
        """Changes whenever the canary steps change (a new revision for Argo too)."""
        canary = self.canary
        if canary is None:
            return pod_template_hash({"steps": ""})
        if canary._steps_hash is None:
            object.__setattr__(
                canary, "_steps_hash", pod_template_hash({"steps": repr(canary.steps)})
            )
        assert canary._steps_hash is not None
        return canary._steps_hash

    @classmethod
    def from_manifest(cls, obj: object) -> Rollout:
        """Read a Rollout manifest (``argoproj.io`` or ``progressive.dev``).

        Raises:
            ManifestError: listing every error found, each with its field path.
                Warnings alone do not raise; see :func:`read_rollout`.
        """
        rollout, errors = read_rollout(obj)
        if rollout is None or any(e.severity == "error" for e in errors):
            raise ManifestError([e for e in errors if e.severity == "error"])
        return rollout

    def to_manifest(self) -> dict[str, Any]:
        """The Rollout as a manifest (plain data, yours to change), in its own API group:
        :meth:`from_manifest` reads it back equal.

        Fields at their defaults are left out, and so is ``status`` when it is empty.
        What the model does not keep is not written: the Argo fields progressive
        accepts and ignores (``antiAffinity``, ``analysisRunMetadata``, ...) and
        ``adopted_hash`` (the shell's).  With a ``workloadRef`` the template is the
        workload's (the shell resolves it) and is not written.
        """
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        _set(metadata, "uid", self.uid, "")
        _set(metadata, "generation", self.generation, 1)
        _set(metadata, "labels", self.labels)
        _set(metadata, "annotations", self.annotations)
        spec: dict[str, Any] = {"replicas": self.replicas}
        _set(spec, "selector", self.selector)
        if self.workload_ref is None:
            _set(spec, "template", self.template)
        else:
            spec["workloadRef"] = self.workload_ref.to_manifest()
        _set(spec, "minReadySeconds", self.min_ready_seconds, 0)
        _set(spec, "revisionHistoryLimit", self.revision_history_limit, 10)
        _set(spec, "progressDeadlineSeconds", self.progress_deadline_seconds, 600)
        _set(spec, "progressDeadlineAbort", self.progress_deadline_abort, False)
        _set(spec, "restartAt", self.restart_at)
        if self.rollback_window is not None:
            spec["rollbackWindow"] = {"revisions": self.rollback_window}
        _set(spec, "paused", self.paused, False)
        spec["strategy"] = (
            self.strategy.to_manifest() if isinstance(self.strategy, Strategy) else self.strategy
        )
        out: dict[str, Any] = {
            "apiVersion": self.api_version,
            "kind": "Rollout",
            "metadata": metadata,
            "spec": spec,
        }
        if self.status != RolloutStatus():
            out["status"] = self.status.to_manifest()
        return out

    def validate(self) -> list[FieldProblem]:
        """Check this Rollout as :meth:`from_manifest` checks a manifest: every rule,
        with the same field paths (``spec.strategy.canary.steps[2].setWeight: must be
        between 0 and 100, got 150``).

        Returns:
            the warnings (an unknown router key ignored, a setting that does nothing).

        Raises:
            ManifestError: listing every error found.
        """
        problems = problems_of(self)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise ManifestError(errors)
        return problems

    def with_status(self, status: RolloutStatus) -> Rollout:
        """This Rollout with ``status`` (what an embedder does with ``plan.status``);
        a valid Rollout stays known to be valid."""
        return derived(self, status=status)


def problems_of(rollout: Rollout) -> list[FieldProblem]:
    """Every error and warning :func:`read_rollout` finds in ``rollout.to_manifest()``;
    a Rollout found valid is marked so (``reconcile()`` asks :func:`invalid`)."""
    _, problems = read_rollout(rollout.to_manifest())
    if not any(p.severity == "error" for p in problems):
        object.__setattr__(rollout, "_valid", True)
    return problems


def invalid(rollout: Rollout) -> list[FieldProblem]:
    """The errors that make ``rollout`` unfit to reconcile; computed once per object."""
    if rollout._valid:
        return []
    return [p for p in problems_of(rollout) if p.severity == "error"]


def derived(rollout: Rollout, **changes: Any) -> Rollout:
    """``attrs.evolve(rollout, **changes)`` for changes that cannot make a valid Rollout
    invalid (its status, the adopted hash, the template a ``workloadRef`` resolves to):
    a Rollout known to be valid stays known to be."""
    out = attrs.evolve(rollout, **changes)
    if rollout._valid:
        object.__setattr__(out, "_valid", True)
    return out


_SPEC_FIELDS = frozenset(
    {
        "replicas",
        "selector",
        "template",
        "workloadRef",
        "minReadySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
        "progressDeadlineAbort",
        "restartAt",
        "rollbackWindow",
        "paused",
        "strategy",
        "analysis",
    }
)
_CANARY_FIELDS = frozenset(
    {
        "steps",
        "canaryService",
        "stableService",
        "trafficRouting",
        "maxSurge",
        "maxUnavailable",
        "analysis",
        "dynamicStableScale",
        "scaleDownDelaySeconds",
        "abortScaleDownDelaySeconds",
        "minPodsPerReplicaSet",
        "canaryMetadata",
        "stableMetadata",
        "scaleDownDelayRevisionLimit",
        "antiAffinity",
        "replicaProgressThreshold",
        "pingPong",
    }
)
_BLUE_GREEN_FIELDS = frozenset(
    {
        "activeService",
        "previewService",
        "autoPromotionEnabled",
        "autoPromotionSeconds",
        "previewReplicaCount",
        "prePromotionAnalysis",
        "postPromotionAnalysis",
        "scaleDownDelaySeconds",
        "abortScaleDownDelaySeconds",
        "activeMetadata",
        "previewMetadata",
        "maxUnavailable",
        "scaleDownDelayRevisionLimit",
        "antiAffinity",
    }
)


def read_rollout(obj: object) -> tuple[Rollout | None, list[FieldProblem]]:
    """Read a Rollout and return it with every error and warning found.

    The Rollout is returned even when there are errors (with defaults in place of the
    bad fields, and without the steps that could not be read), so that a linter can
    go on checking it; only an error-free one is fit to reconcile.  A value that cannot
    be read at all (one that contains itself, nests too deeply: see
    :func:`~progressive.core._bounds.check_bounds`) gives None and that one error.
    """
    if (unfit := check_bounds(obj, string_keys=True)) is not None:
        return None, [unfit]
    errors: list[FieldProblem] = []
    top = Fields(obj, "", errors)
    api_version = top.str("apiVersion", required=True)
    if api_version is not None and api_version not in API_GROUPS:
        top.error(f"must be one of {', '.join(API_GROUPS)}, got {api_version!r}", "apiVersion")
    kind = top.str("kind", required=True)
    if kind is not None and kind != "Rollout":
        top.error(f"must be Rollout, got {kind!r}", "kind")
    meta = top.obj("metadata")
    name = meta.str("name", required=True) or ""
    spec = top.obj("spec")
    spec.unknown(_SPEC_FIELDS)

    replicas = spec.int("replicas", 1, low=0)
    workload = spec.opt_obj("workloadRef")
    workload_ref = None
    if workload is not None:
        workload_ref = WorkloadRef(
            workload.str("apiVersion", "apps/v1") or "apps/v1",
            workload.str("kind", required=True) or "",
            workload.str("name", required=True) or "",
            workload.str("scaleDown", "never") or "never",
        )
        if workload_ref.scale_down not in ("never", "onsuccess", "progressively"):
            workload.error(
                f"must be never, onsuccess or progressively, got {workload_ref.scale_down!r}",
                "scaleDown",
            )
        if spec.has("template"):
            spec.error("must not be set together with workloadRef", "template")
    template = spec.mapping("template")
    if workload_ref is None and not template:
        spec.error("is required (or use workloadRef)", "template")
    selector = spec.mapping("selector")
    if workload_ref is None and not selector:
        spec.error("is required", "selector")
    elif selector and template:
        _check_selector(spec, selector, template)

    strategy = _read_strategy(spec.obj("strategy"))
    rollback = spec.opt_obj("rollbackWindow")
    rollout = Rollout(
        name=name,
        namespace=meta.str("namespace", "default") or "default",
        api_version=api_version or "progressive.dev/v1alpha1",
        uid=meta.str("uid", "") or "",
        generation=meta.int("generation", 1, low=0) or 1,
        labels=meta.string_map("labels"),
        annotations=meta.string_map("annotations"),
        replicas=1 if replicas is None else replicas,
        selector=selector,
        template=template,
        workload_ref=workload_ref,
        min_ready_seconds=spec.int("minReadySeconds", 0) or 0,
        revision_history_limit=spec.int("revisionHistoryLimit", 10) or 0,
        progress_deadline_seconds=spec.int("progressDeadlineSeconds", 600, low=1) or 600,
        progress_deadline_abort=spec.bool("progressDeadlineAbort", False),
        restart_at=spec.str("restartAt"),
        rollback_window=rollback.int("revisions", None) if rollback else None,
        paused=spec.bool("paused", False),
        strategy=strategy,
        status=RolloutStatus.from_manifest(top.raw("status")),
    )
    if rollout.min_ready_seconds and rollout.min_ready_seconds >= rollout.progress_deadline_seconds:
        spec.error("must be greater than minReadySeconds", "progressDeadlineSeconds")
    chosen = rollout.canary or rollout.blue_green
    limit = chosen.scale_down_delay_revision_limit if chosen is not None else None
    if limit is not None and limit > rollout.revision_history_limit:
        kind = "canary" if rollout.canary is not None else "blueGreen"
        spec.error(
            f"must be at most revisionHistoryLimit ({rollout.revision_history_limit})",
            f"strategy.{kind}.scaleDownDelayRevisionLimit",
        )
    _check_fixed_scale(rollout, errors)
    if not any(e.severity == "error" for e in errors):
        object.__setattr__(rollout, "_valid", True)
    return rollout, errors


def _check_fixed_scale(rollout: Rollout, errors: list[FieldProblem]) -> None:
    """A warning for each ``setWeight`` that sends the canary more than its pods' share
    because a ``setCanaryScale`` fixed its size (Argo's docs warn about it too)."""
    canary = rollout.canary
    if canary is None or canary.traffic_routing is None or rollout.replicas <= 0:
        return
    pods: int | None = None  # the size a setCanaryScale fixed, None: sized by weight
    for index, step in (
        (index, action) for index, whole in enumerate(canary.steps) for action in actions_of(whole)
    ):
        if isinstance(step, SetCanaryScale):
            pods = None
            if step.replicas is not None:
                pods = step.replicas
            elif step.weight is not None:
                pods = math.ceil(step.weight * rollout.replicas / 100)
        elif isinstance(step, SetWeight) and pods is not None:
            share = min(100, pods * 100 // rollout.replicas)
            if step.weight > share:
                errors.append(
                    FieldProblem(
                        f"spec.strategy.canary.steps[{index}].setWeight",
                        f"sends {step.weight}% of the traffic to the canary's {pods} of "
                        f"{rollout.replicas} pods ({share}%), the size a setCanaryScale "
                        "fixed; setCanaryScale: {matchTrafficWeight: true} sizes it by its "
                        "weight",
                        "warning",
                    )
                )


def _check_selector(spec: Fields, selector: dict[str, Any], template: dict[str, Any]) -> None:
    match = selector.get("matchLabels")
    labels = (
        template.get("metadata", {}).get("labels")
        if isinstance(template.get("metadata"), Mapping)
        else None
    )
    if isinstance(match, Mapping) and isinstance(labels, Mapping):
        for key, value in match.items():
            if labels.get(key) != value:
                spec.error(
                    f"selector label {key}={value} does not match the template's labels",
                    "template.metadata.labels",
                )


def _read_strategy(f: Fields) -> Strategy:
    has_canary, has_blue_green = f.has("canary"), f.has("blueGreen")
    if has_canary and has_blue_green:
        f.error("must set exactly one of canary or blueGreen, got both")
    elif not has_canary and not has_blue_green:
        f.error("must set exactly one of canary or blueGreen, got neither")
    if has_blue_green and not has_canary:
        return _read_blue_green(f.obj("blueGreen"))
    return _read_canary(f.obj("canary"))


_ROUTING_FIELDS = frozenset({"plugins", "managedRoutes", "maxTrafficWeight"})


def _read_traffic_routing(f: Fields) -> TrafficRouting:
    """Every other key is a router's, every name under ``plugins`` a plugin router's:
    which of them exist is checked against the registry's routers
    (:func:`~progressive.core._router_keys.check_routing`), not here."""
    routers: dict[str, dict[str, Any]] = {}
    for key in f.keys():
        if key not in _ROUTING_FIELDS:
            routers[key] = f.mapping(key)
    plugins = f.opt_obj("plugins")
    for name in plugins.keys() if plugins is not None else ():
        assert plugins is not None
        if not is_plugin_name(name):
            plugins.error("a router plugin's name is <namespace>/<name>", name)
        else:
            routers[name] = plugins.mapping(name)
    routes = tuple(r.str("name", required=True) or "" for _, r in f.objs("managedRoutes"))
    if len(set(routes)) != len(routes):
        f.error("route names must be unique", "managedRoutes")
    max_weight = f.int("maxTrafficWeight", 100, low=1, high=1_000_000) or 100
    if not routers and not (plugins is not None and plugins.keys()):
        f.error("must configure at least one router (nginx, istio, smi, gatewayAPI, ...)")
    return TrafficRouting(routers, routes, max_weight, f.has("maxTrafficWeight"))


def _needs_services(routing: TrafficRouting, ping_pong: bool) -> bool:
    """Whether the routers need ``canaryService`` and ``stableService`` (Argo's
    ``requireCanaryStableServices``): all do but Istio with a ``destinationRule`` (its
    subsets select the pods by their pod-template hash), and every router with
    ``pingPong`` (the ping and pong Services take their place; a router that cannot
    take them is refused by ``check_routing``)."""
    if ping_pong:
        return False
    for key, config in routing.routers.items():
        if key == "istio" and isinstance(config.get("destinationRule"), Mapping):
            continue
        return True
    return False


_PREFERRED: Final = "preferredDuringSchedulingIgnoredDuringExecution"
_REQUIRED: Final = "requiredDuringSchedulingIgnoredDuringExecution"


#: Fields progressive reads and does not apply (yet), with what that means.
NOT_APPLIED: Final = {
    "canaryMetadata": "ephemeral pod metadata; the pods keep their template's labels",
    "stableMetadata": "ephemeral pod metadata; the pods keep their template's labels",
    "activeMetadata": "ephemeral pod metadata; the pods keep their template's labels",
    "previewMetadata": "ephemeral pod metadata; the pods keep their template's labels",
    "replicaProgressThreshold": "a step waits for all the pods it asks for",
}


def _not_applied(f: Fields, *keys: str) -> None:
    """A warning for each of ``keys`` the strategy sets that progressive ignores."""
    for key in keys:
        if f.raw(key) is not None:  # read as plain data: nothing under it is checked
            f.error(f"is not applied by progressive ({NOT_APPLIED[key]})", key, warning=True)


def _read_anti_affinity(f: Fields) -> AntiAffinity | None:
    """``antiAffinity``, checked as Argo checks it: exactly one of the two, a weight
    from 1 to 100."""
    a = f.opt_obj("antiAffinity")
    if a is None:
        return None
    a.unknown(frozenset({_PREFERRED, _REQUIRED}), error=True)
    required, preferred = a.opt_obj(_REQUIRED), a.opt_obj(_PREFERRED)
    if required is not None:
        required.unknown(frozenset(), error=True)
    weight = None
    if preferred is not None:
        preferred.unknown(frozenset({"weight"}), error=True)
        weight = preferred.int("weight", required=True, low=1, high=100)
    if (required is None) == (preferred is None):
        a.error(f"must set exactly one of {_PREFERRED} or {_REQUIRED}")
        return None
    return AntiAffinity(weight if preferred is not None else None)


def _read_ping_pong(f: Fields, routing: TrafficRouting | None) -> PingPong | None:
    """``pingPong``, checked as Argo checks it."""
    p = f.opt_obj("pingPong")
    if p is None:
        return None
    p.unknown(frozenset({"pingService", "pongService"}), error=True)
    ping = p.str("pingService", required=True) or ""
    pong = p.str("pongService", required=True) or ""
    if ping and ping == pong:
        p.error("must differ from pingService", "pongService")
    if routing is None:
        f.error("has no effect without trafficRouting (alb or istio)", "pingPong", warning=True)
    else:
        # which routers can take the ping-pong Services: check_routing
        alb = routing.routers.get("alb")
        if alb is not None and not alb.get("rootService"):
            f.error("is required with pingPong", "trafficRouting.alb.rootService")
    return PingPong(ping, pong)


def ping_pong_services(rollout: Rollout) -> tuple[str, str] | None:
    """``(stable, canary)`` of the ping-pong Services as the status has them: ping is
    stable when ``status.canary.stablePingPong`` says ``ping``, pong otherwise (Argo's
    ``IsStablePing``); None without ``pingPong``."""
    canary = rollout.canary
    if canary is None or canary.ping_pong is None:
        return None
    pp = canary.ping_pong
    if rollout.status.stable_ping_pong == "ping":
        return pp.ping_service, pp.pong_service
    return pp.pong_service, pp.ping_service


def strategy_services(rollout: Rollout) -> dict[str, str]:
    """The Services a Rollout's strategy names, by the field that names each: a canary's
    ``canaryService``, ``stableService`` and ping-pong pair, a blue-green's
    ``activeService`` and ``previewService``; fields left empty are left out."""
    named: dict[str, str | None] = {}
    if (canary := rollout.canary) is not None:
        path = "spec.strategy.canary"
        named[f"{path}.canaryService"] = canary.canary_service
        named[f"{path}.stableService"] = canary.stable_service
        if (pp := canary.ping_pong) is not None:
            named[f"{path}.pingPong.pingService"] = pp.ping_service
            named[f"{path}.pingPong.pongService"] = pp.pong_service
    elif (blue_green := rollout.blue_green) is not None:
        path = "spec.strategy.blueGreen"
        named[f"{path}.activeService"] = blue_green.active_service
        named[f"{path}.previewService"] = blue_green.preview_service
    return {field: name for field, name in named.items() if name}


def traffic_services(rollout: Rollout) -> tuple[str | None, str | None]:
    """``(stable, canary)``: the Services a router sends the stable and canary traffic
    to.  The ping-pong ones when the Rollout names no canaryService nor stableService
    (Argo's ``GetStableAndCanaryServices`` for every router but ALB), else those two."""
    canary = rollout.canary
    if canary is None:
        return None, None
    if not (canary.stable_service or canary.canary_service):
        found = ping_pong_services(rollout)
        if found is not None:
            return found
    return canary.stable_service, canary.canary_service


def _read_canary(f: Fields) -> CanaryStrategy:
    f.unknown(_CANARY_FIELDS)
    steps: list[Step] = []
    step_paths: list[str] = []
    for index, step_fields in f.objs("steps"):
        step = read_step(step_fields)
        if step is not None:
            steps.append(step)
            step_paths.append(f.at("steps") + f"[{index}]")
    routing_fields = f.opt_obj("trafficRouting")
    routing = _read_traffic_routing(routing_fields) if routing_fields else None
    canary_service = f.str("canaryService")
    stable_service = f.str("stableService")
    ping_pong = _read_ping_pong(f, routing)
    if routing is not None and _needs_services(routing, ping_pong is not None):
        if not canary_service:
            f.error("is required with trafficRouting", "canaryService")
        if not stable_service:
            f.error("is required with trafficRouting", "stableService")
    if canary_service and canary_service == stable_service:
        f.error("must differ from canaryService", "stableService")
    max_surge = f.int_or_percent("maxSurge", "25%")
    max_unavailable = f.int_or_percent("maxUnavailable", "25%")
    if max_surge in (0, "0%") and max_unavailable in (0, "0%"):
        f.error("maxSurge and maxUnavailable must not both be 0", "maxUnavailable")
    background = f.opt_obj("analysis")
    analysis = read_rollout_analysis(background, background=True) if background else None
    if analysis and analysis.starting_step is not None and analysis.starting_step > len(steps):
        f.error(f"must be at most the number of steps ({len(steps)})", "analysis.startingStep")
    strategy = CanaryStrategy(
        steps=tuple(steps),
        canary_service=canary_service,
        stable_service=stable_service,
        traffic_routing=routing,
        max_surge=max_surge,
        max_unavailable=max_unavailable,
        analysis=analysis,
        dynamic_stable_scale=f.bool("dynamicStableScale", False),
        scale_down_delay_seconds=f.int("scaleDownDelaySeconds", 30) or 0,
        abort_scale_down_delay_seconds=f.int("abortScaleDownDelaySeconds", 30) or 0,
        scale_down_delay_revision_limit=f.int("scaleDownDelayRevisionLimit", None, low=0),
        min_pods_per_replica_set=f.int("minPodsPerReplicaSet", None, low=1),
        canary_metadata=f.mapping("canaryMetadata"),
        stable_metadata=f.mapping("stableMetadata"),
        ping_pong=ping_pong,
        anti_affinity=_read_anti_affinity(f),
    )
    _not_applied(f, "canaryMetadata", "stableMetadata", "replicaProgressThreshold")
    if f.has("scaleDownDelaySeconds") and routing is None:
        f.error("only applies with trafficRouting", "scaleDownDelaySeconds", warning=True)
    if strategy.dynamic_stable_scale and routing is None:
        f.error("requires trafficRouting", "dynamicStableScale")
    if f.has("minPodsPerReplicaSet") and routing is None:
        f.error("requires trafficRouting", "minPodsPerReplicaSet")
    _check_steps(f, strategy, step_paths)
    return strategy


def _check_steps(f: Fields, strategy: CanaryStrategy, paths: list[str]) -> None:
    routing = strategy.traffic_routing
    managed = set(routing.managed_routes) if routing else set()
    for step, path in (
        (action, path)
        for whole, path in zip(strategy.steps, paths, strict=True)
        for action in actions_of(whole)
    ):
        kind = {
            SetCanaryScale: "setCanaryScale",
            SetHeaderRoute: "setHeaderRoute",
            SetMirrorRoute: "setMirrorRoute",
        }.get(type(step))
        if kind is None:
            continue
        if routing is None:
            f.errors.append(FieldProblem(f"{path}.{kind}", "requires trafficRouting"))
            continue
        if isinstance(step, SetHeaderRoute | SetMirrorRoute):
            if step.name not in managed:
                f.errors.append(
                    FieldProblem(
                        f"{path}.{kind}.name",
                        f"route {step.name!r} must be listed in trafficRouting.managedRoutes",
                    )
                )


def _read_blue_green(f: Fields) -> BlueGreenStrategy:
    f.unknown(_BLUE_GREEN_FIELDS)
    pre = f.opt_obj("prePromotionAnalysis")
    post = f.opt_obj("postPromotionAnalysis")
    strategy = BlueGreenStrategy(
        active_service=f.str("activeService", "", required=True) or "",
        preview_service=f.str("previewService"),
        auto_promotion_enabled=f.bool("autoPromotionEnabled", True),
        auto_promotion_seconds=f.int("autoPromotionSeconds", None),
        preview_replica_count=f.int("previewReplicaCount", None),
        pre_promotion_analysis=read_rollout_analysis(pre) if pre else None,
        post_promotion_analysis=read_rollout_analysis(post) if post else None,
        scale_down_delay_seconds=f.int("scaleDownDelaySeconds", 30) or 0,
        abort_scale_down_delay_seconds=f.int("abortScaleDownDelaySeconds", 30) or 0,
        scale_down_delay_revision_limit=f.int("scaleDownDelayRevisionLimit", None, low=0),
        max_unavailable=f.int_or_percent("maxUnavailable", 0),
        active_metadata=f.mapping("activeMetadata"),
        preview_metadata=f.mapping("previewMetadata"),
        anti_affinity=_read_anti_affinity(f),
    )
    _not_applied(f, "activeMetadata", "previewMetadata")
    if strategy.preview_service and strategy.preview_service == strategy.active_service:
        f.error("must differ from activeService", "previewService")
    return strategy


def analyses_of(rollout: Rollout) -> list[tuple[str, RolloutAnalysis]]:
    """Every analysis a Rollout refers to, with the field path that holds it."""
    out: list[tuple[str, RolloutAnalysis]] = []
    if (canary := rollout.canary) is not None:
        for index, step in enumerate(canary.steps):
            for action in actions_of(step):
                if isinstance(action, AnalysisStep):
                    path = f"spec.strategy.canary.steps[{index}].analysis"
                    out.append((path, action.analysis))
        if canary.analysis is not None:
            out.append(("spec.strategy.canary.analysis", canary.analysis))
    elif (bg := rollout.blue_green) is not None:
        if bg.pre_promotion_analysis is not None:
            out.append(("spec.strategy.blueGreen.prePromotionAnalysis", bg.pre_promotion_analysis))
        if bg.post_promotion_analysis is not None:
            out.append(
                ("spec.strategy.blueGreen.postPromotionAnalysis", bg.post_promotion_analysis)
            )
    return out
