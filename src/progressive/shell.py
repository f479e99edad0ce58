"""The async shell, for programs that embed the controller or drive a plan themselves.

* :class:`Controller`: observe, reconcile and apply every Rollout of a cluster;
  ``run()`` on a real one, ``settle()`` on the in-memory one with a
  :class:`VirtualClock` (every ready key handled, then the clock jumps to the next
  timer).
* One Rollout by hand: :func:`observe` (a cluster's objects -> the core's ``Observed``),
  ``progressive.reconcile`` (-> a ``Plan``), :func:`apply_plan` (the plan's actions, in
  order, status last).
* Traffic: :class:`Traffic` is the interface apply and observe use;
  :class:`RouterTraffic` drives the routers of a
  :class:`~progressive.routers.RouterRegistry` (the default: progressive's and the
  installed plugins'), :class:`MemoryTraffic` keeps routes in one in-memory object.

Which parts are trio-safe: the controller, observe and apply are anyio code; on the
in-memory cluster they run under asyncio or trio alike (the test suite runs them under
both).  On a :class:`progressive.kube.KubeCluster` they need asyncio.
"""

from __future__ import annotations

from ._shell import (
    Clock,
    Controller,
    MemoryTraffic,
    PassResult,
    ReconcileFailure,
    SettleResult,
    Traffic,
    VirtualClock,
    WallClock,
    apply_action,
    apply_plan,
    observe,
    observe_rollout,
    write_status,
)
from ._shell.traffic import RouterTraffic

__all__ = [
    "Clock",
    "Controller",
    "MemoryTraffic",
    "PassResult",
    "ReconcileFailure",
    "RouterTraffic",
    "SettleResult",
    "Traffic",
    "VirtualClock",
    "WallClock",
    "apply_action",
    "apply_plan",
    "observe",
    "observe_rollout",
    "write_status",
]
