"""The result of one reconcile."""

from __future__ import annotations

import attrs

from ._actions import Action
from ._status import RolloutStatus

__all__ = ["Plan"]


@attrs.frozen
class Plan:
    """What to do now, the status to store, and when to look again.

    Attributes:
        actions: effects to apply, in order (see :mod:`progressive.core._actions`).
        status: the Rollout's new status; the shell writes it (last) when it differs.
        requeue_at: the time at which something becomes due (a pause ends, a delayed
            scale-down, the progress deadline); None when only a change in the observed
            objects can move the rollout on.
    """

    actions: tuple[Action, ...]
    status: RolloutStatus
    requeue_at: float | None = None
