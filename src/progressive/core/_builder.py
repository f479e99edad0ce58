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
8. events, in the order of the steps they tell of: an event emitted after the step walk
   (the weight, a header route) may be placed at the :meth:`PlanBuilder.mark` its step
   took, so that "Set canary weight to 10" comes before the "Paused" of the pause step
   after the ``setWeight: 10`` step, as a reader of the events expects.

The status is not an action: the shell writes it after all of them.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import attrs

from ._actions import (
    Action,
    CreateReplicaSet,
    EmitEvent,
    ScaleReplicaSet,
    SetScaleDownDeadline,
    SetServiceSelector,
    WriteWeight,
)
from ._observed import Observed, ReplicaSetView

__all__ = ["Bucket", "Mark", "PlanBuilder"]


@attrs.frozen
class Mark:
    """A place among a plan's events (:meth:`PlanBuilder.mark`), and the step walked then."""

    place: int
    step: int | None


def _scaled_down_event(name: str) -> EmitEvent:
    return EmitEvent("ScaledDown", f"Scaled down ReplicaSet {name} to 0")


#: Where an action goes in a plan (the order above); a typo is a type error.
Bucket = Literal["scale_up", "weight_down", "services", "weight_up", "routes", "scale_down", "runs"]
_BUCKETS: Final[tuple[Bucket, ...]] = get_args(Bucket)
_SCALES: Final[tuple[Bucket, ...]] = ("scale_up", "scale_down")


class PlanBuilder:
    """Mutable scratch space of one reconcile; the result is a frozen Plan."""

    def __init__(self, observed: Observed) -> None:
        self.observed = observed
        self.now = observed.now
        self._buckets: dict[Bucket, list[Action]] = {b: [] for b in _BUCKETS}
        # events with their place: an emitted one gets the next whole number, one
        # placed at a mark half a place before the event emitted after that mark
        self._events: list[tuple[float, EmitEvent]] = []
        self._emitted = 0
        self.requeue: list[float] = []
        # the canary step the walk is at: what the events emitted now tell of
        self.step: int | None = None

    def add(self, bucket: Bucket, action: Action) -> None:
        self._buckets[bucket].append(action)

    def mark(self) -> Mark:
        """A place among the events: after those emitted so far, before the next."""
        return Mark(self._emitted, self.step)

    def event(
        self, reason: str, message: str, type_: str = "Normal", *, at: Mark | None = None
    ) -> None:
        """Emit an event, at the end or at a place :meth:`mark` gave."""
        if at is None:
            place, step = float(self._emitted), self.step
            self._emitted += 1
        else:
            place, step = at.place - 0.5, at.step
        self._events.append((place, EmitEvent(reason, message, type_, step)))

    def at(self, when: float | None) -> None:
        if when is not None:
            self.requeue.append(when)

    def actions(self) -> tuple[Action, ...]:
        events = [e for _, e in sorted(self._events, key=lambda placed: placed[0])]
        return (*(a for b in _BUCKETS for a in self._buckets[b]), *events)

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
        for bucket in _SCALES:
            self._buckets[bucket] = [
                a
                for a in self._buckets[bucket]
                if not (isinstance(a, ScaleReplicaSet) and a.name == rs.name)
            ]
        scaled_down = _scaled_down_event(rs.name)
        self._events = [(place, e) for place, e in self._events if e != scaled_down]
        if original.replicas != replicas:
            self.add(
                "scale_up" if replicas > original.replicas else "scale_down",
                ScaleReplicaSet(rs.name, replicas),
            )
            if replicas == 0:
                self.event(scaled_down.reason, scaled_down.message)
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
        self,
        weight: int,
        observed: int,
        action: WriteWeight,
        *,
        after_services: bool,
        at: Mark | None = None,
    ) -> None:
        if weight == observed:
            return
        bucket: Bucket = "weight_up" if weight > observed or after_services else "weight_down"
        self.add(bucket, action)
        self.event("SetWeight", f"Set canary weight to {weight}", at=at)

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
