"""The async I/O shell around the pure core.

It observes a :class:`~progressive._clusters.Cluster`, calls
``progressive.core.reconcile``, applies the plan in one place
(:mod:`progressive._shell.apply`) and requeues.  Only this package talks to a cluster.
"""

from __future__ import annotations

from .._clusters import Cluster, Ref, merge_patch
from ..errors import AlreadyExists, ApplyError, ClusterError, Conflict, Forbidden, NotFound
from .apply import apply_action, apply_plan, write_status
from .clocks import Clock, VirtualClock, WallClock
from .controller import Controller, PassResult, ReconcileFailure, SettleResult
from .observe import observe, observe_rollout
from .traffic import MemoryTraffic, Traffic

__all__ = [
    "AlreadyExists",
    "ApplyError",
    "Clock",
    "Cluster",
    "ClusterError",
    "Conflict",
    "Forbidden",
    "Controller",
    "MemoryTraffic",
    "NotFound",
    "PassResult",
    "Ref",
    "ReconcileFailure",
    "SettleResult",
    "Traffic",
    "VirtualClock",
    "WallClock",
    "apply_action",
    "apply_plan",
    "merge_patch",
    "observe",
    "observe_rollout",
    "write_status",
]
