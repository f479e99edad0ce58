"""Running a controller as a process does: leader election, graceful shutdown, metrics.

:func:`supervise` runs :meth:`Controller.run <progressive._shell.controller.Controller.run>`
(of one controller, or of several: one per namespace, all at once) -- while it holds
the leader Lease, when given a
:class:`~progressive._shell.leader.LeaderElector` -- until ``shutdown`` is set or it is
cancelled:

* leadership lost: the elector cancels the controller at once (no reconcile goes on
  after the Lease may be someone else's) and :class:`LeadershipLost` is raised: exit,
  so that a fresh process campaigns again (as Argo Rollouts and client-go do);
* ``shutdown`` set (SIGTERM, SIGINT): the controller takes no new key and the
  reconciles in flight finish, for at most ``grace`` seconds; then the Lease is
  released, so a standby takes over at its next retry instead of a lease duration
  later.  A standby, which runs nothing, stops at once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import anyio

from ..errors import LeadershipLost
from .controller import ANALYSIS_WORKERS, ANALYSIS_WORKERS_PER_NAMESPACE, WORKERS, Controller
from .leader import LeaderElector
from .metrics import ControllerMetrics

__all__ = ["supervise"]

log = logging.getLogger("progressive.controller")


async def supervise(
    controller: Controller | Sequence[Controller],
    *,
    workers: int = WORKERS,
    analysis_workers: int = ANALYSIS_WORKERS,
    analysis_workers_per_namespace: int = ANALYSIS_WORKERS_PER_NAMESPACE,
    resync: float | None = 300.0,
    elector: LeaderElector | None = None,
    metrics: ControllerMetrics | None = None,
    shutdown: anyio.Event | None = None,
    grace: float = 30.0,
) -> None:
    """Run ``controller`` (or each of several, at once; while leading, with
    ``elector``) until ``shutdown`` is set.

    ``workers``, ``analysis_workers`` and ``analysis_workers_per_namespace`` are
    :meth:`Controller.run <progressive._shell.controller.Controller.run>`'s.

    Raises:
        LeadershipLost: the Lease was lost; the controller was stopped at once.
    """
    lost: LeadershipLost | None = None
    controllers = [controller] if isinstance(controller, Controller) else list(controller)

    async with anyio.create_task_group() as tg:

        async def work() -> None:
            if metrics is not None:
                metrics.set_leader(True)
            try:
                async with anyio.create_task_group() as runs:
                    for each in controllers:
                        runs.start_soon(
                            functools.partial(
                                each.run,
                                workers=workers,
                                analysis_workers=analysis_workers,
                                analysis_workers_per_namespace=analysis_workers_per_namespace,
                                resync=resync,
                            )
                        )
            finally:
                if metrics is not None:
                    metrics.set_leader(False)

        async def main() -> None:
            nonlocal lost
            try:
                if elector is None:
                    await work()
                else:
                    await elector.run(work)
            except LeadershipLost as exc:
                log.error("%s", exc)
                lost = exc
            tg.cancel_scope.cancel()

        async def on_shutdown(event: anyio.Event) -> None:
            await event.wait()
            if not any(each.running for each in controllers):
                log.info("shutting down")
                tg.cancel_scope.cancel()
                return
            log.info("shutting down: finishing the reconciles in flight (at most %ss)", grace)
            for each in controllers:
                each.stop()
            await anyio.sleep(grace)
            log.warning("reconciles still in flight after %ss: cancelled", grace)
            tg.cancel_scope.cancel()

        tg.start_soon(main)
        if shutdown is not None:
            tg.start_soon(on_shutdown, shutdown)
    if lost is not None:
        raise lost
