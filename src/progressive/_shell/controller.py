"""The controller: a work queue of keys, fed by change notifications and timers.

What there is to do is a :class:`~progressive._shell.keys.Key` in one
:class:`~progressive._shell.workqueue.WorkQueue`: a Rollout (``reconcile()``: observe,
plan, apply), an AnalysisRun (measure what is due), the Experiments of a namespace, or
a ReplicaSet whose pods are being restarted.  Keys come from three places:

* change notifications: every object stored or deleted is mapped to the keys it
  concerns (:mod:`progressive._shell.keys`: itself, its owner, or the Rollouts that
  name it; a template change in a ``workloadRef`` Deployment is a new revision).  On a
  real cluster the notifications are the informers' (shared list+watch caches,
  :mod:`progressive._shell.informers`, which reconciles also read through); the
  in-memory cluster reports its own (``MemoryCluster.subscribe``);
* timers: the plan's ``requeue_at`` (a pause ends, a delayed scale-down), the next
  measurement of a run, and ``wakeup`` (``MemoryCluster.next_event_at``: pods that
  become ready on their own in a simulated cluster);
* the key itself: a handler that wrote anything is handled again at once (what it
  wrote may let it move on), one that failed is retried after a per-key exponential
  backoff, and one that hit a ``Conflict`` (someone wrote meanwhile) at once.

Keys have a :class:`~progressive._shell.workqueue.Priority`: a timer that comes due (a
pause ends, a measurement is due) and a user's command (a new spec generation: a new
revision, a promote of an indefinite pause; ``status.abort`` set or cleared) are
``URGENT``; other change notifications and follow-ups are ``NORMAL``; the periodic
resync is ``BACKGROUND``.  Workers take the most urgent key first, so a due step waits
for at most the reconciles in flight, not for every routine look queued before it.

:meth:`Controller.run` handles the queue with N concurrent workers, a key by one worker
at a time; one bad Rollout (an invalid spec: condition InvalidSpec through
``reconcile_invalid``; an error while applying: backed off) never stops the others.
AnalysisRun keys are measured off those workers, in a bounded pool that is fair across
namespaces (:class:`~progressive._shell.pool.FairPool`): a slow metric server delays
nobody's steps.
:meth:`Controller.settle` is the same loop for virtual clocks, deterministic and
single-task: it handles every key that is ready, in a fixed order, as one *pass*, and
when nothing is ready jumps the clock to the earliest timer.  ``simulate``, the demo
and the tests use it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import anyio.lowlevel
import attrs

from .._clusters import UNSERVED_RECHECK, Change, Cluster, Ref
from ..core._names import (
    ANALYSIS_RUN,
    API_GROUPS,
    CRD_KINDS,
    EXPERIMENT,
    RESTART_REFUSED_ANNOTATION,
    ROLLOUT,
)
from ..core._observed import WorkloadView
from ..core._plan import Plan
from ..core._reconcile import reconcile, reconcile_invalid
from ..core._rollout import Rollout, read_rollout
from ..core._state import RESTART_FORBIDDEN
from ..core._status import RolloutStatus
from ..core._workloads import with_workload
from ..errors import ClusterError, Conflict, FieldProblem, Forbidden, ManifestError
from ..metrics._protocol import MetricProvider
from ..steps import StepRegistry
from ..steps import default_registry as default_steps
from . import ratelimit
from .apply import apply_plan, write_status
from .clocks import Clock
from .events import EventRecorder, Involved
from .expectations import Expectations
from .keys import (
    REPLICA_SET,
    Key,
    RolloutIndex,
    api_versions,
    carries_instance,
    key_of,
    object_meta,
    related_keys,
)
from .observe import observe_rollout, workload_view
from .pool import FairPool
from .refusals import refused, report_refusal
from .restarts import (
    REFUSED_RETRY_SECONDS,
    advance_restart,
    note_refusal,
    refused_restart,
    restarting,
)
from .runs import COMPLETED, advance_analysis_run, advance_experiments, analysis_problems
from .traffic import RouterTraffic, Traffic
from .view import ControllerView
from .workqueue import Priority, QueueShutDown, WorkQueue

if TYPE_CHECKING:
    from .metrics import ControllerMetrics
    from .notifier import Notifier

__all__ = [
    "ANALYSIS_WORKERS",
    "WORKERS",
    "ANALYSIS_WORKERS_PER_NAMESPACE",
    "Controller",
    "PassResult",
    "ReconcileFailure",
    "SettleResult",
]

log = logging.getLogger("progressive.controller")

#: Keys :meth:`Controller.run` handles at once (Argo Rollouts' --rollout-threads is 10):
#: a reconcile mostly waits for the API server, so a burst of new revisions gets its first
#: writes sooner with more of them in flight (bench 3 at N = 100: first write p50 0.89 s
#: with 20, 1.3-1.5 s with 10; Go's HTTP/2 client waits less per request than ours).
WORKERS: Final = 20
#: AnalysisRuns :meth:`Controller.run` measures at once, in all and of one namespace.
ANALYSIS_WORKERS: Final = 16
ANALYSIS_WORKERS_PER_NAMESPACE: Final = 4


@attrs.frozen
class ReconcileFailure:
    """A key that could not be reconciled: ``key`` is ``namespace/name``."""

    key: str
    error: BaseException
    kind: str = ROLLOUT


@attrs.frozen
class PassResult:
    """What one pass of :meth:`Controller.settle` did."""

    writes: int = 0
    next_at: float | None = None  # the earliest timer left in the queue
    errors: tuple[ReconcileFailure, ...] = ()


@attrs.frozen
class SettleResult:
    """What :meth:`Controller.settle` did: how many passes, whether it stopped because
    nothing more was scheduled (rather than at a bound), and the reconciles that
    failed."""

    passes: int
    idle: bool  # True: nothing more is scheduled; False: a bound was reached
    errors: tuple[ReconcileFailure, ...] = ()


PlanHook = Callable[[Rollout, Plan], None]
Wakeup = Callable[[], float | None]


class Controller:
    """Reconciles the Rollouts of ``cluster`` (or of one ``namespace``).

    Args:
        cluster: where the objects live: a ``MemoryCluster``, a ``KubeCluster`` (whose
            changes :meth:`run` watches through informers) or any other ``Cluster``.
        clock: ``now`` for every reconcile, and the queue's timers.
        traffic: the traffic routers (default: :class:`RouterTraffic` on ``cluster``).
        provider: measures analysis metrics (default:
            :func:`progressive.metrics.default_registry` on ``cluster``).
        steps: the step plugins (default: the installed ones,
            :func:`progressive.steps.default_registry`).
        namespace: reconcile this namespace only (None: all).
        on_plan: called with each Rollout and its plan before the plan is applied.
        instance_id: shard by the label ``progressive.dev/controller-instance-id`` (or
            Argo's ``argo-rollouts.argoproj.io/controller-instance-id``): only the
            Rollouts carrying this value; None: only those carrying neither label.
        api_groups: which of ``argoproj.io`` and ``progressive.dev`` to reconcile
            (None: both; on a real server, :meth:`run` keeps those the server serves
            and lets this controller list).
        metrics: where to record reconcile durations, errors, rollout phases, events
            and the queue depth (None: nowhere).
        events: the recorder of Kubernetes Events (default: one on ``cluster``).
        backoff: the first and the longest retry delay of a key that failed.
        informer_options: passed to the informers on a real server (``watch_timeout``,
            ``backoff_max``...).
        notifier: sends the notifications Rollouts subscribe to
            (:class:`~progressive._shell.notifier.Notifier`); it is told every change and
            runs beside the workers in :meth:`run` (:meth:`settle` does not send).
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        clock: Clock,
        traffic: Traffic | None = None,
        provider: MetricProvider | None = None,
        namespace: str | None = None,
        on_plan: PlanHook | None = None,
        instance_id: str | None = None,
        api_groups: Sequence[str] | None = None,
        metrics: ControllerMetrics | None = None,
        events: EventRecorder | None = None,
        backoff: tuple[float, float] = (0.005, 1000.0),
        informer_options: Mapping[str, Any] | None = None,
        notifier: Notifier | None = None,
        steps: StepRegistry | None = None,
    ) -> None:
        self.cluster = cluster
        self.steps = steps if steps is not None else default_steps()
        self.clock = clock
        self.traffic: Traffic = traffic if traffic is not None else RouterTraffic(cluster)
        self._own_traffic = traffic is None
        if provider is None:
            from ..metrics import default_registry  # the providers import the shell

            provider = default_registry(cluster)
        self.provider: MetricProvider = provider
        self.namespace = namespace
        self.on_plan = on_plan
        self.instance_id = instance_id or None
        self._groups_given = api_groups is not None
        self.api_groups: tuple[str, ...] = (
            api_versions(api_groups) if api_groups is not None else API_GROUPS
        )
        self.metrics = metrics
        self.events = (
            events
            if events is not None
            else EventRecorder(
                cluster,
                clock=clock,
                on_event=metrics.record_event if metrics is not None else None,
                on_drop=metrics.record_events_dropped if metrics is not None else None,
                on_request=metrics.record_event_request if metrics is not None else None,
            )
        )
        self.notifier = notifier
        if notifier is not None and notifier.own_events:
            notifier.events = self.events  # written off the workers' path, as ours
        self.backoff = backoff
        self.informer_options = dict(informer_options or {})
        self.queue: WorkQueue[Key] = self._new_queue()
        self.running = False
        self._stopping = False
        self._view: Cluster = self._filtered(cluster, set())
        self._index = RolloutIndex()
        self._conflicts: dict[Key, int] = {}
        # our status writes of runs and experiments: a cached copy older than one is
        # read from the server, never acted on again (a measurement made twice)
        self._expectations = Expectations(cluster.get, clock.now)
        self._refused: dict[Key, float] = {}  # restarts refused: not tried again before
        self._changed: anyio.Event | None = None
        self._watched = False
        self._analyses: FairPool[Key] | None = None  # run() measures there
        if metrics is not None:
            metrics.track_queue("rollouts", lambda: self.queue.depth)
            metrics.track_queue("analyses", lambda: self._analyses.waiting if self._analyses else 0)

    def _new_queue(self) -> WorkQueue[Key]:
        base, maximum = self.backoff
        return WorkQueue(clock=self.clock, base_delay=base, max_delay=maximum)

    def _filtered(self, cluster: Cluster, hidden: set[tuple[str, str]]) -> Cluster:
        hidden = hidden | {
            (v, kind) for v in API_GROUPS if v not in self.api_groups for kind in CRD_KINDS
        }
        return ControllerView(cluster, hidden) if hidden else cluster

    @property
    def view(self) -> Cluster:
        """The cluster as reconciles read it (through the informers' caches in :meth:`run`
        on a real server)."""
        return self._view

    # -- keys ---------------------------------------------------------------------------
    def _mine(self, obj: Mapping[str, Any]) -> bool:
        return carries_instance(obj, self.instance_id)

    def keys_for(self, change: Change) -> list[Key]:
        """The keys a change concerns (and the index of Rollouts kept up to date)."""
        return [key for key, _ in self._keys_for(change)]

    def _keys_for(self, change: Change) -> list[tuple[Key, Priority]]:
        kind, ns, obj = change.kind, change.namespace, change.obj
        if self.namespace is not None and ns and ns != self.namespace:
            return []
        in_group = change.api_version in self.api_groups
        if change.type == "deleted" and kind in (ROLLOUT, ANALYSIS_RUN, EXPERIMENT):
            self._expectations.forget(Ref(change.api_version, kind, ns, change.name))
        if kind == ROLLOUT:
            if not in_group:
                return []
            key = Key(ROLLOUT, ns, change.name, change.api_version)
            if change.type == "deleted":
                self._index.remove(key)
                if self.metrics is not None:
                    self.metrics.forget_rollout(ns, change.name)
                return []
            changed, commanded = self._index.update(key, obj)
            if changed:
                self.queue.forget(key)  # a new spec: no backoff from the old one's failures
            return [(key, Priority.URGENT if commanded else Priority.NORMAL)]
        return [
            (key, Priority.NORMAL) for key in related_keys(change, self.api_groups, self._index)
        ]

    def _add(self, key: Key, priority: Priority = Priority.NORMAL) -> None:
        """Queue ``key`` now, unless it is failing: its retry is scheduled, and what it
        wrote before it failed (changes it caused itself) must not bypass the backoff."""
        if not self.queue.num_requeues(key):
            self.queue.add(key, priority)

    def _on_change(self, change: Change) -> None:
        for key, priority in self._keys_for(change):
            self._add(key, priority)
        if self.notifier is not None and self._notifies(change):
            self.notifier.observe(change)
        if self._changed is not None:
            self._changed.set()

    def _notifies(self, change: Change) -> bool:
        """Whether the notifier hears of ``change``: Rollouts this controller reconciles
        (and their deletion), and anything else (the notifier picks what it needs)."""
        if change.kind != ROLLOUT or change.type == "deleted":
            return True
        if change.api_version not in self.api_groups:
            return False
        if self.namespace is not None and change.namespace != self.namespace:
            return False
        return self._mine(change.obj)

    async def _seed(self, priority: Priority = Priority.NORMAL) -> None:
        """Queue every key there is (a new controller; a resync, at ``BACKGROUND``)."""
        view, ns = self._view, self.namespace
        listed: set[Key] = set()
        for group in self.api_groups:
            for manifest in await view.list(group, ROLLOUT, ns):
                key = key_of(ROLLOUT, group, manifest)
                listed.add(key)
                changed, commanded = self._index.update(key, manifest)
                if changed:
                    self.queue.forget(key)
                self._add(key, Priority.URGENT if commanded else priority)
                if self.notifier is not None and self._mine(manifest):
                    self.notifier.observe_rollout(group, manifest)
            for run in await view.list(group, ANALYSIS_RUN, ns):
                if (run.get("status") or {}).get("phase") not in COMPLETED:
                    self._add(key_of(ANALYSIS_RUN, group, run), priority)
            for experiment in await view.list(group, EXPERIMENT, ns):
                namespace = key_of(EXPERIMENT, group, experiment).namespace
                self._add(Key(EXPERIMENT, namespace, ""), priority)
        for rs in await view.list("apps/v1", REPLICA_SET, ns):
            if restarting(rs):
                self._add(key_of(REPLICA_SET, "apps/v1", rs), priority)
        for gone in self._index.in_namespace(ns) - listed:  # deleted, unseen
            self._index.remove(gone)
            if self.metrics is not None:
                self.metrics.forget_rollout(gone.namespace, gone.name)

    @contextlib.contextmanager
    def _watching(self) -> Iterator[bool]:
        """Subscribe to the cluster's own change notifications, if it has any."""
        subscribe = getattr(self.cluster, "subscribe", None)
        if subscribe is None or self._watched:
            yield self._watched
            return
        unsubscribe = subscribe(self._on_change)
        self._watched = True
        try:
            yield True
        finally:
            self._watched = False
            unsubscribe()

    def _catch_up(self) -> bool:
        """Let a simulated cluster report what changed on its own (pods that became
        ready); False when it cannot."""
        catch_up = getattr(self.cluster, "catch_up", None)
        if catch_up is None:
            return False
        catch_up()
        return True

    # -- handling one key ----------------------------------------------------------------
    async def _handle(self, key: Key) -> tuple[int, float | None]:
        now = self.clock.now()
        if key.kind == ROLLOUT:
            manifest = await self._view.get(key.ref)
            if manifest is None:
                self._index.remove(key)
                if self.metrics is not None:
                    self.metrics.forget_rollout(key.namespace, key.name)
                return 0, None
            self._index.update(key, manifest)
            if not self._mine(manifest):
                return 0, None
            current = await self._expectations.current(manifest)
            if current is None:  # gone, or a status write of ours may still land
                return 0, self._expectations.retry_at(key.ref)
            return await self.reconcile_one(current, now)
        if key.kind == ANALYSIS_RUN:
            run = await self._view.get(key.ref)
            if run is None or (run.get("status") or {}).get("phase") in COMPLETED:
                self._expectations.forget(key.ref)  # nothing more to write
                return 0, None
            if not await self._mine_by_owner(run):
                return 0, None
            return await advance_analysis_run(
                self._view, self.provider, run, now, expectations=self._expectations
            )
        if key.kind == EXPERIMENT:
            if not await self._experiments_here(key.namespace):
                return 0, None
            result = await advance_experiments(
                self._view, now, key.namespace, expectations=self._expectations
            )
            return result.writes, result.next_at
        if key.kind == REPLICA_SET:
            return await self._restart(key, now)
        raise ValueError(f"unknown key {key}")

    async def _restart(self, key: Key, now: float) -> tuple[int, float | None]:
        """The next batch of a marked ReplicaSet's restart.  Refused (no ``--restarts``):
        a Warning Event on its Rollout says how to grant it, and it waits
        ``REFUSED_RETRY_SECONDS`` whatever changes meanwhile."""
        rs = await self._view.get(key.ref)
        if rs is None or not restarting(rs):
            self._refused.pop(key, None)
            return 0, None
        not_before = self._refused.get(key)
        if not_before is not None and now < not_before:
            return 0, not_before
        try:
            writes = await advance_restart(self._view, rs)
        except Forbidden as exc:
            involved, message = refused_restart(rs, exc)
            log.warning("%s", message)
            await self.events.post(involved, "Warning", RESTART_FORBIDDEN, message)
            self._refused[key] = now + REFUSED_RETRY_SECONDS
            return await note_refusal(self._view, rs, message), now + REFUSED_RETRY_SECONDS
        self._refused.pop(key, None)
        if RESTART_REFUSED_ANNOTATION in ((rs.get("metadata") or {}).get("annotations") or {}):
            writes += await note_refusal(self._view, rs, "")  # it goes on: no longer refused
        return writes, None

    async def _mine_by_owner(self, obj: Mapping[str, Any]) -> bool:
        """Sharding for runs and experiments: their Rollout's labels decide, or their own
        when no Rollout owns them."""
        for ref in object_meta(obj).get("ownerReferences") or ():
            if isinstance(ref, Mapping) and ref.get("kind") == ROLLOUT:
                owner = await self._view.get(
                    Ref(
                        str(ref.get("apiVersion")),
                        ROLLOUT,
                        str(object_meta(obj).get("namespace") or ""),
                        str(ref.get("name")),
                    )
                )
                return owner is None or self._mine(owner)
        return self._mine(obj)

    async def _experiments_here(self, namespace: str) -> bool:
        for group in self.api_groups:
            for experiment in await self._view.list(group, EXPERIMENT, namespace):
                if await self._mine_by_owner(experiment):
                    return True
        return False

    async def _timed(self, key: Key) -> tuple[int, float | None] | Conflict:
        """``_handle``, timed for the metrics; a conflict is returned, not an error."""
        with (
            self.metrics.time_reconcile(key.kind, key.namespace, key.name)
            if self.metrics is not None
            else contextlib.nullcontext()
        ):
            try:
                return await self._handle(key)
            except Conflict as exc:
                return exc

    async def _process(self, key: Key) -> tuple[int, ReconcileFailure | None]:
        """Handle one key taken from the queue and queue it again as the outcome says."""
        try:
            outcome = await self._timed(key)
        except Exception as exc:  # one bad key must not stop the others
            log.exception("reconciling %s failed", key)
            self.queue.add_rate_limited(key)
            self.queue.done(key)
            return 0, ReconcileFailure(f"{key.namespace}/{key.name}", exc, key.kind)
        except BaseException:
            self.queue.done(key)
            raise
        if isinstance(outcome, Conflict):
            # someone wrote meanwhile: look again at once (then backing off, should it
            # go on: a cache that lags its own writes)
            conflicts = self._conflicts.get(key, 0) + 1
            self._conflicts[key] = conflicts
            log.debug("%s: %s; trying again", key, outcome)
            if conflicts <= 1:
                self.queue.add(key)
            else:
                self.queue.add_rate_limited(key)
            self.queue.done(key)
            return 1, None
        writes, when = outcome
        self._conflicts.pop(key, None)
        self.queue.forget(key)
        if writes:
            self.queue.add(key)  # what it wrote may let it move on
        if when is not None and math.isfinite(when):
            self.queue.add_at(key, when, Priority.URGENT)  # a step comes due
        self.queue.done(key)
        return writes, None

    # -- one Rollout -----------------------------------------------------------------------
    async def reconcile_one(
        self, manifest: Mapping[str, Any], now: float
    ) -> tuple[int, float | None]:
        """Observe, reconcile and apply one Rollout; returns (writes, requeue time)."""
        view = self._view
        if object_meta(manifest).get("deletionTimestamp"):
            return 0, None
        rollout, problems = read_rollout(manifest)
        errors = [p for p in problems if p.severity == "error"]
        workload: WorkloadView | None = None
        if rollout is not None and not errors and rollout.workload_ref is not None:
            rollout, workload, errors = await self._resolve_workload(rollout)
        if rollout is not None and not errors:
            errors = self.traffic.validate(rollout)  # router configs: InvalidSpec too
            errors += self.steps.validate(rollout)  # step plugins: installed, configured
        if rollout is not None and not errors:
            # a template created later requeues the Rollout (keys_for)
            errors = await analysis_problems(view, rollout)
        recheck: float | None = None
        if rollout is not None and not errors:
            # kinds the server does not serve (yet): nothing reports a CRD installed
            errors = await self.traffic.unserved(rollout)
            recheck = now + UNSERVED_RECHECK if errors else None
        if rollout is None or errors:
            return await self._invalid(manifest, str(ManifestError(errors)), now), recheck
        session = getattr(self.traffic, "session", None)  # router reads shared, until a write
        with session(rollout) if session is not None else contextlib.nullcontext():
            aligned = await self.traffic.align(rollout)  # routers that disagree: together
            observed = await observe_rollout(
                view,
                rollout,
                traffic=self.traffic,
                now=now,
                workload=workload,
                steps=self.steps,
            )
            rollout = observed.rollout  # with the hash of the ReplicaSet an undo reuses
            plan = reconcile(observed)
            if self.on_plan is not None:
                self.on_plan(rollout, plan)
            async with self._reporting(manifest, now):
                writes = await apply_plan(
                    view,
                    manifest,
                    rollout,
                    plan,
                    traffic=self.traffic,
                    steps=self.steps,
                    now=now,
                    events=self.events,
                    reread=self.cluster.get,  # the server itself: a conflict retried afresh
                    expectations=self._expectations,
                )
        self._record(rollout.namespace, rollout.name, _strategy(manifest), plan.status)
        return writes + aligned, plan.requeue_at

    async def _resolve_workload(
        self, rollout: Rollout
    ) -> tuple[Rollout, WorkloadView | None, list[FieldProblem]]:
        """The Rollout with its ``workloadRef``'s pod template, and the workload's view."""
        ref = rollout.workload_ref
        assert ref is not None
        obj = await self._view.get(Ref(ref.api_version, ref.kind, rollout.namespace, ref.name))
        if obj is None:
            message = f"{ref.kind} {rollout.namespace}/{ref.name} not found"
            return rollout, None, [FieldProblem("spec.workloadRef", message)]
        resolved = with_workload(rollout, obj)
        errors = []
        if not resolved.template:
            errors.append(
                FieldProblem("spec.workloadRef", f"{ref.kind} {ref.name} has no template")
            )
        if not resolved.selector:
            errors.append(
                FieldProblem("spec.workloadRef", f"{ref.kind} {ref.name} has no selector")
            )
        return resolved, workload_view(obj), errors

    async def _invalid(self, manifest: Mapping[str, Any], message: str, now: float) -> int:
        """InvalidSpec: the status says why (phase Degraded), a Warning Event too when it
        is new; nothing else is touched."""
        stored = RolloutStatus.from_manifest(manifest.get("status"))
        generation = int(object_meta(manifest).get("generation") or 1)
        status = reconcile_invalid(stored, message, generation, now=now)
        async with self._reporting(manifest, now):
            wrote = await write_status(
                self._view,
                manifest,
                status,
                reread=self.cluster.get,
                expectations=self._expectations,
            )
        if wrote:
            await self.events.post(Involved.of(manifest), "Warning", "InvalidSpec", message)
        meta = object_meta(manifest)
        self._record(
            str(meta.get("namespace") or ""), str(meta.get("name")), _strategy(manifest), status
        )
        return int(wrote)

    @contextlib.asynccontextmanager
    async def _reporting(self, manifest: Mapping[str, Any], now: float) -> AsyncIterator[None]:
        """A write refused inside the block is reported on the Rollout (a Warning Event
        and its condition, :mod:`.refusals`), then raised: the key backs off."""
        try:
            yield
        except ClusterError as exc:
            if refused(exc):
                await report_refusal(self._view, self.events, manifest, exc, now)
            raise

    def _record(self, namespace: str, name: str, strategy: str, status: RolloutStatus) -> None:
        if self.metrics is None:
            return
        self.metrics.set_rollout(
            namespace,
            name,
            strategy=strategy,
            phase=status.phase or "Progressing",
            desired=status.replicas,
            updated=status.updated_replicas,
            available=status.available_replicas,
        )

    # -- virtual time --------------------------------------------------------------------
    async def _pass(self) -> PassResult:
        """Handle every key ready now, one at a time, in a fixed order."""
        writes = 0
        errors: list[ReconcileFailure] = []
        for key in sorted(self.queue.take_ready(), key=Key.order):
            wrote, error = await self._process(key)
            writes += wrote
            if error is not None:
                errors.append(error)
        return PassResult(writes, self.queue.next_due(), tuple(errors))

    async def reconcile_all(self) -> PassResult:
        """One pass over everything (every Rollout, run, experiment and restart)."""
        with self._watching():
            await self._seed()
            return await self._pass()

    async def settle(
        self,
        *,
        until: float | None = None,
        max_passes: int = 10_000,
        wakeup: Wakeup | None = None,
        after_pass: Callable[[PassResult], Awaitable[None]] | None = None,
        before_pass: Callable[[], Awaitable[None]] | None = None,
    ) -> SettleResult:
        """Run passes, sleeping on the clock between them, until nothing is scheduled.

        Each pass handles every key that is ready (in a fixed order: runs,
        experiments, restarts, Rollouts); what a pass changes queues keys for the next.
        When nothing is ready, the clock sleeps (a virtual one jumps) to the earliest
        timer.  Deterministic: the same cluster and clock give the same passes.

        Args:
            until: stop rather than sleep past this time.
            max_passes: stop after this many passes (a livelock guard).
            wakeup: other times to wake at (``MemoryCluster.next_event_at``: pods
                becoming ready).
            after_pass: awaited after every pass (timelines, live views).
            before_pass: awaited before every pass (what a timeline's events start from).
        """
        passes = 0
        errors: list[ReconcileFailure] = []
        with self._watching() as notified:
            await self._seed()
            while passes < max_passes:
                if self.queue.ready():
                    if before_pass is not None:
                        await before_pass()
                    result = await self._pass()
                    passes += 1
                    errors.extend(result.errors)
                    if after_pass is not None:
                        await after_pass(result)
                    if result.writes and not notified:
                        await self._seed()  # nothing reports changes: look at everything
                    continue
                now = self.clock.now()
                timer = self.queue.next_due()
                woken = wakeup() if wakeup is not None else None
                due = min((t for t in (timer, woken) if t is not None), default=None)
                if due is None:
                    return SettleResult(passes, True, tuple(errors))
                if until is not None and due > until:
                    return SettleResult(passes, False, tuple(errors))
                await self.clock.sleep_until(max(due, now))
                if woken is not None and woken <= self.clock.now():
                    if not self._catch_up() or not notified:
                        await self._seed()
        return SettleResult(passes, False, tuple(errors))

    # -- real time -------------------------------------------------------------------------
    async def run(
        self,
        *,
        workers: int = WORKERS,
        analysis_workers: int = ANALYSIS_WORKERS,
        analysis_workers_per_namespace: int = ANALYSIS_WORKERS_PER_NAMESPACE,
        resync: float | None = 300.0,
        wakeup: Wakeup | None = None,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Handle the queue with ``workers`` concurrent workers until :meth:`stop` (or
        cancellation).

        On a real server (a ``KubeCluster``) it lists and watches what reconciles read
        through shared informers, and reconciles read their caches; on a cluster that
        reports its changes (``MemoryCluster``) it subscribes.  ``task_status.started``
        is called once the caches are synced and every key queued.

        AnalysisRuns are measured off the ``workers``, in a pool of their own: at most
        ``analysis_workers`` runs at once, at most ``analysis_workers_per_namespace`` of
        one namespace, the namespaces taking turns.  A namespace whose metric servers are
        slow holds that many measurements and delays nobody else.

        Args:
            workers: keys handled at once (one key is never handled by two).
            analysis_workers: AnalysisRuns measured at once.
            analysis_workers_per_namespace: AnalysisRuns of one namespace measured at once.
            resync: queue every key again this often (seconds; None: never), a safety
                net for changes nothing reports.
            wakeup: other times to wake at; by default the cluster's ``next_event_at``
                when it has one (a simulated cluster whose pods become ready by
                themselves).
        """
        if wakeup is None:
            wakeup = getattr(self.cluster, "next_event_at", None)
        self.queue = self._new_queue()
        if self._stopping:
            return
        analyses = self._analyses = FairPool(
            _namespace_of, workers=analysis_workers, per_group=analysis_workers_per_namespace
        )
        own_events = not self.events.running
        try:
            async with anyio.create_task_group() as tg:
                if own_events:
                    tg.start_soon(self.events.run)  # Events off the workers' path
                with self._watching():
                    if hasattr(self.cluster, "list_with_version"):
                        await self._start_informers(tg)
                    await self._seed()
                    self.running = True
                    task_status.started()
                    if resync:
                        tg.start_soon(self._resync_loop, resync)
                    if wakeup is not None:
                        self._changed = anyio.Event()
                        tg.start_soon(self._wakeup_loop, wakeup)
                    if self.notifier is not None:
                        tg.start_soon(self.notifier.run, self._view)
                    async with anyio.create_task_group() as pool:
                        pool.start_soon(analyses.run, self._process)
                        for _ in range(max(1, workers)):
                            pool.start_soon(self._worker)
                    tg.cancel_scope.cancel()  # the informers and timers
        finally:
            self.running = False
            self._analyses = None
            self._changed = None
            self._view = self._filtered(self.cluster, set())
            if self._own_traffic:
                self._route_through(self.cluster)
            if own_events:
                await self.events.close()  # what is still queued, within a short grace

    def stop(self) -> None:
        """Stop taking keys: :meth:`run` returns once the reconciles in flight are done."""
        self._stopping = True
        self.queue.shut_down()
        if self._analyses is not None:
            self._analyses.close()

    async def _worker(self) -> None:
        while True:
            try:
                key, priority = await self.queue.take()
            except QueueShutDown:
                if self._analyses is not None:
                    self._analyses.close()
                return
            if key.kind == ANALYSIS_RUN and self._analyses is not None:
                self._analyses.submit(key)  # measured in the pool; done() there
                continue
            with ratelimit.priority(priority):  # its requests keep the key's rank
                await self._process(key)

    async def resync(self) -> None:
        """Queue every key again, behind everything else (``BACKGROUND``): a safety net
        for changes nothing reported."""
        await self._seed(Priority.BACKGROUND)

    async def _resync_loop(self, period: float) -> None:
        while True:
            await anyio.sleep(period)
            await self.resync()

    async def _wakeup_loop(self, wakeup: Wakeup) -> None:
        armed: float | None = None  # the earliest wake-up time asked for, not reached yet
        while True:
            now = self.clock.now()
            if armed is not None and armed <= now:
                armed = None
                if not self._catch_up():
                    await self._seed()
            due = wakeup()  # only times to come: a time reached is armed above
            if due is not None:
                armed = due if armed is None else min(armed, due)
            self._changed = changed = anyio.Event()
            with anyio.move_on_after(1.0 if armed is None else max(0.0, min(1.0, armed - now))):
                await changed.wait()  # something changed: the next wake-up may be sooner
                await anyio.sleep(0.005)  # a burst of changes: look again once

    async def _start_informers(self, tg: anyio.abc.TaskGroup) -> None:
        """Informers for what reconciles read, on a real server; reads go through them.

        A kind the server does not serve yet (its CRD not installed: Argo's, ours, for
        any of the groups) gets an informer all the same, which lists it once it is
        served (every ``UNSERVED_RECHECK`` seconds at most): its objects are then
        reconciled like the rest, without a restart.  A kind this controller may not
        list is left out (it reads as empty); a Rollout group it may not list is not
        reconciled, and none at all is an error.
        """
        from ..errors import Forbidden, UnknownKind
        from .informers import CachedCluster, Informers

        source: Any = self.cluster
        informers = Informers(source, namespace=self.namespace, **self.informer_options)
        hidden: set[tuple[str, str]] = set()
        seeded = []
        groups = []
        for group in self.api_groups:
            try:
                seed = await source.list_with_version(group, ROLLOUT, self.namespace)
            except UnknownKind:
                log.info("%s Rollouts are not served yet: reconciled once they are", group)
                seed = None
            except Forbidden as exc:
                if self._groups_given:
                    raise
                log.info("not reconciling %s Rollouts: %s", group, exc)
                continue
            groups.append(group)
            informer = informers.informer(group, ROLLOUT, seed=seed)
            informer.subscribe(self._on_change)
            if seed is not None:
                seeded.append(informer)
        if not groups:
            raise RuntimeError(
                f"no Rollout kind this controller may list is served ({', '.join(self.api_groups)})"
            )
        self.api_groups = tuple(groups)
        kinds = [(g, k) for g in groups for k in CRD_KINDS if k != ROLLOUT]
        kinds += [("apps/v1", REPLICA_SET), ("apps/v1", "Deployment"), ("v1", "Service")]
        for api_version, kind in kinds:
            try:
                seed = await source.list_with_version(api_version, kind, self.namespace)
            except UnknownKind:
                seed = None
            except Forbidden as exc:
                log.warning("not watching %s %s: %s", kind, api_version, exc)
                hidden.add((api_version, kind))
                continue
            informer = informers.informer(api_version, kind, seed=seed)
            informer.subscribe(self._on_change)
            if seed is not None:
                seeded.append(informer)
        tg.start_soon(informers.run)
        for informer in seeded:
            await informer.wait_synced()
        cached = CachedCluster(self.cluster, informers)
        self._view = self._filtered(cached, hidden)
        if self._own_traffic:  # router objects read through caches started on demand
            self._route_through(cached)

    def _route_through(self, cluster: Cluster) -> None:
        traffic = self.traffic
        if isinstance(traffic, RouterTraffic):
            traffic.cluster = cluster


def _namespace_of(key: Key) -> str:
    return key.namespace


def _strategy(manifest: Mapping[str, Any]) -> str:
    strategy = (manifest.get("spec") or {}).get("strategy") or {}
    return "blueGreen" if isinstance(strategy, Mapping) and "blueGreen" in strategy else "canary"
