"""A Rollout on the in-memory cluster with a controller and a virtual clock, driven the
way Argo's docs tell a story: deploy revision 1, update, let time pass, then act as a
user would (promote, abort, scale, restart) and look at the ReplicaSets, Services,
routers and Events at the moments the docs name.

Pods turn ready ``pod_ready`` virtual seconds after they are created; metrics come from
a :class:`~progressive.metrics.ScriptedProvider` (``metrics``), Jobs are simulated.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from progressive._clusters import Ref
from progressive._shell import Controller, VirtualClock
from progressive._shell.traffic import RouterTraffic
from progressive.core import Plan, Rollout, abort, actions, promote, restart
from progressive.core._names import HASH_LABEL, REVISION_ANNOTATION
from progressive.memory import MemoryCluster
from progressive.metrics import ScriptedProvider, default_registry

#: a bound on every settle, in virtual seconds (a week, as ``simulate``'s)
LONG = 7 * 24 * 3600.0


class Stage:
    def __init__(
        self,
        documents: Sequence[Mapping[str, Any]],
        metrics: Mapping[str, Sequence[object]] | None = None,
        *,
        pod_ready: float = 2.0,
    ) -> None:
        self.documents = [copy.deepcopy(dict(d)) for d in documents]
        (self.manifest,) = [d for d in self.documents if d.get("kind") == "Rollout"]
        self.manifest.setdefault("metadata", {}).setdefault("namespace", "default")
        self.ref = Ref.of(self.manifest)
        self.cluster = MemoryCluster(VirtualClock(), pod_ready_seconds=pod_ready)
        provider = ScriptedProvider(metrics or {}, fallback=default_registry(self.cluster))
        self.controller = Controller(
            self.cluster, clock=self.cluster.clock, provider=provider, on_plan=self._planned
        )
        self.t0 = self.cluster.clock.now()
        #: every Event the controller's plans emitted: (t since the update, the Event)
        self.emitted: list[tuple[float, actions.EmitEvent]] = []

    def _planned(self, rollout: Rollout, plan: Plan) -> None:
        for action in plan.actions:
            if isinstance(action, actions.EmitEvent):
                self.emitted.append((self.t, action))

    # -- time ------------------------------------------------------------------------------
    @property
    def t(self) -> float:
        """Virtual seconds since the last :meth:`update` (or the start)."""
        return self.cluster.clock.now() - self.t0

    async def run(self, seconds: float = LONG) -> None:
        """Run the controller for at most ``seconds`` (stopping early once nothing more
        is scheduled)."""
        clock = self.cluster.clock
        assert isinstance(clock, VirtualClock)
        until = clock.now() + seconds
        result = await self.controller.settle(wakeup=self.cluster.next_event_at, until=until)
        assert result.errors == (), result.errors
        if seconds < LONG and clock.now() < until:
            # nothing was due before ``until``: the clock gets there all the same
            clock.advance(until - clock.now())
            result = await self.controller.settle(wakeup=self.cluster.next_event_at, until=until)
            assert result.errors == (), result.errors

    async def run_until(self, t: float) -> None:
        """Run until ``t`` seconds after the last update."""
        await self.run(self.t0 + t - self.cluster.clock.now())

    # -- the user's side -------------------------------------------------------------------
    async def start(self) -> Stage:
        """Create everything and run until revision 1 is deployed."""
        for doc in self.documents:
            if doc is not self.manifest:
                doc.setdefault("metadata", {}).setdefault("namespace", "default")
                await self.cluster.create(doc)
        await self.cluster.create(self.manifest)
        await self.run()
        assert self.phase == "Healthy", self.status
        self.t0 = self.cluster.clock.now()
        self.emitted.clear()
        return self

    async def update(self, image: str | None = None) -> None:
        """A new revision: the first container's image changed (to ``image``, or with
        ``-next`` added to its tag)."""
        template = copy.deepcopy((await self.rollout())["spec"]["template"])
        container = template["spec"]["containers"][0]
        container["image"] = image or f"{container['image']}-next"
        await self.cluster.patch(self.ref, {"spec": {"template": template}})
        self.t0 = self.cluster.clock.now()
        self.emitted.clear()

    async def edit(self, spec: Mapping[str, Any]) -> None:
        """A merge patch of the Rollout's spec (an HPA scaling it, a user editing it)."""
        await self.cluster.patch(self.ref, {"spec": dict(spec)})

    async def promote(self, *, full: bool = False) -> None:
        await self._command(promote(await self.model(), full=full))

    async def abort(self) -> None:
        await self._command(abort(await self.model()))

    async def restart(self, at: float | None = None) -> None:
        """``kubectl argo rollouts restart`` (``at``: a scheduled restart, seconds from now)."""
        now = self.cluster.clock.now()
        await self._command(restart(await self.model(), now + (at or 0.0)))

    async def _command(self, patches: tuple[dict[str, Any], dict[str, Any]]) -> None:
        for patch in patches:
            if patch:
                await self.cluster.patch(self.ref, patch)

    # -- what there is ---------------------------------------------------------------------
    async def rollout(self) -> dict[str, Any]:
        obj = await self.cluster.get(self.ref)
        assert obj is not None
        return obj

    async def model(self) -> Rollout:
        return Rollout.from_manifest(await self.rollout())

    @property
    def status(self) -> dict[str, Any]:
        (obj,) = [
            o
            for o in self.cluster.objects(self.ref.api_version, "Rollout")
            if o["metadata"]["name"] == self.ref.name
        ]
        return dict(obj.get("status") or {})

    @property
    def phase(self) -> str:
        return str(self.status.get("phase"))

    @property
    def step(self) -> int | None:
        index = self.status.get("currentStepIndex")
        return index if isinstance(index, int) else None

    def replica_set(self, revision: int) -> dict[str, Any]:
        """The ReplicaSet of a revision (1: the first deployed)."""
        found = [
            rs
            for rs in self.cluster.objects("apps/v1", "ReplicaSet")
            if rs["metadata"].get("annotations", {}).get(REVISION_ANNOTATION) == str(revision)
        ]
        assert len(found) == 1, (revision, [rs["metadata"]["name"] for rs in found])
        return found[0]

    def hash(self, revision: int) -> str:
        return str(self.replica_set(revision)["metadata"]["labels"][HASH_LABEL])

    def replicas(self, revision: int) -> tuple[int, int]:
        """``(spec.replicas, status.availableReplicas)`` of a revision's ReplicaSet."""
        rs = self.replica_set(revision)
        available = (rs.get("status") or {}).get("availableReplicas") or 0
        return int(rs["spec"]["replicas"]), int(available)

    def selector(self, service: str) -> str | None:
        """The pod-template hash a Service selects (None: none)."""
        for svc in self.cluster.objects("v1", "Service"):
            if svc["metadata"]["name"] == service:
                return (svc["spec"].get("selector") or {}).get(HASH_LABEL)
        raise AssertionError(f"no Service {service}")

    async def weight(self) -> int | None:
        """The canary weight every router holds."""
        return (await RouterTraffic(self.cluster).observe(await self.model())).weight

    def events(self, reason: str) -> list[tuple[float, actions.EmitEvent]]:
        """The Events of ``reason`` the plans emitted since the last update, with when."""
        return [(t, e) for t, e in self.emitted if e.reason == reason and t >= 0]

    def runs(self) -> list[dict[str, Any]]:
        return self.cluster.objects(self.ref.api_version, "AnalysisRun")

    def pods(self, revision: int) -> list[dict[str, Any]]:
        return self.cluster.pods_of(self.replica_set(revision))
