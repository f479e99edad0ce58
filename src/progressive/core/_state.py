"""All the rules that decide a Rollout's phase, in one file.

Theory of operation
===================

A Rollout moves between four phases, the ones Argo Rollouts reports and that Argo CD
and dashboards understand::

            new revision                 steps done, pods available
    Healthy ------------> Progressing ------------------------------> Healthy
                           |  ^    |
          pause step,      |  |    | analysis Failed/Error, abort,
          inconclusive,    v  |    | progress deadline exceeded
          spec.paused    Paused    v
                                Degraded --(retry, new revision)--> Progressing

The phase is never stored and then trusted: :func:`phase_of` *computes* it on every
reconcile from the status fields that cannot be derived from the cluster (where in the
steps we are, the stable revision, pauses, abort, the progress clock) and from the
replica counts just observed.  The rules, checked in this order (Argo's
``CalculateRolloutPhase``):

1. **Degraded** when the spec is invalid (condition ``InvalidSpec``), when the rollout
   was aborted (``status.abort``: a failed analysis, ``progressDeadlineAbort`` or the
   user), or when the progress deadline passed (condition ``Progressing`` with reason
   ``ProgressDeadlineExceeded``).
2. **Paused** when ``spec.paused`` is set or any pause condition is present (a pause
   step, a blue-green promotion gate, an inconclusive analysis or experiment).
3. **Progressing** while the new revision is not yet the stable one, or while fewer
   pods than ``spec.replicas`` are updated or available, or old pods remain.
4. **Healthy** otherwise.  Old ReplicaSets waiting out ``scaleDownDelaySeconds`` do
   not make a rollout Progressing.

Transitions are made only by the functions below; ``reconcile`` calls them and never
edits these status fields itself:

* :func:`start_revision` -- a new pod template (or new steps) was seen: clear pauses,
  abort and ``promoteFull``, go back to step 0, restart the progress clock.  A return
  to the stable revision, or to one inside ``rollbackWindow``, skips the steps.
* :func:`pause` / :func:`end_pause` / :func:`unpause_acknowledged` -- pause
  conditions.  A user ends a pause by removing the pause conditions (``promote``); the
  controller sees ``controllerPause`` still set without a condition and moves on.
* :func:`end_pauses` / :func:`promote` -- a promotion: the blue-green switch ends every
  pause; the new revision becoming stable (the canary's last step, the blue-green
  post-promotion analysis passed) also spends ``promoteFull``.
* :func:`abort` / :func:`settle_abort` -- a verdict, the deadline or a user sends the
  rollout to Degraded; ``retry`` (clearing ``status.abort``) starts the steps over.
* :func:`track_progress` -- the progress deadline.  Its clock runs only while the
  rollout waits on infrastructure (pods to become available, routers to take a
  weight); it stops during pauses and analyses, which have their own clocks, and it
  covers the final promotion too.  The clock is stored where Argo keeps it: while the
  rollout waits, the ``Progressing`` condition says for what (its message) and since
  when (its ``lastUpdateTime``); progress, or waiting for something else, restarts it.

A write the cluster refused is :func:`reconciliation_error`: the ``Progressing``
condition (False, ``ReconciliationError``) with the server's message, until the next
status stored.

Conditions (``Progressing``, ``Paused``, ``Available``, ``Healthy``, ``InvalidSpec``)
are rebuilt by :func:`finish` from the same facts, so they can never disagree with the
phase.  :func:`finish` also stamps their times as Kubernetes does: a condition that
says what it said before keeps its times; one that changed gets ``lastUpdateTime``
now, and ``lastTransitionTime`` now when its status changed.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._status import Condition, PauseCondition, Phase, RolloutStatus

__all__ = [
    "Facts",
    "abort",
    "end_pause",
    "end_pauses",
    "finish",
    "pause",
    "phase_of",
    "promote",
    "reconciliation_error",
    "settle_abort",
    "stamp",
    "start_revision",
    "track_progress",
    "unpause_acknowledged",
]

DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
PROGRESSING = "Progressing"
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
#: the Progressing condition's message while nothing waits on infrastructure
NOT_WAITING = "progressing"


@attrs.frozen
class Facts:
    """What this reconcile observed, for the phase rules."""

    replicas: int
    updated: int
    ready: int
    available: int
    total: int  # pods of every revision (spec replicas)
    spec_paused: bool
    new_is_stable: bool
    lingering: int = 0  # of total, old pods waiting out a scale-down delay
    invalid: str | None = None  # the InvalidSpec message
    blue_green_switch_pending: bool = False
    waiting: str = ""  # what the rollout waits for, for the message
    restart_refused: str = ""  # why spec.restartAt cannot replace pods ("" : nothing)


#: The condition a refused restart sets (Kubernetes' own, for pods a controller could
#: not create or delete), and its reason.
REPLICA_FAILURE = "ReplicaFailure"
RESTART_FORBIDDEN = "RestartForbidden"


def start_revision(
    status: RolloutStatus, pod_hash: str, step_hash: str, *, skip_to: int | None, now: float
) -> RolloutStatus:
    """A new revision: reset the step machinery (``resetRolloutStatus`` in Argo)."""
    return attrs.evolve(
        status,
        current_pod_hash=pod_hash,
        current_step_hash=step_hash,
        current_step_index=skip_to if skip_to is not None else 0,
        abort=False,
        aborted_at=None,
        pause_conditions=(),
        controller_pause=False,
        promote_full=False,
        conditions=tuple(c for c in status.conditions if c.type != PROGRESSING),
    )


def pause(status: RolloutStatus, reason: str, now: float) -> RolloutStatus:
    """Add a pause condition (once) and remember that the controller paused."""
    if status.has_pause(reason):
        return status
    return attrs.evolve(
        status,
        pause_conditions=(*status.pause_conditions, PauseCondition(reason, now)),
        controller_pause=True,
    )


def end_pause(status: RolloutStatus, reason: str) -> RolloutStatus:
    """The controller itself ends a timed pause."""
    return attrs.evolve(
        status,
        pause_conditions=tuple(p for p in status.pause_conditions if p.reason != reason),
        controller_pause=False,
    )


def end_pauses(status: RolloutStatus) -> RolloutStatus:
    """A promotion ends every pause, the controller's and a user's."""
    return attrs.evolve(status, pause_conditions=(), controller_pause=False)


def promote(status: RolloutStatus, stable_hash: str) -> RolloutStatus:
    """The new revision (``stable_hash``) is stable: every pause is over and a
    ``promoteFull`` is spent."""
    return attrs.evolve(end_pauses(status), stable_rs=stable_hash, promote_full=False)


def unpause_acknowledged(status: RolloutStatus) -> tuple[RolloutStatus, bool]:
    """Did a user end our pause?  (``controllerPause`` set, no pause condition left.)

    Returns the status with ``controllerPause`` cleared and True when so.
    """
    if status.controller_pause and not status.pause_conditions:
        return attrs.evolve(status, controller_pause=False), True
    return status, False


def abort(status: RolloutStatus, message: str, now: float) -> RolloutStatus:
    if status.abort:
        return status
    return attrs.evolve(
        status,
        abort=True,
        aborted_at=now,
        pause_conditions=(),
        controller_pause=False,
        message=message,
        current_step_index=0 if status.current_step_index is not None else None,
    )


USER_ABORT = "RolloutAborted: the rollout was aborted"


def settle_abort(status: RolloutStatus, now: float) -> RolloutStatus:
    """An aborted rollout holds no pause and says why it is aborted.

    A user's abort only sets ``status.abort``; whatever pause the rollout was in must
    not survive it, or a later ``retry`` would read the leftover ``controllerPause`` as a
    promotion and skip that pause.
    """
    message = status.message if status.message.startswith("RolloutAborted") else USER_ABORT
    return attrs.evolve(
        status,
        pause_conditions=(),
        controller_pause=False,
        aborted_at=now if status.aborted_at is None else status.aborted_at,
        message=message,
    )


def track_progress(
    status: RolloutStatus,
    *,
    waiting: str,
    progressed: bool,
    deadline_seconds: int,
    now: float,
) -> tuple[float | None, bool, float | None]:
    """Run the progress clock; ``waiting`` says what the rollout waits for on
    infrastructure ("": nothing).

    Returns since when it has waited (None: it does not), whether the deadline is
    exceeded, and when it will be (for a requeue).  The clock is the ``Progressing``
    condition's: it goes on while the rollout waits for what that condition says, and
    restarts when it makes progress (a step, more pods available) or waits for
    something else.  A deadline exceeded stays so until progress is made.
    """
    if not waiting:
        return None, False, None
    before = status.condition(PROGRESSING)
    since = now
    if before is not None and before.last_update_time is not None and not progressed:
        if before.reason == DEADLINE_EXCEEDED:
            return before.last_update_time, True, None
        if before.reason == REPLICA_SET_UPDATED and before.message == waiting:
            since = before.last_update_time
    due = since + deadline_seconds
    return since, now >= due, due


def deadline_exceeded(status: RolloutStatus) -> bool:
    cond = status.condition(PROGRESSING)
    return cond is not None and cond.reason == DEADLINE_EXCEEDED


RECONCILIATION_ERROR = "ReconciliationError"
#: the most of a server's message a condition keeps
MAX_ERROR_MESSAGE = 1024


def reconciliation_error(status: RolloutStatus, message: str, now: float) -> RolloutStatus:
    """A write the controller needed was refused (``message``: the server's words): the
    ``Progressing`` condition says so (False, ``ReconciliationError``) until the next
    status the controller manages to store rebuilds it (:func:`finish`)."""
    refused = Condition(PROGRESSING, "False", RECONCILIATION_ERROR, message[:MAX_ERROR_MESSAGE])
    kept = tuple(c for c in status.conditions if c.type != PROGRESSING)
    conditions = stamp((*kept, refused), status.conditions, now)
    return attrs.evolve(status, conditions=tuple(sorted(conditions, key=lambda c: c.type)))


def phase_of(status: RolloutStatus, facts: Facts) -> tuple[str, str]:
    """The phase and its message (see the theory of operation above)."""
    if facts.invalid is not None:
        return Phase.DEGRADED, f"InvalidSpec: {facts.invalid}"
    if status.abort:
        return Phase.DEGRADED, status.message or "RolloutAborted: rollout aborted"
    progressing = status.condition("Progressing")
    if progressing is not None and progressing.reason == DEADLINE_EXCEEDED:
        return Phase.DEGRADED, f"{DEADLINE_EXCEEDED}: {progressing.message}"
    if facts.spec_paused:
        return Phase.PAUSED, "manually paused"
    if status.pause_conditions:
        return Phase.PAUSED, status.pause_conditions[0].reason
    if not facts.new_is_stable or facts.blue_green_switch_pending:
        return Phase.PROGRESSING, facts.waiting or "more replicas need to be updated"
    if facts.updated < facts.replicas:
        return Phase.PROGRESSING, "more replicas need to be updated"
    if facts.available < facts.updated:
        return Phase.PROGRESSING, "updated replicas are still becoming available"
    if facts.total - facts.lingering > facts.replicas:
        return Phase.PROGRESSING, "old replicas are pending termination"
    return Phase.HEALTHY, ""


def finish(
    status: RolloutStatus,
    facts: Facts,
    *,
    generation: int,
    deadline_hit: bool,
    now: float,
    progress_message: str = "",
    waiting_since: float | None = None,
) -> RolloutStatus:
    """Rebuild counts, conditions, phase and message from the facts.

    ``progress_message`` is what the ``Progressing`` condition says (what the rollout
    waits for; "": nothing) and ``waiting_since`` since when it has waited
    (:func:`track_progress`); ``now`` stamps the conditions that changed."""
    before = status.conditions
    conditions: dict[str, Condition] = {c.type: c for c in status.conditions}
    if deadline_hit:
        conditions[PROGRESSING] = Condition(
            PROGRESSING, "False", DEADLINE_EXCEEDED, progress_message
        )
    elif status.abort:
        conditions[PROGRESSING] = Condition(PROGRESSING, "False", "RolloutAborted", status.message)
    else:
        conditions[PROGRESSING] = Condition(
            PROGRESSING, "True", REPLICA_SET_UPDATED, progress_message or NOT_WAITING
        )
    if facts.invalid is not None:
        conditions["InvalidSpec"] = Condition("InvalidSpec", "True", "InvalidSpec", facts.invalid)
    else:
        conditions.pop("InvalidSpec", None)
    if facts.restart_refused:
        conditions[REPLICA_FAILURE] = Condition(
            REPLICA_FAILURE, "True", RESTART_FORBIDDEN, facts.restart_refused
        )
    elif (failure := conditions.get(REPLICA_FAILURE)) and failure.reason == RESTART_FORBIDDEN:
        del conditions[REPLICA_FAILURE]
    status = attrs.evolve(
        status,
        observed_generation=generation,
        replicas=facts.total,
        updated_replicas=facts.updated,
        ready_replicas=facts.ready,
        available_replicas=facts.available,
        conditions=tuple(conditions.values()),
    )
    phase, message = phase_of(status, facts)
    paused = phase == Phase.PAUSED
    conditions["Paused"] = Condition(
        "Paused", "True" if paused else "False", "RolloutPaused" if paused else "RolloutResumed"
    )
    available = facts.available >= facts.replicas
    conditions["Available"] = Condition(
        "Available",
        "True" if available else "False",
        "AvailableReason" if available else "UnavailableReason",
    )
    healthy = phase == Phase.HEALTHY
    conditions["Healthy"] = Condition(
        "Healthy",
        "True" if healthy else "False",
        "RolloutHealthy" if healthy else "RolloutNotHealthy",
    )
    if healthy:
        conditions[PROGRESSING] = Condition(
            PROGRESSING, "True", "NewReplicaSetAvailable", "rollout has completed"
        )
    stamped = stamp(conditions.values(), before, now)
    if waiting_since is not None and not healthy:
        stamped = tuple(
            attrs.evolve(c, last_update_time=waiting_since) if c.type == PROGRESSING else c
            for c in stamped
        )
    return attrs.evolve(
        status,
        phase=phase,
        message=message if not status.abort else status.message,
        conditions=tuple(sorted(stamped, key=lambda c: c.type)),
    )


def stamp(
    conditions: Iterable[Condition], before: Iterable[Condition], now: float
) -> tuple[Condition, ...]:
    """``conditions`` with their times: those saying what they said ``before`` keep
    theirs, the others are updated ``now`` (and transitioned ``now`` when their status
    changed)."""
    previous = {c.type: c for c in before}
    out = []
    for cond in conditions:
        old = previous.get(cond.type)
        if old is not None and old == cond and old.last_update_time is not None:
            updated = old.last_update_time
            transition = old.last_transition_time
        else:
            updated = now
            transition = None
            if old is not None and old.status == cond.status:
                transition = old.last_transition_time
        out.append(
            attrs.evolve(
                cond,
                last_update_time=updated,
                last_transition_time=now if transition is None else transition,
            )
        )
    return tuple(out)
