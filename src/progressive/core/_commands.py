"""What the user commands do to a Rollout, as pure functions on its manifest.

``promote``, ``abort``, ``retry``, ``pause``, ``restart`` are the same edits Argo's
kubectl plugin makes, and ``resume`` ends a ``pause`` only; :mod:`progressive.client`
(which the CLI and the dashboard call) sends them.  Each
takes the Rollout manifest (a dict) and returns ``(spec_patch, status_patch)``: merge
patches for the main resource and for its status subresource.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ._rollout import Rollout
from ._times import format_time

__all__ = ["abort", "merge_patch", "pause", "promote", "restart", "resume", "retry"]

Patch = dict[str, Any]


def promote(rollout: Rollout, *, full: bool = False) -> tuple[Patch, Patch]:
    """Resume from a pause; skip the current step when not paused; ``full`` skips all.

    ``promote`` clears ``spec.paused`` and the pause conditions; the controller sees
    its own ``controllerPause`` without a condition and moves past the step.  When the
    rollout is not paused, the current step is skipped (``currentStepIndex + 1``).
    """
    status = rollout.status
    if full:
        return {"spec": {"paused": False}}, {
            "status": {"promoteFull": True, "pauseConditions": None}
        }
    if rollout.paused or status.pause_conditions:
        return {"spec": {"paused": False}}, {"status": {"pauseConditions": None}}
    canary = rollout.canary
    if canary is not None and status.current_step_index is not None:
        nxt = min(status.current_step_index + 1, len(canary.steps))
        return {}, {"status": {"currentStepIndex": nxt}}
    return {"spec": {"paused": False}}, {}


def abort(rollout: Rollout) -> tuple[Patch, Patch]:
    """Stop the update: traffic and pods go back to the stable revision; phase Degraded."""
    return {}, {"status": {"abort": True}}


def retry(rollout: Rollout) -> tuple[Patch, Patch]:
    """After an abort, start the update again from the first step."""
    return {}, {"status": {"abort": False, "pauseConditions": None}}


def pause(rollout: Rollout) -> tuple[Patch, Patch]:
    """Hold the rollout where it is (``spec.paused``) until promoted."""
    return {"spec": {"paused": True}}, {}


def resume(rollout: Rollout) -> tuple[Patch, Patch]:
    """End a user's ``pause`` (``spec.paused``); the controller's pauses still hold."""
    return ({"spec": {"paused": False}}, {}) if rollout.paused else ({}, {})


def restart(rollout: Rollout, at: float) -> tuple[Patch, Patch]:
    """Restart every pod of the Rollout that was created before ``at``."""
    return {"spec": {"restartAt": format_time(at)}}, {}


def merge_patch(target: object, patch: object) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``None`` deletes, the rest replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
