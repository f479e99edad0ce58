"""Collects a plan's actions in their safe order.

The order, whatever the strategy:

1. scale-ups and new ReplicaSets (more capacity never hurts);
2. weight *decreases* (traffic leaves a revision before anything else happens to it);
3. Service selectors;
4. weight increases, and the weight reset that follows a promotion (the stable Service
   already points at the new pods by then);
5. header and mirror routes, and their removal;
6. scale-downs and delayed scale-down marks (after traffic has moved away);
7. analysis runs and experiments;
8. events.

The status is not an action: the shell writes it after all of them.
"""

from __future__ import annotations

from ._actions import (
    Action,
    CreateReplicaSet,
    EmitEvent,
    ScaleReplicaSet,
    SetScaleDownDeadline,
    SetServiceSelector,
    SetWeight,
)
from ._observed import Observed, ReplicaSetView

__all__ = ["Builder"]


def _scaled_down_event(name: str) -> EmitEvent:
    return EmitEvent("ScaledDown", f"Scaled down ReplicaSet {name} to 0")


_BUCKETS = (
    "scale_up",
    "weight_down",
    "services",
    "weight_up",
    "routes",
    "scale_down",
    "runs",
    "events",
)


class Builder:
    """Mutable scratch space of one reconcile; the result is a frozen Plan."""

    def __init__(self, observed: Observed) -> None:
        self.observed = observed
        self.now = observed.now
        self._buckets: dict[str, list[Action]] = {b: [] for b in _BUCKETS}
        self.requeue: list[float] = []

    def add(self, bucket: str, action: Action) -> None:
        self._buckets[bucket].append(action)

    def event(self, reason: str, message: str, type_: str = "Normal") -> None:
        self._buckets["events"].append(EmitEvent(reason, message, type_))

    def at(self, when: float | None) -> None:
        if when is not None:
            self.requeue.append(when)

    def actions(self) -> tuple[Action, ...]:
        return tuple(a for b in _BUCKETS for a in self._buckets[b])

    def requeue_at(self) -> float | None:
        future = [t for t in self.requeue if t > self.now]
        return min(future) if future else None

    def planned(self, rs: ReplicaSetView) -> ReplicaSetView:
        """``rs`` as it will be once this plan's scale actions are applied."""
        for action in self._buckets["scale_up"] + self._buckets["scale_down"]:
            if isinstance(action, ScaleReplicaSet) and action.name == rs.name:
                rs = ReplicaSetView(
                    rs.name,
                    rs.pod_template_hash,
                    rs.revision,
                    action.replicas,
                    min(rs.ready_replicas, action.replicas),
                    min(rs.available_replicas, action.replicas),
                    rs.scale_down_deadline,
                    rs.created_at,
                )
        return rs

    # -- common moves ------------------------------------------------------------------
    def scale(self, rs: ReplicaSetView, replicas: int) -> ReplicaSetView:
        """Scale ``rs`` to ``replicas`` (up before traffic moves, down after).

        A later call for the same ReplicaSet replaces an earlier one in this plan.
        """
        original = self.observed_replica_set(rs)
        for bucket in ("scale_up", "scale_down"):
            self._buckets[bucket] = [
                a
                for a in self._buckets[bucket]
                if not (isinstance(a, ScaleReplicaSet) and a.name == rs.name)
            ]
        self._buckets["events"] = [
            a for a in self._buckets["events"] if a != _scaled_down_event(rs.name)
        ]
        if original.replicas != replicas:
            bucket = "scale_up" if replicas > original.replicas else "scale_down"
            self.add(bucket, ScaleReplicaSet(rs.name, replicas))
            if replicas == 0:
                self._buckets["events"].append(_scaled_down_event(rs.name))
        return self.planned(original)

    def observed_replica_set(self, rs: ReplicaSetView) -> ReplicaSetView:
        """``rs`` as observed (or as created by this plan), before any scaling."""
        for seen in self.observed.replica_sets:
            if seen.name == rs.name:
                return seen
        for action in self._buckets["scale_up"]:
            if isinstance(action, CreateReplicaSet) and action.name == rs.name:
                return self._created(action)
        return rs

    def _created(self, action: CreateReplicaSet) -> ReplicaSetView:
        """The view of a ReplicaSet this plan creates: no pod ready yet."""
        return ReplicaSetView(
            action.name,
            action.pod_template_hash,
            action.revision,
            action.replicas,
            0,
            0,
            None,
            self.now,
        )

    def create(self, action: CreateReplicaSet) -> ReplicaSetView:
        self.add("scale_up", action)
        self.event(
            "NewReplicaSet", f"Created ReplicaSet {action.name} (revision {action.revision})"
        )
        return self._created(action)

    def point(self, service: str | None, pod_hash: str) -> None:
        if service and self.observed.services.get(service) != pod_hash:
            self.add("services", SetServiceSelector(service, pod_hash))

    def weight(
        self, weight: int, observed: int, action: SetWeight, *, after_services: bool
    ) -> None:
        if weight == observed:
            return
        bucket = "weight_up" if weight > observed or after_services else "weight_down"
        self.add(bucket, action)
        self.event("SetWeight", f"Set canary weight to {weight}")

    def delay_scale_down(self, rs: ReplicaSetView, delay: int) -> None:
        """Scale ``rs`` to zero ``delay`` seconds from now (marking it first)."""
        if rs.replicas == 0:
            return
        if rs.scale_down_deadline is None:
            if delay <= 0:
                self.scale(rs, 0)
                return
            self.add("scale_down", SetScaleDownDeadline(rs.name, self.now + delay))
            self.at(self.now + delay)
        elif self.now >= rs.scale_down_deadline:
            self.scale(rs, 0)
        else:
            self.at(rs.scale_down_deadline)

    def cancel_scale_down(self, rs: ReplicaSetView) -> ReplicaSetView:
        if rs.scale_down_deadline is None:
            return rs
        self.add("scale_up", SetScaleDownDeadline(rs.name, None))
        return ReplicaSetView(
            rs.name,
            rs.pod_template_hash,
            rs.revision,
            rs.replicas,
            rs.ready_replicas,
            rs.available_replicas,
            None,
            rs.created_at,
        )
