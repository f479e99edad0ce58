"""``workloadRef``: a Rollout that takes its pod template from an existing Deployment.

This is how a Deployment is migrated (the seed article's recipe): the Rollout runs
beside the Deployment with the same pod template, and the Deployment is scaled down by
the Rollout's ``workloadRef.scaleDown`` policy:

* ``never``: the Deployment is left as it is (scale it down yourself);
* ``onsuccess``: to zero once the Rollout is Healthy on its own pods;
* ``progressively``: by as many pods as the Rollout has available, so the two together
  always serve at least ``spec.replicas``.

The Deployment is only ever scaled *down*: a user who scales it up again is not fought.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ._actions import ScaleWorkload
from ._builder import PlanBuilder
from ._rollout import Rollout, derived

__all__ = ["plan_workload_scale_down", "with_workload"]


def with_workload(rollout: Rollout, workload: Mapping[str, Any]) -> Rollout:
    """``rollout`` with the pod template (and, when it has none, the selector) of the
    workload its ``workloadRef`` names."""
    spec = workload.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    template = spec.get("template")
    selector = spec.get("selector")
    return derived(
        rollout,
        template=copy.deepcopy(dict(template)) if isinstance(template, Mapping) else {},
        selector=dict(rollout.selector)
        or (copy.deepcopy(dict(selector)) if isinstance(selector, Mapping) else {}),
    )


def plan_workload_scale_down(
    b: PlanBuilder, rollout: Rollout, *, healthy: bool, available: int
) -> None:
    """Scale the referenced Deployment down as ``workloadRef.scaleDown`` says."""
    ref = rollout.workload_ref
    workload = b.observed.workload
    if ref is None or workload is None or ref.scale_down == "never":
        return
    if ref.scale_down == "onsuccess":
        want = 0 if healthy else workload.replicas
    else:  # progressively
        want = max(0, rollout.replicas - available)
    if want < workload.replicas:
        b.add("scale_down", ScaleWorkload(ref.api_version, ref.kind, ref.name, want))
        b.event("ScalingWorkload", f"Scaled {ref.kind} {ref.name} down to {want}")
