"""What would this Rollout do?  A whole update, simulated in virtual time.

:func:`simulate` takes the documents of one Rollout and what it refers to, and:

1. deploys the Rollout at a *previous* revision (the same pod template with every
   container image tag changed: ``web:1.2`` becomes ``web:1.2-previous``, an untagged
   ``web`` becomes ``web:previous``) by really running the controller on a
   :class:`~progressive.memory.MemoryCluster` until it is Healthy (a first deploy skips
   the steps);
2. applies the files' pod template as the new revision, and runs the controller with a
   :class:`~progressive._shell.clocks.VirtualClock` until nothing more is scheduled
   (delayed scale-downs included), within ``max_seconds`` of virtual time and
   ``max_passes`` controller passes.

Metrics come from a :class:`~progressive.metrics.ScriptedProvider`; a metric with no
script is measured by the provider its template names
(:func:`~progressive.metrics.default_registry`: a real Prometheus or web endpoint, a
Job simulated on the in-memory cluster), so a strategy can be replayed against live
metrics; a Prometheus metric without an address and none in the environment measures
as an error (so such an analysis without ``metrics`` ends in Error).  An
indefinite pause ends the simulation in phase Paused, unless ``auto_promote`` promotes
it with :func:`progressive.core.promote`, as ``kubectl argo rollouts promote`` would; so
is an ``experiment`` step without a duration (its experiment runs until promoted past).

The result is a timeline: one :class:`TimelineRecord` whenever the phase, the step, the
weight or a replica count changes, *one record per event*, and a last record at the end.
Several events of one controller pass each show the state *as of that event*: the pass
moves the rollout from what it observed to what it leaves, and an event shows the
fields it or an event before it announces (``SetWeight`` the weight, ``Paused`` the
phase and step...: ``ANNOUNCES``) at their new value, the others as they were; what
changed unannounced shows on a record of its own after the events.  So "analysis
passed" is not shown with the weight the ``setWeight`` step after it sets.

Each record has the weight the current step sets beside the actual one and, when they
differ, why (``weight_note``): a canary whose available pods cannot carry the step's
weight yet is held below it; without a traffic router the weight is the new pods'
share of the ready ones, which pod counts round.

The weight is read back from the routers' objects (``progressive.routers``), which the
simulation creates when the files lack them, as it does Services: a stable Ingress,
a VirtualService, an HTTPRoute routing to the stable Service (``stand_ins``).  With
``show_objects``, each record also carries the router objects and Services that changed
since the record before, as the cluster stores them.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import anyio
import attrs

from ._clusters import Ref
from ._shell.clocks import VirtualClock
from ._shell.controller import Controller, PassResult
from ._shell.traffic import RouterTraffic, traffic_view
from .core import actions
from .core._canary import weight_at
from .core._commands import promote
from .core._names import HASH_LABEL
from .core._plan import Plan
from .core._replicas import weight_note
from .core._rollout import Rollout, strategy_services, traffic_services
from .core._status import Phase
from .core._steps import ExperimentStep, actions_of
from .core._workloads import with_workload
from .errors import SimulationError
from .memory import MemoryCluster, SimulatedCrash
from .metrics import ScriptedProvider, default_registry
from .routers import default_registry as default_routers

__all__ = [
    "EXIT_CODES",
    "SimulationResult",
    "TimelineRecord",
    "previous_template",
    "run_simulation",
    "simulate",
]

MAX_SECONDS: Final = 7 * 24 * 3600.0
MAX_PASSES: Final = 20_000
MAX_PROMOTIONS: Final = 100
#: Exit codes of ``progressive simulate`` by final phase (1 is for invalid files; 4 for
#: an update still Progressing when a bound was reached).
EXIT_CODES: Final = {Phase.HEALTHY: 0, Phase.DEGRADED: 2, Phase.PAUSED: 3}
EXIT_UNFINISHED: Final = 4
AUTO_PROMOTED: Final = "AutoPromoted"

_PHASE: Final = frozenset({"phase", "step"})
_WEIGHT: Final = frozenset({"weight", "set_weight", "weight_note"})
_REPLICAS: Final = frozenset({"old_replicas", "new_replicas"})
#: The record fields whose change each event reason announces (see the module
#: docstring); an event not listed announces none.
ANNOUNCES: Final[Mapping[str, frozenset[str]]] = {
    "RolloutUpdated": _PHASE,
    "InitialDeploy": _PHASE,
    "SkipSteps": _PHASE,
    "NewReplicaSet": _REPLICAS,
    "SetWeight": _WEIGHT,
    "Paused": _PHASE,
    "Resumed": _PHASE,
    "AnalysisInconclusive": _PHASE,
    "ExperimentInconclusive": _PHASE,
    "Promoted": _PHASE | _WEIGHT,
    "RolloutCompleted": _PHASE,
    "Aborted": _PHASE | _WEIGHT,
    "ScaledDown": _REPLICAS,
}


@attrs.frozen
class TimelineRecord:
    """The rollout at one moment; ``t`` is virtual seconds since the update began."""

    t: float
    phase: str
    step: int | None
    steps: int
    weight: int
    old_replicas: int
    new_replicas: int
    event: str | None = None
    message: str = ""
    # the router objects and Services changed since the record before (show_objects)
    objects: tuple[dict[str, Any], ...] | None = attrs.field(default=None, eq=False)
    # the weight the current step sets (canary; None for blue-green), and why the
    # actual weight differs from it ("" when it does not)
    set_weight: int | None = None
    weight_note: str = ""

    def state(self) -> tuple[object, ...]:
        return (self.phase, self.step, self.weight, self.old_replicas, self.new_replicas)

    def to_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "phase": self.phase,
            "step": self.step,
            "weight": self.weight,
            "setWeight": self.set_weight,
            "weightNote": self.weight_note,
            "oldReplicas": self.old_replicas,
            "newReplicas": self.new_replicas,
            "event": self.event,
            **({} if self.objects is None else {"objects": list(self.objects)}),
        }


@attrs.frozen
class SimulationResult:
    """What a simulation found: the timeline, the final phase and message, and the exit
    code ``progressive simulate`` gives for it."""

    rollout: str
    timeline: tuple[TimelineRecord, ...]
    phase: str
    message: str
    finished: bool  # False: a time or pass bound was reached first
    steps: int
    old_hash: str
    new_hash: str

    @property
    def exit_code(self) -> int:
        if not self.finished and self.phase == Phase.PROGRESSING:
            return EXIT_UNFINISHED
        return EXIT_CODES.get(self.phase, EXIT_UNFINISHED)


def previous_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """The pod template with every container image tag marked ``previous``."""
    out = copy.deepcopy(dict(template))
    spec = out.get("spec")
    if isinstance(spec, dict):
        for key in ("initContainers", "containers"):
            for container in spec.get(key) or ():
                if isinstance(container, dict) and isinstance(container.get("image"), str):
                    container["image"] = _previous_image(container["image"])
    if out == dict(template):  # no image at all: still make it another revision
        meta = out.setdefault("metadata", {})
        meta.setdefault("annotations", {})["progressive.dev/simulated-revision"] = "previous"
    return out


def _previous_image(image: str) -> str:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return f"{name}-previous"
    return f"{name}:previous"


def simulate(
    documents: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Sequence[object]] | None = None,
    auto_promote: bool = False,
    **options: Any,
) -> SimulationResult:
    """:func:`run_simulation`, run in a fresh event loop (for synchronous callers)."""

    async def main() -> SimulationResult:
        return await run_simulation(documents, metrics, auto_promote, **options)

    return anyio.run(main)


async def run_simulation(
    documents: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Sequence[object]] | None = None,
    auto_promote: bool = False,
    *,
    on_record: Callable[[TimelineRecord], Awaitable[None] | None] | None = None,
    max_seconds: float = MAX_SECONDS,
    max_passes: int = MAX_PASSES,
    pod_ready_seconds: float = 2.0,
    show_objects: bool = False,
    prometheus_address: str | None = None,
) -> SimulationResult:
    """Simulate the update of the one Rollout in ``documents`` (see the module docstring).

    Args:
        documents: plain-dict manifests: one Rollout and what it refers to.
        metrics: per analysis metric name, the values to measure (see
            :class:`~progressive.metrics.ScriptedProvider`).
        auto_promote: promote indefinite pauses instead of stopping there.
        on_record: called with each timeline record as it is made (live views).
        show_objects: give each record the router objects and Services changed since
            the record before (:attr:`TimelineRecord.objects`).
        prometheus_address: for unscripted Prometheus metrics that name no address.

    Raises:
        SimulationError: not exactly one Rollout, or the controller failed.
        ValueError: ``metrics`` holds a value that is not a valid script.
    """
    sim = _Simulation(documents, metrics or {}, on_record, pod_ready_seconds, show_objects)
    if prometheus_address is not None:
        sim.provider.fallback = default_registry(sim.cluster, prometheus_address=prometheus_address)
    await sim.deploy_previous(max_seconds, max_passes)
    return await sim.update(auto_promote, max_seconds, max_passes)


class _Simulation:
    def __init__(
        self,
        documents: Sequence[Mapping[str, Any]],
        metrics: Mapping[str, Sequence[object]],
        on_record: Callable[[TimelineRecord], Awaitable[None] | None] | None,
        pod_ready_seconds: float,
        show_objects: bool = False,
    ) -> None:
        rollouts = [d for d in documents if d.get("kind") == "Rollout"]
        if len(rollouts) != 1:
            raise SimulationError(f"expected exactly one Rollout, found {len(rollouts)}")
        self.manifest = copy.deepcopy(dict(rollouts[0]))
        self.manifest.pop("status", None)
        self.others = [copy.deepcopy(dict(d)) for d in documents if d.get("kind") != "Rollout"]
        self.model = Rollout.from_manifest(self.manifest)
        # workloadRef: the pod template is the Deployment's, and the update edits it
        self.workload = self._workload()
        if self.workload is not None:
            self.model = with_workload(self.model, self.workload)
        # the routers this installation has: progressive's and the installed plugins'
        self.routers = default_routers()
        if problems := [p for p in self.routers.validate(self.model) if p.severity == "error"]:
            raise SimulationError("; ".join(str(error) for error in problems))
        self.clock = VirtualClock()
        self.cluster = MemoryCluster(self.clock, pod_ready_seconds=pod_ready_seconds)
        # the metrics stand for the outside world (a Prometheus): they survive restarts
        self.provider = ScriptedProvider(metrics, fallback=default_registry(self.cluster))
        self.controller = self._new_controller()
        self.restarts = 0
        self.ref = Ref.of(self.manifest)
        self.on_record = on_record
        self.timeline: list[TimelineRecord] = []
        self.events: list[actions.EmitEvent] = []
        self.recording = False
        self.before: TimelineRecord | None = None  # the state a pass started from
        self.start = 0.0
        self.previous = previous_template(self.model.template)
        self.old_hash = attrs.evolve(self.model, template=self.previous).template_hash()
        self.new_hash = self.model.template_hash()
        canary = self.model.canary
        self.steps = len(canary.steps) if canary is not None else 0
        self.traffic = RouterTraffic(self.cluster, self.routers)
        self.show_objects = show_objects
        self.seen: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    def _workload(self) -> dict[str, Any] | None:
        """The Deployment (among the documents) the Rollout's ``workloadRef`` names,
        which the previous revision is deployed with (its template marked previous).

        Raises:
            SimulationError: the documents do not hold it.
        """
        ref = self.model.workload_ref
        if ref is None:
            return None
        for obj in self.others:
            meta = obj.get("metadata") or {}
            if (obj.get("apiVersion"), obj.get("kind"), meta.get("name")) == (
                ref.api_version,
                ref.kind,
                ref.name,
            ):
                obj.setdefault("spec", {})
                template = obj["spec"].get("template")
                obj["spec"]["template"] = previous_template(template or {})
                return {**obj, "spec": {**obj["spec"], "template": template or {}}}
        raise SimulationError(
            f"spec.workloadRef names {ref.kind} {ref.name}, which is not in the files"
        )

    def _on_plan(self, rollout: Rollout, plan: Plan) -> None:
        if self.recording:
            self.events.extend(a for a in plan.actions if isinstance(a, actions.EmitEvent))

    def _new_controller(self) -> Controller:
        return Controller(
            self.cluster, clock=self.clock, provider=self.provider, on_plan=self._on_plan
        )

    async def _settle(self, until: float, max_passes: int) -> tuple[bool, int]:
        while True:
            try:
                result = await self.controller.settle(
                    until=until,
                    max_passes=max_passes,
                    wakeup=self.cluster.next_event_at,
                    after_pass=self._after_pass,
                    before_pass=self._before_pass,
                )
                break
            except SimulatedCrash:
                # the controller died after a write: a new one starts from what was stored
                self.restarts += 1
                self.controller = self._new_controller()
        if result.errors:
            first = result.errors[0]
            raise SimulationError(f"reconciling {first.key} failed: {first.error}")
        return result.idle, result.passes

    async def deploy_previous(self, max_seconds: float, max_passes: int) -> None:
        for obj in self.others:
            await self.cluster.create(obj)
        await self._create_missing_services()
        await self._create_missing_router_objects()
        initial = copy.deepcopy(self.manifest)
        if self.workload is None:
            initial["spec"]["template"] = self.previous
        await self.cluster.create(initial)
        await self._settle(self.clock.now() + max_seconds, max_passes)
        status = (await self._rollout()).get("status") or {}
        if status.get("phase") != Phase.HEALTHY:
            raise SimulationError(
                "the previous revision did not become Healthy "
                f"(phase {status.get('phase')!r}: {status.get('message', '')})"
            )

    async def update(
        self, auto_promote: bool, max_seconds: float, max_passes: int
    ) -> SimulationResult:
        self.start = self.clock.now()
        self.recording = True
        await self._changed_objects()  # the baseline: what the previous revision left
        template_patch = {"spec": {"template": self.model.template}}
        if self.workload is not None:
            await self._user_write(self.cluster.patch(Ref.of(self.workload), template_patch))
        else:
            await self._user_write(self.cluster.patch(self.ref, template_patch))
        until = self.start + max_seconds
        passes_left = max_passes
        promotions = 0
        finished = False
        while passes_left > 0:
            idle, passes = await self._settle(until, passes_left)
            passes_left -= passes
            if not idle:
                break
            stored = await self._rollout()
            if auto_promote and promotions < MAX_PROMOTIONS and self._waits_for_promotion(stored):
                promotions += 1
                await self._promote(stored)
                await self._record([actions.EmitEvent(AUTO_PROMOTED, "")], force=True)
                continue
            finished = True
            break
        final = await self._snapshot(None)
        await self._emit(attrs.evolve(final, objects=await self._changed_objects()))
        status = (await self._rollout()).get("status") or {}
        return SimulationResult(
            rollout=self.model.name,
            timeline=tuple(self.timeline),
            phase=final.phase,
            message=str(status.get("message") or ""),
            finished=finished,
            steps=self.steps,
            old_hash=self.old_hash,
            new_hash=self.new_hash,
        )

    def _waits_for_promotion(self, stored: Mapping[str, Any]) -> bool:
        """Nothing is scheduled and only a promotion moves the rollout on: it is Paused,
        or it is on an ``experiment`` step without a duration (whose experiment runs
        until the step is promoted past, as Argo's end-to-end tests do)."""
        status = stored.get("status") or {}
        if status.get("phase") == Phase.PAUSED:
            return True
        canary, index = self.model.canary, status.get("currentStepIndex")
        if status.get("phase") != Phase.PROGRESSING or canary is None:
            return False
        if not isinstance(index, int) or not 0 <= index < len(canary.steps):
            return False
        return any(
            isinstance(a, ExperimentStep) and a.duration is None
            for a in actions_of(canary.steps[index])
        )

    async def _promote(self, stored: Mapping[str, Any]) -> None:
        spec_patch, status_patch = promote(Rollout.from_manifest(stored))
        if spec_patch:
            await self._user_write(self.cluster.patch(self.ref, spec_patch))
        if status_patch:
            await self._user_write(self.cluster.patch(self.ref, status_patch))

    async def _user_write(self, write: Awaitable[object]) -> None:
        """A write by the user (a new template, a promotion), not by the controller.

        Should a simulated crash fall on it, it is the controller that dies: the write
        stays, and a new controller takes over.
        """
        try:
            await write
        except SimulatedCrash:
            self.restarts += 1
            self.controller = self._new_controller()

    async def _create_missing_services(self) -> None:
        labels = dict(self.model.selector.get("matchLabels") or {})
        for name in dict.fromkeys(strategy_services(self.model).values()):
            ref = Ref("v1", "Service", self.ref.namespace, name)
            if await self.cluster.get(ref) is None:
                await self.cluster.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {"name": name, "namespace": self.ref.namespace},
                        "spec": {"selector": labels},
                    }
                )

    async def _create_missing_router_objects(self) -> None:
        for router in self.traffic.routers_of(self.model):
            versions = {(r.kind, r.namespace, r.name): r for r in router.refs(self.model)}
            for obj in router.stand_ins(self.model):
                ref = Ref.of(obj)
                known = versions.get((ref.kind, ref.namespace, ref.name))
                # the files' object may be stored under another version (v1alpha3)
                alternatives = (
                    [
                        Ref(known.api_version_of(v), ref.kind, ref.namespace, ref.name)
                        for v in known.versions
                    ]
                    if known is not None
                    else [ref]
                )
                if all([await self.cluster.get(r) is None for r in alternatives]):
                    await self.cluster.create(obj)

    async def _changed_objects(self) -> tuple[dict[str, Any], ...] | None:
        """The router objects and Services changed since the last call (show_objects)."""
        if not self.show_objects:
            return None
        objects = await self.traffic.objects(self.model)
        for name in dict.fromkeys(strategy_services(self.model).values()):
            svc = await self.cluster.get(Ref("v1", "Service", self.ref.namespace, name))
            if svc is not None:
                objects.append(svc)
        changed = []
        for obj in objects:
            meta = obj.get("metadata") or {}
            key = (
                str(obj.get("apiVersion")),
                str(obj.get("kind")),
                str(meta.get("namespace")),
                str(meta.get("name")),
            )
            if self.seen.get(key) != obj:
                self.seen[key] = obj
                changed.append(obj)
        return tuple(changed)

    async def _rollout(self) -> dict[str, Any]:
        obj = await self.cluster.get(self.ref)
        if obj is None:
            raise SimulationError("the Rollout disappeared")
        return obj

    # -- the timeline ------------------------------------------------------------------
    async def _before_pass(self) -> None:
        if self.recording:
            self.before = await self._snapshot(None)

    async def _after_pass(self, result: PassResult) -> None:
        if not self.recording:
            return
        events = list(self.events)
        self.events.clear()
        await self._record(events)
        self.before = None

    async def _record(self, events: Sequence[actions.EmitEvent], *, force: bool = False) -> None:
        objects = await self._changed_objects()
        after = await self._snapshot(None)
        if not events:
            last = self.timeline[-1].state() if self.timeline else None
            if force or after.state() != last or objects:
                await self._emit(attrs.evolve(after, objects=objects))
            return
        # each event as of itself: what it and the events before it announce is new,
        # and a canary step's event is at its step
        base = self.before or after
        announced: set[str] = set()
        record = after
        for i, event in enumerate(events):
            announced |= ANNOUNCES.get(event.reason, frozenset())
            record = attrs.evolve(
                base,
                t=after.t,
                event=event.reason,
                message=event.message,
                objects=objects if i == 0 or objects is None else (),
                **{field: getattr(after, field) for field in announced},
            )
            if event.step is not None and record.step is not None:
                record = attrs.evolve(record, step=event.step)
            await self._emit(record)
        if record.state() != after.state():
            await self._emit(attrs.evolve(after, objects=None if objects is None else ()))

    async def _emit(self, record: TimelineRecord) -> None:
        self.timeline.append(record)
        if self.on_record is not None:
            maybe = self.on_record(record)
            if maybe is not None:
                await maybe

    async def _snapshot(self, event: str | None) -> TimelineRecord:
        stored = await self._rollout()
        status = stored.get("status") or {}
        sets = await self.cluster.list("apps/v1", "ReplicaSet", self.ref.namespace)
        by_hash = {(rs["metadata"].get("labels") or {}).get(HASH_LABEL): rs for rs in sets}

        def replicas(pod_hash: str) -> int:
            rs = by_hash.get(pod_hash)
            return int(rs["spec"].get("replicas") or 0) if rs is not None else 0

        step = status.get("currentStepIndex")
        step = step if isinstance(step, int) and self.model.canary is not None else None
        weight = await self._weight(status, sets)
        set_weight = self._set_weight(status, step)
        return TimelineRecord(
            t=self.clock.now() - self.start,
            phase=str(status.get("phase") or Phase.PROGRESSING),
            step=step,
            steps=self.steps,
            weight=weight,
            old_replicas=replicas(self.old_hash),
            new_replicas=replicas(self.new_hash),
            event=event,
            set_weight=set_weight,
            weight_note=self._weight_note(weight, set_weight, by_hash.get(self.new_hash), sets),
        )

    def _set_weight(self, status: Mapping[str, Any], step: int | None) -> int | None:
        """The weight (percent) the current step sets, as Argo's plugin's SetWeight."""
        canary = self.model.canary
        if canary is None:
            return None
        if status.get("abort") is True or status.get("currentPodHash") != self.new_hash:
            return 0  # aborted, or the status is still the previous revision's
        if status.get("stableRS") == self.new_hash:
            return 100
        return weight_at(canary.steps, step or 0, 100)

    def _weight_note(
        self,
        weight: int,
        set_weight: int | None,
        new_rs: Mapping[str, Any] | None,
        sets: Sequence[Mapping[str, Any]],
    ) -> str:
        """Why the actual weight is not the set one ("" when it is)."""
        canary = self.model.canary
        if canary is None or set_weight is None:
            return ""

        def count(rs: Mapping[str, Any] | None, key: str) -> int:
            return int(((rs or {}).get("status") or {}).get(key) or 0)

        if canary.traffic_routing is None:  # the weight is the share of ready pods
            mine = count(new_rs, "readyReplicas")
            pods = sum(count(rs, "readyReplicas") for rs in sets)
        else:
            mine, pods = count(new_rs, "availableReplicas"), self.model.replicas
        routed = canary.traffic_routing is not None
        return weight_note(weight, set_weight, routed=routed, canary=mine, pods=pods)

    async def _weight(self, status: Mapping[str, Any], sets: Sequence[Mapping[str, Any]]) -> int:
        """Percent of traffic that reaches the new revision."""
        ns = self.ref.namespace
        if (bg := self.model.blue_green) is not None:
            active = await self.cluster.get(Ref("v1", "Service", ns, bg.active_service))
            selector = ((active or {}).get("spec") or {}).get("selector") or {}
            return 100 if selector.get(HASH_LABEL) == self.new_hash else 0
        canary = self.model.canary
        if canary is not None and canary.traffic_routing is not None:
            if status.get("stableRS") == self.new_hash:
                return 100
            model = Rollout.from_manifest(await self._rollout())
            states = await self.traffic.states(model)
            _, canary_service = traffic_services(model)
            if canary_service:
                svc = await self.cluster.get(Ref("v1", "Service", ns, canary_service))
                leads_to = {((svc or {}).get("spec") or {}).get("selector", {}).get(HASH_LABEL)}
            else:  # subset-level routing: the canary subsets select the pods
                leads_to = {s.canary_hash for s in states if s.canary_hash is not None}
            if leads_to != {self.new_hash}:
                return 0  # the canary's traffic does not lead to the new pods
            weight = traffic_view(states).weight or 0
            return round(weight * 100 / canary.traffic_routing.max_traffic_weight)
        ready = {
            (rs["metadata"].get("labels") or {}).get(HASH_LABEL): int(
                (rs.get("status") or {}).get("readyReplicas") or 0
            )
            for rs in sets
        }
        total = sum(ready.values())
        return round(100 * ready.get(self.new_hash, 0) / total) if total else 0
