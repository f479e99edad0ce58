"""Replica arithmetic (Argo's ``utils/replicaset/canary.go``, simplified and made total).

Two regimes:

* **Traffic routing**: the routers decide who gets traffic, so the canary only needs
  capacity for its weight: ``ceil(weight * replicas / maxTrafficWeight)``.  The stable
  ReplicaSet stays at full size, unless ``dynamicStableScale`` shrinks it to the traffic
  it still receives.
* **Basic canary**: the pods *are* the traffic split, so the split closest to the weight
  is reached with a rolling update that honours ``maxSurge`` / ``maxUnavailable``.
"""

from __future__ import annotations

import math

__all__ = [
    "basic_split",
    "capacity_weight",
    "replicas_for_weight",
    "resolve_int_or_percent",
    "rolling_targets",
    "weight_note",
]


def resolve_int_or_percent(value: int | str, total: int, *, round_up: bool) -> int:
    """``"25%"`` of ``total`` (rounded up for surge, down for unavailable), or the int."""
    if isinstance(value, int):
        return value
    fraction = int(value.rstrip("%")) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def replicas_for_weight(weight: int, replicas: int, max_weight: int) -> int:
    """Pods needed to serve ``weight`` of ``max_weight`` of the traffic."""
    if weight <= 0:
        return 0
    return min(replicas, math.ceil(weight * replicas / max_weight))


def capacity_weight(available: int, replicas: int, max_weight: int) -> int:
    """The largest weight that ``available`` ready pods can take."""
    if replicas <= 0:
        return max_weight
    return min(max_weight, available * max_weight // replicas)


def weight_note(actual: int, set_weight: int, *, routed: bool, canary: int, pods: int) -> str:
    """Why a canary's actual weight is not the one its step sets ("" when it is), for
    people reading a timeline or a status line.  Weights are percents.

    With a traffic router (``routed``) the weight is held below the set one while the
    canary's ``canary`` available pods, of the Rollout's ``pods``, cannot carry it.
    Without one the weight *is* the canary's share of the ``pods`` serving pods, which
    whole pods round (one pod of three is 33% at a ``setWeight: 20`` step).
    """
    if actual == set_weight or pods <= 0:  # no pods serve yet: nothing to explain
        return ""
    if not routed:
        return f"no traffic router: the canary's share of the pods, {canary} of {pods}"
    if actual < set_weight:
        return (
            f"held below {set_weight}% until the canary has the pods for it: "
            f"{canary} of {pods} available carry {capacity_weight(canary, pods, 100)}%"
        )
    return ""


def basic_split(replicas: int, weight: int) -> tuple[int, int]:
    """(new, stable) replica counts whose split is closest to ``weight`` percent."""
    new = math.floor(replicas * weight / 100 + 0.5)
    if weight > 0 and new == 0 and replicas > 0:
        new = 1  # a canary at a non-zero weight always gets a pod
    if weight < 100 and new == replicas and replicas > 1:
        new = replicas - 1  # and so does the stable side below 100
    return new, replicas - new


def rolling_targets(
    current: dict[str, tuple[int, int]],
    desired: dict[str, int],
    replicas: int,
    max_surge: int | str,
    max_unavailable: int | str,
) -> dict[str, int]:
    """One rolling-update move toward ``desired``.

    Args:
        current: ReplicaSet name -> (spec replicas, available replicas).
        desired: ReplicaSet name -> the count it should end at (absent: 0).
        replicas: the Rollout's ``spec.replicas``.

    Returns the spec replicas to set now for every ReplicaSet in ``current``:
    scale-downs keep at least ``replicas - maxUnavailable`` available (unavailable
    pods go first, for free), then scale-ups fill what is left of
    ``replicas + maxSurge``.  Calling it again on its own result changes nothing until
    more pods become available.
    """
    surge = resolve_int_or_percent(max_surge, replicas, round_up=True)
    unavailable = resolve_int_or_percent(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    out = {name: spec for name, (spec, _) in current.items()}
    total_available = sum(min(avail, spec) for spec, avail in current.values())
    budget = max(0, total_available - (replicas - unavailable))
    # scale down what is not desired first (oldest intent), then desired-but-too-big
    order = sorted(current, key=lambda n: (n in desired, n))
    for name in order:
        spec, avail = current[name]
        target = desired.get(name, 0)
        if out[name] <= target:
            continue
        excess = out[name] - target
        unhealthy = max(0, spec - avail)
        free = min(excess, unhealthy)
        healthy = min(excess - free, budget)
        budget -= healthy
        out[name] -= free + healthy
    # then scale up into the room that is left (so one call reaches a fixed point)
    room = replicas + surge - sum(out.values())
    for name, target in desired.items():
        spec = out.get(name, 0)
        if target > spec and room > 0:
            step = min(target - spec, room)
            out[name] = spec + step
            room -= step
    return out
