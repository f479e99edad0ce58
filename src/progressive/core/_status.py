"""The Rollout's status: what the controller remembers between reconciles.

Everything else is derived from the observed objects on each reconcile, so the status
holds only what cannot be: where in the steps we are, which revision is stable, pauses
the user has to end, an abort, and the progress clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._times import format_time, parse_time

__all__ = [
    "Condition",
    "PauseCondition",
    "PauseReason",
    "Phase",
    "RolloutStatus",
]


class Phase:
    """The four phases a Rollout reports (Argo's ``status.phase`` vocabulary)."""

    HEALTHY: Final = "Healthy"
    PROGRESSING: Final = "Progressing"
    PAUSED: Final = "Paused"
    DEGRADED: Final = "Degraded"


class PauseReason:
    """The reasons a rollout pauses (Argo's ``pauseConditions[].reason``)."""

    CANARY_STEP: Final = "CanaryPauseStep"
    BLUE_GREEN: Final = "BlueGreenPause"
    INCONCLUSIVE_ANALYSIS: Final = "InconclusiveAnalysisRun"
    INCONCLUSIVE_EXPERIMENT: Final = "InconclusiveExperiment"


@attrs.frozen
class PauseCondition:
    """Why the rollout is paused (a ``PauseReason``) and since when."""

    reason: str
    start_time: float


@attrs.frozen
class Condition:
    """A Kubernetes-style status condition (``Progressing``, ``Healthy``, ...).

    Two conditions are equal when they say the same thing: the times are bookkeeping
    (``lastTransitionTime``: when ``status`` last changed; ``lastUpdateTime``: when
    anything last changed, or for ``Progressing`` while the rollout waits on
    infrastructure, since when it has waited), stamped by ``_state.finish``.
    """

    type: str
    status: str  # "True" | "False" | "Unknown", as Kubernetes writes it
    reason: str = ""
    message: str = ""
    last_transition_time: float | None = attrs.field(default=None, eq=False)
    last_update_time: float | None = attrs.field(default=None, eq=False)

    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }
        for key, value in (
            ("lastTransitionTime", self.last_transition_time),
            ("lastUpdateTime", self.last_update_time),
        ):
            if value is not None:
                out[key] = format_time(value)
        return out

    @classmethod
    def from_manifest(cls, item: Mapping[str, Any]) -> Condition:
        return cls(
            str(item["type"]),
            str(item.get("status", "Unknown")),
            str(item.get("reason") or ""),
            str(item.get("message") or ""),
            parse_time(item.get("lastTransitionTime")),
            parse_time(item.get("lastUpdateTime")),
        )


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _weight(value: Any, default: int) -> int:
    """``{"weight": 20}`` -> 20 (``status.canary.weights.canary`` and ``.stable``)."""
    found = _opt_int(value.get("weight")) if isinstance(value, Mapping) else None
    return default if found is None else found


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ping_pong(value: Any) -> str | None:
    return value if value in ("ping", "pong") else None


@attrs.frozen
class RolloutStatus:
    """``status`` of a Rollout.  Field names follow Argo's, in snake_case."""

    phase: str = ""
    message: str = ""
    observed_generation: int = 0
    current_pod_hash: str | None = None
    current_step_hash: str | None = None
    current_step_index: int | None = None
    stable_rs: str | None = None
    abort: bool = False
    aborted_at: float | None = None
    pause_conditions: tuple[PauseCondition, ...] = ()
    controller_pause: bool = False
    promote_full: bool = False
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    conditions: tuple[Condition, ...] = ()
    # the traffic the routers send to the canary and to the stable Service, out of
    # maxTrafficWeight (100 by default)
    canary_weight: int = 0
    stable_weight: int = 100
    active_selector: str | None = None
    preview_selector: str | None = None
    # when a blue-green auto-promotion or an inconclusive pause began is in
    # pause_conditions; the progress clock is the Progressing condition's
    # lastUpdateTime (``_state.track_progress``); restart bookkeeping:
    restarted_at: str | None = None
    # the label selector as a string (app=web): the scale subresource's labelSelectorPath
    selector: str = ""
    # the pods receiving active traffic (Argo's HPAReplicas, the scale subresource's
    # statusReplicasPath under Argo's CRD): every ReplicaSet's status.replicas, or the
    # active ReplicaSet's alone for a blue-green Rollout that has one
    hpa_replicas: int = 0
    # canary.pingPong: which Service is stable now, "ping" or "pong" (None: not set yet)
    stable_ping_pong: str | None = None

    def condition(self, type_: str) -> Condition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None

    def has_pause(self, reason: str) -> PauseCondition | None:
        for pause in self.pause_conditions:
            if pause.reason == reason:
                return pause
        return None

    # -- manifest form ------------------------------------------------------------------
    def to_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "phase": self.phase,
            "message": self.message,
            "observedGeneration": str(self.observed_generation),
            "abort": self.abort,
            "controllerPause": self.controller_pause,
            "promoteFull": self.promote_full,
            "replicas": self.replicas,
            "updatedReplicas": self.updated_replicas,
            "readyReplicas": self.ready_replicas,
            "availableReplicas": self.available_replicas,
            "pauseConditions": [
                {"reason": p.reason, "startTime": format_time(p.start_time)}
                for p in self.pause_conditions
            ],
            "conditions": [c.to_manifest() for c in self.conditions],
            "canary": {
                "weights": {
                    "canary": {"weight": self.canary_weight},
                    "stable": {"weight": self.stable_weight},
                },
                **({"stablePingPong": self.stable_ping_pong} if self.stable_ping_pong else {}),
            },
        }
        if self.selector:
            out["selector"] = self.selector
        if self.hpa_replicas:
            out["HPAReplicas"] = self.hpa_replicas  # omitempty, as Argo writes it
        optional: dict[str, Any] = {
            "currentPodHash": self.current_pod_hash,
            "currentStepHash": self.current_step_hash,
            "currentStepIndex": self.current_step_index,
            "stableRS": self.stable_rs,
            "abortedAt": None if self.aborted_at is None else format_time(self.aborted_at),
            "restartedAt": self.restarted_at,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        blue_green = {
            "activeSelector": self.active_selector,
            "previewSelector": self.preview_selector,
        }
        if any(v is not None for v in blue_green.values()):
            out["blueGreen"] = {k: v for k, v in blue_green.items() if v is not None}
        return out

    @classmethod
    def from_manifest(cls, data: object) -> RolloutStatus:
        """Read a stored status leniently: unreadable fields fall back to their defaults.

        A status is written by controllers, not people; a damaged one must never stop
        the controller, so this never raises.
        """
        if not isinstance(data, Mapping):
            return cls()
        pauses = []
        for item in _list(data.get("pauseConditions")):
            if isinstance(item, Mapping) and isinstance(item.get("reason"), str):
                start = parse_time(item.get("startTime"))
                pauses.append(PauseCondition(item["reason"], 0.0 if start is None else start))
        conditions = [
            Condition.from_manifest(item)
            for item in _list(data.get("conditions"))
            if isinstance(item, Mapping) and isinstance(item.get("type"), str)
        ]
        canary = data.get("canary")
        weights = canary.get("weights") if isinstance(canary, Mapping) else None
        weights = weights if isinstance(weights, Mapping) else {}
        blue_green = data.get("blueGreen")
        blue_green = blue_green if isinstance(blue_green, Mapping) else {}
        generation = data.get("observedGeneration")
        try:
            observed_generation = int(generation) if generation is not None else 0
        except (TypeError, ValueError, OverflowError):
            observed_generation = 0
        return cls(
            phase=_opt_str(data.get("phase")) or "",
            message=_opt_str(data.get("message")) or "",
            observed_generation=observed_generation,
            current_pod_hash=_opt_str(data.get("currentPodHash")),
            current_step_hash=_opt_str(data.get("currentStepHash")),
            current_step_index=_opt_int(data.get("currentStepIndex")),
            stable_rs=_opt_str(data.get("stableRS")),
            abort=data.get("abort") is True,
            aborted_at=parse_time(data.get("abortedAt")),
            pause_conditions=tuple(pauses),
            controller_pause=data.get("controllerPause") is True,
            promote_full=data.get("promoteFull") is True,
            replicas=_opt_int(data.get("replicas")) or 0,
            updated_replicas=_opt_int(data.get("updatedReplicas")) or 0,
            ready_replicas=_opt_int(data.get("readyReplicas")) or 0,
            available_replicas=_opt_int(data.get("availableReplicas")) or 0,
            conditions=tuple(conditions),
            canary_weight=_weight(weights.get("canary"), 0),
            stable_weight=_weight(weights.get("stable"), 100),
            active_selector=_opt_str(blue_green.get("activeSelector")),
            preview_selector=_opt_str(blue_green.get("previewSelector")),
            restarted_at=_opt_str(data.get("restartedAt")),
            selector=_opt_str(data.get("selector")) or "",
            hpa_replicas=_opt_int(data.get("HPAReplicas")) or 0,
            stable_ping_pong=_ping_pong(canary.get("stablePingPong"))
            if isinstance(canary, Mapping)
            else None,
        )
