"""The controller: observe -> reconcile -> apply, for every Rollout, again and again.

One :meth:`Controller.reconcile_all` pass moves analysis runs, experiments and pod
restarts forward, then reconciles each Rollout: :func:`~progressive._shell.observe.observe`,
the core's pure ``reconcile()``, :func:`~progressive._shell.apply.apply_plan`.  One bad
Rollout (an invalid spec, an error while applying) is reported and backed off; it never
stops the others.  A pass that wrote anything is followed by another at once (what it
wrote may let something else move); a quiet pass sleeps until the earliest time anything
is due.  Experiments: only their ``duration`` is honoured for now (see
:mod:`progressive._shell.runs`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import anyio.lowlevel
import attrs

from ..core._errors import ManifestError
from ..core._plan import Plan
from ..core._reconcile import reconcile, reconcile_invalid
from ..core._rollout import API_GROUPS, Rollout, read_rollout
from ..core._status import RolloutStatus
from ..metrics._protocol import MetricProvider
from .apply import apply_plan, write_status
from .clocks import Clock
from .clusters import Cluster, Conflict
from .observe import observe_rollout
from .restarts import advance_restarts
from .runs import advance_analysis_runs, advance_experiments
from .traffic import RouterTraffic, TrafficRouter

__all__ = ["Controller", "PassResult", "RolloutError", "SettleResult"]

log = logging.getLogger("progressive.controller")

MAX_BACKOFF: Final = 300.0


@attrs.frozen
class RolloutError:
    """A Rollout that could not be reconciled in a pass."""

    key: str
    error: BaseException


@attrs.frozen
class PassResult:
    """What one pass did: ``writes`` > 0 means another pass should follow at once."""

    writes: int = 0
    next_at: float | None = None
    errors: tuple[RolloutError, ...] = ()


@attrs.frozen
class SettleResult:
    passes: int
    idle: bool  # True: nothing more is scheduled; False: a bound was reached
    errors: tuple[RolloutError, ...] = ()


def _earliest(*times: float | None) -> float | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


PlanHook = Callable[[Rollout, Plan], None]


class Controller:
    """Reconciles every Rollout in ``cluster`` (or in one ``namespace``).

    Args:
        cluster: where the objects live.
        clock: ``now`` for every reconcile; ``settle`` sleeps on it.
        traffic: the traffic routers (default: :class:`RouterTraffic` on ``cluster``).
        provider: measures analysis metrics (default:
            :func:`progressive.metrics.default_registry` on ``cluster``: prometheus,
            web and job).
        on_plan: called with each Rollout and its plan before the plan is applied.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        clock: Clock,
        traffic: TrafficRouter | None = None,
        provider: MetricProvider | None = None,
        namespace: str | None = None,
        on_plan: PlanHook | None = None,
    ) -> None:
        self.cluster = cluster
        self.clock = clock
        self.traffic: TrafficRouter = traffic if traffic is not None else RouterTraffic(cluster)
        if provider is None:
            from ..metrics import default_registry  # the providers import the shell

            provider = default_registry(cluster)
        self.provider: MetricProvider = provider
        self.namespace = namespace
        self.on_plan = on_plan
        self._failures: dict[str, int] = {}

    async def reconcile_all(self) -> PassResult:
        """One pass over every analysis run, experiment, restart and Rollout."""
        now = self.clock.now()
        runs = await advance_analysis_runs(self.cluster, self.provider, now, self.namespace)
        experiments = await advance_experiments(self.cluster, now, self.namespace)
        writes = runs.writes + experiments.writes
        writes += await advance_restarts(self.cluster, self.namespace)
        next_at = _earliest(runs.next_at, experiments.next_at)
        errors: list[RolloutError] = []
        for group in API_GROUPS:
            for manifest in await self.cluster.list(group, "Rollout", self.namespace):
                key = _key(manifest)
                try:
                    wrote, when = await self.reconcile_one(manifest, now)
                except Conflict:
                    wrote, when = 1, now  # changed under us: look again at once
                except Exception as exc:  # one bad Rollout must not stop the others
                    log.exception("reconciling Rollout %s failed", key)
                    errors.append(RolloutError(key, exc))
                    failures = self._failures.get(key, 0) + 1
                    self._failures[key] = failures
                    wrote, when = 0, now + min(MAX_BACKOFF, 2.0**failures)
                else:
                    self._failures.pop(key, None)
                writes += wrote
                next_at = _earliest(next_at, when)
        return PassResult(writes, next_at, tuple(errors))

    async def reconcile_one(
        self, manifest: Mapping[str, Any], now: float
    ) -> tuple[int, float | None]:
        """Observe, reconcile and apply one Rollout; returns (writes, requeue time)."""
        if (manifest.get("metadata") or {}).get("deletionTimestamp"):
            return 0, None
        rollout, problems = read_rollout(manifest)
        errors = [p for p in problems if p.severity == "error"]
        if rollout is not None and not errors:
            errors = self.traffic.validate(rollout)  # router configs: InvalidSpec too
        if rollout is None or errors:
            message = str(ManifestError(errors))
            stored = RolloutStatus.from_manifest(manifest.get("status"))
            generation = int((manifest.get("metadata") or {}).get("generation") or 1)
            status = reconcile_invalid(stored, message, generation)
            return int(await write_status(self.cluster, manifest, status)), None
        aligned = await self.traffic.align(rollout)  # routers that disagree: back together
        observed = await observe_rollout(self.cluster, rollout, traffic=self.traffic, now=now)
        plan = reconcile(observed)
        if self.on_plan is not None:
            self.on_plan(rollout, plan)
        writes = await apply_plan(
            self.cluster, manifest, rollout, plan, traffic=self.traffic, now=now
        )
        return writes + aligned, plan.requeue_at

    async def run(self, *, poll_interval: float = 5.0) -> None:
        """Reconcile until cancelled, on a real clock.

        A pass that wrote is followed by another at once; otherwise the next pass comes
        when something is due, or after ``poll_interval`` (nothing watches the cluster
        yet, so edits made by others are seen at the latest then).
        """
        while True:
            result = await self.reconcile_all()
            if result.writes:
                await anyio.lowlevel.checkpoint()
                continue
            now = self.clock.now()
            await self.clock.sleep_until(min(result.next_at or math.inf, now + poll_interval))

    async def settle(
        self,
        *,
        until: float | None = None,
        max_passes: int = 10_000,
        wakeup: Callable[[], float | None] | None = None,
        after_pass: Callable[[PassResult], Awaitable[None]] | None = None,
    ) -> SettleResult:
        """Run passes, sleeping on the clock between them, until nothing is scheduled.

        Args:
            until: stop rather than sleep past this time.
            max_passes: stop after this many passes (a livelock guard).
            wakeup: other times to wake at (``MemoryCluster.next_event_at``: pods
                becoming ready).
            after_pass: awaited after every pass (timelines, live views).
        """
        passes = 0
        errors: list[RolloutError] = []
        while passes < max_passes:
            result = await self.reconcile_all()
            passes += 1
            errors.extend(result.errors)
            if after_pass is not None:
                await after_pass(result)
            if result.writes:
                continue
            now = self.clock.now()
            due = _earliest(result.next_at, wakeup() if wakeup is not None else None)
            if due is None:
                return SettleResult(passes, True, tuple(errors))
            if until is not None and due > until:
                return SettleResult(passes, False, tuple(errors))
            await self.clock.sleep_until(max(due, now))
        return SettleResult(passes, False, tuple(errors))


def _key(manifest: Mapping[str, Any]) -> str:
    meta = manifest.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '?')}"
