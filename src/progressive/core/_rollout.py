"""The Rollout model: ``Rollout.from_manifest(obj)`` reads an Argo Rollouts or
progressive.dev manifest, applies Argo's documented defaults, and reports every problem
with its field path at once."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import FieldProblem, ManifestError
from ._bounds import check_bounds
from ._fields import Fields
from ._names import API_GROUPS
from ._router_keys import (
    GATEWAY_PLUGIN,
    HEADER_ROUTERS,
    MIRROR_ROUTERS,
    PING_PONG_ROUTERS,
    ROUTER_KEYS,
)
from ._status import RolloutStatus
from ._steps import (
    AnalysisStep,
    RolloutAnalysis,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    Step,
    read_rollout_analysis,
    read_step,
)

__all__ = [
    "BlueGreenStrategy",
    "CanaryStrategy",
    "PingPong",
    "Rollout",
    "TrafficRouting",
    "WorkloadRef",
    "ping_pong_services",
    "pod_template_hash",
    "traffic_services",
]

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def pod_template_hash(template: Mapping[str, Any]) -> str:
    """A short, stable hash of a pod template, in Kubernetes' safe alphabet.

    Equal templates give equal hashes whatever their key order, so going back to an
    earlier template finds its earlier ReplicaSet.
    """
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)
    number = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")
    chars = []
    for _ in range(10):
        number, digit = divmod(number, len(_SAFE_ALPHABET))
        chars.append(_SAFE_ALPHABET[digit])
    return "".join(chars)


@attrs.frozen
class TrafficRouting:
    """Which routers carry the canary's traffic; their configs stay plain data."""

    routers: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    managed_routes: tuple[str, ...] = ()
    max_traffic_weight: int = 100
    max_traffic_weight_set: bool = False


@attrs.frozen
class PingPong:
    """``spec.strategy.canary.pingPong``: two Services that take turns being the stable
    one, so that no Service's selector changes at promotion or abort (ALB readiness
    gates); ``status.canary.stablePingPong`` says which one is stable now."""

    ping_service: str
    pong_service: str


@attrs.frozen
class CanaryStrategy:
    """``spec.strategy.canary``: steps, the Services and routers that split traffic,
    background analysis, and the scaling and delay settings (Argo's defaults)."""

    steps: tuple[Step, ...] = ()
    canary_service: str | None = None
    stable_service: str | None = None
    traffic_routing: TrafficRouting | None = None
    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"
    analysis: RolloutAnalysis | None = None
    dynamic_stable_scale: bool = False
    scale_down_delay_seconds: int = 30
    abort_scale_down_delay_seconds: int = 30
    min_pods_per_replica_set: int | None = None
    canary_metadata: dict[str, Any] = attrs.field(factory=dict)
    stable_metadata: dict[str, Any] = attrs.field(factory=dict)
    ping_pong: PingPong | None = None


@attrs.frozen
class BlueGreenStrategy:
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
    max_unavailable: int | str = 0
    active_metadata: dict[str, Any] = attrs.field(factory=dict)
    preview_metadata: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class WorkloadRef:
    """``spec.workloadRef``: take the pod template from an existing Deployment and scale
    it down by ``scale_down`` (``never``, ``onsuccess`` or ``progressively``)."""

    api_version: str
    kind: str
    name: str
    scale_down: str = "never"  # never | onsuccess | progressively


@attrs.frozen
class Rollout:
    """A Rollout as the core sees it: spec fields with defaults applied, plus status."""

    name: str
    namespace: str = "default"
    api_version: str = "progressive.dev/v1alpha1"
    uid: str = ""
    generation: int = 1
    labels: dict[str, str] = attrs.field(factory=dict)
    annotations: dict[str, str] = attrs.field(factory=dict)
    replicas: int = 1
    selector: dict[str, Any] = attrs.field(factory=dict)
    template: dict[str, Any] = attrs.field(factory=dict)
    workload_ref: WorkloadRef | None = None
    min_ready_seconds: int = 0
    revision_history_limit: int = 10
    progress_deadline_seconds: int = 600
    progress_deadline_abort: bool = False
    restart_at: str | None = None
    rollback_window: int | None = None
    paused: bool = False
    strategy: CanaryStrategy | BlueGreenStrategy = attrs.field(factory=CanaryStrategy)
    status: RolloutStatus = attrs.field(factory=RolloutStatus)
    #: the pod-template hash of the ReplicaSet this template was copied from (``undo``):
    #: equal to it once the API server's defaults are normalized, hashed differently
    #: (set by ``_pod_templates.adopt_replica_set``; None: the template's own hash)
    adopted_hash: str | None = None

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
        return pod_template_hash({"steps": repr(canary.steps) if canary else ""})

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
    _check_fixed_scale(rollout, errors)
    return rollout, errors


def _check_fixed_scale(rollout: Rollout, errors: list[FieldProblem]) -> None:
    """A warning for each ``setWeight`` that sends the canary more than its pods' share
    because a ``setCanaryScale`` fixed its size (Argo's docs warn about it too)."""
    canary = rollout.canary
    if canary is None or canary.traffic_routing is None or rollout.replicas <= 0:
        return
    pods: int | None = None  # the size a setCanaryScale fixed, None: sized by weight
    for index, step in enumerate(canary.steps):
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


def _read_strategy(f: Fields) -> CanaryStrategy | BlueGreenStrategy:
    has_canary, has_blue_green = f.has("canary"), f.has("blueGreen")
    if has_canary and has_blue_green:
        f.error("must set exactly one of canary or blueGreen, got both")
    elif not has_canary and not has_blue_green:
        f.error("must set exactly one of canary or blueGreen, got neither")
    if has_blue_green and not has_canary:
        return _read_blue_green(f.obj("blueGreen"))
    return _read_canary(f.obj("canary"))


def _read_traffic_routing(f: Fields) -> TrafficRouting:
    routers: dict[str, dict[str, Any]] = {}
    for key in ROUTER_KEYS:
        if f.has(key):
            routers[key] = f.mapping(key)
    plugins = f.mapping("plugins")
    for plugin, config in plugins.items():
        if plugin == GATEWAY_PLUGIN:
            routers["gatewayAPI"] = dict(config) if isinstance(config, Mapping) else {}
        else:
            f.error(
                f"the traffic router plugin {plugin!r} is not implemented "
                f"(the plugins implemented: {GATEWAY_PLUGIN})",
                f"plugins.{plugin}",
            )
    for key in f.keys():
        if key not in (*ROUTER_KEYS, "plugins", "managedRoutes", "maxTrafficWeight"):
            f.error("unknown traffic router", key)
    routes = tuple(r.str("name", required=True) or "" for _, r in f.objs("managedRoutes"))
    if len(set(routes)) != len(routes):
        f.error("route names must be unique", "managedRoutes")
    max_weight = f.int("maxTrafficWeight", 100, low=1, high=1_000_000) or 100
    if not routers and not plugins:  # (an unknown plugin is reported above)
        f.error(f"must configure at least one router ({', '.join(ROUTER_KEYS[:4])}, ...)")
    return TrafficRouting(routers, routes, max_weight, f.has("maxTrafficWeight"))


def _needs_services(routing: TrafficRouting, ping_pong: bool) -> bool:
    """Whether the routers need ``canaryService`` and ``stableService`` (Argo's
    ``requireCanaryStableServices``): all do but Istio with a ``destinationRule`` (its
    subsets select the pods by their pod-template hash), and Istio and ALB with
    ``pingPong`` (the ping and pong Services take their place)."""
    for key, config in routing.routers.items():
        if ping_pong and key in PING_PONG_ROUTERS:
            continue
        if key == "istio" and isinstance(config.get("destinationRule"), Mapping):
            continue
        return True
    return False


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
        others = sorted(set(routing.routers) - PING_PONG_ROUTERS)
        if others:
            f.error(
                f"ping-pong works with the alb and istio routers only, not {', '.join(others)}",
                "trafficRouting",
            )
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
        min_pods_per_replica_set=f.int("minPodsPerReplicaSet", None, low=1),
        canary_metadata=f.mapping("canaryMetadata"),
        stable_metadata=f.mapping("stableMetadata"),
        ping_pong=ping_pong,
    )
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
    routers = set(routing.routers) if routing else set()
    managed = set(routing.managed_routes) if routing else set()
    for step, path in zip(strategy.steps, paths, strict=True):
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
            able = HEADER_ROUTERS if isinstance(step, SetHeaderRoute) else MIRROR_ROUTERS
            unable = sorted(routers - able)
            if unable:
                f.errors.append(
                    FieldProblem(
                        f"{path}.{kind}",
                        f"not supported by the {', '.join(unable)} router"
                        f"{'s' if len(unable) > 1 else ''}"
                        f" (supported by: {', '.join(sorted(able))})",
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
        max_unavailable=f.int_or_percent("maxUnavailable", 0),
        active_metadata=f.mapping("activeMetadata"),
        preview_metadata=f.mapping("previewMetadata"),
    )
    if strategy.preview_service and strategy.preview_service == strategy.active_service:
        f.error("must differ from activeService", "previewService")
    return strategy


def analyses_of(rollout: Rollout) -> list[tuple[str, RolloutAnalysis]]:
    """Every analysis a Rollout refers to, with the field path that holds it."""
    out: list[tuple[str, RolloutAnalysis]] = []
    if (canary := rollout.canary) is not None:
        for index, step in enumerate(canary.steps):
            if isinstance(step, AnalysisStep):
                out.append((f"spec.strategy.canary.steps[{index}].analysis", step.analysis))
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
