"""Leader election on a ``coordination.k8s.io/v1`` Lease, after client-go's leaderelection.

Several controller replicas campaign for one Lease; the one whose identity is in
``spec.holderIdentity`` leads, and renews ``spec.renewTime`` every ``retry_period``.
The others wait until the record has not changed for ``lease_duration`` seconds *as they
observed it* (their own clock, never the leader's timestamps, so clock skew does not
matter) and then take it over, with the resourceVersion of what they read as a
precondition, so only one of two contenders wins.

:meth:`LeaderElector.run` runs the work only while leading, in an anyio task group:
when a renewal has not succeeded for ``renew_deadline`` seconds (or another holder is
seen) the group is cancelled, so *all* the work stops at once, and
:class:`LeadershipLost` is raised.  A graceful stop (the caller cancels ``run``, or the
work returns) releases the Lease by clearing ``holderIdentity``, so a standby takes
over at its next retry instead of after a whole lease duration.

Defaults are Argo's and client-go's: lease 15 s, renew deadline 10 s, retry 2 s.
"""

from __future__ import annotations

import logging
import math
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import anyio

from .._clusters import Cluster, Ref
from ..errors import AlreadyExists, ClusterError, Conflict, LeadershipLost
from .clocks import Clock, WallClock

__all__ = ["LEASE_API", "LeaderElector", "LeadershipLost", "default_identity", "micro_time"]

log = logging.getLogger("progressive.leader")

LEASE_API: Final = "coordination.k8s.io/v1"


def default_identity() -> str:
    """``<hostname>_<random>``: unique per process, readable in ``kubectl get lease``."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def micro_time(seconds: float) -> str:
    """A ``metav1.MicroTime``: RFC 3339 with exactly six fractional digits."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _spec(lease: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = lease.get("spec")
    return spec if isinstance(spec, Mapping) else {}


class LeaderElector:
    """Campaigns for the Lease ``namespace/name`` as ``identity``.

    Args:
        cluster: where the Lease lives (a KubeCluster; the in-memory cluster works too).
        lease_duration: how long a standby waits after the last observed renewal.
        renew_deadline: how long the leader keeps trying to renew before it gives up.
        retry_period: the wait between two attempts.
        release_on_cancel: clear ``holderIdentity`` when ``run`` ends other than by a
            loss of leadership.
        clock: wall time, for the timestamps written into the Lease.
        monotonic, sleep: the timer for observing and waiting (tests may replace them).
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        namespace: str,
        name: str,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_cancel: bool = True,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not lease_duration > renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if not renew_deadline > 1.2 * retry_period:
            raise ValueError("renew_deadline must be greater than 1.2 * retry_period")
        self.cluster = cluster
        self.ref = Ref(LEASE_API, "Lease", namespace, name)
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self.clock: Clock = clock if clock is not None else WallClock()
        self._monotonic = monotonic
        self._sleep = sleep
        self._observed: tuple[object, ...] | None = None
        self._observed_at = 0.0
        self.leading = False
        self.holder = ""  # the holder last seen
        self.transitions = 0

    def __repr__(self) -> str:
        return f"<LeaderElector {self.identity} for {self.ref}>"

    # -- one attempt -------------------------------------------------------------------
    def _observe(self, spec: Mapping[str, Any]) -> None:
        record = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            spec.get("acquireTime"),
            spec.get("leaseTransitions"),
        )
        if record != self._observed:
            self._observed = record
            self._observed_at = self._monotonic()
        self.holder = str(spec.get("holderIdentity") or "")

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the Lease; True while this elector holds it."""
        now = self.clock.now()
        lease = await self.cluster.get(self.ref)
        duration = max(1, math.ceil(self.lease_duration))
        if lease is None:
            try:
                await self.cluster.create(
                    {
                        "apiVersion": LEASE_API,
                        "kind": "Lease",
                        "metadata": {"name": self.ref.name, "namespace": self.ref.namespace},
                        "spec": {
                            "holderIdentity": self.identity,
                            "leaseDurationSeconds": duration,
                            "acquireTime": micro_time(now),
                            "renewTime": micro_time(now),
                            "leaseTransitions": 0,
                        },
                    }
                )
            except AlreadyExists:
                return False
            self._took(0)
            return True
        spec = _spec(lease)
        self._observe(spec)
        holder = self.holder
        held_for = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity:
            if self._observed_at + held_for > self._monotonic():
                self.leading = False
                return False  # someone else holds a live lease
        transitions = int(spec.get("leaseTransitions") or 0)
        new_spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": duration,
            "renewTime": micro_time(now),
        }
        if holder != self.identity:
            transitions += 1
            new_spec["acquireTime"] = micro_time(now)
            new_spec["leaseTransitions"] = transitions
        rv = (lease.get("metadata") or {}).get("resourceVersion")
        try:
            updated = await self.cluster.patch(
                self.ref, {"metadata": {"resourceVersion": rv}, "spec": new_spec}
            )
        except Conflict:
            return False
        self._observe(_spec(updated))
        self._took(transitions)
        return True

    def _took(self, transitions: int) -> None:
        if not self.leading:
            log.info("%s became the leader of %s", self.identity, self.ref)
        self.leading = True
        self.holder = self.identity
        self.transitions = transitions

    async def release(self) -> bool:
        """Give the Lease up if this elector holds it: standbys take over at once."""
        lease = await self.cluster.get(self.ref)
        self.leading = False
        if lease is None or _spec(lease).get("holderIdentity") != self.identity:
            return False
        now = micro_time(self.clock.now())
        rv = (lease.get("metadata") or {}).get("resourceVersion")
        try:
            await self.cluster.patch(
                self.ref,
                {
                    "metadata": {"resourceVersion": rv},
                    "spec": {
                        "holderIdentity": None,
                        "leaseDurationSeconds": 1,
                        "renewTime": now,
                        "acquireTime": now,
                    },
                },
            )
        except ClusterError as exc:
            log.warning("%s could not release %s: %s", self.identity, self.ref, exc)
            return False
        log.info("%s released %s", self.identity, self.ref)
        return True

    async def _attempt(self, limit: float) -> bool:
        """One attempt, bounded in time; errors count as a failed attempt."""
        with anyio.move_on_after(max(0.0, limit)):
            try:
                return await self.try_acquire_or_renew()
            except ClusterError as exc:
                log.warning("%s: lease %s: %s", self.identity, self.ref, exc)
        return False

    # -- campaigning -------------------------------------------------------------------
    async def acquire(self) -> None:
        """Return once this elector leads (retrying every ``retry_period``)."""
        while not await self._attempt(self.renew_deadline):
            await self._sleep(self.retry_period)

    async def _keep(self) -> None:
        """Renew until leadership is lost; then return."""
        last = self._monotonic()
        while True:
            await self._sleep(self.retry_period)
            while True:
                remaining = last + self.renew_deadline - self._monotonic()
                if remaining <= 0:
                    log.warning("%s could not renew %s in time", self.identity, self.ref)
                    self.leading = False
                    return
                if await self._attempt(remaining):
                    last = self._monotonic()
                    break
                if self.holder and self.holder != self.identity:
                    log.warning("%s lost %s to %s", self.identity, self.ref, self.holder)
                    self.leading = False
                    return
                await self._sleep(min(self.retry_period, max(0.0, remaining)))

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Campaign, then run ``work`` while leading.

        Raises:
            LeadershipLost: leadership was lost; ``work`` was cancelled.  (Controllers
                usually exit then, so a fresh process campaigns again.)
        """
        await self.acquire()
        lost = False
        try:
            async with anyio.create_task_group() as tg:

                async def keep() -> None:
                    nonlocal lost
                    await self._keep()
                    lost = True
                    tg.cancel_scope.cancel()

                async def do_work() -> None:
                    await work()
                    tg.cancel_scope.cancel()

                tg.start_soon(keep)
                tg.start_soon(do_work)
        finally:
            if not lost and self.release_on_cancel:
                with anyio.CancelScope(shield=True), anyio.move_on_after(self.retry_period):
                    try:
                        await self.release()
                    except ClusterError as exc:
                        log.warning("%s could not release %s: %s", self.identity, self.ref, exc)
            self.leading = False
        if lost:
            raise LeadershipLost(f"{self.identity} lost the lease {self.ref}")
