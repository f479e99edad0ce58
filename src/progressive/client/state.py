"""What the client reports about a Rollout: :class:`RolloutState` (its status at one
moment, with the weights and the pause as ``progressive get rollout`` shows them),
:class:`RolloutEvent` (a Kubernetes Event about it) and :class:`RolloutFailed`.

Pure: these read plain objects (the Rollout manifest, its ReplicaSets) and do no I/O.
:func:`canary_weights` and :func:`pause_of` are the one computation of the set and
actual weight and of the pause that the CLI, the dashboard and :func:`~progressive.client.watch`
share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ..core._durations import parse_duration
from ..core._lenient import as_int as _int
from ..core._lenient import as_map as _map
from ..core._names import HASH_LABEL
from ..core._replicas import weight_note
from ..core._status import PauseReason, RolloutStatus
from ..core._times import parse_time
from ..errors import ProgressiveError

__all__ = [
    "MANUAL_PAUSE",
    "CanaryWeights",
    "Pause",
    "RolloutEvent",
    "RolloutFailed",
    "RolloutState",
    "Update",
    "canary_weights",
    "needs_replica_sets",
    "pause_of",
]

#: The pause reason of a Rollout paused by a user (``spec.paused``: ``pause``), beside
#: the controller's (:class:`~progressive.core.PauseReason`: a pause step, a blue-green
#: promotion, an inconclusive analysis).
MANUAL_PAUSE: Final = "Manual"


def _canary(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    strategy = _map(_map(manifest.get("spec")).get("strategy"))
    if "blueGreen" in strategy:
        return None
    return _map(strategy.get("canary"))


# -- weights -------------------------------------------------------------------------------


@attrs.frozen
class CanaryWeights:
    """A canary's weights, in percent of the traffic, as ``get rollout`` shows them."""

    set: int  # what the current step asks for (Argo's GetCurrentSetWeight)
    actual: int  # what the canary gets: the routers' weight, or its share of the pods
    note: str = ""  # why ``actual`` is not ``set`` ("" when it is, or once complete)


def canary_weights(
    manifest: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]] = ()
) -> CanaryWeights | None:
    """The set and actual weight of a canary Rollout (None for a blue-green one).

    The set weight is the last ``setWeight`` at or before the current step (100 past
    the last step, or with no steps; 0 while aborted).  The actual weight is, with a
    traffic router, the weight the routers hold (``status.canary.weights.canary``);
    without one, the canary's share of the available pods, which whole pods round.
    Once the revision is complete (stable) it is 100.

    Args:
        manifest: the Rollout.
        replica_sets: the Rollout's own ReplicaSets (only the canary's is read, for
            the actual weight without a traffic router).
    """
    canary = _canary(manifest)
    if canary is None:
        return None
    spec = _map(manifest.get("spec"))
    status = _map(manifest.get("status"))
    steps = canary.get("steps") if isinstance(canary.get("steps"), list) else []
    index = _int(status.get("currentStepIndex"), 0)
    if status.get("abort") is True:
        weight = 0
    elif not steps or index >= len(steps):
        weight = 100
    else:
        weight = 0
        for step in reversed(steps[: index + 1]):
            if isinstance(step, Mapping) and isinstance(step.get("setWeight"), int):
                weight = int(step["setWeight"])
                break
    current = status.get("currentPodHash")
    complete = bool(status.get("stableRS")) and status.get("stableRS") == current
    canary_available = sum(
        _int(_map(rs.get("status")).get("availableReplicas"))
        for rs in replica_sets
        if current and _map(_map(rs.get("metadata")).get("labels")).get(HASH_LABEL) == current
    )
    routed = bool(canary.get("trafficRouting"))
    pods = _int(spec.get("replicas"), 1) if routed else _int(status.get("availableReplicas"))
    if complete:
        return CanaryWeights(weight, 100 if routed else weight)
    if routed:
        actual = _int(
            _map(_map(_map(status.get("canary")).get("weights")).get("canary")).get("weight")
        )
    else:
        actual = canary_available * 100 // pods if pods else 0
    note = weight_note(actual, weight, routed=routed, canary=canary_available, pods=pods)
    return CanaryWeights(weight, actual, note)


def needs_replica_sets(manifest: Mapping[str, Any]) -> bool:
    """Whether :func:`canary_weights` reads ReplicaSets for this Rollout: a canary
    without a traffic router, in the middle of an update."""
    canary = _canary(manifest)
    status = _map(manifest.get("status"))
    current = status.get("currentPodHash")
    return (
        canary is not None
        and not canary.get("trafficRouting")
        and bool(current)
        and status.get("stableRS") != current
    )


# -- pauses --------------------------------------------------------------------------------


@attrs.frozen
class Pause:
    """Why a Rollout is paused, since when, and until when (epoch seconds)."""

    reason: str  # a PauseReason (CanaryPauseStep, BlueGreenPause...) or MANUAL_PAUSE
    since: float | None = None
    until: float | None = None  # None: until promoted


def pause_of(manifest: Mapping[str, Any]) -> Pause | None:
    """The pause a Rollout is in (None: it is not paused, or it is aborted).

    A user's ``pause`` (``spec.paused``) comes first, as the phase message says
    ("manually paused"); then the controller's first pause condition.  A timed pause
    step ends at its start plus its duration; a blue-green preview with
    ``autoPromotionSeconds`` is promoted that long after it paused.
    """
    spec = _map(manifest.get("spec"))
    status = RolloutStatus.from_manifest(manifest.get("status"))
    if status.abort:
        return None
    if spec.get("paused") is True:
        return Pause(MANUAL_PAUSE)
    if not status.pause_conditions:
        return None
    held = status.pause_conditions[0]
    since = held.start_time or None
    seconds: object = None
    if held.reason == PauseReason.CANARY_STEP:
        steps = _map(_map(spec.get("strategy")).get("canary")).get("steps")
        index = status.current_step_index
        if isinstance(steps, list) and index is not None and 0 <= index < len(steps):
            seconds = _map(_map(steps[index]).get("pause")).get("duration")
    elif held.reason == PauseReason.BLUE_GREEN:
        blue_green = _map(_map(spec.get("strategy")).get("blueGreen"))
        if blue_green.get("autoPromotionEnabled") is not False:
            seconds = blue_green.get("autoPromotionSeconds") or None
    until = None
    if seconds is not None and since is not None:
        try:
            until = since + parse_duration(seconds)
        except ValueError:
            until = None  # an invalid spec: the status says so
    return Pause(held.reason, since, until)


# -- the state -----------------------------------------------------------------------------


@attrs.frozen
class RolloutState:
    """A Rollout's status at one moment (what ``progressive get rollout`` shows).

    ``set_weight`` and ``actual_weight`` are None for a blue-green Rollout; the actual
    weight of a canary without a traffic router is its share of the available pods,
    so :meth:`of` needs its ReplicaSets for it (:func:`~progressive.client.watch`
    reads them).
    """

    namespace: str
    name: str
    phase: str
    message: str
    step: int | None  # currentStepIndex (canary)
    steps: int | None  # how many canary steps there are
    set_weight: int | None  # percent of the traffic the current step asks for
    actual_weight: int | None  # percent the canary gets (see canary_weights)
    replicas: int
    updated: int
    available: int
    stable: str | None  # the stable pod-template hash
    current: str | None  # the pod-template hash the status is about
    aborted: bool
    generation: int
    observed_generation: int
    pause: Pause | None = None  # why, since and until when it is paused
    weight_note: str = ""  # why the actual weight is not the set one
    manifest: Mapping[str, Any] = attrs.field(eq=False, repr=False, factory=dict)

    @property
    def pause_reason(self) -> str | None:
        """Why it is paused (a PauseReason, or ``MANUAL_PAUSE``); None when it is not."""
        return None if self.pause is None else self.pause.reason

    @property
    def paused_until(self) -> float | None:
        """When a timed pause ends (epoch seconds); None when it is not one."""
        return None if self.pause is None else self.pause.until

    @classmethod
    def of(
        cls, manifest: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]] = ()
    ) -> RolloutState:
        """The state of a Rollout manifest.

        Args:
            manifest: the Rollout, as read from the cluster.
            replica_sets: its ReplicaSets, for the actual weight of a canary without a
                traffic router (without them that weight is 0 until the update is done).
        """
        meta = _map(manifest.get("metadata"))
        status = RolloutStatus.from_manifest(manifest.get("status"))
        canary = _canary(manifest)
        steps = canary.get("steps") if canary is not None else None
        weights = canary_weights(manifest, replica_sets)
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            phase=status.phase,
            message=status.message,
            step=status.current_step_index,
            steps=len(steps) if isinstance(steps, list) else None,
            set_weight=None if weights is None else weights.set,
            actual_weight=None if weights is None else weights.actual,
            replicas=status.replicas,
            updated=status.updated_replicas,
            available=status.available_replicas,
            stable=status.stable_rs,
            current=status.current_pod_hash,
            aborted=status.abort,
            generation=_int(meta.get("generation")),
            observed_generation=status.observed_generation,
            pause=pause_of(manifest),
            weight_note="" if weights is None else weights.note,
            manifest=manifest,
        )

    def __str__(self) -> str:
        parts = [self.phase or "(no status yet)"]
        if self.pause is not None:
            parts[0] += f" ({self.pause.reason})"
        if self.steps is not None and self.step is not None:
            parts.append(f"step {self.step}/{self.steps}")
        if self.set_weight is not None and self.current != self.stable:
            weight = f"weight {self.set_weight}%"
            if self.actual_weight != self.set_weight:
                weight += f" (actual {self.actual_weight}%)"
            parts.append(weight)
        parts.append(f"{self.available}/{self.replicas} available")
        text = f"{self.namespace}/{self.name}: " + ", ".join(parts)
        return f"{text}: {self.message}" if self.message else text


@attrs.frozen
class RolloutEvent:
    """A Kubernetes Event about the Rollout (``kubectl describe rollout`` shows them)."""

    namespace: str
    name: str  # the Rollout's
    type: str  # Normal | Warning
    reason: str
    message: str
    count: int = 1
    time: str = ""  # lastTimestamp

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> RolloutEvent:
        involved = _map(event.get("involvedObject"))
        return cls(
            namespace=str(involved.get("namespace") or ""),
            name=str(involved.get("name") or ""),
            type=str(event.get("type") or "Normal"),
            reason=str(event.get("reason") or ""),
            message=str(event.get("message") or ""),
            count=max(1, _int(event.get("count"), 1)),
            time=str(event.get("lastTimestamp") or event.get("eventTime") or ""),
        )

    @property
    def timestamp(self) -> float | None:
        """:attr:`time` in epoch seconds (None when there is none)."""
        return parse_time(self.time) if self.time else None

    def __str__(self) -> str:
        times = f" (x{self.count})" if self.count > 1 else ""
        return f"{self.type} {self.reason}: {self.message}{times}"


#: What :func:`~progressive.client.watch` yields.
Update = RolloutState | RolloutEvent


class RolloutFailed(ProgressiveError):
    """The current revision reached a failing phase (Degraded: aborted, invalid spec)."""

    def __init__(self, state: RolloutState) -> None:
        super().__init__(f"{state.namespace}/{state.name} is {state.phase}: {state.message}")
        self.state = state
